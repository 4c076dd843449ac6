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

``--codec mimo`` (the default) models MiMo on the H100 (session 6, run I: bare batches
3.21 s for 3,000 words, 1,575 s of audio in about 47 batches; 1,595 operator calls per
batch, a few us each on either side): 4 ms per batch, 1.92 ms per second of audio, 10 ms
of launching. ``--codec mimi`` models a codec that encodes each clip alone with many small
kernels, bound by the host's launching (MIMI, also DAC and EnCodec): MIMI's shapes
(12.5 Hz, 32 layers of 2048 codes, 512-d: 134 MB of codebooks), 15 ms of launching per
clip (1,010 operator calls; the H100 took 14-25 ms per clip), 3 ms of device time per clip.
The bare encoder is modelled the same way, its launches and device work pipelined as a
GPU runs them (one batching of all clips, as ``benchmarks/encode.py`` does). Printed per
word count: the stage/bare ratio (median of ``--repeats`` runs after a warm-up), the
stage's batches against the bare call's, and the device's head, busy, idle and tail (for
a host-bound codec its busy and idle times are not the model's: the device thread, being
Python, waits for the GIL to wake; the ratio is what counts). A model, not a measurement: it shows what the schedule costs when the
host is as slow as this one and the device behaves as modelled; only a GPU says what the
stage achieves (``benchmarks/encode.py``, ``timeline.py``).

Usage: ``PYTHONPATH=workflow python benchmarks/simulated_device.py [--codec mimo|mimi]
[--words 300 3000] [--repeats 5] [--fixed-ms 4] [--ms-per-second 1.92] [--launch-ms 10]``
(the times per batch, or per clip for ``mimi``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import queue
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import warm_medians  # noqa: E402
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

    def record(self, stream=None) -> None:  # one simulated device: one stream
        self.device.queue.put(("event", self.fired))

    def synchronize(self) -> None:
        self.fired.wait()

    def query(self) -> bool:
        return self.fired.is_set()


SHAPES = {  # hop (24 kHz samples), codes per layer, decoded vector size, clips launched one by one
    "mimo": (960, [1024, 1024] + [128] * 6, 1280, False),
    "mimi": (1920, [2048] * 32, 512, True),
}
DEFAULTS = {"mimo": (4.0, 1.92, 10.0), "mimi": (3.0, 0.0, 15.0)}  # fixed ms, ms per second of audio, launch ms


class SimCodec(Codec):
    """A codec on a simulated device with ``SHAPES[kind]``: it masks padding given the
    lengths and pays for real frames only (``mimo``: one launch and one device job per
    batch), or encodes each clip alone (``mimi``: one launch and one job per clip)."""

    family = "simulated"
    accepts_lengths = True
    pays_for_padding = False

    def __init__(self, device: SimDevice, fixed_s: float, s_per_second: float, launch_s: float, kind: str = "mimo"):
        import torch

        self.spec = CodecSpec("simulated", "simulated", weights="random")
        self.sim, self.fixed_s, self.s_per_second, self.launch_s = device, fixed_s, s_per_second, launch_s
        self.hop_length, sizes, self.dim, self.per_clip = SHAPES[kind]
        self.sample_rate, self.n_layers = 24000, len(sizes)
        self.frame_rate = self.sample_rate / self.hop_length
        self.device = "cpu"  # the stage's own tensors stay on the host
        rng = np.random.default_rng(0)
        self._vectors = [torch.from_numpy(rng.standard_normal((n, self.dim), np.float32)) for n in sizes]
        self.sizes: list[int] = []  # clips of each batch encoded

    @property
    def on_cuda(self) -> bool:  # calls return before the (simulated) device is done
        return True

    def jobs(self, lengths) -> list[float]:
        """Device time of each job a batch of clips of ``lengths`` samples makes: one for the
        batch, or one per clip (``per_clip``); each is launched for ``launch_s`` first."""
        groups = [[n] for n in lengths] if self.per_clip else [lengths]
        return [self.fixed_s + self.s_per_second * float(np.sum(g)) / self.sample_rate for g in groups]

    def encode(self, wav, lengths=None):
        import torch

        for job in self.jobs(np.asarray(lengths)):
            end = time.perf_counter() + self.launch_s
            while time.perf_counter() < end:  # launching the kernels: Python, holding the GIL
                pass
            self.sim.queue.put(("batch", job))
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
    """``torch.cuda.Event`` (and the stream it is recorded on, and the device's name) and the
    stage's device pooling replaced for the simulated device."""
    import torch

    event, stream, name, pool = torch.cuda.Event, torch.cuda.current_stream, torch.cuda.get_device_name, stage._pool_padded
    torch.cuda.Event = type("SimEvent", (SimEvent,), {"device": device})
    torch.cuda.current_stream = lambda device=None: None
    torch.cuda.get_device_name = lambda device=None: "simulated device"  # the feature file's provenance
    stage._pool_padded = lambda tables, pad, n, methods: {m: torch.zeros(len(pad), len(tables), tables[0].shape[1]) for m in methods}
    try:
        yield
    finally:
        torch.cuda.Event, torch.cuda.current_stream, torch.cuda.get_device_name, stage._pool_padded = event, stream, name, pool


def simulate(codec: SimCodec, words, out: str, cfg) -> dict:
    """One stage run: its wall time, the device's head, busy, idle and tail (s), its batches
    (the encode calls; device jobs are batches, or clips for a per-clip codec)."""
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
        "tail": t1 - spans[-1][1], "batches": len(codec.sizes),
    }  # fmt: skip


