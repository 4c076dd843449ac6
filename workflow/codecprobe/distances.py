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
import json
import logging

import numpy as np
import pandas as pd

from .io import CodecprobeError, read_table, run_cli, setup_logging, write_table

log = logging.getLogger("codecprobe.distances")
TABLE_COLUMNS = [
    "codec", "layer", "pair_type", "n", "mean", "median", "ci_low", "ci_high",
    "norm_mean", "norm_ci_low", "norm_ci_high", "n_boot", "boot_seed", "metric", "random_weights",
]  # fmt: skip


def pair_distances(features: np.ndarray, a: np.ndarray, b: np.ndarray, metric: str = "euclidean", chunk_bytes: int = 1 << 22) -> np.ndarray:
    """Distances of rows ``a`` and ``b`` of ``features [N, K, D]`` at every layer -> ``[P, K]``.

    Vectorized over pairs and layers, in chunks of pairs small enough (``chunk_bytes``,
    4 MiB) for the gathered rows to stay in cache; arithmetic in the features' own
    dtype (float32 features: relative error about 1e-6), results float64.
    """
    n, k, d = features.shape
    if metric not in ("euclidean", "cosine"):
        raise CodecprobeError(f"distances.metric: unknown metric {metric!r} (euclidean, cosine)")
    if metric == "cosine":
        features = features / np.maximum(np.linalg.norm(features, axis=-1, keepdims=True), 1e-12)
    flat = np.ascontiguousarray(features).reshape(n, k * d)
    out = np.empty((len(a), k), np.float64)
    step = max(1, chunk_bytes // max(1, flat.shape[1] * flat.itemsize))
    for s in range(0, len(a), step):
        xa = np.take(flat, a[s : s + step], axis=0)
        xb = np.take(flat, b[s : s + step], axis=0)
        if metric == "euclidean":
            xa -= xb
            xa *= xa
            out[s : s + step] = np.sqrt(xa.reshape(-1, k, d).sum(-1))
        else:
            xa *= xb
            out[s : s + step] = 1.0 - xa.reshape(-1, k, d).sum(-1)
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
    pooling: str = "mean", n_boot: int = 1000, seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, int]]:  # fmt: skip
    """The tidy table for one codec, and counts of dropped pairs."""
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
        d = pair_distances(feats, row[g["token_a"]].to_numpy(), row[g["token_b"]].to_numpy(), metric)
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
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    table, counts = codec_distances(a.codec, a.features, read_table(a.pairs), a.metric, a.standardize, a.pooling, a.n_boot, a.seed)
    log.info("counts: %s", json.dumps(counts))
    write_table(table, a.out)


if __name__ == "__main__":
    run_cli(main)
