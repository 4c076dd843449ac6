"""Word-pair distances per codec layer (paper Sec. 2.3, 3.1; Fig. 2).

For every pair (token a, token b) and layer k: the Euclidean distance between the two
words' pooled accumulated layer-k features. Aggregated per codec, layer and pair type
(``aggregate``):

* ``seeds`` (the seed release's notebook 01, and Choi et al.'s intervals): per pair-sampling seed, the mean over that seed's token pairs of the
  type; ``mean`` = the mean of these over seeds, with a 95 % Student-t interval over
  seeds (``t over seeds``). The
  normalized distance is computed per seed (the type's mean minus that seed's random
  pairs' mean at the same layer), then averaged over seeds, with its t-interval. With a
  single seed (or seeds that all hold the same pairs) the interval is a percentile
  bootstrap instead: over word types where the pairs table names the words (``bootstrap
  over word types``, :func:`word_bootstrap_means`: pairs that share a word share its
  tokens, and both orders of a pair share them all), otherwise over pairs as below
  (``bootstrap over pairs``), for both columns; a type whose seeds are all the same, normalized by random
  pairs that differ by seed, gets the t-interval widened by its bootstrap (``t over
  seeds + bootstrap over ...``).
* ``pooled`` (this package's earlier behaviour): all seeds' pairs pooled; ``mean`` over
  pairs and a percentile bootstrap 95 % CI (pairs resampled with replacement; ``n_boot``
  resamples, fixed seed); normalized = pooled mean minus pooled random mean, its CI from
  the same bootstrap, both sets of pairs resampled independently in each iteration.

* ``word_types`` (Choi et al.'s script, which made the seed paper's Fig. 2 cache; the
  default of :func:`codec_distances`, of the CLI's ``--aggregate`` and of the config's
  ``distances.aggregate``):
  first the mean over the token pairs of each ordered word-type pair (``word_a``,
  ``word_b``) within a seed, then per seed the mean over its word-type pairs (each
  word-type pair weighs the same, however many tokens its words have), then
  the mean and t-interval over seeds as in ``seeds``. With a single seed the bootstrap
  resamples word types: *big* -> *large* and *large* -> *big* have the same mean (the
  same token pairs), and *big* -> *large* and *big* -> *huge* share *big*'s tokens, so
  they are drawn together, not counted as independent units.

The relative distance (``rel_*``) is the type's mean over the random pairs' mean, minus
1 (``-0.23``: 23 % closer than random pairs), per seed, then as the normalized one; it
compares codecs whose distance scales differ by orders of magnitude (MIMI's features
are about 1e-3 of MiMo's). A random mean of 0 gives NaN there.

``n`` counts token pairs (all seeds); ``median`` is over all token pairs (``seeds``,
``pooled``) or over the word-type pairs' means (``word_types``).

Replicates (``over``): the unit over which the intervals are computed is the pair
sampling seed (``seed``, the default: the pairs table's ``seed`` column) or, for Choi et
al.'s speaker-dependent variant (:func:`codecprobe.pairs.build_speaker_pairs`), the
speaker (``speaker``: every pair lies within one speaker, and that speaker is the
replicate). ``n_seeds`` then counts speakers and ``ci_method`` says ``t over speakers``.

``variant``: ``accumulated`` (the features of layers 1..k); with ``split_first`` (MIMI)
also ``layer1_only`` and ``without_layer1`` (layers 2..k, ``layer`` = k), see
:func:`codec_distances`.

Options: ``metric: cosine`` (1 - cosine similarity) and ``standardize: true`` (z-score
each feature dimension per layer over the encoded tokens before distances), since
absolute Euclidean scales differ across layers and codecs. Off by default.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from .arrays import group_sums, offsets
from .io import (
    CodecprobeError,
    first_few,
    read_table,
    run_cli,
    setup_logging,
    write_table,
)

log = logging.getLogger("codecprobe.distances")
CONTRAST_COLUMNS = ["minus_synonym", "minus_synonym_ci_low", "minus_synonym_ci_high"]  # summarize: type minus synonym
TABLE_COLUMNS = [
    "codec", "layer", "pair_type", "n", "mean", "median", "ci_low", "ci_high",
    "norm_mean", "norm_ci_low", "norm_ci_high", "rel_mean", "rel_ci_low", "rel_ci_high",
    *CONTRAST_COLUMNS, "minus_synonym_method",
    "n_boot", "boot_seed", "metric", "random_weights",
    "n_seeds", "ci_method", "aggregation", "variant",
]  # fmt: skip
AGGREGATES = ("seeds", "pooled", "word_types")
REPLICATES = {"seed": "seed", "speaker": "speaker_a"}  # ``over`` -> the pairs table's column


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
    """Z-score every feature dimension of every layer over tokens: ``[N, K, D]`` -> same.
    Means and sds over the finite values only: a token's NaN stays its own (its pairs are
    dropped as without standardizing), not every token's in that dimension."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a dimension with no finite value: NaN, as before
        mu = np.nanmean(features, axis=0, keepdims=True)
        sd = np.nanstd(features, axis=0, keepdims=True)
    return (features - mu) / np.where(sd > 0, sd, 1.0)


