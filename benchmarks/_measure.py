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


def warm_medians(run, repeats: int, keys) -> tuple[dict, list]:
    """``run(tag)`` once untimed (``tag="warmup"``), then ``repeats`` times (``tag="run"``):
    ``({key: median of run()[key] over the repeats}, the repeats' results)``."""
    import statistics

    run("warmup")
    runs = [run("run") for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in keys}, runs
