"""Shared by the benchmark scripts: time and peak traced memory of one call."""

import time
import tracemalloc


def measure(fn, *args, **kwargs):
    """``(result, seconds, peak bytes traced by tracemalloc)`` of ``fn(*args, **kwargs)``."""
    tracemalloc.start()
    t0 = time.perf_counter()
    r = fn(*args, **kwargs)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return r, dt, peak