def bootstrap_means(
    x: np.ndarray, n_boot: int, rng: np.random.Generator, chunk: int = 1 << 24, clusters: np.ndarray | None = None
) -> np.ndarray:  # fmt: skip
    """Means of ``n_boot`` resamples (with replacement) of ``x [P, K]`` -> ``[n_boot, K]``.

    ``clusters [P]`` (any labels): resample whole clusters instead of rows (the cluster
    bootstrap), each resample's mean taken over all rows of the clusters drawn, as often as
    drawn. Clusters are numbered by sorted label; with ``P`` distinct labels in row order
    the draws, and so the means, are those of the plain row bootstrap.
    """
    if clusters is not None and len(x):
        sums, sizes, _ = group_sums(x, np.unique(np.asarray(clusters), return_inverse=True)[1])
    else:
        sums, sizes = x, None
    p = len(sums)
    out = np.empty((n_boot, x.shape[1]))
    rows = max(1, chunk // max(p * x.shape[1], 1))  # draws per step: the gathered [rows, p, K] <= chunk values
    for s in range(0, n_boot, rows):
        m = min(rows, n_boot - s)
        idx = rng.integers(0, p, size=(m, p))
        if sizes is None:
            out[s : s + m] = x[idx].mean(axis=1)
        else:
            out[s : s + m] = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)[:, None]
    return out


