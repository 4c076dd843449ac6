"""PWCCA of 120-dim VTD against 1024-dim codec features over 100,000 frames.

Prints the time, the peak memory traced by tracemalloc (NumPy's allocations; the
inputs are allocated before tracing starts) and the frames per second, for float32
features (as codecs write them) and float64, then the time per shuffle of the
block-shuffled baseline. The data are synthetic: VTD-like x in
[0, 1] and features sharing a 10-dim latent with it. Usage:
``PYTHONPATH=workflow python benchmarks/pwcca.py [--frames N]``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from codecprobe.pwcca import pwcca, pwcca_shuffled  # noqa: E402

from _measure import measure  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--dx", type=int, default=120)
    ap.add_argument("--dy", type=int, default=1024)
    args = ap.parse_args()
    n, dx, dy = args.frames, args.dx, args.dy
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, 10))
    x = z @ rng.standard_normal((10, dx)) + 2 * rng.standard_normal((n, dx))
    x = (x - x.min(0)) / (x.max(0) - x.min(0))  # VTD-like, in [0, 1]
    y64 = z @ rng.standard_normal((10, dy)) + 3 * rng.standard_normal((n, dy))
    y32 = y64.astype(np.float32)
    print(f"PWCCA, x [{n:,} x {dx}] float64 vs y [{n:,} x {dy}]; inputs: x {x.nbytes / 2**20:.0f} MiB, "
          f"y {y32.nbytes / 2**20:.0f} MiB (float32) / {y64.nbytes / 2**20:.0f} MiB (float64)")  # fmt: skip
    for name, y in (("float32", y32), ("float64", y64)):
        res, dt, peak = measure(pwcca, x, y)
        print(f"y {name}: pwcca {res.pwcca:.4f}  {dt:7.2f} s  {n / dt:10,.0f} frames/s  peak {peak / 2**20:7.1f} MiB")
    res, dt, peak = measure(pwcca, x, y32, variates="svcca")
    print(f"y float32, variates=svcca: pwcca {res.pwcca:.4f}  {dt:7.2f} s  peak {peak / 2**20:7.1f} MiB")
    k = 5
    res, dt, peak = measure(pwcca_shuffled, x, y32, np.random.default_rng(1), n=k, block_len=50)
    print(f"y float32, pwcca_shuffled x{k} (block 50 frames): mean {res.mean:.4f} sd {res.sd:.4f}  {dt:7.2f} s "
          f"({dt / k:.2f} s per shuffle: Sxx, Syy reused)  peak {peak / 2**20:7.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
