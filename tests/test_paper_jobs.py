"""Every ``python -m codecprobe.<stage>`` job of both configs is accepted by its stage.

Why: snakemake's ``validate`` fills the schema's defaults into every config entry, and the
encode job's codec JSON of config/paper.yaml once carried ``llm`` and ``codebook_size``,
which the MiMo codec refuses ("unknown option(s) codebook_size, llm"): the paper's mimo
encode job failed at start-up while every test passed, because no test fed the arguments
the rules build to the stages that read them.

What: for config.yaml (the demo) and config/paper.yaml (its corpus paths pointed at the
stub trees of ``tests/stubs.py``), Snakemake itself builds every job's command:
``snakemake -n -p --forceall`` runs the Snakefile as a real run does (``check_config``,
``validate`` filling defaults, ``--configfile`` in place of config.yaml, the rules'
params, the helpers of ``codecprobe.config``, wildcards from the config's own codec
names and speakers, ``{threads}``) and prints each job's shell command. Each command that
runs ``python -m codecprobe.<module> ...`` is split with ``shlex`` (as the shell does) and
handed to that module's own ``main(argv)``, stopped before any work:

* Parsers: ``main`` builds its parser inline, so ``argparse.ArgumentParser.parse_args`` is
  wrapped (inside a ``MonkeyPatch.context``): the real parser parses the real argv; for
  most stages the wrapper then raises :class:`StageAccepted` with the namespace, so
  nothing after the parse runs. A bad option, type or choice ends in argparse's own
  ``SystemExit``, reported with its message. ``ArgumentParser.__init__`` is wrapped to
  force ``allow_abbrev=False``, so that an option the rule misspells as a prefix of a real
  one (``--thread``) is refused rather than silently accepted.
* Encode stage (rules encode, encode_rtmri): ``main`` runs on past the parse: the real
  ``spec_from_json`` reads the codec JSON and the real ``load_codec`` dispatches on family
  and backend; only the registry's classes are replaced by a checker that stops at the
  weights: MiMo runs ``MimoCodec.__init__`` itself (its OPTIONS, dtype, n_layers and
  segment_frames checks) with the bundled tokenizer config standing in for the hub's
  config.json and loading/building the encoder stopped; DAC (both backends) runs its
  ``vectors_option``; EnCodec, MIMI and melrvq validate no option before their weights.
  ``main`` then builds its ``EncodeConfig``; ``encode.run`` is replaced by a check of the
  pooling/slicing against the constants the stage checks them against, and stops.
  (``read_table``, ``setup_logging`` and ``torch.set_num_threads`` are stubbed.)
* Speech-text CKA (rule speech_text_cka): ``main`` runs its own ``CKAConfig(**json)``
  (unknown keys fail) and ``LLMSpec`` builder; ``speechtext.run`` is replaced by
  ``CKAConfig.check()`` and the real ``load_llm_input`` stopped at the weights
  (``llm.load_tensors`` / ``MimoAudioInput._read_config``). The builder drops keys that
  are not ``LLMSpec`` fields silently, so such keys are reported here.
* Stages that check a value only inside their work (pairs types, distances pooling, VTD
  nan/bad-frame policies) are checked against the module constants they use.

No codec or LLM weights are read (no downloads). A further test checks that the jobs agree
with one another (the features a job reads are those another job writes, a distances
pooling was stored by the encode job, the LLM reads that codec family's codes, melrvq's
fitted model is the one fit_melrvq writes), and one that every rule of
``workflow/rules/*.smk`` running a codecprobe stage has its jobs for the config's codecs
and speakers. About 5 s (two dry runs, importing torch).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import yaml

import codecprobe.codecs.dac  # noqa: F401  (every adapter registered before the registry is patched)
import codecprobe.codecs.dac_package  # noqa: F401
import codecprobe.codecs.encodec  # noqa: F401
import codecprobe.codecs.encodec_package  # noqa: F401
import codecprobe.codecs.melrvq  # noqa: F401
import codecprobe.codecs.mimi  # noqa: F401
import torch
from codecprobe import encode, llm, speechtext
from codecprobe.codecs import base
from codecprobe.codecs.dac import vectors_option
from codecprobe.codecs.mimo import RESOURCE_CONFIG, MimoCodec
from codecprobe.features import POOLINGS
from codecprobe.pairs import PAIR_TYPES
from codecprobe.rtmri import BAD_FRAME_POLICIES
from codecprobe.vtd import NAN_POLICIES
from conftest import REPO
from stubs import paper_config_on_stub

BIN = Path(sys.executable).parent
CONFIGS = ["demo", "paper"]
# rules without a job in the demo: alignment.source is textgrids (no MFA), no codec has an llm
NOT_IN_DEMO = {"mfa_corpus", "speech_text_cka", "cka_summary", "fig2_split"}  # the demo has no MIMI
NOT_IN_PAPER = {"pairs_by_speaker", "distances_by_speaker", "fig2_by_speaker"}  # pairs.by_speaker: [] there
STAGE = re.compile(r"^python -m (codecprobe(?:\.\w+)+)(?: (\w+))?")
# (module, subcommand) whose main() runs past the parse (stopped at the codec/LLM weights)
DEEP = {("codecprobe.encode", None), ("codecprobe.speechtext", "run")}


class StageAccepted(Exception):
    """Raised in place of a stage's work once it has read and checked its arguments."""

    def __init__(self, **seen):
        super().__init__("accepted")
        self.seen = seen


