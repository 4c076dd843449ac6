"""Closing an HDF5 feature file written into a fresh file vs into a truncated one.

The encode stage writes pooled word features (for 3,000 words: 2 methods x [3000, 8, 1280]
float32, 246 MB) into a temporary file that is renamed at the end
(``codecprobe.io.atomic_path``). On ext4 (``auto_da_alloc``), a file that is truncated and
then rewritten is written back to disk synchronously when it is closed; a new file is not.
``atomic_path`` therefore hands the writer a name with no file behind it. This prints the
close time of both ways, and their ratio, in the folder given (default: a temporary folder
on the filesystem of ``results/``).

Usage: ``PYTHONPATH=workflow python benchmarks/h5_close.py [--dir results] [--words 3000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np


def close_seconds(path: Path, words: int, truncated: bool) -> float:
    """Write 2 datasets [words, 8, 1280] float32 in 64-row batches to ``path``; seconds to close."""
    if truncated:
        path.write_bytes(b"")  # an existing empty file, opened with truncation by h5py's "w"
    rows = np.random.default_rng(0).standard_normal((64, 8, 1280)).astype(np.float32)
    h = h5py.File(path, "w")
    for m in ("mean", "center"):
        ds = h.create_dataset(m, shape=(words, 8, 1280), dtype="float32")
        for a in range(0, words, 64):
            ds[a : a + 64] = rows[: min(64, words - a)]
    t0 = time.perf_counter()
    h.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="results")
    ap.add_argument("--words", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    Path(a.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        t = {
            way: [close_seconds(Path(tmp) / f"{way}-{i}.h5", a.words, way == "truncated") for i in range(a.repeats)]
            for way in ("fresh", "truncated")
        }
    fresh, trunc = statistics.median(t["fresh"]), statistics.median(t["truncated"])
    size = 2 * a.words * 8 * 1280 * 4 / 1e6
    print(f"{size:.0f} MB in {a.dir}: close of a fresh file {1000 * fresh:.1f} ms, of a truncated one {1000 * trunc:.1f} ms (median of {a.repeats})")
    print(f"truncated / fresh: {trunc / max(fresh, 1e-4):.0f}x (fresh under 0.1 ms counts as 0.1 ms)")


if __name__ == "__main__":
    main()
