"""The encode stage against a simulated GPU: the host's work is real, the device a model.

A GPU is lent to a session for minutes; the stage's scheduling (shards, held batches,
where the host waits) can be studied without one. Here the stage
(``codecprobe.encode.run``, audio slicing, the benchmark's synthetic words) runs on
the host as it would with MiMo on CUDA, but its codec is a stand-in whose ``encode`` spends
the host time of launching a batch's kernels (``--launch-ms``, holding the GIL as Python
does) and hands the batch to a *device* thread, which runs the batches in order, each for
``--fixed-ms + --ms-per-second x (seconds of audio in it)``; CUDA events are markers in
the same queue. Pooling (device work on a GPU) only makes zeros of its result's shape, so
the rows written are as large as MiMo's (8 x 1280 floats per word), as are the codebooks.

The defaults model MiMo on the H100 (session 6, run I: bare batches 3.21 s for 3,000
words, 1,575 s of audio in about 47 batches; 1,595 operator calls per batch, a few us each
on either side): 4 ms per batch, 1.92 ms per second of audio, 10 ms of launching. The
bare encoder is modelled the same way: its batches back to back, after the first one's
launch. Printed per word count: the stage/bare ratio (median of ``--repeats`` runs after
a warm-up), the stage's batches against the bare call's, and the device's head, busy,
idle and tail. A model, not a measurement: it shows what the schedule costs when the
host is as slow as this one and the device behaves as modelled; only a GPU says what the
stage achieves (``benchmarks/encode.py``, ``timeline.py``).

Usage: ``PYTHONPATH=workflow python benchmarks/simulated_device.py [--words 300 3000]
[--repeats 5] [--fixed-ms 4] [--ms-per-second 1.92] [--launch-ms 10]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode import fresh_path, stage_config, synthetic_words, word_clips  # noqa: E402

import codecprobe.encode as stage  # noqa: E402
from codecprobe.codecs.base import Codec, CodecSpec  # noqa: E402


class SimDevice:
    """A thread that runs queued batches (sleeps) and fires queued events, in order."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self.spans: list[tuple[float, float]] = []  # (start, end) of each batch, host clock
        threading.Thread(target=self._run, daemon=True, name="sim-device").start()

    def _run(self) -> None:
        while True:
            kind, x = self.queue.get()
            if kind == "batch":
                a = time.perf_counter()
                time.sleep(x)
                self.spans.append((a, time.perf_counter()))
            else:
                x.set()


class SimEvent:
    """A stand-in ``torch.cuda.Event`` on ``device``: once recorded, it fires when the
    device has run everything queued before it."""

    device: SimDevice

    def __init__(self, enable_timing: bool = False):
        self.fired = threading.Event()

    def record(self) -> None:
        self.device.queue.put(("event", self.fired))

    def synchronize(self) -> None:
        self.fired.wait()

    def query(self) -> bool:
        return self.fired.is_set()


