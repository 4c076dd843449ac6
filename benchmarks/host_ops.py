"""Operator calls the host issues per batch of word clips, per codec family.

On a GPU, short word clips leave each kernel little arithmetic: a batch costs about as
much host time (Python, dispatch, one kernel launch per operator) as device time, and a
stage that also reads, cuts and writes on the host falls behind the bare encoder. The
number of operator calls per batch is what sets that host time, and it can be counted
on any machine: this script counts the top-level ATen calls (``torch.profiler``, CPU) of
``codec.encode`` on one batch of the benchmark's synthetic word clips.

For ``mimo`` it counts both paths of the adapter: the one-pass batch (the default for word
clips) and the general path (front-end per clip; forced here), and prints their ratio.
MiMo is built narrow (its 32 layers, width 64: the count depends on the depth, not the
width; ``--mimo-width real`` builds the 1280-wide model, about 20 s and 3 GB).

Usage: ``PYTHONPATH=workflow python benchmarks/host_ops.py [--families mimo encodec mimi dac] [--words 64]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode import bare_batches, stage_config, synthetic_words, word_clips  # noqa: E402

from codecprobe.codecs import CodecSpec, load_codec  # noqa: E402
from codecprobe.codecs._torchutil import aten_calls  # noqa: E402

NARROW = {"d_model": 64, "encoder_attention_heads": 4, "encoder_ffn_dim": 128}


def count(codec, batch) -> int:
    wav, lens = batch
    encode = (lambda: codec.encode(wav)) if lens is None else (lambda: codec.encode(wav, lengths=lens))
    encode()  # warm-up: lazy initialisation is not per batch
    return aten_calls(encode)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="+", default=["mimo", "encodec", "mimi", "dac"])
    ap.add_argument("--words", type=int, default=64, help="clips in the batch (at most the stage's max_batch, 64)")
    ap.add_argument("--mimo-width", choices=["narrow", "real"], default="narrow")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = stage_config()
    cfg.max_batch = max(cfg.max_batch, a.words)
    print(f"{'family':8s} {'path':10s} {'clips':>5s} {'calls/batch':>11s} {'calls/clip':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        words = synthetic_words(Path(tmp), a.words)
        for fam in a.families:
            options = {"config": NARROW} if fam == "mimo" and a.mimo_width == "narrow" else {}
            codec = load_codec(CodecSpec(fam, fam, weights="random", options=options), "cpu")
            if not codec.uses_torch:
                print(f"{fam:8s} (NumPy, no ATen calls)")
                continue
            batch = max(bare_batches(codec, word_clips(codec, words), cfg), key=lambda b: len(b[0]))
            paths = [("default", None)]
            if fam == "mimo":
                paths.append(("per-clip", lambda lens, t: False))
            calls = {}
            for name, one_pass in paths:
                if one_pass is not None:
                    codec._one_pass = one_pass  # force the general path on this instance
                calls[name] = n = count(codec, batch)
                print(f"{fam:8s} {name:10s} {len(batch[0]):5d} {n:11d} {n / len(batch[0]):10.1f}", flush=True)
            if len(calls) == 2:
                print(f"{fam:8s} per-clip / default = {calls['per-clip'] / calls['default']:.2f}")


if __name__ == "__main__":
    main()