def bare_model(codec: SimCodec, words, cfg) -> tuple[float, int]:
    """The bare encoder's time on the model and its batches (one batching of all clips, as
    ``benchmarks/encode.py`` does): each job starts when it is launched and the device has
    finished the one before, as a GPU runs a stream."""
    lengths = np.array([len(c) for c in word_clips(codec, words)])
    batches = stage.make_batches(lengths, True, int(cfg.batch_seconds * codec.sample_rate), cfg.max_batch)
    host = device = 0.0
    for b in batches:
        for job in codec.jobs(lengths[b]):
            host += codec.launch_s
            device = max(device, host) + job
    return device, len(batches)


def run_once(codec: SimCodec, words, root: Path, cfg, tag: str) -> dict:
    """:func:`simulate` into a fresh file named after ``tag``."""
    return simulate(codec, words, fresh_path(root, tag), cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--codec", choices=sorted(SHAPES), default="mimo")
    ap.add_argument("--words", nargs="+", type=int, default=[300, 3000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fixed-ms", type=float, default=None, help="device time of a batch (mimi: a clip) whatever its size")
    ap.add_argument("--ms-per-second", type=float, default=None, help="device time per second of audio")
    ap.add_argument("--launch-ms", type=float, default=None, help="host time to launch a batch's (mimi: a clip's) kernels")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    given = (a.fixed_ms, a.ms_per_second, a.launch_ms)
    fixed, per_second, launch = (d if v is None else v for v, d in zip(given, DEFAULTS[a.codec]))
    codec = SimCodec(SimDevice(), fixed / 1000, per_second / 1000, launch / 1000, a.codec)
    print(f"{a.codec}: {fixed:g} ms + {per_second:g} ms per second of audio on the device, {launch:g} ms of launching, per {'clip' if codec.per_clip else 'batch'}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.words:
            (Path(tmp) / f"w{n}").mkdir()
            words = synthetic_words(Path(tmp) / f"w{n}", n)
            cfg = stage_config()
            bare, bare_batches = bare_model(codec, words, cfg)
            keys = ("stage", "head", "busy", "idle", "tail")
            med, runs = warm_medians(partial(run_once, codec, words, Path(tmp), cfg), a.repeats, keys)
            print(
                f"{a.codec}, {n} words: stage/bare {bare / med['stage']:.3f} (model: bare {1000 * bare:.0f} ms, stage {1000 * med['stage']:.0f} ms; "
                f"medians of {a.repeats}); batches {sorted({r['batches'] for r in runs})} against {bare_batches}; "
                f"device head {1000 * med['head']:.1f}, busy {1000 * med['busy']:.0f}, idle {1000 * med['idle']:.1f}, tail {1000 * med['tail']:.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
