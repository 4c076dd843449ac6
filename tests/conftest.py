"""Shared fixtures: a tiny LibriSpeech-layout corpus with TextGrids, built per test."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecprobe.textgrid import Interval, TextGrid, Tier, fill_gaps, write_textgrid

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def rel(a, b) -> float:
    """Relative error ``||a - b|| / ||b||`` of two torch tensors."""
    return float((a - b).norm() / b.norm())


@contextlib.contextmanager
def torch_threads(n: int):
    """At most ``n`` torch threads inside (real-size codec tests on shared CPUs)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(min(old, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)

@pytest.fixture(autouse=True)
def no_nltk_download(monkeypatch):
    """Tests must not download (issue 2: WordNet and CMUdict come from files): any
    ``nltk.download`` in a test's process fails it. (The code itself is checked for calls
    in tests/test_lexicon.py, which also covers the stages' subprocesses.)"""
    try:
        import nltk.downloader
    except ImportError:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"nltk.download called in a test: {args} {kwargs}")

    monkeypatch.setattr(nltk, "download", refuse)
    monkeypatch.setattr(nltk.downloader, "download", refuse)
    monkeypatch.setattr(nltk.downloader.Downloader, "download", refuse)


# utt_id -> list of (word, start, end, phones)
UTTS = {
    "11-100-0000": [("accept", 0.10, 0.50, "AH0 K S EH1 P T"), ("the", 0.50, 0.60, "DH AH0"), ("big", 0.70, 1.00, "B IH1 G")],
    "11-100-0001": [("except", 0.10, 0.55, "IH0 K S EH1 P T"), ("large", 0.60, 1.10, "L AA1 R JH")],
    "22-200-0000": [("big", 0.20, 0.45, "B IH1 G"), ("accept", 0.50, 0.95, "AH0 K S EH1 P T")],
    "22-200-0001": [("large", 0.10, 0.60, "L AA1 R JH"), ("except", 0.70, 1.20, "IH0 K S EH1 P T")],
}  # fmt: skip
DUR = 1.4
SR = 16000


def write_utt_textgrid(path: Path, words: list[tuple[str, float, float, str]], dur: float = DUR) -> None:
    wiv, piv = [], []
    for w, a, b, ph in words:
        wiv.append(Interval(a, b, w))
        phs = ph.split()
        edges = np.linspace(a, b, len(phs) + 1)
        piv += [Interval(float(edges[i]), float(edges[i + 1]), p) for i, p in enumerate(phs)]
    tg = TextGrid(0.0, dur, [Tier("words", 0.0, dur, fill_gaps(wiv, 0.0, dur)), Tier("phones", 0.0, dur, fill_gaps(piv, 0.0, dur))])
    write_textgrid(tg, path)


def make_corpus(root: Path, utts: dict = UTTS, subset: str = "dev-clean") -> tuple[Path, Path]:
    """Write ``root/LibriSpeech/<subset>/...`` (FLAC + trans.txt) and ``root/align/...`` TextGrids."""
    ls, al = root / "LibriSpeech", root / "align"
    rng = np.random.default_rng(0)
    by_chapter: dict[Path, list[str]] = {}
    for utt, words in utts.items():
        spk, chap, _ = utt.split("-")
        d = ls / subset / spk / chap
        d.mkdir(parents=True, exist_ok=True)
        sf.write(d / f"{utt}.flac", (0.1 * rng.standard_normal(int(DUR * SR))).astype(np.float32), SR)
        by_chapter.setdefault(d, []).append(f"{utt} {' '.join(w[0] for w in words).upper()}")
        write_utt_textgrid(al / subset / spk / chap / f"{utt}.TextGrid", words)
    for d, lines in by_chapter.items():
        (d / f"{d.parent.name}-{d.name}.trans.txt").write_text("\n".join(lines) + "\n")
    return ls, al


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    return make_corpus(tmp_path)


@pytest.fixture(scope="session")
def wordnet():
    from codecprobe.lexicon import open_wordnet

    return open_wordnet()


@pytest.fixture(scope="session")
def cmu():
    from codecprobe.lexicon import load_cmudict

    return load_cmudict()


@pytest.fixture(autouse=True)
def _close_figures():
    """Tests that keep the figures a stage draws (instead of saving them) leave them open;
    closed after each test, so pyplot does not hold dozens of them."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
