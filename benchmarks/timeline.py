"""Where the encode stage's time goes on a GPU (CUDA only): device busy, device idle, head, tail.

Runs the encode stage (``codecprobe.encode.run``, audio slicing) on the synthetic words of
``benchmarks/encode.py``, once as a warm-up and once with a CUDA event recorded before and
after every batch's encoder call (events do not make the host wait). Event times are
device times: an event recorded while the device is idle fires when the host records it.
So, from the stage's first line to its last:

* ``head``: until the first batch starts on the device (reading and cutting the first
  shard);
* ``busy``: the sum of the batches' spans (encoding, pooling and the copies queued with
  them);
* ``idle``: the gaps between one batch's end and the next one's start (the host had not
  queued the next batch yet);
* ``tail``: from the last batch's end to the stage's end (collecting, writing the HDF5).

The bare encoder calls on the same clips, batched once over all of them, give ``bare busy``.
The stage's own log line follows each split (host seconds: read+encode, pool, write; its
batches, padding and clips held over), to tell the tail's parts apart.
Printed per family, for each number of reader threads given (``--io-workers``), since the
readers hold the GIL now and then while the main thread queues kernels.

Usage: ``PYTHONPATH=workflow python benchmarks/timeline.py [--families mimo] [--words 3000]
[--io-workers 8 1] [--hold-padding 0.03 100]``: one stage run per reader count and hold
tolerance, each followed by its longest device gaps (after which batch, with the batch
sizes either side: a shard boundary shows as a change of size). Without CUDA it says so and exits.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode import bare_batches, fresh_path, stage_config, stage_split, warm_cuda_codecs, word_clips  # noqa: E402

import codecprobe.encode as stage  # noqa: E402


def spans(torch, marks: list) -> tuple[float, float, float, float]:
    """``(head, busy, idle, tail)`` in s from events ``[begin, (start, end)..., finish]``."""
    begin, pairs, finish = marks[0], marks[1:-1], marks[-1]
    ms = lambda a, b: a.elapsed_time(b) / 1000  # noqa: E731
    busy = sum(ms(a, b) for a, b in pairs)
    idle = sum(gaps(marks))
    return ms(begin, pairs[0][0]), busy, idle, ms(pairs[-1][1], finish)


def gaps(marks: list) -> list[float]:
    """Idle time (s) between batch i's end and batch i+1's start, for each i."""
    pairs = marks[1:-1]
    return [pairs[i][1].elapsed_time(pairs[i + 1][0]) / 1000 for i in range(len(pairs) - 1)]


def largest_gaps(idle: list[float], sizes: list[int], n: int = 6) -> str:
    """The ``n`` longest gaps as ``after batch i (B clips, next B'): ms``."""
    top = sorted(range(len(idle)), key=lambda i: -idle[i])[:n]
    return ", ".join(f"after {i} ({sizes[i]}->{sizes[i + 1]} clips) {1000 * idle[i]:.1f} ms" for i in sorted(top))


def timed_stage(torch, codec, words, out: str, cfg) -> tuple:
    marks: list = []
    sizes: list[int] = []
    encode, readback = stage.encode_batch, stage._start_readback

    def event():
        e = torch.cuda.Event(enable_timing=True)
        e.record()
        return e

    def encode_recorded(codec, clips, to_numpy=True):
        a = event()
        r = encode(codec, clips, to_numpy)
        marks.append([a, event()])
        sizes.append(len(clips))
        return r

    def readback_recorded(x):  # a batch's pooling and copies follow its encoding: its span ends after them
        r = readback(x)
        if marks:  # (the codebook tables' copies come before any batch)
            marks[-1][1] = event()
        return r

    begin = event()
    stage.encode_batch, stage._start_readback = encode_recorded, readback_recorded
    try:
        with stage_split() as split:
            stage.run(codec, words, None, out, cfg)
    finally:
        stage.encode_batch, stage._start_readback = encode, readback
    finish = event()
    torch.cuda.synchronize()
    marks = [begin, *marks, finish]
    gap_text = largest_gaps(gaps(marks), sizes)
    return spans(torch, marks) + (begin.elapsed_time(finish) / 1000, len(sizes), split.text, gap_text)


def bare_busy(torch, codec, words) -> float:
    """Seconds the device is busy with the bare encoder calls of the stage's words (CUDA
    events around each batch), after one untimed pass over the same batches: their shapes
    differ from the stage's, and a first run of a shape pays its kernel selection (as
    ``benchmarks/encode.py`` warms its bare batches)."""
    batches = bare_batches(codec, word_clips(codec, words), stage.EncodeConfig())
    for wav, lens in batches:  # warm-up, untimed
        codec.encode(wav) if lens is None else codec.encode(wav, lengths=lens)
    busy = 0.0
    for wav, lens in batches:
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        codec.encode(wav) if lens is None else codec.encode(wav, lengths=lens)
        b.record()
        b.synchronize()
        busy += a.elapsed_time(b) / 1000
    return busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="+", default=["mimo"])
    ap.add_argument("--words", type=int, default=3000)
    ap.add_argument("--io-workers", nargs="+", type=int, default=[8, 1])
    ap.add_argument(
        "--hold-padding", nargs="+", type=float, default=[stage.HOLD_PADDING],
        help="one stage run per value (codecs that pay for padding only: Codec.pays_for_padding)",
    )  # fmt: skip
    a = ap.parse_args()
    for torch, codec, words, tmp in warm_cuda_codecs(a.families, a.words, "timeline"):
        bare = bare_busy(torch, codec, words)
        print(f"{codec.family}: {a.words} words, bare busy {bare:.3f} s (batches one at a time, no host work between)")
        for w, hold in itertools.product(a.io_workers, a.hold_padding):
            cfg = stage_config(io_workers=w, hold_padding=hold)
            head, busy, idle, tail, total, n, split, top = timed_stage(torch, codec, words, fresh_path(tmp, f"{codec.family}-{w}"), cfg)
            print(
                f"  io_workers {w}, hold_padding {hold:g}: stage {total:.3f} s = head {head:.3f} + busy {busy:.3f} "
                f"+ idle {idle:.3f} + tail {tail:.3f} ({n} batches); bare busy / stage {bare / total:.2f}",
                flush=True,
            )
            print(f"    stage log: {split}", flush=True)
            print(f"    longest gaps: {top}", flush=True)

if __name__ == "__main__":
    main()