def word_ids(word_a: np.ndarray, word_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Both words of every pair as numbers of one vocabulary: ``(ids a [P], ids b [P], V)``,
    words numbered in sorted order over both columns (so the numbering, and with it the
    draws of :func:`word_bootstrap_means`, depends on the words alone, not on row order)."""
    a, b = np.asarray(word_a).astype(str), np.asarray(word_b).astype(str)
    vocab, ids = np.unique(np.concatenate([a, b]), return_inverse=True)
    return ids[: len(a)], ids[len(a) :], len(vocab)


def word_draws(n_words: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n_words`` word types is drawn in each of ``n_boot`` resamples
    of the vocabulary with replacement: ``[n_boot, n_words]`` int32 (rows sum to ``n_words``)."""
    return rng.multinomial(n_words, np.full(n_words, 1.0 / n_words), size=n_boot).astype(np.int32)


def word_bootstrap_means(x: np.ndarray, ia: np.ndarray, ib: np.ndarray, draws: np.ndarray,
                         chunk: int = 1 << 22) -> np.ndarray:  # fmt: skip
    """Means of ``x [P, K]`` (one row per pair of words ``ia [P]``, ``ib [P]``) in each
    resample of the word types ``draws [B, V]`` (:func:`word_draws`) -> ``[B, K]``.

    The vertex bootstrap of dyadic data: a pair counts ``draws[b, a] * draws[b, b']`` times
    in resample ``b``, as often as both its words were drawn; a pair within one word
    (``a == b'``) ``draws[b, a]`` times, as that word's own value. Pairs that share a word are
    not independent (a word with many near-homophones lends its tokens to each of those
    pairs), so resampling pairs, or unordered pairs, as if they were gives intervals too
    narrow; resampling the words keeps every pair of a word together, both orders of a
    pair included. NaN where a resample holds no pair (both words of none drawn).
    """
    n_boot = len(draws)
    out = np.empty((n_boot, x.shape[1]))
    step = max(1, chunk // max(len(x), 1))
    for s in range(0, n_boot, step):
        c = draws[s : s + step]
        # a pair of two words counts as often as both were drawn; a pair within one word
        # (same-word pairs) as often as that word was: it is the word's own value, and c^2
        # overweighted it (a same-word interval 1.65 x too wide, mixed types biased)
        cb = c[:, ib].astype(np.float64)
        cb[:, ia == ib] = 1.0
        w = c[:, ia] * cb  # [m, P] weights
        total = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s : s + len(c)] = (w @ x) / total[:, None]
    return out


def _percentiles(draws: np.ndarray, q: list[float]) -> np.ndarray:
    """Percentiles ``q`` of bootstrap draws ``[B, K]`` per column, NaN draws (a resample with
    no pair) left out: ``[len(q), K]``; NaN for a column with none left, without a warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        return np.nanpercentile(draws, q, axis=0)


def t_interval(x: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t ``1 - alpha`` interval over the rows of ``x [S, K]`` (S >= 2).

    ``mean +- t_{1 - alpha/2, S - 1} * sd / sqrt(S)``, ``sd`` with ``ddof=1``.
    """
    from scipy import stats

    s = len(x)
    m = x.mean(axis=0)
    half = stats.t.ppf(1 - alpha / 2, s - 1) * x.std(axis=0, ddof=1) / np.sqrt(s)
    return m, m - half, m + half


def _same_value(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two seeds' means ``[K]`` are those of the same pairs: equal up to the rounding
    of summing them in another order (relative 1e-12; float64 sums of float64 distances in
    two row orders differ in the last bits, and exact equality took such seeds for
    different replicates, giving a t-interval of zero width)."""
    return bool(np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True))


def summarize(
    dist: dict[str, np.ndarray], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
    seeds: dict[str, np.ndarray] | None = None, aggregate: str = "seeds", replicate: str = "seed",
    boot_over: str = "pairs", clusters: dict[str, np.ndarray] | None = None,
    words: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Per pair type and layer: n, mean, median, CI, and the normalized mean and CI.

    ``dist``: pair type -> ``[P, K]`` distances (all seeds); ``seeds``: pair type -> the
    pair-sampling seed of each pair ``[P]`` (None: all pairs from one seed). Needs
    ``random`` for the normalized columns (NaN otherwise).

    ``aggregate="seeds"`` (default): per seed the mean over
    that seed's pairs, and the normalized mean = that minus the same seed's random mean;
    ``mean``/``norm_mean`` = their means over seeds (the normalized one over the seeds
    that have random pairs too), ``ci_*``/``norm_ci_*`` = Student-t ``1 - alpha``
    intervals over seeds (:func:`t_interval`). A type (or normalization) with one seed
    only falls back to the percentile bootstrap over that seed's pairs (``n_boot``
    resamples from ``default_rng(seed)``; with one seed in all and no ``clusters``, the
    numbers of ``aggregate="pooled"``); so do seeds that all give the same value (the
    same pairs in every seed, as when ``pairs.n_tokens`` exceeds the corpus): a t-interval
    of zero width would say nothing, so they count as one seed (``... (every seed the
    same)``); a difference of such a type with one whose seeds differ gets the t-interval
    over seeds widened by the first type's bootstrap (``t over seeds + bootstrap over
    ...``; see ``versus`` below). ``clusters``: pair type -> a cluster label per pair ``[P]``;
    the bootstrap then resamples clusters, not pairs (:func:`bootstrap_means`). ``words``:
    pair type -> the numbers of both words of each pair ``([P], [P])`` in one vocabulary
    for all types (:func:`word_ids`); the bootstrap then resamples word types
    (:func:`word_bootstrap_means`), with the same draws for every type, so a difference of
    two types that share words keeps their dependence (``clusters`` unused). ``aggregate="pooled"``: the earlier behaviour, all seeds'
    pairs pooled and bootstrapped pair by pair (``clusters`` unused). ``n`` = pairs over
    all seeds, ``median`` over all pairs; ``minus_synonym`` (with ``minus_synonym_ci_*``)
    = the type's mean minus the synonyms' mean of the same seed, mean and interval over
    the seeds both have, as the normalized columns (NaN for ``synonym`` itself and
    without synonym pairs): the phonetic-versus-semantic contrast for
    ``near_homophone``; its bootstrap resamples both types with the same draws (of word
    types with ``words``, so that the two types' shared words keep their dependence;
    independently otherwise); ``minus_synonym_method`` says which interval (empty without
    one); ``n_seeds``, ``ci_method`` (``t over seeds`` / ``bootstrap over pairs``) and
    ``aggregation`` (the ``aggregate`` used) say how each row was made. ``replicate``
    and ``boot_over`` only name the seeds and the resampled units in ``ci_method``
    (``t over {replicate}s``, ``bootstrap over {boot_over}``): :func:`codec_distances`
    passes speakers, and word-type pairs' means as rows for ``aggregate="word_types"``,
    which is ``seeds`` here.
    """
    if aggregate == "word_types":
        aggregate = "seeds"  # the rows are word-type pairs' means already (codec_distances)
    if aggregate not in AGGREGATES:
        raise CodecprobeError(f"distances.aggregate: unknown {aggregate!r} ({', '.join(AGGREGATES)})")
    if seeds is None:
        seeds = {t: np.zeros(len(d), int) for t, d in dist.items()}
    for t, d in dist.items():
        if len(seeds.get(t, ())) != len(d):
            raise ValueError(f"summarize: seeds[{t!r}] must give the seed of each of its {len(d)} pairs")
        if clusters is not None and len(clusters.get(t, ())) != len(d):
            raise ValueError(f"summarize: clusters[{t!r}] must give the cluster of each of its {len(d)} pairs")
        if words is not None and any(len(w) != len(d) for w in words.get(t, ((), ()))):
            raise ValueError(f"summarize: words[{t!r}] must give both words of each of its {len(d)} pairs")
    if aggregate == "pooled":  # every pair as if from one seed: the bootstrap over all pairs
        one = {t: np.zeros(len(d), int) for t, d in dist.items()}
        pooled = summarize(dist, n_boot, seed, alpha, one, replicate=replicate, boot_over=boot_over)
        n_seeds = {t: len(np.unique(s)) for t, s in seeds.items()}
        return pooled.assign(n_seeds=pooled["pair_type"].map(n_seeds), aggregation="pooled")
    dist = {t: d for t, d in dist.items() if len(d)}
    ci_t, ci_boot = f"t over {replicate}s", f"bootstrap over {boot_over}"
    rng = np.random.default_rng(seed)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    seed_ids = {t: np.unique(seeds[t]) for t in dist}
    means = {t: {s: dist[t][seeds[t] == s].mean(0) for s in seed_ids[t]} for t in dist}
    boots: dict[tuple[str, int], np.ndarray] = {}
    drawn: list[np.ndarray] = []  # the word-type resamples, drawn once for every type

    def boot(t: str, s) -> np.ndarray:
        """Bootstrap means of type ``t``'s pairs from seed ``s`` (drawn once)."""
        if (t, s) not in boots:
            rows = seeds[t] == s

            def few(units: int) -> None:
                if units < 2:
                    log.warning("%s, %s %s: the bootstrap has %d %s to draw: a zero-width interval", t, replicate, s, units, boot_over)

            if words is not None:
                ia, ib = (np.asarray(w)[rows] for w in words[t])
                few(len(np.unique(np.concatenate([ia, ib]))))
                if not drawn:
                    n_words = 1 + max(int(max(a.max(), b.max())) for a, b in words.values() if len(a))
                    drawn.append(word_draws(n_words, n_boot, rng))
                boots[t, s] = word_bootstrap_means(dist[t][rows], ia, ib, drawn[0])
                empty = int(np.isnan(boots[t, s][:, 0]).sum())
                if empty:
                    log.warning("%s, %s %s: %d of %d resamples of the words hold none of its pairs (left out of "
                                "the percentiles)", t, replicate, s, empty, n_boot)  # fmt: skip
                held = boots[t, s][~np.isnan(boots[t, s][:, 0])]
                if len(held) and np.allclose(held, held[0], rtol=1e-12, atol=0.0):  # e.g. every pair joins a and b
                    log.warning("%s, %s %s: every resample of the words gives the same mean (its pairs join %d words): "
                                "a zero-width interval", t, replicate, s, len(np.unique(np.concatenate([ia, ib]))))  # fmt: skip
            else:
                labels = None if clusters is None else np.asarray(clusters[t])[rows]
                few(int(rows.sum()) if labels is None else len(np.unique(labels)))
                boots[t, s] = bootstrap_means(dist[t][rows], n_boot, rng, clusters=labels)
        return boots[t, s]

    def interval(values: list[np.ndarray], common: list, draws) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """Mean, interval and method of ``values`` (one ``[K]`` per seed in ``common``): the
        t-interval over seeds; one seed, or seeds that all give the same value: the
        percentiles of ``draws(first seed)`` (bootstrap draws of the value); none: NaN."""
        if not common:
            nan = np.full(next(iter(dist.values())).shape[1], np.nan)
            return nan, nan, nan, ""
        alike = len(values) >= 2 and all(_same_value(v, values[0]) for v in values[1:])
        if len(values) >= 2 and not alike:
            return (*t_interval(np.stack(values), alpha), ci_t)
        lo, hi = _percentiles(draws(common[0]), q)
        return values[0], lo, hi, ci_boot + (f" (every {replicate} the same)" if alike else "")

    def versus(t: str, ref: str, f) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """``f(type t's mean, type ref's mean)`` per seed both have: its mean, interval and method.

        The seeds both have (``common``) that all hold the same pairs of one of the two types
        but not of the other: the differences over seeds vary with the other type's pairs
        alone, so the t-interval over them leaves out the first type's sampling. Its
        half-widths are then widened, in quadrature (independent errors, normal
        approximation), by those of the first type's bootstrap: the mean over seeds of ``f``
        of its bootstrap means (its one replicate) and the other type's per-seed means
        (``t over seeds + bootstrap over ...``). Judged over the common seeds only: a type
        whose seeds agree there but not in a seed the other lacks is one replicate here.
        """
        common = [s for s in seed_ids[t] if ref in dist and s in means[ref]]
        values = [f(means[t][s], means[ref][s]) for s in common]
        if t == ref:  # the type against itself: 0 (NaN where its mean is 0 in rel), whatever the seeds
            if len(common) >= 2:
                return (*t_interval(np.stack(values), alpha), "")
            return (*interval(values, common, lambda s: f(boot(t, s), boot(ref, s)))[:3], "")

        def alike(x: str) -> bool:  # the type's common seeds all hold the same pairs
            return all(_same_value(means[x][s], means[x][common[0]]) for s in common[1:])

        if len(common) >= 2 and alike(t) != alike(ref):
            mean, tlo, thi = t_interval(np.stack(values), alpha)
            if alike(t):
                draws = np.mean([f(boot(t, common[0]), means[ref][s]) for s in common], axis=0)
            else:
                draws = np.mean([f(means[t][s], boot(ref, common[0])) for s in common], axis=0)
            blo, bhi = _percentiles(draws, q)
            lo = mean - np.hypot(mean - tlo, np.maximum(mean - blo, 0.0))
            hi = mean + np.hypot(thi - mean, np.maximum(bhi - mean, 0.0))
            return mean, lo, hi, f"{ci_t} + {ci_boot}"
        return interval(values, common, lambda s: f(boot(t, s), boot(ref, s)))

    for t in dist:  # one-seed types first, in order (as the earlier pooled bootstrap drew them)
        if len(seed_ids[t]) == 1:
            boot(t, seed_ids[t][0])
    rows = []
    for t, d in dist.items():
        k = d.shape[1]
        own = [means[t][s] for s in seed_ids[t]]
        mean, lo, hi, method = interval(own, list(seed_ids[t]), functools.partial(boot, t))
        nmean, nlo, nhi, nmethod = versus(t, "random", np.subtract)
        with np.errstate(divide="ignore", invalid="ignore"):  # a random mean of 0: NaN (x / 0 is inf: made NaN)
            rel = versus(t, "random", lambda x, r: x / r - 1.0)[:3]
        rmean, rlo, rhi = (np.where(np.isfinite(v), v, np.nan) for v in rel)
        n_random = sum(s in means.get("random", {}) for s in seed_ids[t])
        if n_random != len(own):  # the normalized columns rest on fewer replicates
            log.warning("%s: %d %s(s) with pairs, %d with random pairs too", t, len(own), replicate, n_random)
        for layer in range(k):
            rows.append(
                {
                    "layer": layer + 1, "pair_type": t, "n": len(d), "mean": mean[layer],
                    "median": float(np.median(d[:, layer])), "ci_low": lo[layer], "ci_high": hi[layer],
                    "norm_mean": nmean[layer], "norm_ci_low": nlo[layer], "norm_ci_high": nhi[layer],
                    "rel_mean": rmean[layer], "rel_ci_low": rlo[layer], "rel_ci_high": rhi[layer],
                    "n_seeds": len(own),
                    "ci_method": method if nmethod in (method, "") else f"{method}; normalized: {nmethod}",
                    "aggregation": "seeds",
                }  # fmt: skip
            )
    # the paper's question (phonetic or semantic?) in one number: a type's distance minus the
    # synonyms' in the same seed (near-homophone below 0: closer than synonyms). Computed after
    # every other column, so that any bootstrap it draws leaves their draws as they were.
    i = 0
    for t, d in dist.items():
        if t == "synonym" or "synonym" not in dist:
            smean = slo = shi = np.full(d.shape[1], np.nan)
            method = ""
        else:
            smean, slo, shi, method = versus(t, "synonym", np.subtract)
            n_syn = sum(s in means["synonym"] for s in seed_ids[t])
            if n_syn < len(seed_ids[t]):
                log.warning("%s minus synonym: %d %s(s) with pairs, %d with synonym pairs too", t, len(seed_ids[t]), replicate, n_syn)
        for layer in range(d.shape[1]):
            rows[i].update(dict(zip(CONTRAST_COLUMNS, (smean[layer], slo[layer], shi[layer]))) | {"minus_synonym_method": method})
            i += 1
    return pd.DataFrame(rows)


def word_type_means(
    d: np.ndarray, reps: np.ndarray, word_a: np.ndarray, word_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Mean distance of each ordered word-type pair within each replicate.

    ``d [P, K]`` distances of ``P`` token pairs; ``reps [P]`` their replicate (seed or
    speaker); ``word_a``, ``word_b`` ``[P]`` their words. Returns ``(means [G, K],
    reps [G], counts [G], first [G])`` for the ``G`` distinct ``(rep, word_a, word_b)``,
    sorted by them (``first``: the index of each group's first token pair in the input):
    ``(a, b)`` and ``(b, a)`` are different word-type pairs, as in Choi et al.
    """
    if not len(d):
        return np.zeros((0,) + d.shape[1:]), np.asarray(reps)[:0], np.zeros(0, np.int64), np.zeros(0, np.intp)
    key = pd.DataFrame({"r": reps, "a": word_a, "b": word_b})
    sums, counts, order = group_sums(d, key.groupby(["r", "a", "b"], sort=True).ngroup().to_numpy())
    first = order[offsets(counts)]
    return sums / counts[:, None], np.asarray(reps)[first], counts, first


def load_pooled(path: str, pooling: str = "mean") -> tuple[np.ndarray, np.ndarray, dict]:
    """``(token_ids [N], features [N, K, D] float32, attrs)`` from an encode-stage HDF5 file.

    Float32 features are returned as read, without a second copy (at paper scale DAC's
    are 4.3 GB: a copy doubled the stage's peak memory); float16 ones are converted.
    """
    import h5py

    try:
        with h5py.File(path, "r") as h:
            if f"pooled/{pooling}" not in h:
                raise CodecprobeError(f"{path}: no pooled/{pooling} features (encode.pooling)")
            feats = h[f"pooled/{pooling}"][:].astype(np.float32, copy=False)
            return h["tokens/token_id"][:], feats, dict(h.attrs)
    except OSError as e:
        raise CodecprobeError(f"{path}: cannot read features ({e})") from e


PAIRS_NEEDED = ("pair_type", "token_a", "token_b")  # of a pairs table, by this stage
OVERLAP_WARN = 0.9  # replicates sharing this share of their tokens (Jaccard) get a warning


def warn_overlapping_replicates(pairs: pd.DataFrame, column: str, codec: str = "") -> dict[str, float]:
    """Pair types whose replicates (``column``: seed or speaker) draw largely the same tokens
    but pair them differently: ``{type: smallest Jaccard overlap of a replicate's tokens
    with the first replicate's}`` for those at or above :data:`OVERLAP_WARN`, each warned.
    Their t-interval over replicates measures how the same tokens were paired, not how the
    tokens were sampled from the corpus, and is narrower than that (e.g. random pairs when
    every seed takes every token). Replicates holding the same pairs are left to
    :func:`summarize` (one replicate, bootstrap)."""
    out = {}
    for t, g in pairs.groupby("pair_type", sort=False):
        reps = [r for _, r in g.groupby(column, sort=True)]
        if len(reps) < 2:
            continue
        key = [set(zip(r["token_a"], r["token_b"])) for r in reps]
        if all(k == key[0] for k in key[1:]):
            continue
        toks = [set(r["token_a"]) | set(r["token_b"]) for r in reps]
        overlap = min(len(toks[0] & x) / max(1, len(toks[0] | x)) for x in toks[1:])
        if overlap >= OVERLAP_WARN:
            out[str(t)] = overlap
            log.warning("%s: %s: its %d %ss share %.0f %% or more of their tokens and differ in how they pair them: "
                        "the t-interval over them shows the pairing's spread, not the sampling of the tokens",
                        codec, t, len(reps), column, 100 * overlap)  # fmt: skip
    return out


def codec_distances(
    codec: str, features_path: str, pairs: pd.DataFrame, metric: str = "euclidean", std: bool = False,
    pooling: str = "mean", n_boot: int = 1000, seed: int = 0, threads: int | None = None,
    aggregate: str = "word_types", over: str = "seed", split_first: bool = False,
) -> tuple[pd.DataFrame, dict[str, int]]:  # fmt: skip
    """The tidy table for one codec, and counts of dropped pairs (``threads``: see :func:`pair_distances`).

    ``aggregate``: ``word_types`` (default, as the config's ``distances.aggregate`` and the
    CLI; Choi et al.: per seed, the mean over ordered word-type pairs of each one's mean;
    needs ``word_a``/``word_b``), ``seeds`` (per-seed means over token pairs, then mean and
    t-interval over the pairs table's ``seed`` column) or ``pooled`` (earlier behaviour):
    see :func:`summarize` and :func:`word_type_means`. ``over``:
    the replicates, ``seed`` or ``speaker`` (the speaker-dependent pairs table, every pair
    within one speaker). A pairs table without a ``seed`` column counts as one seed.
    ``split_first`` (MIMI, as Fig. 4 for the rt-MRI): rows for layer 1 alone
    (``variant`` ``layer1_only``) and for the accumulated layers 2..k without layer 1
    (``without_layer1``, ``layer`` = k) beside the usual ones (``accumulated``); not with
    centroid pooling.
    """
    if aggregate not in AGGREGATES:
        raise CodecprobeError(f"distances.aggregate: unknown {aggregate!r} ({', '.join(AGGREGATES)})")
    if over not in REPLICATES:
        raise CodecprobeError(f"distances: unknown replicate {over!r} ({', '.join(REPLICATES)})")
    need = {"word_a", "word_b"} if aggregate == "word_types" else set()
    need |= {"speaker_a", "speaker_b"} if over == "speaker" else set()
    if need - set(pairs.columns):
        raise CodecprobeError(f"the pairs table has no {sorted(need - set(pairs.columns))} column(s), needed here")
    if over == "speaker" and (pairs["speaker_a"].astype(str) != pairs["speaker_b"].astype(str)).any():
        raise CodecprobeError("over speaker: the pairs must lie within one speaker (the by-speaker pairs table)")
    ids, feats, attrs = load_pooled(features_path, pooling)
    row = pd.Series(np.arange(len(ids)), index=ids)
    ok = pairs["token_a"].isin(row.index) & pairs["token_b"].isin(row.index)
    counts = {"pairs": len(pairs), "dropped: token without features": int((~ok).sum())}
    if counts["dropped: token without features"]:
        log.warning("%s: %d pairs refer to tokens without features (dropped)", codec, counts["dropped: token without features"])
    p = pairs[ok]
    if "seed" not in p.columns:
        log.info("%s: the pairs table has no seed column: all pairs count as one seed", codec)
        p = p.assign(seed=0)
    variants = {"accumulated": (feats, 1)}  # name -> (features [N, K', D], number of the first layer)
    if split_first and pooling == "centroid":
        log.warning("%s: no first-layer split with centroid pooling (it does not commute with the sum)", codec)
    elif split_first and feats.shape[1] > 1:
        # mean and center pooling commute with the sum over layers: pooled(acc_k) - pooled(acc_1) = pooled(sum 2..k)
        variants["layer1_only"] = (feats[:, :1], 1)
        variants["without_layer1"] = (feats[:, 1:] - feats[:, :1], 2)
    if p.empty:
        raise CodecprobeError(f"{codec}: no pair left to measure ({counts['pairs']} in the pairs table, none with "
                              "features for both tokens)")  # fmt: skip
    # per pair type, once for every variant: feature rows of both tokens, replicate, and if the
    # table has them, the words and (not pooled: its bootstrap is over rows) their numbers in
    # one vocabulary of every type's words, for the bootstrap over word types
    has_words = {"word_a", "word_b"} <= set(p.columns)
    by_words = has_words and aggregate != "pooled"
    if by_words:
        p = p.assign(**dict(zip(("word_id_a", "word_id_b"), word_ids(p["word_a"], p["word_b"])[:2])))
    warn_overlapping_replicates(p, REPLICATES[over], codec)
    by_type = []
    for t, g in p.groupby("pair_type", sort=False):
        words = (g["word_a"].to_numpy(), g["word_b"].to_numpy()) if has_words else None
        labels = (g["word_id_a"].to_numpy(), g["word_id_b"].to_numpy()) if by_words else None
        by_type.append((t, row[g["token_a"]].to_numpy(), row[g["token_b"]].to_numpy(), g[REPLICATES[over]].to_numpy(), words, labels))
    tables = []
    for variant, (f, first) in variants.items():
        t = _variant_table(f if not std else standardize(f), by_type, metric, threads, over, aggregate, n_boot, seed,
                           counts, "" if variant == "accumulated" else f" [{variant}]", codec)  # fmt: skip
        tables.append(t.assign(layer=t["layer"] + first - 1, variant=variant))
    table = pd.concat(tables, ignore_index=True)
    table.insert(0, "codec", codec)
    table["n_boot"], table["boot_seed"], table["metric"] = n_boot, seed, metric + ("+std" if std else "")
    table["random_weights"] = bool(attrs.get("random_weights", False))
    return table[TABLE_COLUMNS], counts


def _variant_table(
    feats: np.ndarray, by_type: list, metric: str, threads: int | None, over: str, aggregate: str,
    n_boot: int, seed: int, counts: dict[str, int], tag: str, codec: str,
) -> pd.DataFrame:  # fmt: skip
    """:func:`summarize`'s table for one set of features ``[N, K, D]``; ``by_type``: per pair
    type ``(type, rows a [P], rows b [P], replicate [P], (word_a, word_b) [P] or None,
    (word numbers a, b) [P] or None)``. Non-finite distances are dropped (a pair with one
    at any layer, at every layer: each layer's mean is over the same pairs), counted in
    ``counts`` and warned. With the word numbers (:func:`word_ids`), a one-replicate
    bootstrap resamples word types (:func:`word_bootstrap_means`), not rows."""
    dist, seeds, n_pairs, words_of = {}, {}, {}, {}
    for t, a, b, reps, words, labels in by_type:
        d = pair_distances(feats, a, b, metric, threads=threads)
        finite = np.isfinite(d).all(axis=1)
        if not finite.all():
            counts[f"dropped: non-finite distance ({t}){tag}"] = int((~finite).sum())
            bad = np.flatnonzero(~np.isfinite(d).all(axis=0)) + 1
            log.warning("%s%s: %s: %d of %d pairs have a non-finite distance (at layer(s) %s) and are left out at "
                        "every layer", codec, tag, t, int((~finite).sum()), len(d), first_few(map(str, bad), 8))  # fmt: skip
        dist[t], seeds[t], n_pairs[t] = d[finite], reps[finite], int(finite.sum())
        if labels is not None:
            words_of[t] = (labels[0][finite], labels[1][finite])
        if aggregate == "word_types":
            dist[t], seeds[t], _, first = word_type_means(dist[t], seeds[t], words[0][finite], words[1][finite])
            if t in words_of:
                words_of[t] = (words_of[t][0][first], words_of[t][1][first])
            log.info("%s%s: %s: %d token pairs in %d (replicate, ordered word-type pair) groups", codec, tag, t, n_pairs[t], len(dist[t]))
    if not any(len(d) for d in dist.values()):
        raise CodecprobeError(f"{codec}{tag}: every pair has a non-finite distance: no pair left to summarize")
    by_words = aggregate != "pooled" and len(words_of) == len(dist)
    boot_over = "word types" if by_words else "pairs"
    table = summarize(dist, n_boot, seed, seeds=seeds, aggregate=aggregate, replicate=over, boot_over=boot_over,
                      words=words_of if by_words else None)  # fmt: skip
    if aggregate == "word_types":  # n counts token pairs; the median is over the word-type pairs' means
        table = table.assign(n=table["pair_type"].map(n_pairs), aggregation="word_types")
    return table


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
    ap.add_argument(
        "--aggregate", default="word_types", choices=list(AGGREGATES),
        help="word_types (default, the config's distances.aggregate default): per seed the mean over ordered "
        "word-type pairs of their means, then mean and t-interval over seeds (Choi et al.'s script, which made "
        "the seed paper's Fig. 2; needs the pairs table's word_a/word_b); seeds: per-seed means over token "
        "pairs, then mean and t-interval over seeds; pooled: all seeds' pairs pooled and bootstrapped "
        "(earlier behaviour)",
    )  # fmt: skip
    ap.add_argument(
        "--over", default="seed", choices=list(REPLICATES),
        help="replicates for the intervals: seed (default) or speaker (the by-speaker pairs table)",
    )  # fmt: skip
    ap.add_argument(
        "--split-first", action="store_true",
        help="also layer 1 alone and layers 2..k without layer 1 (MIMI's split, as Fig. 4)",
    )  # fmt: skip
    ap.add_argument("--threads", type=int, default=None, help="pair-distance worker threads (default: CPUs, at most 4)")
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    table, counts = codec_distances(
        a.codec, a.features, read_table(a.pairs, required=PAIRS_NEEDED, numeric=PAIRS_NEEDED[1:]), a.metric, a.standardize, a.pooling, a.n_boot, a.seed, a.threads,
        a.aggregate, a.over, a.split_first,
    )  # fmt: skip
    log.info("counts: %s", json.dumps(counts))
    write_table(table, a.out)


if __name__ == "__main__":
    run_cli(main)
