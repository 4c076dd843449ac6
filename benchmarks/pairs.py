"""Vectorized word-pair distances against a plain NumPy loop over pairs.

1,000,000 pair-layer distances (125,000 pairs x 8 layers, 512-d features, 20,000
tokens). Prints both times, their ratio (target: vectorized >= 20x faster) and the
peak memory (tracemalloc) of each. Usage: ``PYTHONPATH=workflow python benchmarks/pairs.py``.
"""

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from codecprobe.distances import pair_distances  # noqa: E402


def loop(features, a, b):
    out = np.empty((len(a), features.shape[1]))
    for i in range(len(a)):
        out[i] = np.linalg.norm(features[a[i]].astype(np.float64) - features[b[i]], axis=-1)
    return out


def measure(fn, *args):
    tracemalloc.start()
    t0 = time.perf_counter()
    r = fn(*args)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return r, dt, peak


def main():
    rng = np.random.default_rng(0)
    n_tok, k, d, n_pairs = 20_000, 8, 512, 125_000
    feats = rng.standard_normal((n_tok, k, d)).astype(np.float32)
    a, b = rng.integers(0, n_tok, n_pairs), rng.integers(0, n_tok, n_pairs)
    vec, t_vec, m_vec = measure(pair_distances, feats, a, b)
    ref, t_loop, m_loop = measure(loop, feats, a, b)
    assert np.allclose(vec, ref, rtol=1e-5), "vectorized and loop distances differ"
    print(f"{n_pairs * k:,} pair-layer distances ({n_pairs:,} pairs x {k} layers, {d}-d, features {feats.nbytes / 2**20:.0f} MiB)")
    print(f"vectorized: {t_vec:7.3f} s  peak {m_vec / 2**20:7.1f} MiB")
    print(f"loop:       {t_loop:7.3f} s  peak {m_loop / 2**20:7.1f} MiB")
    print(f"speed-up (loop / vectorized): {t_loop / t_vec:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
