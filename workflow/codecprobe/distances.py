"""Word-pair distances per codec layer (paper Sec. 2.3, 3.1; Fig. 2).

For every pair (token a, token b) and layer k: the Euclidean distance between the two
words' pooled accumulated layer-k features. Aggregated per codec, layer and pair type
into ``n``, ``mean``, ``median`` and a percentile bootstrap 95 % CI of the mean (pairs
resampled with replacement; ``n_boot`` resamples, fixed seed). The normalized distance
of a type is its mean minus the random pairs' mean at the same layer (the paper's
normalization); its CI comes from the same bootstrap, resampling both sets of pairs
independently in each iteration.

Options: ``metric: cosine`` (1 - cosine similarity) and ``standardize: true`` (z-score
each feature dimension per layer over the encoded tokens before distances), since
absolute Euclidean scales differ across layers and codecs. Off by default.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from .io import CodecprobeError, read_table, run_cli, setup_logging, write_table

log = logging.getLogger("codecprobe.distances")
TABLE_COLUMNS = [
    "codec", "layer", "pair_type", "n", "mean", "median", "ci_low", "ci_high",
    "norm_mean", "norm_ci_low", "norm_ci_high", "n_boot", "boot_seed", "metric", "random_weights",
]  # fmt: skip


def default_threads(cap: int = 4) -> int:
    """Worker threads for :func:`pair_distances`: the CPUs this process may use, at most ``cap``."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(cap, n))


def _row_index(idx: np.ndarray, n: int, name: str) -> np.ndarray:
    """``idx [P]`` as ``intp`` rows in ``0..n-1`` (negative ones count from the end, as in NumPy)."""
    idx = np.asarray(idx)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"pair_distances: {name} must be a 1-d integer array")
    idx = idx.astype(np.intp)
    idx[idx < 0] += n
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"pair_distances: {name} has rows outside 0..{n - 1}")
    return idx


def _gather(flat: np.ndarray, rows: np.ndarray, buf: np.ndarray, k: int, unit: bool) -> np.ndarray:
    """Rows ``rows [m]`` of ``flat [N, K*D]`` copied into ``buf`` -> ``[m, K, D]``.

    ``unit``: each layer scaled to unit length, with the same arithmetic as scaling the
    whole array first (so cosine distances need no normalized copy of the features).
    """
    # rows are checked already; with mode="raise" take would write to a temporary copy of buf
    x = np.take(flat, rows, axis=0, out=buf[: len(rows)], mode="clip").reshape(len(rows), k, -1)
    if unit:
        x /= np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return x


def _span_products(
    flat: np.ndarray, a: np.ndarray, b: np.ndarray, step: int, metric: str, res: np.ndarray
) -> None:  # fmt: skip
    """Fill ``res [P, K]`` for the pairs ``a [P]``, ``b [P]`` (rows of ``flat [N, K*D]``).

    Euclidean: squared distances; cosine: dot products of the unit-length layers; in the
    features' dtype, ``step`` pairs at a time through two reused ``[step, K*D]`` buffers.
    With ``a`` sorted, repeated ``a`` rows come from cache and only the ``b`` rows are
    gathered from memory.
    """
    k = res.shape[1]
    xa = np.empty((min(step, len(a)), flat.shape[1]), flat.dtype)
    xb = np.empty_like(xa)
    unit = metric == "cosine"
    for s in range(0, len(a), step):
        pa = _gather(flat, a[s : s + step], xa, k, unit)
        pb = _gather(flat, b[s : s + step], xb, k, unit)
        if metric == "euclidean":  # squared distance: (a - b) . (a - b)
            pa = pb = np.subtract(pa, pb, out=pa)
        np.vecdot(pa, pb, out=res[s : s + step])


