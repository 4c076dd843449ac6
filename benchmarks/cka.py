"""Permutation baseline of linear CKA: reuse of the centred Grams against recomputation from features.

Synthetic data: ``n`` words with 4,096-dim features on both sides (float32, sharing a
16-dim latent). For each size:

- fast: ``prepare_gram`` for both sides once (the setup), then ``permutation_null``,
  one O(n^2) gather per permutation;
- slow: ``linear_cka(x[p], y)`` from the features for every permutation (what a plain
  loop does: three 4096 x n x 4096 products per permutation).

Only a few permutations are timed (``--perms``, ``--slow``); the totals for 1,000
permutations are extrapolated linearly (setup + 1,000 x the mean time per permutation)
and marked as such. The first ``--slow`` null values of both paths are checked to agree.
Peak memory is what tracemalloc traces (NumPy's allocations) during each path, the
features being allocated before; the timings run with tracing on (about 10 % slower for
the fast path here). The machine is shared: per-permutation times vary by up to 2x
between runs. Grams are float64 up to ``--float32-from`` words and
float32 from there (20,000 words: 1.6 GB instead of 3.2 GB per Gram).

Usage: ``PYTHONPATH=workflow python benchmarks/cka.py [--sizes 5000,10000,20000]
[--perms 1000,200,50] [--slow 5,2,1] [--dim 4096]``.
"""

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from codecprobe.cka import linear_cka, permutation_null, prepare_gram  # noqa: E402

N_TARGET = 1000


def ints(s: str) -> list[int]:
    return [int(v) for v in s.split(",")]


def features(n: int, d: int, rng: np.random.Generator):
    z = rng.standard_normal((n, 16), dtype=np.float32)
    x = z @ rng.standard_normal((16, d), dtype=np.float32) + 4 * rng.standard_normal((n, d), dtype=np.float32)
    y = z @ rng.standard_normal((16, d), dtype=np.float32) + 4 * rng.standard_normal((n, d), dtype=np.float32)
    return x, y


def fast_path(x, y, perms, dtype):
    tracemalloc.start()
    t0 = time.perf_counter()
    kc, lc = prepare_gram(x, dtype=dtype), prepare_gram(y, dtype=dtype)
    t1 = time.perf_counter()
    null = permutation_null(kc, lc, perms)
    t2 = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return null, t1 - t0, (t2 - t1) / len(perms), peak


def slow_path(x, y, perms):
    tracemalloc.start()
    t0 = time.perf_counter()
    null = np.array([linear_cka(x[p], y) for p in perms])
    dt = (time.perf_counter() - t0) / len(perms)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return null, dt, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=ints, default=[5000, 10000, 20000])
    ap.add_argument("--perms", type=ints, default=[1000, 200, 50], help="fast permutations timed per size")
    ap.add_argument("--slow", type=ints, default=[5, 2, 1], help="slow permutations timed per size")
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--float32-from", type=int, default=20000, help="float32 Grams from this many words on")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    mib = 2**20
    rows = []
    print(f"linear CKA permutation baseline, {args.dim}-d features on both sides, totals for {N_TARGET:,} permutations")
    for n, n_fast, n_slow in zip(args.sizes, args.perms, args.slow):
        x, y = features(n, args.dim, rng)
        dtype = np.float32 if n >= args.float32_from else np.float64
        perms = [rng.permutation(n) for _ in range(max(n_fast, n_slow))]
        fast_null, setup, per_fast, peak_fast = fast_path(x, y, perms[:n_fast], dtype)
        slow_null, per_slow, peak_slow = slow_path(x, y, perms[:n_slow])
        err = float(np.max(np.abs(fast_null[:n_slow] - slow_null)))
        tol = 1e-5 if dtype == np.float32 else 1e-10
        assert err < tol, f"fast and slow nulls differ by {err:.2e} at n={n}"
        fast_total = setup + N_TARGET * per_fast
        slow_total = N_TARGET * per_slow
        ext_fast = "measured" if n_fast >= N_TARGET else f"extrapolated from {n_fast}"
        print(f"\nn = {n:,} words ({np.dtype(dtype).name} Grams, {n * n * np.dtype(dtype).itemsize / mib:,.0f} MiB each; "
              f"features {x.nbytes / mib:,.0f} MiB each, float32)")  # fmt: skip
        print(f"  fast: setup (2 centred Grams) {setup:7.2f} s + {per_fast * 1e3:8.1f} ms/permutation "
              f"-> {fast_total:9.1f} s for {N_TARGET:,} ({ext_fast}); peak {peak_fast / mib:8.1f} MiB")  # fmt: skip
        print(f"  slow: {per_slow:7.2f} s/permutation -> {slow_total:9.1f} s for {N_TARGET:,} "
              f"(extrapolated from {n_slow}); peak {peak_slow / mib:8.1f} MiB")  # fmt: skip
        print(f"  speed-up (slow / fast, {N_TARGET:,} permutations): {slow_total / fast_total:6.1f}x (target >= 10x); "
              f"max |fast - slow| over {n_slow} permutations: {err:.1e}")  # fmt: skip
        rows.append((n, setup, per_fast, fast_total, per_slow, slow_total, peak_fast, peak_slow))
        del x, y, perms
    if len(rows) > 1:
        n0, s0, pf0, ft0, ps0, st0, mf0, ms0 = rows[0]
        print(f"\ngrowth relative to n = {n0:,} (n^2 would be 4x at 2n, 16x at 4n):")
        for n, s, pf, ft, ps, st, mf, ms in rows[1:]:
            print(f"  n = {n:,} ({n / n0:.0f}x words): fast per permutation {pf / pf0:5.1f}x, setup {s / s0:5.1f}x, "
                  f"fast total {ft / ft0:5.1f}x, fast peak memory {mf / mf0:5.1f}x; slow per permutation {ps / ps0:5.1f}x, "
                  f"slow peak memory {ms / ms0:5.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
