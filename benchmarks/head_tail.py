"""The encode stage's head and tail on the host: the work no device can overlap.

On a GPU the stage's batches run while the host reads, cuts and writes, except at both
ends: until the first batch is queued (the head) and after the last batch is done (the
tail) the device waits for the host. For a small corpus they set the stage's throughput
against the bare encoder's (at 300 words MiMo's bare batches take about 0.32 s on an
H100, so the 0.9 target leaves head + idle + tail 36 ms). Both are host work and can be
measured on any machine: this script runs the stage (``codecprobe.encode.run``, audio
slicing, the benchmark's synthetic words) with the codec's ``encode`` replaced by a
stand-in that returns random codes of the right shape at once, so that:

* ``head``: from the stage's start to its first encoder call;
* ``tail``: from the moment the last batch's results are asked for (the moment its
  device work ends, on a GPU) to the stage's end.

Medians over ``--repeats`` runs after one warm-up, per family (random weights at the real
size; the codebooks and the pooled features are as large as the real ones). Printed with
``(head + tail)`` as a fraction of the H100's bare MiMo time for as many words
(``--bare-ms-per-word``: 1.07 ms, session 6 run I): the part of the stage/bare ratio the
two ends cost on that machine if its host were as fast as this one.

Usage: ``PYTHONPATH=workflow python benchmarks/head_tail.py [--families mimo] [--words 300 3000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import warm_medians  # noqa: E402
from encode import fresh_path, stage_config, synthetic_words  # noqa: E402

import codecprobe.encode as stage  # noqa: E402
from codecprobe.codecs import CodecSpec, load_codec  # noqa: E402


def instant_encoder(codec):
    """A stand-in for ``codec.encode``: random codes ``[B, K, F]`` of the right shape and range."""
    import torch

    sizes = [len(t) for t in codec.tables()]
    gen = torch.Generator().manual_seed(0)

    def encode(wav, lengths=None):
        f = codec.n_frames(wav.shape[-1])
        return torch.stack([torch.randint(0, s, (wav.shape[0], f), generator=gen) for s in sizes], 1)

    return encode


def head_tail(codec, words, out: str, cfg) -> tuple[float, float, float]:
    """``(head, tail, total)`` in s of one stage run (see the module docstring)."""
    first: list[float] = []
    asks: list[float] = []
    encode_batch, collect_batches = stage.encode_batch, stage.collect_batches

    def timed_encode(*a, **k):
        first.append(time.perf_counter())
        return encode_batch(*a, **k)

    def timed_collect(*a, **k):
        it = collect_batches(*a, **k)
        while True:
            asks.append(time.perf_counter())
            try:
                item = next(it)
            except StopIteration:
                asks.pop()
                return
            yield item

    stage.encode_batch, stage.collect_batches = timed_encode, timed_collect
    try:
        t0 = time.perf_counter()
        stage.run(codec, words, None, out, cfg)
        t1 = time.perf_counter()
    finally:
        stage.encode_batch, stage.collect_batches = encode_batch, collect_batches
    return first[0] - t0, t1 - asks[-1], t1 - t0


def run_once(codec, words, root: Path, cfg, tag: str) -> tuple[float, float, float]:
    """:func:`head_tail` into a fresh file named after ``tag``."""
    return head_tail(codec, words, fresh_path(root, tag), cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="+", default=["mimo"])
    ap.add_argument("--words", nargs="+", type=int, default=[300, 3000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bare-ms-per-word", type=float, default=1.07, help="the GPU's bare encoder time per word (ms)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for fam in a.families:
            codec = load_codec(CodecSpec(fam, fam, weights="random"), "cpu")
            codec.encode = instant_encoder(codec)
            for n in a.words:
                (root / f"w{n}").mkdir()
                words = synthetic_words(root / f"w{n}", n)
                cfg = stage_config()
                med, _ = warm_medians(partial(run_once, codec, words, root, cfg), a.repeats, range(3))
                head, tail, total = med[0], med[1], med[2]
                share = (head + tail) / (n * a.bare_ms_per_word / 1000)
                print(
                    f"{fam}: {n} words, head {1000 * head:.1f} ms, tail {1000 * tail:.1f} ms (medians of {a.repeats}; "
                    f"stage with an instant encoder {1000 * total:.0f} ms); (head + tail) / GPU bare {share:.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
