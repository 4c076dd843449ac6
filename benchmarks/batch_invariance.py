"""Do a word's codes depend on the batch it is encoded in? (A check for the GPU, not a timing.)

The encode stage batches word clips by length (``codecprobe.encode.make_batches``; codecs
that mask padding, MiMo, share batches across lengths) and promises that a word's codes in
a batch equal its codes alone: the tests check it on the CPU. On a GPU, cuBLAS and cuDNN
pick kernels by shape, so a row's float32 rounding may change with the batch and flip a
near-tie nearest-codebook choice. This script encodes the same synthetic word clips (as
``benchmarks/encode.py``: seeded noise + chirps, 0.15-0.9 s) one at a time and in the
stage's batches, with random weights at the real architecture size, and prints per family
the share of frames whose codes differ in any layer, and per layer.

Usage: ``PYTHONPATH=workflow python benchmarks/batch_invariance.py [--device cuda]
[--families mimo encodec dac mimi] [--words 64]``. Exit status 0 whatever it finds (it
reports); ``benchmarks/gpu_check.sh`` runs it last.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from codecprobe.codecs import CodecSpec, load_codec
from codecprobe.encode import EncodeConfig, encode_batch, make_batches, resolve_device
from encode import synthetic_words, word_clips


def differing(alone: list[np.ndarray], batched: list[np.ndarray]) -> tuple[float, np.ndarray]:
    """Share of frames (over all clips) whose codes differ in any layer, and per layer
    ``[K]``, between two lists of ``[K, F_i]`` code arrays of the same clips."""
    a, b = np.concatenate(alone, axis=1), np.concatenate(batched, axis=1)
    if a.shape != b.shape:
        raise SystemExit(f"codes of different shapes: {a.shape} alone, {b.shape} batched")
    diff = a != b
    return float(diff.any(axis=0).mean()), diff.mean(axis=1)


def batched_codes(codec, clips: list[np.ndarray], cfg: EncodeConfig) -> list[np.ndarray]:
    """Each clip's codes from the batches the stage would make of all the clips."""
    lengths = np.array([len(c) for c in clips])
    out: list[np.ndarray | None] = [None] * len(clips)
    for idx in make_batches(lengths, codec.shares_batches, int(cfg.batch_seconds * codec.sample_rate), cfg.max_batch):
        for i, c in zip(idx, encode_batch(codec, [clips[i] for i in idx])):
            out[i] = c
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--families", nargs="+", default=["mimo", "encodec", "dac", "mimi"])
    ap.add_argument("--words", type=int, default=64)
    a = ap.parse_args()
    device = resolve_device(a.device)
    cfg = EncodeConfig()
    with tempfile.TemporaryDirectory() as tmp:
        words = synthetic_words(Path(tmp), a.words)
        for family in a.families:
            codec = load_codec(CodecSpec(family, family, weights="random"), device)
            clips = word_clips(codec, words)
            alone = [encode_batch(codec, [c])[0] for c in clips]
            again = [encode_batch(codec, [c])[0] for c in clips]
            batched = batched_codes(codec, clips, cfg)
            rerun, _ = differing(alone, again)
            share, per_layer = differing(alone, batched)
            n_batches = len(make_batches(np.array([len(c) for c in clips]), codec.shares_batches,
                                         int(cfg.batch_seconds * codec.sample_rate), cfg.max_batch))  # fmt: skip
            worst = ", ".join(f"{k + 1}: {100 * v:.2f} %" for k, v in sorted(enumerate(per_layer), key=lambda t: -t[1])[:3])
            print(f"{family:8s} on {device}: {len(clips)} clips in {n_batches} batches; frames whose codes differ batched vs "
                  f"alone: {100 * share:.2f} % (layers most: {worst}); alone vs alone again: {100 * rerun:.2f} %", flush=True)


if __name__ == "__main__":
    main()
