"""The workflow as a whole: lint, formatting, config errors at start-up, paper DAG dry-runs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO
from stubs import paper_config_on_stub

BIN = Path(sys.executable).parent


def snakemake(*args, cwd=REPO):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=cwd, capture_output=True, text=True, env=env)


def jobs_of(out: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run as {rule: count}."""
    table = out.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if m.group(1) != "total"}


def test_lint_is_clean():
    r = snakemake("--lint")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Congratulations" in r.stdout + r.stderr


def rule_blocks() -> dict[str, str]:
    """Each rule of the workflow (Snakefile and workflow/rules/*.smk) and the text of its
    block: from ``rule <name>:`` to the next line that is not indented."""
    blocks = {}
    for f in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        for m in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", f.read_text(), re.MULTILINE):
            assert m.group(1) not in blocks, f"rule {m.group(1)} defined twice"
            blocks[m.group(1)] = m.group(2)
    return blocks


def test_every_rule_declares_threads_log_benchmark_and_env():
    """The README promises a log, a benchmark file, a thread count and a conda env per rule
    (`snakemake --lint` checks only the log and the env)."""
    blocks = rule_blocks()
    listed = snakemake("--list-rules")
    assert listed.returncode == 0, listed.stderr
    assert set(blocks) == set(re.findall(r"^(\w+)(?: \(|$)", listed.stdout, re.MULTILINE)), "the parse must find every rule"
    for name, body in blocks.items():
        if name == "all":
            continue
        for directive in ("threads", "log", "benchmark", "conda"):
            assert re.search(rf"^    {directive}:", body, re.MULTILINE), f"rule {name} declares no {directive}"
        bench = re.search(r"^    benchmark:\n\s+f?\"(.*)\"", body, re.MULTILINE)
        assert bench and bench.group(1).startswith("{BENCH}/"), f"rule {name}: benchmark not under results/benchmarks"
        log = re.search(r"^    log:\n\s+(?:\w+=)?f?\"(.*)\"", body, re.MULTILINE)
        assert log and log.group(1).startswith("{LOGS}/"), f"rule {name}: log not under results/logs"


def test_every_report_caption_names_the_data_and_the_weights():
    """README: each report item says which data and which weights produced it. Every
    caption of a rule's ``report()`` output fills in the data label, and those of a codec's
    results the codecs' weights (the pair tables and the rt-MRI grids come from no codec)."""
    no_codec = {"pair_summary.rst", "pair_summary_by_speaker.rst", "grid.rst"}
    captions = set()
    for body in rule_blocks().values():
        captions |= set(re.findall(r'caption="\.\./report/([\w.]+)"', body))
    assert len(captions) >= 20 and no_codec <= captions, sorted(captions)
    assert captions == {p.name for p in (REPO / "workflow" / "report").glob("*.rst")} - {"workflow.rst"}
    for name in sorted(captions):
        text = (REPO / "workflow" / "report" / name).read_text()
        assert 'snakemake.config["data_label"]' in text, f"{name}: no data label"
        weights = "Codecs and weights: {% for c in snakemake.config[\"codecs\"] %}" in text or 'c["llm"].get("weights"' in text
        assert weights or name in no_codec, f"{name}: does not name the codecs' weights"