class SimCodec(Codec):
    """MiMo's shapes (24 kHz, 25 Hz, 8 layers of 1024, 1024 and 128 codes, 1280-d) on a
    simulated device: it masks padding given the lengths and pays for real frames only."""

    family = "simulated"
    accepts_lengths = True
    pays_for_padding = False

    def __init__(self, device: SimDevice, fixed_s: float, s_per_second: float, launch_s: float):
        import torch

        self.spec = CodecSpec("simulated", "simulated", weights="random")
        self.sim, self.fixed_s, self.s_per_second, self.launch_s = device, fixed_s, s_per_second, launch_s
        self.sample_rate, self.hop_length, self.frame_rate, self.n_layers, self.dim = 24000, 960, 25.0, 8, 1280
        self.device = "cpu"  # the stage's own tensors stay on the host
        rng = np.random.default_rng(0)
        self._vectors = [torch.from_numpy(rng.standard_normal((1024 if k < 2 else 128, self.dim), np.float32)) for k in range(8)]
        self.sizes: list[int] = []  # clips of each batch encoded

    @property
    def on_cuda(self) -> bool:  # calls return before the (simulated) device is done
        return True

    def batch_seconds(self, lengths) -> float:
        """Device time of one batch of clips of ``lengths`` samples."""
        return self.fixed_s + self.s_per_second * float(np.sum(lengths)) / self.sample_rate

    def encode(self, wav, lengths=None):
        import torch

        end = time.perf_counter() + self.launch_s
        while time.perf_counter() < end:  # launching the kernels: Python, holding the GIL
            pass
        self.sim.queue.put(("batch", self.batch_seconds(np.asarray(lengths))))
        self.sizes.append(len(lengths))
        return torch.zeros((wav.shape[0], self.n_layers, self.n_frames(wav.shape[-1])), dtype=torch.long)

    def codebook_vectors(self, layer: int):
        return self._vectors[layer]

    def quantized(self, codes):
        raise NotImplementedError("a simulated codec has no quantizer")

    def n_frames(self, n_samples: int) -> int:
        return -(-int(n_samples) // self.hop_length)

    def metadata(self) -> dict:
        return {"codec": "simulated", "family": self.family, "weights": "random", "weights_sha256": "random"}


@contextlib.contextmanager
def simulated(device: SimDevice):
    """``torch.cuda.Event`` and the stage's device pooling replaced for the simulated device."""
    import torch

    event, pool = torch.cuda.Event, stage._pool_padded
    torch.cuda.Event = type("SimEvent", (SimEvent,), {"device": device})
    stage._pool_padded = lambda tables, pad, n, methods: {m: torch.zeros(len(pad), len(tables), tables[0].shape[1]) for m in methods}
    try:
        yield
    finally:
        torch.cuda.Event, stage._pool_padded = event, pool


def simulate(codec: SimCodec, words, out: str, cfg) -> dict:
    """One stage run: its wall time, the device's head, busy, idle and tail (s), its batches."""
    codec.sim.spans.clear()
    codec.sizes.clear()
    with simulated(codec.sim):
        t0 = time.perf_counter()
        stage.run(codec, words, None, out, cfg)
        t1 = time.perf_counter()
    spans = list(codec.sim.spans)
    busy = sum(b - a for a, b in spans)
    return {
        "stage": t1 - t0, "head": spans[0][0] - t0, "busy": busy, "idle": spans[-1][1] - spans[0][0] - busy,
        "tail": t1 - spans[-1][1], "batches": len(spans),
    }  # fmt: skip


def bare_model(codec: SimCodec, words, cfg) -> tuple[float, int]:
    """The bare encoder's time on the model (its batches back to back after the first
    one's launch: one batching of all clips, as ``benchmarks/encode.py`` does) and its batches."""
    lengths = np.array([len(c) for c in word_clips(codec, words)])
    batches = stage.make_batches(lengths, True, int(cfg.batch_seconds * codec.sample_rate), cfg.max_batch)
    return codec.launch_s + sum(codec.batch_seconds(lengths[b]) for b in batches), len(batches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", nargs="+", type=int, default=[300, 3000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fixed-ms", type=float, default=4.0, help="device time of a batch whatever its size")
    ap.add_argument("--ms-per-second", type=float, default=1.92, help="device time per second of audio in a batch")
    ap.add_argument("--launch-ms", type=float, default=10.0, help="host time to launch a batch's kernels")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    codec = SimCodec(SimDevice(), a.fixed_ms / 1000, a.ms_per_second / 1000, a.launch_ms / 1000)
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.words:
            (Path(tmp) / f"w{n}").mkdir()
            words = synthetic_words(Path(tmp) / f"w{n}", n)
            cfg = stage_config()
            bare, bare_batches = bare_model(codec, words, cfg)
            simulate(codec, words, fresh_path(Path(tmp), "warmup"), cfg)
            runs = [simulate(codec, words, fresh_path(Path(tmp), "sim"), cfg) for _ in range(a.repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in ("stage", "head", "busy", "idle", "tail")}
            print(
                f"{n} words: stage/bare {bare / med['stage']:.3f} (model: bare {1000 * bare:.0f} ms, stage {1000 * med['stage']:.0f} ms; "
                f"medians of {a.repeats}); batches {sorted({r['batches'] for r in runs})} against {bare_batches}; "
                f"device head {1000 * med['head']:.1f}, busy {1000 * med['busy']:.0f}, idle {1000 * med['idle']:.1f}, tail {1000 * med['tail']:.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
