"""Stub trees of the real corpus layouts (empty files with the real names), for dry-runs.

The paper's DAG is dry-run against these in CI, so a rule whose inputs do not match
the released layouts fails there rather than on a user's cluster.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import REPO

# A few real LibriSpeech speaker/chapter ids per subset.
LIBRISPEECH = {"dev-clean": [("84", "121123"), ("174", "50561")], "test-clean": [("1089", "134686"), ("121", "121726")]}


def make_librispeech_stub(root: Path, n_utts: int = 3) -> Path:
    """``root/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac`` + ``.trans.txt``."""
    ls = root / "LibriSpeech"
    for subset, chapters in LIBRISPEECH.items():
        for spk, chap in chapters:
            d = ls / subset / spk / chap
            d.mkdir(parents=True, exist_ok=True)
            for u in range(n_utts):
                (d / f"{spk}-{chap}-{u:04d}.flac").touch()
            (d / f"{spk}-{chap}.trans.txt").touch()
    return ls


def make_rtmri_stub(root: Path, speakers: list[str]) -> tuple[Path, Path]:
    """The 75-Speaker layout (``subNNN/2drt/{audio,video}/subNNN_2drt_<NN>_<task>[_rK]_<kind>``)
    and Annot-16 (``subNNN/track/<name>_track.mat``, ``alignment/<name>_text.TextGrid``)."""
    corpus, annot = root / "75-speaker", root / "75SpeakerAnnot16"
    for spk in speakers:
        for name in (f"{spk}_2drt_07_grandfather1_r1", f"{spk}_2drt_12_picture1", f"{spk}_2drt_01_vcv1_r1"):
            for kind, ext in (("audio", "wav"), ("video", "mp4")):
                d = corpus / spk / "2drt" / kind
                d.mkdir(parents=True, exist_ok=True)
                (d / f"{name}_{kind}.{ext}").touch()
            (annot / spk / "track").mkdir(parents=True, exist_ok=True)
            (annot / spk / "track" / f"{name}_track.mat").touch()
            (annot / "alignment").mkdir(parents=True, exist_ok=True)
            (annot / "alignment" / f"{name}_text.TextGrid").touch()
    return corpus, annot


def paper_config_on_stub(root: Path, **overrides) -> Path:
    """config/paper.yaml with its corpus paths pointed at stub trees; returns the file."""
    cfg = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    cfg["librispeech"]["root"] = str(make_librispeech_stub(root))
    corpus, annot = make_rtmri_stub(root, cfg["rtmri"]["speakers"])
    cfg["rtmri"].update(root=str(corpus), annot16=str(annot))
    for section, values in overrides.items():
        cfg[section].update(values)
    out = root / "paper_stub.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out