def test_snakefmt_is_clean():
    r = subprocess.run([str(BIN / "snakefmt"), "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_demo_dag():
    r = snakemake("-n", "--forceall")
    assert r.returncode == 0, r.stderr
    assert jobs_of(r.stdout) == {
        "manifest": 1, "words": 1, "pairs": 1, "pair_tokens": 1, "fit_melrvq": 1, "encode": 1, "distances": 1, "fig2": 1,
        "pairs_by_speaker": 1, "distances_by_speaker": 1, "fig2_by_speaker": 1,
        "rtmri_vtd": 4, "rtmri_utterances": 1, "encode_rtmri": 1, "rtmri_pwcca": 1, "fig3": 1, "rtmri_lag": 1,
        "fig3_lag": 1, "rtmri_regions": 4, "rtmri_region_pwcca": 1, "fig3_regions": 1, "paper_comparison": 1, "codec_table": 1, "all": 1,
    }  # fmt: skip


def test_paper_reference_is_named_relative_to_the_working_directory():
    """The bundled reference is an input of paper_comparison: named by absolute path, a
    project moved with its results reran that job (its input's name changed)."""
    r = snakemake("-n", "-p", "--forceall", "results/tables/paper_comparison.csv")
    assert r.returncode == 0, r.stdout + r.stderr
    assert " --reference resources/paper_reference.csv " in r.stdout


def test_paper_dag_with_mfa_on_stub_tree(tmp_path):
    cfg = paper_config_on_stub(tmp_path)
    r = snakemake("-n", "-p", "--forceall", "--configfile", str(cfg), "--cores", "8")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert jobs_of(r.stdout) == {
        "manifest": 1, "mfa_corpus": 1, "mfa_align": 1, "words": 1, "pairs": 1, "pair_tokens": 1, "fit_melrvq": 1, "encode": 5,
        "distances": 5, "fig2": 1, "rtmri_vtd": 16, "rtmri_utterances": 1, "encode_rtmri": 5, "rtmri_pwcca": 5,
        "fig3": 1, "rtmri_lag": 5, "fig3_lag": 1, "rtmri_regions": 16, "rtmri_region_pwcca": 5, "fig3_regions": 1,
        "speech_text_cka": 2, "cka_summary": 1, "fig2_split": 1, "paper_comparison": 1, "codec_table": 1, "all": 1,
    }  # fmt: skip
    for name in ("mimi", "mimo"):  # the codecs with an LLM input path
        assert f"output: results/cka/{name}.csv, results/cka/{name}_embeddings.h5" in out
    assert "results/cka/encodec.csv" not in out and "results/tables/cka.tex" in out
    assert '"weights": "kyutai/moshiko-pytorch-bf16"' in out
    for fam in ("encodec", "dac"):  # the original packages (each in its own env)
        assert re.search(r'"backend": "package",[^}]*"family": "%s"' % fam, out)
    for name in ("encodec", "dac", "mimi", "mimo", "melrvq"):
        assert f"output: results/features/{name}/words.h5" in out
        assert f"output: results/rtmri/features/{name}.h5" in out
    assert re.search(r"codecprobe.reference --codecs .* --distances results/distances/all_codecs.csv "
                     r"--codec-table results/tables/codecs.csv "
                     r"--pwcca results/rtmri/pwcca_summary.csv --cka results/cka/cka_all_codecs.csv", out)  # fmt: skip
    assert re.search(r"codecprobe.codectable --features results/features/encodec/words.h5 \S+ \S+ \S+ \S+ --out "
                     r"results/tables/codecs.csv", out)  # Table 1 from every codec's features  # fmt: skip
    assert "--speaker sub009" in out and "--skip-tasks vcv bvt" in out
    assert "--variant without_first" in out  # MIMI's Fig. 4 split
    assert len(re.findall(r"codecprobe.distances --codec \S+ .*--split-first", out)) == 1  # and its word-pair analogue, mimi only
    assert re.search(r"codecprobe.distances --codec mimi .*--split-first", out)
    assert "mfa model download acoustic english_us_arpa" in out
    assert (
        "mfa align --clean --output_format long_textgrid -j 8 --temporary_directory results/alignment/mfa_tmp "
        "results/alignment/mfa_corpus english_us_arpa english_us_arpa results/alignment/mfa"
    ) in out
    assert "--subsets dev-clean test-clean" in out
    assert "--seeds 0 1 2 3 4" in out


def test_paper_dag_with_imported_alignments(tmp_path):
    tg = tmp_path / "librispeech_alignments"
    tg.mkdir()
    cfg = paper_config_on_stub(tmp_path, alignment={"source": "textgrids", "textgrids": str(tg)})
    r = snakemake("-n", "--forceall", "--configfile", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert jobs_of(r.stdout)["words"] == 1 and "mfa_align" not in jobs_of(r.stdout)


def test_configfile_replaces_the_demo_config(tmp_path):
    """A --configfile is the whole config: a section it leaves out (here rtmri and
    pairs.by_speaker) is not built, rather than taken from config.yaml's demo."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    del cfg["rtmri"], cfg["pairs"]["by_speaker"]
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = snakemake("-n", "--forceall", "--configfile", str(p))
    assert r.returncode == 0, r.stdout + r.stderr
    assert jobs_of(r.stdout) == {
        "manifest": 1, "words": 1, "pairs": 1, "pair_tokens": 1, "fit_melrvq": 1, "encode": 1, "distances": 1, "fig2": 1,
        "paper_comparison": 1, "codec_table": 1, "all": 1,
    }  # fmt: skip


def test_the_rt_mri_outputs_carry_their_own_data_label(tmp_path):
    """rtmri.data_label labels Fig. 3, the lag and region outputs; the word-pair outputs keep
    data_label (in a paper run every rt-MRI output said "LibriSpeech ..."); without it the
    rt-MRI outputs take data_label (the demo)."""
    import shlex

    from codecprobe.config import rtmri_label

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    assert rtmri_label(cfg) == cfg["data_label"]
    cfg["rtmri"]["data_label"] = "MRI LABEL"
    cfg["data_label"] = "WORD LABEL"
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = snakemake("-n", "-p", "--forceall", "--configfile", str(p))
    assert r.returncode == 0, r.stdout + r.stderr
    notes = {}
    for line in r.stdout.splitlines():
        if "--note" in line and "python -m codecprobe." in line:
            argv = shlex.split(line[line.index("python -m"):])
            notes[" ".join(argv[2:4])] = argv[argv.index("--note") + 1]
    assert notes["codecprobe.artstage figures"] == notes["codecprobe.artstage lag-figure"] == "MRI LABEL"
    assert notes["codecprobe.artstage region-figure"] == "MRI LABEL"
    assert notes["codecprobe.figures --tables"] == "WORD LABEL", notes


def test_slurm_profile_dry_run(tmp_path):
    cfg = paper_config_on_stub(tmp_path)
    r = snakemake("--profile", "profiles/slurm", "-n", "--forceall", "--configfile", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mfa_align" in r.stdout


def test_slurm_profile_gives_each_job_its_threads_and_gpu(tmp_path):
    """What the pinned SLURM plugin would ask sbatch for, job by job, under the profile: as
    many CPUs as the rule's threads (a profile-wide ``cpus_per_task`` overrides them, so
    ``mfa align -j 8`` and the encode jobs would run on one CPU) and ``--gpus=1`` for the
    GPU rules."""
    jobstep = pytest.importorskip("snakemake_executor_plugin_slurm_jobstep")
    slurm_utils = pytest.importorskip("snakemake_executor_plugin_slurm.utils")
    from types import SimpleNamespace

    cfg = paper_config_on_stub(tmp_path)
    # --cores: a dry-run scales threads down to the local cores; a SLURM job is not
    r = snakemake("--profile", "profiles/slurm", "-n", "--forceall", "--cores", "64", "--configfile", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    seen = set()
    for m in re.finditer(r"^rule (\w+):\n((?:    .*\n)+)", r.stdout, re.MULTILINE):
        rule, body = m.group(1), m.group(2)
        threads = int(re.search(r"^    threads: (\d+)$", body, re.MULTILINE).group(1)) if "threads:" in body else 1
        res_line = re.search(r"^    resources: (.*)$", body, re.MULTILINE).group(1)
        res = {}
        for item in res_line.split(", "):
            key, _, value = item.partition("=")
            res[key] = int(value) if value.isdigit() else value
        job = SimpleNamespace(threads=threads, resources=SimpleNamespace(**res, get=res.get))
        gpu = bool(res.get("gpu"))
        assert jobstep.get_cpu_setting(job, gpu) == f"--cpus-per-task={threads}", (rule, res_line)
        assert slurm_utils.set_gres_string(job).strip() == ("--gpus=1" if gpu else ""), (rule, res_line)
        seen.add((rule, threads, gpu))
    assert ("mfa_align", 8, False) in seen and ("encode", 4, True) in seen and ("encode", 4, False) in seen
    # CKA: a GPU only for the input path that computes on it (MiMo-Audio's patch encoder);
    # Moshi's is a NumPy look-up, which held the GPU (and the encode jobs back) for nothing
    cka = {re.search(r"codec=(\w+)", b).group(1): re.search(r"^    resources: (.*)$", b, re.MULTILINE).group(1)
           for b in re.findall(r"^rule speech_text_cka:\n((?:    .*\n)+)", r.stdout, re.MULTILINE)}  # fmt: skip
    llm = {c["name"]: c["llm"]["family"] for c in yaml.safe_load(cfg.read_text())["codecs"] if c.get("llm")}
    assert set(llm.values()) == {"moshi", "mimo_audio"} and set(cka) == set(llm), (cka, llm)
    for name, res in cka.items():
        assert ("gpu=1" in res) == (llm[name] == "mimo_audio"), (name, res)
    # encode.device: cpu: no encode job holds a GPU
    c = yaml.safe_load(cfg.read_text())
    cfg.write_text(yaml.safe_dump(dict(c, encode=dict(c.get("encode") or {}, device="cpu"))))
    r = snakemake("--profile", "profiles/slurm", "-n", "--forceall", "--cores", "64", "--configfile", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    encode_res = re.findall(r"^rule (?:encode|encode_rtmri):\n(?:    .*\n)*?    resources: (.*)$", r.stdout, re.MULTILINE)
    assert len(encode_res) >= 8 and all("gpu=0" in line for line in encode_res), encode_res


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["librispeech"].__setitem__("subets", c["librispeech"].pop("subsets")),
         "config: librispeech: unknown key 'subets' (did you mean 'subsets'?)"),
        (lambda c: c["librispeech"].__setitem__("root", "/no/such/LibriSpeech"),
         "config: librispeech.root: /no/such/LibriSpeech does not exist"),
        # the summary table's name: an AmbiguousRuleException of rules fig2 and distances before
        (lambda c: c["codecs"][0].__setitem__("name", "all_codecs"),
         "config: codecs: the name 'all_codecs' is taken by the summary tables of all codecs"),
    ],
)  # fmt: skip
def test_config_errors_at_start_up(tmp_path, edit, message):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    edit(cfg)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = snakemake("-n", "--configfile", str(p))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert message in out
    assert "Failed validating" not in out  # one clear line, not a schema dump
    assert len(re.findall(r"^config: ", out, re.MULTILINE)) == 1, out  # and only that line


def test_config_file_errors_at_start_up(tmp_path):
    """config.yaml with a YAML error: its line and column (Snakemake alone says "Config
    file is not valid JSON or YAML"); a --configfile setting a key twice: both lines
    (YAML keeps the second silently)."""
    text = (REPO / "config.yaml").read_text()
    (tmp_path / "config.yaml").write_text(text + "encode:\n  slicing: [audio\n")  # the workflow's own config.yaml
    r = snakemake("-n", "--snakefile", str(REPO / "Snakefile"), cwd=tmp_path)
    n = text.count("\n")
    assert r.returncode != 0
    assert f"config.yaml: not valid YAML: while parsing a flow sequence (line {n + 2}, column 12)" in r.stdout + r.stderr
    (tmp_path / "mine.yaml").write_text(text + "encode:\n  slicing: feature\n")
    r = snakemake("-n", "--configfile", str(tmp_path / "mine.yaml"))
    first = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("encode:"))
    assert r.returncode != 0
    assert f"mine.yaml: key 'encode' is set twice, on lines {first} and {n + 1}" in r.stdout + r.stderr


def _tiny_config(root: Path, codecs: list[dict]) -> Path:
    from conftest import make_corpus

    ls, al = make_corpus(root)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["librispeech"]["root"] = str(ls)
    cfg["alignment"]["textgrids"] = str(al)
    cfg["codecs"] = codecs
    cfg["pairs"]["by_speaker"] = [11, 22]  # the test corpus's speakers
    cfg.pop("rtmri")  # word pairs only
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    return root


@pytest.mark.parametrize("edit", ["centroid", "one_layer"])
def test_mimi_without_a_first_layer_split_builds_no_split_figure(tmp_path, edit):
    """distances skips MIMI's first-layer split under centroid pooling or with one layer;
    fig2_split, asked for by every run with a MIMI codec, then stopped the run at its end."""
    mimi = {"name": "mi", "family": "mimi", "weights": "random"}
    if edit == "one_layer":
        mimi["n_layers"] = 1
    wd = _tiny_config(tmp_path, [mimi, {"name": "mi2", "family": "mimi", "weights": "random"}])
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    if edit == "centroid":
        cfg["encode"]["pooling"] = ["mean", "centroid"]
        cfg.setdefault("distances", {})["pooling"] = "centroid"
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", "-p", cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = jobs_of(r.stdout)
    split_cmds = [ln for ln in r.stdout.splitlines() if "--split-first" in ln]
    if edit == "centroid":
        assert "fig2_split" not in jobs and not split_cmds
        assert "no first-layer split (fig2_first_layer_split) for mi: distances.pooling: centroid" in r.stderr
    else:  # mi2 still has its split
        assert jobs["fig2_split"] == 1 and len(split_cmds) == 1 and "--codec mi2 " in split_cmds[0]
        assert "for mi: n_layers: 1 leaves no layers 2..k" in r.stderr
    # named before any job runs (a codec entry once defaulted to random weights silently)
    assert "codecprobe: RANDOM WEIGHTS (plumbing only, not results; marked in every output): mi, mi2" in r.stderr


def test_a_missing_intermediate_output_is_rebuilt(tmp_path):
    """Snakemake does not rebuild a missing intermediate file while the outputs after it are
    up to date: a feature file deleted (by hand, or by Snakemake when its job failed after
    a settings change) stayed missing, and a plain rerun said "Nothing to be done". Rule
    all now asks for every per-codec output."""
    wd = _tiny_config(tmp_path, [{"name": "mel", "family": "melrvq", "weights": "random"}])
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "2", cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Nothing to be done" in snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd).stdout
    for f, rule in (("results/features/mel/words.h5", "encode"), ("results/distances/mel.csv", "distances")):
        (wd / f).unlink()
        r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
        assert r.returncode == 0 and jobs_of(r.stdout).get(rule) == 1, (f, r.stdout)


def test_a_local_checkpoint_replaced_in_place_reruns_its_encode_job(tmp_path):
    """A weights file on disk is tracked by content, as the corpus is: replaced at the same
    path (its old modification time kept) it reruns the encode job (Snakemake saw the
    path only: "Nothing to be done" over features of the old checkpoint); touched, nothing."""
    import numpy as np

    model = tmp_path / "weights" / "mel.npz"
    model.parent.mkdir()

    def save(scale: float) -> None:
        books = scale * np.random.default_rng(0).standard_normal((2, 4, 80)).astype(np.float32)
        np.savez(model, codebooks=books, mean=np.zeros(80, np.float32), std=np.ones(80, np.float32))

    save(1.0)
    wd = _tiny_config(tmp_path / "wd", [{"name": "mel", "family": "melrvq", "weights": str(model)}])
    target = "results/features/mel/words.h5"
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "2", target, cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Nothing to be done" in snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", target, cwd=wd).stdout
    st = model.stat()
    save(2.0)
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", target, cwd=wd)
    assert jobs_of(r.stdout).get("encode") == 1 and "Params have changed" in r.stdout, r.stdout
    save(1.0)  # back to the encoded contents, at a new time: nothing to do
    later = st.st_mtime_ns + 10**10
    os.utime(model, ns=(later, later))
    assert "Nothing to be done" in snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", target, cwd=wd).stdout


def test_llm_on_a_codec_without_that_input_path_is_a_config_error(tmp_path):
    enc = {"name": "enc", "family": "encodec", "weights": "random", "llm": {"family": "moshi", "weights": "random"}}
    wd = _tiny_config(tmp_path, [enc])
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
    assert r.returncode != 0
    assert "config: codecs[enc].llm: moshi reads mimi codes, not encodec" in r.stdout + r.stderr


def test_speech_text_cka_runs_end_to_end_on_random_weights(tmp_path):
    """A random-weight MIMI with a tiny random Moshi input path: the CKA job, the summary
    table, figure and LaTeX table are built, and say RANDOM WEIGHTS."""
    pytest.importorskip("torch")
    mimi = {"name": "mimi", "family": "mimi", "weights": "random", "n_layers": 8, "llm": {"family": "moshi", "weights": "random"}}
    wd = _tiny_config(tmp_path, [mimi])
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["cka"] = {"n_permutations": 20, "n_bootstrap": 5, "bootstrap_permutations": 2}
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = ["results/tables/cka.tex", "results/figures/fig2_first_layer_split.pdf", "results/tables/paper_comparison.csv"]
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "2", *targets, cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    # the word-pair analogue of Fig. 4: MIMI's layer 1 alone and layers 2..8 beside all layers
    d = pd.read_csv(wd / "results/distances/mimi.csv")
    assert d.groupby("variant").layer.agg(["min", "max"]).to_dict("index") == {
        "accumulated": {"min": 1, "max": 8}, "layer1_only": {"min": 1, "max": 1}, "without_layer1": {"min": 2, "max": 8},
    }  # fmt: skip
    assert (wd / "results/figures/fig2_first_layer_split.png").stat().st_size > 5000
    tex = (wd / "results/tables/cka.tex").read_text()
    assert "MIMI (random weights) &" in tex and r"\quad codebook 1 alone &" in tex and r"\quad codebooks 2-8 only &" in tex
    table = pd.read_csv(wd / "results/cka/cka_all_codecs.csv")
    assert list(table["estimator"]) == ["linear", "debiased"] * 3 and table["llm_random"].all()
    assert list(table["variant"]) == ["all", "all", "layer1_only", "layer1_only", "without_layer1", "without_layer1"]
    assert (wd / "results/figures/cka_speech_text.png").stat().st_size > 5000
    assert "debiased CKA" in (wd / "results/logs/speech_text_cka/mimi.log").read_text()
    cmp = pd.read_csv(wd / "results/tables/paper_comparison.csv")  # MIMI's numbers beside the paper's
    assert set(cmp["analysis"]) == {"word_pairs", "cka", "codec"} and (cmp["comparable"].str.startswith("no: random weights")).all()
    assert cmp.loc[cmp["quantity"] == "cka_linear", "paper"].tolist() == [0.329]
    # Table 1 from the features: 24 kHz; 8 of MIMI's 32 layers of 2048 codes at 12.5 Hz: 1,100 bps (the paper's 32: 4,400)
    t1 = cmp[cmp["analysis"] == "codec"].set_index("quantity")
    assert t1.loc["input_sample_rate_hz", ["paper", "ours"]].tolist() == [24000, 24000]
    assert t1.loc["bitrate_bps", ["paper", "ours"]].tolist() == [4400, 1100]
    codecs = pd.read_csv(wd / "results/tables/codecs.csv")
    assert codecs[["codec", "n_layers", "codebook_sizes", "random_weights"]].values.tolist() == [["mimi", 8, "2048x8", True]]
    # the CKA figure and table go into the report, with their caption
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "--report", "report.html", *targets, cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    html = (wd / "report.html").read_text()
    assert "cka_speech_text.png" in html and "cka_all_codecs.csv" in html and "Speech-text alignment" in html
    assert "LLM moshi random (RANDOM WEIGHTS: plumbing only, not a result)" in html  # the caption, filled


def test_adding_a_codec_to_the_demo_reruns_only_its_jobs_rt_mri_included(tmp_path):
    """The demo as the README runs it (word pairs and rt-MRI), in a folder of its own; then a
    second codec in the config: the dry-run plans only that codec's jobs (its fit, its word
    and rt-MRI encodings, its distances and PWCCA, lag and region tables) and the summaries
    over all codecs, none of the corpus, VTD or first codec's jobs."""
    wd = tmp_path / "run"
    wd.mkdir()
    (wd / "resources").symlink_to(REPO / "resources")  # the config's relative data paths
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "2", cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Nothing to be done" in snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd).stdout
    (first,) = cfg["codecs"]
    cfg["codecs"].append(dict(first, name="melrvq2", seed=1))
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    assert jobs_of(r.stdout) == {
        "fit_melrvq": 1, "encode": 1, "distances": 1, "fig2": 1, "distances_by_speaker": 1, "fig2_by_speaker": 1,
        "encode_rtmri": 1, "rtmri_pwcca": 1, "fig3": 1, "rtmri_lag": 1, "fig3_lag": 1, "rtmri_region_pwcca": 1,
        "fig3_regions": 1, "paper_comparison": 1, "codec_table": 1, "all": 1,
    }, r.stdout  # fmt: skip
    planned = {o for line in re.findall(r"^    output: (.+)$", r.stdout, re.MULTILINE) for o in line.split(", ")}
    assert {"results/features/melrvq2/words.h5", "results/rtmri/pwcca/melrvq2.csv"} <= planned, planned
    assert not [o for o in planned if "/melrvq/" in o or o.endswith(("/melrvq.csv", "/melrvq.h5"))], planned


def test_adding_a_codec_reruns_only_its_jobs(tmp_path):
    mel = {"name": "mel", "family": "melrvq", "weights": "fit", "n_layers": 2, "codebook_size": 4}
    wd = _tiny_config(tmp_path, [mel])
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "2", cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (wd / "results/features/mel/words.h5").is_file()
    assert (wd / "results/figures/fig2_word_pairs.png").is_file()
    tex = (wd / "results/tables/word_pairs.tex").read_text().splitlines()
    assert any(line.startswith("MEL (K = 2) & near-homophone & ") for line in tex), tex
    by_spk = pd.read_csv(wd / "results/distances/by_speaker/all_codecs.csv")
    assert (by_spk.ci_method == "t over speakers").all() and (by_spk.n_seeds == 2).all()
    assert "same_speaker" not in set(by_spk.pair_type) and (wd / "results/figures/fig2_word_pairs_by_speaker.png").is_file()
    # nothing left to do
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
    assert "Nothing to be done" in r.stdout + r.stderr
    # batching sets the encode jobs' pace only: changing it reruns nothing (before session 22
    # it reran every encode job and all after them)
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    paced = dict(cfg, encode=dict(cfg.get("encode") or {}, batch_seconds=7, max_batch=3, shard_words=5))
    (wd / "config.yaml").write_text(yaml.safe_dump(paced))
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", "--forcerun", "encode", cwd=wd)
    assert "--batch-seconds 7 --max-batch 3 --shard-words 5" in r.stdout, r.stdout  # but a job run uses it
    # the pairs' threshold and caps leave the tokens to encode as they are: the pairs and all
    # after them rerun, no encode job (before session 22 every codec was encoded again)
    repaired = dict(cfg, pairs=dict(cfg["pairs"], homophone_threshold=0.3, max_word_pairs=3))
    (wd / "config.yaml").write_text(yaml.safe_dump(repaired))
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
    jobs = jobs_of(r.stdout)
    assert jobs.get("pairs") == 1 and jobs.get("distances") == 1 and "encode" not in jobs and "pair_tokens" not in jobs, jobs
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    # a corpus file edited, even with its old modification time kept, reruns what reads it
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    for root, pattern, rule in ((cfg["librispeech"]["root"], "*.trans.txt", "manifest"),
                                (cfg["alignment"]["textgrids"], "*.TextGrid", "words")):  # fmt: skip
        f = min(Path(root).rglob(pattern))
        st, text = f.stat(), f.read_bytes()
        f.write_bytes(text + b"\n")
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
        assert rule in jobs_of(r.stdout) and "Params have changed" in r.stdout, (rule, r.stdout)
        f.write_bytes(text)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
        assert "Nothing to be done" in r.stdout + r.stderr, (rule, r.stdout)
        # new times, same contents (touch, a copy without -p, a checkout): nothing reruns,
        # neither for the files nor for the TextGrid folder, an input of rule words
        later = st.st_mtime_ns + 10**10
        for p in (f, f.parent, Path(root)):
            os.utime(p, ns=(later, later))
        r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
        assert "Nothing to be done" in r.stdout + r.stderr, (rule, r.stdout)
    # one self-contained HTML report with the figure and the tables, captions filled from the config
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "--report", "report.html", cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    html = (wd / "report.html").read_text()
    assert "fig2_word_pairs.png" in html and "all_codecs.csv" in html and "pair_summary.csv" in html
    assert "Table 1 of this run" in html  # results/tables/codecs.csv, with its caption
    assert "SYNTHETIC DEMO DATA" in html
    # a second codec: only its fit + encode jobs (and the aggregate target); the corpus untouched
    cfg["codecs"] = [mel, dict(mel, name="mel2", seed=1), {"name": "melr", "family": "melrvq", "weights": "random"}]
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", cwd=wd)
    assert r.returncode == 0, r.stdout + r.stderr
    # ... and the figure, which depends on every codec
    assert jobs_of(r.stdout) == {
        "fit_melrvq": 1, "encode": 2, "distances": 2, "fig2": 1, "distances_by_speaker": 2, "fig2_by_speaker": 1,
        "paper_comparison": 1, "codec_table": 1, "all": 1,
    }  # fmt: skip
    assert "results/features/mel2/words.h5" in r.stdout and "results/features/melr/words.h5" in r.stdout
    assert "output: results/features/mel/words.h5" not in r.stdout  # the old codec is not re-encoded
    assert "output: results/features/mel2/words.h5" in r.stdout


@pytest.mark.parametrize(
    "target, message",
    [
        ("results/cka/cka_all_codecs.csv", "this output needs a codec with an llm entry (codecs[].llm)"),
        ("results/figures/fig2_first_layer_split.pdf", "this output needs a codec of family mimi"),
        ("results/figures/fig3_articulatory.pdf", "this output needs rt-MRI speakers (rtmri.speakers)"),
    ],
)
def test_a_summary_the_config_gives_nothing_for_is_a_clear_error(tmp_path, target, message):
    """Asked for by name, a summary whose codecs or speakers the config lacks stops the
    dry-run naming what it needs (it used to plan one job with no inputs, which then
    stopped on an argparse usage line)."""
    mel = {"name": "mel", "family": "melrvq", "weights": "fit", "n_layers": 2, "codebook_size": 4}
    wd = _tiny_config(tmp_path, [mel])
    r = snakemake("-s", str(REPO / "Snakefile"), "-d", str(wd), "-n", target, cwd=wd)
    assert r.returncode != 0
    assert message in r.stdout + r.stderr


def test_changing_the_mfa_models_or_arguments_reruns_the_alignment(tmp_path):
    """The MFA command was a param whose function takes threads, input and output, which
    Snakemake does not record: a new dictionary, acoustic model or extra argument reran
    nothing (stale alignments under config/paper.yaml's source: mfa)."""
    wd = _tiny_config(tmp_path, [{"name": "mel", "family": "melrvq", "weights": "random"}])
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["alignment"] = {"source": "mfa", "mfa": {"threads": 1}}
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "mfa").write_text('#!/bin/sh\nif [ "$1" = align ]; then for a; do out=$a; done; mkdir -p "$out"; fi\n')
    (stub / "mfa").chmod(0o755)
    env_path = f"{stub}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}"

    def run(*args):
        return subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "1",
                               *args, "results/alignment/mfa"], cwd=wd, capture_output=True, text=True,
                              env=dict(os.environ, PATH=env_path), check=False)  # fmt: skip

    r = run()
    assert r.returncode == 0 and (wd / "results/alignment/mfa").is_dir(), r.stdout + r.stderr
    assert "Nothing to be done" in run("-n").stdout
    cfg["alignment"]["mfa"]["threads"] = 2  # the pace only
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert "Nothing to be done" in run("-n").stdout
    for key, value in (("dictionary", "english_mfa"), ("acoustic_model", "english_mfa"), ("extra_args", "--beam 100")):
        cfg["alignment"]["mfa"] = {"threads": 1, key: value}
        (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
        r = run("-n")
        assert jobs_of(r.stdout).get("mfa_align") == 1 and "Params have changed" in r.stdout, (key, r.stdout)


@pytest.mark.parametrize("key, rule", [("lag", "rtmri_lag"), ("regions", "rtmri_region_pwcca")])
def test_an_optional_analysis_set_to_null_is_off(tmp_path, key, rule):
    """The schema, config.yaml and README say rtmri.lag / rtmri.regions: null turns the
    analysis off; the dry-run stopped with "'NoneType' object has no attribute 'setdefault'"."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["rtmri"][key] = None
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = snakemake("-n", "--forceall", "--configfile", str(p))
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = jobs_of(r.stdout)
    assert rule not in jobs and jobs["rtmri_pwcca"] == 1, jobs
