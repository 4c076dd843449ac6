"""PWCCA at many time lags against one codec layer: ``pwcca_each_x`` (y's covariance once)
vs ``pwcca`` called once per lag.

The shape of one paper speaker and layer: VTD-like x with 114 gridlines read at 17 lags
(-0.16 .. +0.16 s in 20 ms steps, ``config/paper.yaml``) against 1024-dim float32 features
(DAC, MIMO) over 30,000 frames (about 7 min of speech at 75 Hz). Prints both times, the
ratio (target >= 3x) and the largest difference of the values. Synthetic data. Usage:
``python benchmarks/lag.py [--frames N] [--lags L] [--dy D]``.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from codecprobe.pwcca import pwcca, pwcca_each_x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=30_000)
    ap.add_argument("--lags", type=int, default=17)
    ap.add_argument("--dx", type=int, default=114)
    ap.add_argument("--dy", type=int, default=1024)
    args = ap.parse_args()
    n, dx, dy = args.frames, args.dx, args.dy
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n + args.lags, 10))
    mix = rng.standard_normal((10, dx))
    xs = [z[i : i + n] @ mix + 2 * rng.standard_normal((n, dx)) for i in range(args.lags)]  # the latent shifted per lag
    y = (z[args.lags // 2 : args.lags // 2 + n] @ rng.standard_normal((10, dy)) + 3 * rng.standard_normal((n, dy))).astype(np.float32)
    print(f"{args.lags} lags: x [{n:,} x {dx}] each, y [{n:,} x {dy}] float32")
    t0 = time.perf_counter()
    fast = pwcca_each_x(xs, y, weight_side="x")
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = np.array([pwcca(x, y, weight_side="x").pwcca for x in xs])
    t_slow = time.perf_counter() - t0
    print(f"pwcca per lag: {t_slow:6.2f} s   pwcca_each_x: {t_fast:6.2f} s   ratio {t_slow / t_fast:.1f}x (target >= 3x)")
    print(f"best lag index {int(np.argmax(fast))} (planted: {args.lags // 2}); max |difference| {np.abs(fast - slow).max():.2e}")


if __name__ == "__main__":
    main()
