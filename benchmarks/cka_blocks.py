"""CKA permutation passes: block sums by einsum (BLAS-free, since session 15) against np.vdot.

``permuted_alignment`` sums each gathered 1 MiB block of the permuted Gram against the
other Gram. With ``np.vdot`` that sum went to OpenBLAS, which threads a dot of over
10,000 numbers; on a busy machine each call then waits for its threads (here, 2 cores
shared with other jobs: about 8 ms per call instead of 40 us). ``einsum`` computes the
same sum on the calling thread. Synthetic centred Grams of ``--n`` words (float64, as
``speechtext`` uses up to 5,000 types); prints the time per permutation of both, their
ratio and the largest difference of the null values (rounding only). Run it with
``OPENBLAS_NUM_THREADS=1`` to see the vdot path without BLAS threads.
Usage: ``PYTHONPATH=workflow python benchmarks/cka_blocks.py [--n 5000] [--perms 5]``.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from codecprobe.cka import permuted_alignment, prepare_gram


def vdot_alignment(kc, lc, perm, block_bytes=1 << 20):
    """``permuted_alignment`` before session 15: the same gathers, block sums by ``np.vdot``."""
    n = kc.shape[0]
    step = max(1, block_bytes // (n * kc.itemsize))
    rows, block, total = np.empty((step, n), kc.dtype), np.empty((step, n), kc.dtype), 0.0
    for s in range(0, n, step):
        idx = perm[s : s + step]
        m = len(idx)
        np.take(kc, idx, axis=0, out=rows[:m], mode="clip")
        np.take(rows[:m], perm, axis=1, out=block[:m], mode="clip")
        total += float(np.vdot(block[:m], lc[s : s + m]))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="words (rows of each Gram)")
    ap.add_argument("--perms", type=int, default=5, help="permutations timed per path")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    z = rng.standard_normal((args.n, 16))
    kc = prepare_gram(z @ rng.standard_normal((16, 512)) + rng.standard_normal((args.n, 512)))
    lc = prepare_gram(z @ rng.standard_normal((16, 512)) + rng.standard_normal((args.n, 512)))
    norm = np.sqrt(float(np.einsum("ij,ij->", kc, kc)) * float(np.einsum("ij,ij->", lc, lc)))
    perms = [rng.permutation(args.n) for _ in range(args.perms)]
    times, values = {}, {}
    for name, f in (("einsum (now)", permuted_alignment), ("vdot (before)", vdot_alignment)):
        times[name], values[name] = [], []
        for p in perms:
            t0 = time.perf_counter()
            values[name].append(f(kc, lc, p) / norm)
            times[name].append(time.perf_counter() - t0)
    diff = max(abs(a - b) for a, b in zip(values["einsum (now)"], values["vdot (before)"]))
    print(f"{args.n} words, {args.perms} permutations, Grams {kc.nbytes / 2**20:.0f} MiB each (float64)")
    for name, ts in times.items():
        print(f"{name:14s} {statistics.median(ts) * 1e3:8.1f} ms per permutation (median; runs {', '.join(f'{t * 1e3:.0f}' for t in ts)})")
    ratio = statistics.median(times["vdot (before)"]) / statistics.median(times["einsum (now)"])
    print(f"speed-up {ratio:.1f}x; largest difference of the null CKA values {diff:.1e}")


if __name__ == "__main__":
    main()
