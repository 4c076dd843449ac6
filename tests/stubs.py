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


def paper_config_on_stub(root: Path, **overrides) -> Path:
    """config/paper.yaml with its corpus paths pointed at a stub tree; returns the file."""
    cfg = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    cfg["librispeech"]["root"] = str(make_librispeech_stub(root))
    for section, values in overrides.items():
        cfg[section].update(values)
    out = root / "paper_stub.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out
