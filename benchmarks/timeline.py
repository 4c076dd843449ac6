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
Printed per family, for each number of reader threads given (``--io-workers``), since the
readers hold the GIL now and then while the main thread queues kernels.

Usage: ``PYTHONPATH=workflow python benchmarks/timeline.py [--families mimo] [--words 3000]
[--io-workers 8 1]``. Without CUDA it says so and exits.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode import synthetic_words  # noqa: E402

import codecprobe.encode as stage  # noqa: E402
from codecprobe.audio import cut, load_audio  # noqa: E402
from codecprobe.codecs import CodecSpec, load_codec  # noqa: E402


def spans(torch, marks: list) -> tuple[float, float, float, float]:
    """``(head, busy, idle, tail)`` in s from events ``[begin, (start, end)..., finish]``."""
    begin, pairs, finish = marks[0], marks[1:-1], marks[-1]
    ms = lambda a, b: a.elapsed_time(b) / 1000  # noqa: E731
    busy = sum(ms(a, b) for a, b in pairs)
    idle = sum(ms(pairs[i][1], pairs[i + 1][0]) for i in range(len(pairs) - 1))
    return ms(begin, pairs[0][0]), busy, idle, ms(pairs[-1][1], finish)


def timed_stage(torch, codec, words, out: str, io_workers: int) -> tuple[float, ...]:
    marks: list = []
    encode, readback = stage.encode_batch, stage._start_readback

    def event():
        e = torch.cuda.Event(enable_timing=True)
        e.record()
        return e

    def encode_recorded(codec, clips, to_numpy=True):
        a = event()
        r = encode(codec, clips, to_numpy)
        marks.append([a, event()])
        return r

    def readback_recorded(x):  # a batch's pooling and copies follow its encoding: its span ends after them
        r = readback(x)
        marks[-1][1] = event()
        return r

    begin = event()
    stage.encode_batch, stage._start_readback = encode_recorded, readback_recorded
    try:
        stage.run(codec, words, None, out, stage.EncodeConfig(io_workers=io_workers))
    finally:
        stage.encode_batch, stage._start_readback = encode, readback
    finish = event()
    torch.cuda.synchronize()
    return spans(torch, [begin, *marks, finish]) + (begin.elapsed_time(finish) / 1000, len(marks))


def bare_busy(torch, codec, words) -> float:
    clips = []
    for path, g in words.groupby("path", sort=False):
        wav = load_audio(path, codec.sample_rate)
        clips += [cut(wav, codec.sample_rate, r.start, r.end) for r in g.itertuples()]
    lengths = np.array([len(c) for c in clips])
    cfg = stage.EncodeConfig()
    shared = codec.pad_invariant or codec.accepts_lengths
    batches = stage.make_batches(lengths, shared, int(cfg.batch_seconds * codec.sample_rate), cfg.max_batch)
    padded = []
    for idx in batches:
        wav = np.zeros((len(idx), lengths[idx].max()), np.float32)
        for j, i in enumerate(idx):
            wav[j, : lengths[i]] = clips[i]
        padded.append((torch.from_numpy(wav).to(codec.device), torch.from_numpy(lengths[idx])))
    torch.cuda.synchronize()
    busy = 0.0
    for wav, lens in padded:
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        codec.encode(wav, lengths=lens) if codec.accepts_lengths else codec.encode(wav)
        b.record()
        b.synchronize()
        busy += a.elapsed_time(b) / 1000
    return busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="+", default=["mimo"])
    ap.add_argument("--words", type=int, default=3000)
    ap.add_argument("--io-workers", nargs="+", type=int, default=[8, 1])
    a = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("timeline: CUDA is not available; nothing to measure")
        return
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        words = synthetic_words(Path(tmp), a.words)
        for fam in a.families:
            codec = load_codec(CodecSpec(fam, fam, weights="random"), "cuda")
            stage.run(codec, words, None, str(Path(tmp) / f"{fam}-warmup.h5"), stage.EncodeConfig(io_workers=8))
            bare = bare_busy(torch, codec, words)
            print(f"{fam}: {a.words} words, bare busy {bare:.3f} s (batches one at a time, no host work between)")
            for w in a.io_workers:
                head, busy, idle, tail, total, n = timed_stage(torch, codec, words, str(Path(tmp) / f"{fam}-{w}.h5"), w)
                print(
                    f"  io_workers {w}: stage {total:.3f} s = head {head:.3f} + busy {busy:.3f} + idle {idle:.3f} "
                    f"+ tail {tail:.3f} ({n} batches); bare busy / stage {bare / total:.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
