"""Where the encode stage's main thread spends its time, against the bare encoder calls:
a sampling profiler in a thread (``sys._current_frames`` every ``--interval`` ms).

For one family (random weights at real size) on the synthetic words of
``benchmarks/encode.py``: one untimed pass of the stage, then the stage and the bare
calls, each sampled. Printed for each: wall time, samples, the main thread's most frequent
innermost frames in this project's code and in the libraries (``file:line function``),
and, for every other thread, how often it was *running Python* (its innermost frame not
a blocking wait such as ``threading.py wait`` or ``queue get``): the threads that take the
GIL from the thread queueing kernels. A launch-bound codec (MIMI encodes each clip alone,
about a thousand operator calls per clip) loses pace whenever another thread takes the GIL.

Usage: ``PYTHONPATH=workflow python benchmarks/stack_sample.py [--family mimi] [--words 150]
[--io-workers 8] [--device auto] [--interval 2] [--top 12]``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from codecprobe.codecs import CodecSpec, load_codec
from codecprobe.encode import resolve_device, run
from encode import (
    _sync,
    bare_batches,
    fresh_path,
    stage_config,
    synthetic_words,
    word_clips,
)

WAITS = ("wait", "get", "acquire", "_worker", "sleep", "select", "result", "join")
OURS = str(Path(__file__).resolve().parents[1] / "workflow")


class Sampler:
    """Samples every thread's stack each ``interval`` s while inside a ``with`` block."""

    def __init__(self, interval: float):
        self.interval = interval
        self.main: collections.Counter = collections.Counter()
        self.main_ours: collections.Counter = collections.Counter()
        self.others: collections.Counter = collections.Counter()
        self.others_top: collections.Counter = collections.Counter()
        self.n = 0

    def __enter__(self):
        self._stop = threading.Event()
        self._main = threading.main_thread().ident

        def names() -> dict:
            return {t.ident: t.name for t in threading.enumerate()}

        def loop():
            me = threading.get_ident()
            while not self._stop.wait(self.interval):
                named = names()
                self.n += 1
                for tid, frame in sys._current_frames().items():
                    if tid == me:
                        continue
                    top = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"
                    if tid == self._main:
                        self.main[top] += 1
                        f = frame
                        while f is not None and not f.f_code.co_filename.startswith(OURS):
                            f = f.f_back
                        if f is not None:
                            self.main_ours[f"{Path(f.f_code.co_filename).name}:{f.f_lineno} {f.f_code.co_name}"] += 1
                    else:
                        name = named.get(tid, str(tid)).split("_")[0]
                        busy = not any(w in frame.f_code.co_name for w in WAITS)
                        self.others[(name, "python" if busy else "waiting")] += 1
                        if busy:
                            self.others_top[f"{name}: {top}"] += 1

        self._t = threading.Thread(target=loop, name="sampler", daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def report(self, title: str, wall: float, top: int) -> None:
        print(f"== {title}: {wall:.2f} s, {self.n} samples")
        print("   main thread, innermost frame:")
        for k, v in self.main.most_common(top):
            print(f"     {100 * v / max(1, self.n):5.1f} %  {k}")
        print("   main thread, innermost frame in this project:")
        for k, v in self.main_ours.most_common(top):
            print(f"     {100 * v / max(1, self.n):5.1f} %  {k}")
        print("   other threads (samples running Python / waiting):")
        for (name, state), v in sorted(self.others.items()):
            print(f"     {name:24s} {state:8s} {v}")
        for k, v in self.others_top.most_common(top):
            print(f"     {v:6d}  {k}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", default="mimi")
    ap.add_argument("--words", type=int, default=150)
    ap.add_argument("--io-workers", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--interval", type=float, default=2.0, help="ms between samples")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    codec = load_codec(CodecSpec(a.family, a.family, weights="random"), resolve_device(a.device))
    sync = _sync(codec)
    cfg = stage_config(io_workers=a.io_workers)
    with tempfile.TemporaryDirectory() as tmp:
        words = synthetic_words(Path(tmp), a.words)
        run(codec, words, None, fresh_path(Path(tmp), "warmup"), cfg)
        sync()
        padded = bare_batches(codec, word_clips(codec, words), cfg)
        for wav, lens in padded:  # their shapes differ from the stage's: one untimed pass, as encode.py does
            codec.encode(wav) if lens is None else codec.encode(wav, lengths=lens)
        sync()
        with Sampler(a.interval / 1000) as s:
            t0 = time.perf_counter()
            run(codec, words, None, fresh_path(Path(tmp), a.family), cfg)
            sync()
            wall = time.perf_counter() - t0
        s.report(f"{a.family} stage, {a.words} words, {a.io_workers} reader threads, {codec.device}", wall, a.top)
        with Sampler(a.interval / 1000) as s:
            t0 = time.perf_counter()
            for wav, lens in padded:
                codec.encode(wav) if lens is None else codec.encode(wav, lengths=lens)
            sync()
            wall = time.perf_counter() - t0
        s.report(f"{a.family} bare calls", wall, a.top)


if __name__ == "__main__":
    main()
