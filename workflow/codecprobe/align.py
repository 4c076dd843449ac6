"""Forced alignment with the Montreal Forced Aligner (MFA), or import of precomputed TextGrids.

MFA itself runs in its own conda env (``envs/mfa.yaml``); this module only prepares the
corpus folder MFA reads and builds the exact command line, so both are testable without
MFA. MFA's corpus format: one folder per speaker holding ``<utt_id>.flac`` and a
``<utt_id>.lab`` text file with the transcript. MFA writes ``<out>/<speaker>/<utt_id>.TextGrid``
with ``words`` and ``phones`` tiers.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
from pathlib import Path

import pandas as pd

from .io import CodecprobeError, read_table, run_cli, setup_logging

log = logging.getLogger("codecprobe.align")


def is_model_path(model: str) -> bool:
    """An MFA model given as a file path (a folder separator, a model-file suffix, or an
    existing file of that name), not a model name that ``mfa model download`` fetches."""
    return os.sep in model or model.startswith("~") or model.endswith((".zip", ".dict", ".txt")) or Path(model).exists()


def mfa_commands(
    corpus_dir: str,
    dictionary: str,
    acoustic_model: str,
    output_dir: str,
    jobs: int = 1,
    extra_args: str = "",
    temp_dir: str | None = None,
) -> list[list[str]]:
    """The MFA command lines (argument lists) that align ``corpus_dir`` into ``output_dir``.

    ``dictionary`` and ``acoustic_model`` are MFA model names (e.g. ``english_us_arpa``),
    fetched first with ``mfa model download``, or paths to local model files, used as is
    but for ``~``, expanded here (the command quotes it, and MFA does not expand it).
    """
    cmds: list[list[str]] = []
    models = []
    for kind, model in (("dictionary", dictionary), ("acoustic", acoustic_model)):
        if is_model_path(model):
            model = os.path.expanduser(model)
        else:
            cmds.append(["mfa", "model", "download", kind, model])
        models.append(model)
    dictionary, acoustic_model = models
    align = ["mfa", "align", "--clean", "--output_format", "long_textgrid", "-j", str(jobs)]
    if temp_dir:
        align += ["--temporary_directory", temp_dir]
    align += shlex.split(extra_args)
    align += [corpus_dir, dictionary, acoustic_model, output_dir]
    cmds.append(align)
    return cmds


def mfa_shell(*args, **kwargs) -> str:
    """:func:`mfa_commands` as one shell string (commands joined by ``&&``), for the rule."""
    return " && ".join(shlex.join(c) for c in mfa_commands(*args, **kwargs))


def prepare_mfa_corpus(manifest: pd.DataFrame, out_dir: str | Path) -> int:
    """Lay out the corpus for MFA: ``out_dir/<speaker>/<utt_id>.<ext>`` (a symbolic link to
    the audio) and ``<utt_id>.lab`` (the transcript). Built in a temporary folder and
    renamed, so a half-built corpus is never seen. Returns the number of utterances.
    """
    out_dir = Path(out_dir)
    ids = manifest["utt_id"].astype(str)
    if ids.duplicated().any():  # build_manifest refuses them; a hand-made manifest may not
        raise CodecprobeError(f"manifest: utterance id(s) listed twice: {sorted(set(ids[ids.duplicated()]))[:5]}")
    text = manifest["transcript"]
    empty = ids[text.isna() | (text.astype(str).str.strip() == "")]
    if len(empty):  # MFA would align the word 'nan'
        raise CodecprobeError(f"manifest: {len(empty)} utterance(s) without a transcript: {sorted(empty)[:5]}")
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for r in manifest.itertuples(index=False):
            spk = tmp / str(r.speaker)
            spk.mkdir(parents=True, exist_ok=True)
            src = Path(r.path).resolve()
            if not src.is_file():
                raise CodecprobeError(f"{src}: audio listed in the manifest is missing")
            # the extension of the corpus's name, not of the link's target: a data store (the hub
            # cache, DVC, git-annex) keeps files under hash names, and MFA finds audio by extension
            os.symlink(src, spk / f"{r.utt_id}{(Path(r.path).suffix or src.suffix).lower()}")
            (spk / f"{r.utt_id}.lab").write_text(str(r.transcript).strip() + "\n", encoding="utf-8")
    except BaseException:  # an error or a stop: no half-built folder left beside the output
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return len(manifest)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Prepare the MFA corpus folder from a manifest.")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    n = prepare_mfa_corpus(read_table(a.manifest), a.out)
    log.info("MFA corpus: %d utterances in %s", n, a.out)


if __name__ == "__main__":
    run_cli(main)