class WeightsReached(Exception):
    """A codec or LLM constructor got past its option checks to its weights."""


@dataclasses.dataclass
class Job:
    rule: str
    wildcards: dict[str, str]
    cmd: str

    def __str__(self) -> str:
        wc = ",".join(f"{k}={v}" for k, v in self.wildcards.items())
        return f"{self.rule}[{wc}]" if wc else self.rule


# ----------------------------------------------------------------------------- the jobs
def dry_run(config: str, tmp: Path) -> str:
    args = ["-n", "-p", "--forceall", "--cores", "8"]
    if config == "paper":
        args += ["--configfile", str(paper_config_on_stub(tmp))]
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    r = subprocess.run([str(BIN / "snakemake"), *args], cwd=REPO, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def parse_jobs(out: str) -> list[Job]:
    """The jobs of a ``-n -p`` dry run, each with its rule, wildcards and shell command."""
    jobs, rule, wildcards = [], None, {}
    for line in out.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            rule, wildcards = m[1], {}
        elif rule and (m := re.match(r"^\s+wildcards: (.*)$", line)):
            wildcards = dict(kv.split("=", 1) for kv in m[1].split(", "))
        elif rule and line.startswith("Shell command: "):
            cmd = line[len("Shell command: "):]
            if cmd != "None":
                jobs.append(Job(rule, wildcards, cmd))
            rule = None
    return jobs


def rule_stages() -> dict[str, tuple[str, str | None]]:
    """``{rule: (module, subcommand)}`` of every rule in workflow/rules/*.smk whose shell
    runs ``python -m codecprobe.<module>``."""
    out = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^rule (\w+):", smk.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            m = re.search(r'"(python -m codecprobe[^"]*)"', body)
            if m:
                s = STAGE.match(m[1])
                out[name] = (s[1], s[2] if s[2] and not s[2].startswith("-") else None)
    return out


def stage_of(cmd: str) -> tuple[str, str | None]:
    m = STAGE.match(cmd)
    return m[1], (m[2] or None)


# ----------------------------------------------------------------------------- stopping the stages
@contextlib.contextmanager
def stages_stopped_before_work(tmp: Path):
    """Patches (undone on exit) that let each stage's main() read and check its arguments
    and stop with :class:`StageAccepted` before its work; see the module docstring."""
    parsed: dict[str, argparse.Namespace] = {}
    parse_args = argparse.ArgumentParser.parse_args
    init = argparse.ArgumentParser.__init__

    def strict_init(self, *a, **k):
        k["allow_abbrev"] = False
        init(self, *a, **k)

    def parse_then_stop(self, args=None, namespace=None):
        ns = parse_args(self, args, namespace)
        parsed["ns"] = ns
        if (parsed["module"], getattr(ns, "cmd", None)) not in DEEP:
            raise StageAccepted(ns=ns)
        return ns

    # MiMo: its own constructor up to the weights; the bundled config stands in for config.json
    folder = tmp / "mimo_config"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(RESOURCE_CONFIG.read_text())

    class MimoUntilWeights(MimoCodec):
        def _resolve_weights(self, weights):
            return folder, []

        def _load(self, files):
            raise WeightsReached

        def _build_random(self, seed):
            raise WeightsReached

    def checker(key: str):
        def build(spec, device="cpu"):
            if spec.family == "mimo":
                with contextlib.suppress(WeightsReached):
                    MimoUntilWeights(spec, device)
            elif spec.family == "dac":
                vectors_option(spec)
            return types.SimpleNamespace(spec=spec, family=spec.family, registry_key=key, device=device)

        return build

    def encode_run(codec, words, pairs, out, cfg):
        bad = set(cfg.pooling) - set(POOLINGS)  # the checks at the top of encode.run
        assert not bad, f"encode.run would refuse pooling {sorted(bad)}"
        assert cfg.slicing in ("audio", "feature"), cfg.slicing
        raise StageAccepted(ns=parsed["ns"], codec=codec, cfg=cfg)

    def cka_run(codec_name, features, llm_spec, cfg, out, embeddings=None, device="cpu"):
        cfg.check()  # the first line of speechtext.run
        with contextlib.suppress(WeightsReached):
            llm.load_llm_input(llm_spec, device)
        raise StageAccepted(ns=parsed["ns"], llm=llm_spec, cfg=cfg)

    def weights_reached(*a, **k):
        raise WeightsReached

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.ArgumentParser, "__init__", strict_init)
        mp.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        for key in list(base.REGISTRY):
            mp.setitem(base.REGISTRY, key, checker(key))
        mp.setattr(encode, "setup_logging", lambda *a, **k: None)
        mp.setattr(encode, "read_table", lambda *a, **k: pd.DataFrame())
        mp.setattr(encode, "run", encode_run)
        mp.setattr(torch, "set_num_threads", lambda n: None)
        mp.setattr(speechtext, "setup_logging", lambda *a, **k: None)
        mp.setattr(speechtext, "run", cka_run)
        mp.setattr(llm, "load_tensors", weights_reached)
        mp.setattr(llm.MimoAudioInput, "_read_config", weights_reached)
        yield parsed


def accept(job: Job, parsed: dict) -> dict:
    """Run the job's stage on its argv; the stage's checked inputs, or AssertionError why not."""
    module, _ = stage_of(job.cmd)
    argv = shlex.split(job.cmd)[3:]  # after "python -m <module>"
    parsed["module"] = module
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            importlib.import_module(module).main(argv)
    except StageAccepted as e:
        return e.seen
    except SystemExit:
        raise AssertionError(f"{module} refused its arguments: {err.getvalue().strip().splitlines()[-1:]}") from None
    except Exception as e:
        raise AssertionError(f"{module}: {type(e).__name__}: {e}") from None
    raise AssertionError(f"{module}: main() returned without reaching the stop before its work")


def check_values(job: Job, module: str, seen: dict) -> None:
    """Values each stage checks only inside its work, against the constants it uses."""
    ns = seen["ns"]
    if module == "codecprobe.pairs":
        assert set(ns.types) <= set(PAIR_TYPES), ns.types
    elif module == "codecprobe.distances":
        assert ns.pooling in POOLINGS, ns.pooling
    elif module == "codecprobe.artstage" and ns.cmd == "vtd":
        assert ns.nan_policy in NAN_POLICIES and ns.bad_frames in BAD_FRAME_POLICIES, ns
    elif module == "codecprobe.speechtext" and ns.cmd == "run":
        dropped = set(json.loads(ns.llm)) - set(llm.LLMSpec.__dataclass_fields__)
        assert not dropped, f"llm key(s) {sorted(dropped)} silently dropped by the stage's LLMSpec builder"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{config: (jobs, {job index: seen}, [failures])}``, computed once per config."""
    cache = {}

    def get(config: str):
        if config not in cache:
            tmp = tmp_path_factory.mktemp(config)
            jobs = parse_jobs(dry_run(config, tmp))
            seen, failures = {}, []
            with stages_stopped_before_work(tmp) as parsed:
                for i, job in enumerate(jobs):
                    if not STAGE.match(job.cmd):
                        assert "codecprobe" not in job.cmd, f"{job}: a codecprobe stage not at the start: {job.cmd}"
                        continue
                    try:
                        seen[i] = accept(job, parsed)
                        check_values(job, stage_of(job.cmd)[0], seen[i])
                    except AssertionError as e:
                        failures.append(f"{config}: {job}: {e}")
            cache[config] = jobs, seen, failures
        return cache[config]

    return get


def config_of(config: str) -> dict:
    return yaml.safe_load((REPO / ("config.yaml" if config == "demo" else "config/paper.yaml")).read_text())


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("config", CONFIGS)
def test_every_codecprobe_job_is_accepted_by_its_stage(runs, config):
    jobs, seen, failures = runs(config)
    assert not failures, "\n".join(failures)
    assert len(seen) >= 10, f"only {len(seen)} codecprobe jobs parsed from the dry run"


@pytest.mark.parametrize("config", CONFIGS)
def test_every_codecprobe_rule_has_its_jobs(runs, config):
    """Every rule running a codecprobe stage has a job (one per codec / speaker of the
    config), and runs the stage its shell names."""
    stages = rule_stages()
    assert len(stages) >= 15, stages
    jobs, seen, _ = runs(config)
    staged = [j for j in jobs if STAGE.match(j.cmd)]
    for j in staged:
        assert stage_of(j.cmd) == stages[j.rule], (j, stages[j.rule])
    want = set(stages) - (NOT_IN_DEMO if config == "demo" else NOT_IN_PAPER)
    assert {j.rule for j in staged} == want
    cfg = config_of(config)
    codecs = [c["name"] for c in cfg["codecs"]]
    by_rule = {r: sorted(j.wildcards.get("codec") or j.wildcards.get("speaker") for j in staged if j.rule == r)
               for r in ("encode", "encode_rtmri", "distances", "rtmri_pwcca", "fit_melrvq", "speech_text_cka",
                         "rtmri_vtd", "rtmri_lag", "rtmri_region_pwcca", "rtmri_regions")}  # fmt: skip
    for r in ("encode", "encode_rtmri", "distances", "rtmri_pwcca", "rtmri_lag", "rtmri_region_pwcca"):
        assert by_rule[r] == sorted(codecs), (r, by_rule[r])
    assert by_rule["fit_melrvq"] == sorted(c["name"] for c in cfg["codecs"] if c.get("weights") == "fit")
    assert by_rule["speech_text_cka"] == sorted(c["name"] for c in cfg["codecs"] if c.get("llm"))
    assert by_rule["rtmri_vtd"] == by_rule["rtmri_regions"] == sorted(cfg["rtmri"]["speakers"])


@pytest.mark.parametrize("config", CONFIGS)
def test_jobs_agree_with_each_other(runs, config):
    """What one job reads is what another writes, in a form it reads."""
    jobs, seen, failures = runs(config)
    assert not failures, "\n".join(failures)
    ns = {(jobs[i].rule, jobs[i].wildcards.get("codec")): s for i, s in seen.items()}
    fam = {}
    for (rule, codec), s in ns.items():
        if rule in ("encode", "encode_rtmri"):
            spec = s["codec"].spec
            assert spec.name == codec, (rule, codec, spec)
            assert s["cfg"].slicing == ("feature" if rule == "encode_rtmri" else config_of(config)["encode"]["slicing"])
            fam[codec] = spec.family
            if spec.family == "melrvq" and ("fit_melrvq", codec) in ns:
                assert spec.weights == ns["fit_melrvq", codec]["ns"].out, "encode reads the model fit_melrvq writes"
        elif rule == "distances":
            enc = ns["encode", codec]
            assert s["ns"].features == enc["ns"].out
            assert s["ns"].pooling in enc["cfg"].pooling, "distances pooling not stored by the encode job"
        elif rule in ("rtmri_pwcca", "rtmri_lag", "rtmri_region_pwcca"):
            assert s["ns"].features == ns["encode_rtmri", codec]["ns"].out
        elif rule == "speech_text_cka":
            assert s["ns"].features == ns["encode", codec]["ns"].out
    for (rule, codec), s in ns.items():
        if rule == "speech_text_cka":
            assert llm.LLM_CODEC[s["llm"].family] == fam[codec], (codec, s["llm"])
        if rule == "rtmri_pwcca":  # Fig. 4: MIMI's first layer against its others, for MIMI only
            assert s["ns"].variant == ("without_first" if fam[codec] == "mimi" else "accumulated"), (codec, s["ns"])
    if config == "paper":
        assert "mimi" in fam.values() and any(r == "rtmri_pwcca" and fam[c] == "mimi" for r, c in ns)
