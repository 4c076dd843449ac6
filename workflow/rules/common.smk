import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("8.0")

# The rules call the importable package in workflow/codecprobe; make it importable
# here (for parse-time helpers) and in every job's shell (local, conda or cluster).
# Jobs run `python`: the conda env's when envs are deployed (--software-deployment-
# method conda), else the interpreter running Snakemake (e.g. the quick start's venv),
# whose folder is put first on PATH. (shell.prefix is formatted: braces doubled.)
PKG_DIR = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, PKG_DIR)
_SDM = getattr(getattr(workflow, "deployment_settings", None), "deployment_method", ())
_PATH = "" if any("CONDA" in str(m).upper() for m in _SDM) else Path(sys.executable).parent
shell.prefix(
    "set -euo pipefail; export PYTHONPATH=%s${{PYTHONPATH:+:$PYTHONPATH}}; %s"
    % (PKG_DIR, f"export PATH={_PATH}:$PATH; " if _PATH else "")
)

from codecprobe.config import (  # noqa: E402
    by_speaker,
    check_config,
    cka_gpu,
    cka_json,
    codec_env,
    codec_json,
    codecs_by_name,
    comparison_run_json,
    corpus_fingerprint,
    distances_args,
    drop_null_options,
    encode_args,
    encode_gpu,
    encode_run_args,
    lag_args,
    lag_config,
    llm_json,
    mfa_settings,
    melrvq_model_path,
    pairs_args,
    pwcca_args,
    region_args,
    regions_gap_args,
    regions_config,
    random_weight_codecs,
    rtmri_label,
    split_codecs,
    tokens_args,
    vtd_args,
    words_args,
)
from codecprobe.align import mfa_shell  # noqa: E402
from codecprobe.io import CodecprobeError  # noqa: E402

try:
    check_config(config, ".")
except CodecprobeError as e:
    raise WorkflowError(str(e)) from None
drop_null_options(config)  # lag: null is "off", as omitted; validate() cannot fill defaults into null
validate(config, str(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))

RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
CODECS = codecs_by_name(config)  # never empty: check_config refuses a config without codecs
CKA_CODECS = [name for name, c in CODECS.items() if c.get("llm")]
# split RVQ: layer 1 vs 2..k (MIMI's first-layer split), where the pooling and layers allow it
MIMI_CODECS, NO_SPLIT = split_codecs(config)
RANDOM_WEIGHTS = random_weight_codecs(config)
if RANDOM_WEIGHTS:
    print(
        f"codecprobe: RANDOM WEIGHTS (plumbing only, not results; marked in every output): "
        f"{', '.join(RANDOM_WEIGHTS)}",
        file=sys.stderr,
    )
if NO_SPLIT:
    print(f"codecprobe: no first-layer split (fig2_first_layer_split) for {NO_SPLIT}", file=sys.stderr)
RTMRI_SPEAKERS = config["rtmri"]["speakers"] if config.get("rtmri") else []
LAG = lag_config(config)  # PWCCA against time lag (rtmri.lag); None = not built
REGIONS = regions_config(config)  # PWCCA per tract region (rtmri.regions); None = not built
BY_SPEAKER = by_speaker(config)  # Choi et al.'s speaker-dependent variant; [] = not built


def each(pattern, need, **values):
    """Input function: ``pattern`` expanded over one list that a config may leave empty
    (``speaker=``, or ``codec=`` of some of the codecs: those with an LLM, MIMI's), or,
    when it is empty, a clear error naming what the asked-for output needs. A summary rule
    asked for by its output's name would otherwise run with no inputs and stop on a usage
    message. (The codec list itself is never empty: plain ``expand``.)"""
    ((key, names),) = values.items()

    def inputs(wildcards):
        if not names:
            raise WorkflowError(f"this output needs {need}; the config gives none")
        return expand(pattern, **{key: names})

    return inputs


def textgrid_dir():
    """Folder of TextGrids: imported (alignment.source: textgrids) or MFA's output. An
    imported folder is ancient(): its contents reach rule words through the corpus
    fingerprint param, so a new folder time alone (a copy, a checkout) reruns nothing."""
    if config["alignment"]["source"] == "textgrids":
        return ancient(config["alignment"]["textgrids"])
    return f"{RESULTS}/alignment/mfa"


def track_dir(wildcards):
    """A speaker's Annot-16 track folder, ancient() as an imported TextGrid folder is."""
    return ancient(f"{config['rtmri']['annot16']}/{wildcards.speaker}/track")


def encode_inputs(wildcards):
    """Inputs of rule encode; melrvq codecs with weights 'fit' also need their fitted model."""
    inputs = {
        "words": f"{RESULTS}/words/words.csv",
        # the tokens any pair can use (with pairs.by_speaker, those speakers' too), not the
        # pairs: a change of pair types, thresholds or caps reruns no encode job
        "tokens": f"{RESULTS}/pairs/tokens.csv",
    }
    c = CODECS[wildcards.codec]
    if c["family"] == "melrvq" and c.get("weights") == "fit":
        inputs["model"] = melrvq_model_path(RESULTS, wildcards.codec)
    return inputs