def _spans(p: int, step: int, threads: int) -> list[slice]:
    """Up to ``threads`` contiguous, non-empty slices of ``range(p)``, cut at multiples of ``step``."""
    n = max(1, min(threads, -(-p // step)))
    cuts = [p * i // n // step * step for i in range(n)] + [p]
    return [slice(lo, hi) for lo, hi in itertools.pairwise(cuts) if hi > lo]


def pair_distances(
    features: np.ndarray, a: np.ndarray, b: np.ndarray, metric: str = "euclidean", chunk_bytes: int = 1 << 20,
    threads: int | None = None,
) -> np.ndarray:  # fmt: skip
    """Distances of rows ``a`` and ``b`` of ``features [N, K, D]`` at every layer -> ``[P, K]`` float64.

    ``metric``: ``euclidean`` (L2 distance) or ``cosine`` (1 - cosine similarity), per layer.
    ``a``, ``b``: row numbers ``[P]`` (negative ones count from the end). The pairs are
    sorted by ``a`` (each ``a`` row then repeats in turn and comes from cache; only the
    ``b`` rows are gathered from memory at random), cut into chunks of ``chunk_bytes``
    of rows per side (1 MiB), spread in contiguous spans over ``threads`` worker threads
    (None or 0: :func:`default_threads`; NumPy releases the GIL) and written back in
    the input order. Arithmetic in the features' dtype (float32 or float64; others are
    converted to float64): the difference, then its sum of squares over ``D`` (a dot
    product). Float32 results agree with float64 arithmetic to about 1e-7
    relative; ``a == b`` gives exactly 0 (euclidean).
    """
    n, k, d = features.shape
    if metric not in ("euclidean", "cosine"):
        raise CodecprobeError(f"distances.metric: unknown metric {metric!r} (euclidean, cosine)")
    a, b = _row_index(a, n, "a"), _row_index(b, n, "b")
    if len(a) != len(b):
        raise ValueError(f"pair_distances: a and b differ in length ({len(a)} vs {len(b)})")
    if features.dtype not in (np.float32, np.float64):
        features = features.astype(np.float64)
    flat = np.ascontiguousarray(features).reshape(n, k * d)
    step = max(1, chunk_bytes // max(1, flat.shape[1] * flat.itemsize))
    order = np.argsort(a.astype(np.min_scalar_type(max(n - 1, 0))), kind="stable")  # radix sort for N <= 65536
    a, b = a[order], b[order]
    res = np.empty((len(a), k), flat.dtype)
    spans = _spans(len(a), step, threads or default_threads())
    if len(spans) > 1:
        with ThreadPoolExecutor(len(spans)) as pool:
            list(pool.map(lambda s: _span_products(flat, a[s], b[s], step, metric, res[s]), spans))
    elif spans:
        _span_products(flat, a, b, step, metric, res)
    out = np.empty((len(a), k), np.float64)
    out[order] = np.sqrt(res, out=res) if metric == "euclidean" else 1.0 - res
    return out


def standardize(features: np.ndarray) -> np.ndarray:
    """Z-score every feature dimension of every layer over tokens: ``[N, K, D]`` -> same."""
    mu = features.mean(axis=0, keepdims=True)
    sd = features.std(axis=0, keepdims=True)
    return (features - mu) / np.where(sd > 0, sd, 1.0)


def bootstrap_means(x: np.ndarray, n_boot: int, rng: np.random.Generator, chunk: int = 1 << 24) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``x [P, K]`` -> ``[n_boot, K]``."""
    p = len(x)
    out = np.empty((n_boot, x.shape[1]))
    rows = max(1, chunk // max(p, 1))
    for s in range(0, n_boot, rows):
        m = min(rows, n_boot - s)
        idx = rng.integers(0, p, size=(m, p))
        out[s : s + m] = x[idx].mean(axis=1)
    return out


def summarize(dist: dict[str, np.ndarray], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Per pair type and layer: n, mean, median, bootstrap CI, and the normalized mean and CI.

    ``dist``: pair type -> ``[P, K]`` distances (all seeds pooled). Needs ``random``
    for the normalized columns (NaN otherwise).
    """
    rng = np.random.default_rng(seed)
    boots = {t: bootstrap_means(d, n_boot, rng) for t, d in dist.items() if len(d)}
    rows = []
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    for t, d in dist.items():
        if not len(d):
            continue
        k = d.shape[1]
        lo, hi = np.percentile(boots[t], q, axis=0)
        if "random" in boots:
            nb = boots[t] - boots["random"]
            nlo, nhi = np.percentile(nb, q, axis=0)
            nmean = d.mean(0) - dist["random"].mean(0)
        else:
            nlo = nhi = nmean = np.full(k, np.nan)
        for layer in range(k):
            rows.append(
                {
                    "layer": layer + 1, "pair_type": t, "n": len(d), "mean": d[:, layer].mean(),
                    "median": float(np.median(d[:, layer])), "ci_low": lo[layer], "ci_high": hi[layer],
                    "norm_mean": nmean[layer], "norm_ci_low": nlo[layer], "norm_ci_high": nhi[layer],
                }  # fmt: skip
            )
    return pd.DataFrame(rows)


def load_pooled(path: str, pooling: str = "mean") -> tuple[np.ndarray, np.ndarray, dict]:
    """``(token_ids [N], features [N, K, D] float32, attrs)`` from an encode-stage HDF5 file."""
    import h5py

    try:
        with h5py.File(path, "r") as h:
            if f"pooled/{pooling}" not in h:
                raise CodecprobeError(f"{path}: no pooled/{pooling} features (encode.pooling)")
            return h["tokens/token_id"][:], h[f"pooled/{pooling}"][:].astype(np.float32), dict(h.attrs)
    except OSError as e:
        raise CodecprobeError(f"{path}: cannot read features ({e})") from e


def codec_distances(
    codec: str, features_path: str, pairs: pd.DataFrame, metric: str = "euclidean", std: bool = False,
    pooling: str = "mean", n_boot: int = 1000, seed: int = 0, threads: int | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:  # fmt: skip
    """The tidy table for one codec, and counts of dropped pairs (``threads``: see :func:`pair_distances`)."""
    ids, feats, attrs = load_pooled(features_path, pooling)
    if std:
        feats = standardize(feats)
    row = pd.Series(np.arange(len(ids)), index=ids)
    ok = pairs["token_a"].isin(row.index) & pairs["token_b"].isin(row.index)
    counts = {"pairs": len(pairs), "dropped: token without features": int((~ok).sum())}
    if counts["dropped: token without features"]:
        log.warning("%s: %d pairs refer to tokens without features (dropped)", codec, counts["dropped: token without features"])
    p = pairs[ok]
    dist = {}
    for t, g in p.groupby("pair_type", sort=False):
        d = pair_distances(feats, row[g["token_a"]].to_numpy(), row[g["token_b"]].to_numpy(), metric, threads=threads)
        finite = np.isfinite(d).all(axis=1)
        if not finite.all():
            counts[f"dropped: non-finite distance ({t})"] = int((~finite).sum())
        dist[t] = d[finite]
    table = summarize(dist, n_boot, seed)
    table.insert(0, "codec", codec)
    table["n_boot"], table["boot_seed"], table["metric"] = n_boot, seed, metric + ("+std" if std else "")
    table["random_weights"] = bool(attrs.get("random_weights", False))
    return table[TABLE_COLUMNS], counts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Per-layer word-pair distances for one codec.")
    ap.add_argument("--codec", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--metric", default="euclidean", choices=["euclidean", "cosine"])
    ap.add_argument("--standardize", action="store_true")
    ap.add_argument("--pooling", default="mean")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="pair-distance worker threads (default: CPUs, at most 4)")
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    table, counts = codec_distances(
        a.codec, a.features, read_table(a.pairs), a.metric, a.standardize, a.pooling, a.n_boot, a.seed, a.threads
    )
    log.info("counts: %s", json.dumps(counts))
    write_table(table, a.out)


if __name__ == "__main__":
    run_cli(main)
