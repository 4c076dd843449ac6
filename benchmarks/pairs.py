"""Vectorized word-pair distances against a plain NumPy loop over pairs.

1,000,000 pair-layer distances (125,000 pairs x 8 layers, 512-d features, 20,000
tokens). Prints the loop's time, the vectorized times with 1 worker thread and with the
default thread count (median of ``--repeat`` runs each, every run listed), their ratios
to the loop (target: vectorized >= 20x faster) and the peak memory (tracemalloc) of each.
Usage: ``PYTHONPATH=workflow python benchmarks/pairs.py [--repeat 3]`` (``--tokens``,
``--pairs``, ``--layers``, ``--dim``: another size).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from codecprobe.distances import default_threads, pair_distances  # noqa: E402

from _measure import measure  # noqa: E402


def loop(features, a, b):
    out = np.empty((len(a), features.shape[1]))
    for i in range(len(a)):
        out[i] = np.linalg.norm(features[a[i]].astype(np.float64) - features[b[i]], axis=-1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each vectorized variant (median reported)")
    ap.add_argument("--tokens", type=int, default=20_000, help="word tokens with features")
    ap.add_argument("--pairs", type=int, default=125_000, help="random token pairs")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--dim", type=int, default=512)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n_tok, k, d, n_pairs = args.tokens, args.layers, args.dim, args.pairs
    feats = rng.standard_normal((n_tok, k, d)).astype(np.float32)
    a, b = rng.integers(0, n_tok, n_pairs), rng.integers(0, n_tok, n_pairs)
    variants = {"vectorized, 1 thread": 1, f"vectorized, {default_threads()} threads (default)": None}
    runs = {}
    for name, threads in variants.items():
        runs[name] = [measure(pair_distances, feats, a, b, threads=threads) for _ in range(args.repeat)]
    ref, t_loop, m_loop = measure(loop, feats, a, b)
    for name, rs in runs.items():
        assert all(np.allclose(r[0], ref, rtol=1e-5) for r in rs), f"{name} and loop distances differ"
    print(f"{n_pairs * k:,} pair-layer distances ({n_pairs:,} pairs x {k} layers, {d}-d, features {feats.nbytes / 2**20:.0f} MiB)")
    print(f"{'loop (1 run)':34s} {t_loop:7.3f} s  peak {m_loop / 2**20:7.1f} MiB")
    for name, rs in runs.items():
        times = [r[1] for r in rs]
        med = float(np.median(times))
        every = ", ".join(f"{t:.3f}" for t in times)
        print(f"{name:34s} {med:7.3f} s  peak {max(r[2] for r in rs) / 2**20:7.1f} MiB  "
              f"speed-up {t_loop / med:5.1f}x (target >= 20x)  [runs: {every} s]")  # fmt: skip


if __name__ == "__main__":
    main()