def encode_rtmri_inputs(wildcards):
    """Inputs of rule encode_rtmri (melrvq 'fit' reuses the model fitted on LibriSpeech)."""
    inputs = {"words": f"{RESULTS}/rtmri/utterances.csv"}
    c = CODECS[wildcards.codec]
    if c["family"] == "melrvq" and c.get("weights") == "fit":
        inputs["model"] = melrvq_model_path(RESULTS, wildcards.codec)
    return inputs


# the paper's numbers, shipped with the workflow (found from any working directory); the
# path is relative to the working directory, so that moving the project with its results
# does not change this input's name (which reran paper_comparison)
PAPER_REFERENCE = os.path.relpath(Path(workflow.basedir) / "resources" / "paper_reference.csv")


def paper_comparison_inputs(wildcards):
    """The summary tables the paper comparison reads, of the analyses this run builds."""
    tables = {
        "distances": f"{RESULTS}/distances/all_codecs.csv",
        "codec_table": f"{RESULTS}/tables/codecs.csv",
    }
    if RTMRI_SPEAKERS:
        tables["pwcca"] = f"{RESULTS}/rtmri/pwcca_summary.csv"
    if CKA_CODECS:
        tables["cka"] = f"{RESULTS}/cka/cka_all_codecs.csv"
    return tables


def all_targets():
    targets = [
        f"{RESULTS}/manifest/utterances.csv",
        f"{RESULTS}/words/words.csv",
        f"{RESULTS}/pairs/pairs.parquet",
        f"{RESULTS}/pairs/pair_summary.csv",
        f"{RESULTS}/figures/fig2_word_pairs.pdf",
        f"{RESULTS}/distances/all_codecs.csv",
        f"{RESULTS}/tables/word_pairs.tex",
        f"{RESULTS}/tables/paper_comparison.csv",
        f"{RESULTS}/tables/codecs.csv",
    ]
    if MIMI_CODECS:
        targets.append(f"{RESULTS}/figures/fig2_first_layer_split.pdf")
    if BY_SPEAKER:
        targets += [
            f"{RESULTS}/figures/fig2_word_pairs_by_speaker.pdf",
            f"{RESULTS}/distances/by_speaker/all_codecs.csv",
        ]
    if CKA_CODECS:
        targets += [f"{RESULTS}/figures/cka_speech_text.pdf", f"{RESULTS}/tables/cka.tex"]
    if RTMRI_SPEAKERS:
        targets += [
            f"{RESULTS}/figures/fig3_articulatory.pdf",
            f"{RESULTS}/rtmri/pwcca_summary.csv",
            f"{RESULTS}/tables/pwcca.tex",
        ]
    if RTMRI_SPEAKERS and LAG:
        targets += [f"{RESULTS}/figures/fig3_lag.pdf", f"{RESULTS}/rtmri/lag_best.csv"]
    if RTMRI_SPEAKERS and REGIONS:
        targets += [f"{RESULTS}/figures/fig3_regions.pdf", f"{RESULTS}/rtmri/region_summary.csv"]
    return targets + intermediate_targets()


def intermediate_targets():
    """Every per-codec and per-speaker output the final ones are built from. Snakemake does
    not rebuild a missing intermediate file while the outputs after it are up to date:
    deleted by hand, or by Snakemake itself when its job failed or was stopped, it stayed
    missing and a plain rerun said "Nothing to be done" (the job that had been due to
    rerun, with the settings that changed, never ran). Asked for by rule all, it is."""
    out = [f"{RESULTS}/alignment/mfa"] if config["alignment"]["source"] == "mfa" else []
    out.append(f"{RESULTS}/pairs/tokens.csv")
    for name, c in CODECS.items():
        if c["family"] == "melrvq" and c.get("weights") == "fit":
            out.append(melrvq_model_path(RESULTS, name))
        out += [f"{RESULTS}/features/{name}/words.h5", f"{RESULTS}/distances/{name}.csv"]
        if BY_SPEAKER:
            out.append(f"{RESULTS}/distances/by_speaker/{name}.csv")
    if BY_SPEAKER:
        out.append(f"{RESULTS}/pairs/by_speaker/pairs.parquet")
    out += [f"{RESULTS}/cka/{name}.csv" for name in CKA_CODECS]
    if RTMRI_SPEAKERS:
        out += [f"{RESULTS}/rtmri/vtd/{s}.h5" for s in RTMRI_SPEAKERS] + [f"{RESULTS}/rtmri/utterances.csv"]
        for name in CODECS:
            out += [f"{RESULTS}/rtmri/features/{name}.h5", f"{RESULTS}/rtmri/pwcca/{name}.csv"]
            out += [f"{RESULTS}/rtmri/lag/{name}.csv"] if LAG else []
            out += [f"{RESULTS}/rtmri/region_pwcca/{name}.csv"] if REGIONS else []
        out += [f"{RESULTS}/rtmri/regions/{s}.csv" for s in RTMRI_SPEAKERS] if REGIONS else []
    return out
