import logging

import h5py
import numpy as np
import pandas as pd
import pytest

from scipy import stats

from codecprobe.distances import (
    CONTRAST_COLUMNS as CONTRAST,
    TABLE_COLUMNS,
    bootstrap_means,
    codec_distances,
    default_threads,
    main,
    pair_distances,
    standardize,
    summarize,
)
from codecprobe.figures import fig2
from codecprobe.io import CodecprobeError, read_table


def assert_no_nan(t: pd.DataFrame) -> None:
    """No NaN in a distances table, except the contrast with synonyms in the synonym rows
    (and in all rows of a table without synonyms), where it is always NaN."""
    assert not t.drop(columns=CONTRAST + ["minus_synonym_method"]).isna().any().any()
    missing = t[CONTRAST].isna()
    assert (missing.all(axis=1) | ~missing.any(axis=1)).all()  # a contrast is whole or absent
    method = t["minus_synonym_method"].fillna("")
    assert ((method == "") == missing.all(axis=1)).all()  # and says how its interval was made
    if (t["pair_type"] == "synonym").any():
        assert missing.all(axis=1).equals(t["pair_type"] == "synonym")


def test_three_pairs_by_hand():
    # N=3 tokens, K=2 layers, D=2
    f = np.array(
        [[[0.0, 0.0], [1.0, 1.0]],
         [[3.0, 4.0], [1.0, 2.0]],
         [[1.0, 0.0], [-2.0, 1.0]]]
    )  # fmt: skip
    a, b = np.array([0, 0, 1]), np.array([1, 2, 2])
    d = pair_distances(f, a, b)
    want = np.array([[5.0, 1.0], [1.0, 3.0], [np.sqrt(4 + 16), np.sqrt(9 + 1)]])
    np.testing.assert_allclose(d, want, rtol=0, atol=1e-12)
    cos = pair_distances(f, a, b, "cosine")
    # layer 2, pair (0, 2): (1,1).(-2,1) / (sqrt2 sqrt5) = -1/sqrt10
    assert cos[1, 1] == pytest.approx(1 + 1 / np.sqrt(10), abs=1e-12)
    # chunking gives the same numbers
    np.testing.assert_allclose(pair_distances(f, a, b, chunk_bytes=1), want, atol=1e-12)
    with pytest.raises(CodecprobeError, match="unknown metric"):
        pair_distances(f, a, b, "manhattan")


def _loop_distances(f: np.ndarray, a: np.ndarray, b: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Reference: one pair at a time, in float64 -> ``[P, K]``."""
    out = np.empty((len(a), f.shape[1]))
    for i, (p, q) in enumerate(zip(a, b)):
        x, y = f[p].astype(np.float64), f[q].astype(np.float64)
        if metric == "euclidean":
            out[i] = np.linalg.norm(x - y, axis=-1)
        else:
            out[i] = 1 - (x * y).sum(-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1))
    return out


def _repeated_pairs(n: int = 40, p: int = 700, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Pairs over ``n`` tokens, each token many times on both sides, about 1 in 7 with ``a == b``."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, p), rng.integers(0, n, p)
    same = rng.random(p) < 1 / 7
    b[same] = a[same]
    return a, b


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 10**6])
def test_pair_order_kept_against_loop(dtype, rtol, threads, chunk_rows):
    """Sorting by ``a``, chunking and threads must not mix up which distance belongs to which pair."""
    f = np.random.default_rng(1).normal(size=(40, 3, 5)).astype(dtype)
    a, b = _repeated_pairs()
    a0, b0 = a.copy(), b.copy()
    chunk_bytes = chunk_rows * 3 * 5 * f.itemsize
    d = pair_distances(f, a, b, chunk_bytes=chunk_bytes, threads=threads)
    assert d.shape == (700, 3) and d.dtype == np.float64
    np.testing.assert_array_equal(a, a0)  # inputs untouched
    np.testing.assert_array_equal(b, b0)
    ref = _loop_distances(f, a, b)
    same = a == b
    assert same.sum() > 50 and (d[same] == 0).all()  # same-word pairs: exactly 0
    np.testing.assert_allclose(d[~same], ref[~same], rtol=rtol, atol=0)
    cos = pair_distances(f, a, b, "cosine", chunk_bytes=chunk_bytes, threads=threads)
    atol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(cos, _loop_distances(f, a, b, "cosine"), rtol=0, atol=atol)


def test_near_identical_rows_keep_relative_accuracy():
    """Tokens of one word can lie very close: no cancellation (as ||a||^2 + ||b||^2 - 2ab would give)."""
    rng = np.random.default_rng(6)
    base = rng.normal(size=(1, 2, 256)) * 100
    f = (base + 10.0 ** -rng.integers(1, 5, size=(20, 1, 1)) * rng.normal(size=(20, 2, 256))).astype(np.float32)
    a, b = _repeated_pairs(n=20, p=200, seed=7)
    keep = a != b
    d = pair_distances(f, a, b)[keep]
    np.testing.assert_allclose(d, _loop_distances(f, a, b)[keep], rtol=1e-6, atol=0)
    assert d.min() < 1e-3 * np.linalg.norm(f[0], axis=-1).max()  # the test does reach near-identical pairs


def test_pair_distances_permutation_and_edge_cases():
    f = np.random.default_rng(2).normal(size=(30, 2, 4))
    a, b = _repeated_pairs(n=30, p=300, seed=4)
    d = pair_distances(f, a, b, chunk_bytes=64, threads=3)
    perm = np.random.default_rng(5).permutation(300)
    np.testing.assert_allclose(pair_distances(f, a[perm], b[perm], chunk_bytes=64, threads=2), d[perm], rtol=1e-12)
    # (a, b) and (b, a) give the same distances
    np.testing.assert_allclose(pair_distances(f, b, a), d, rtol=1e-12)
    # negative rows count from the end, as with NumPy indexing
    np.testing.assert_array_equal(pair_distances(f, a - 30, b), d)
    assert pair_distances(f, np.array([], int), np.array([], int)).shape == (0, 2)
    # integer features are compared in float64
    fi = np.arange(2 * 3 * 2).reshape(3, 2, 2)
    np.testing.assert_allclose(pair_distances(fi, np.array([0]), np.array([2])), [[8 * np.sqrt(2)] * 2])
    with pytest.raises(IndexError, match="outside"):
        pair_distances(f, np.array([0, 30]), np.array([1, 2]))
    with pytest.raises(ValueError, match="differ in length"):
        pair_distances(f, np.array([0, 1]), np.array([1]))
    assert 1 <= default_threads() <= 4


def test_standardize():
    f = np.random.default_rng(0).normal(3, 2, size=(500, 2, 4))
    z = standardize(f)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-12)


def test_standardize_hand_values_and_a_constant_dimension():
    """Per layer and dimension over tokens: (x - mean) / sd with the population sd; a
    dimension constant over tokens becomes 0, not NaN (its distances stay finite)."""
    f = np.array([[[1.0, 5.0], [0.0, 2.0]], [[3.0, 5.0], [4.0, 2.0]], [[5.0, 5.0], [8.0, 2.0]]])  # [N=3, K=2, D=2]
    sd = np.sqrt(8.0 / 3.0)  # of (1, 3, 5)
    want = np.array([[[-2 / sd, 0.0], [-1.0 * np.sqrt(1.5), 0.0]], [[0.0, 0.0], [0.0, 0.0]], [[2 / sd, 0.0], [np.sqrt(1.5), 0.0]]])
    np.testing.assert_allclose(standardize(f), want, rtol=1e-12, atol=1e-12)
    d = pair_distances(standardize(f), np.array([0]), np.array([2]))
    np.testing.assert_allclose(d, [[4 / sd, 2 * np.sqrt(1.5)]], rtol=1e-12)


def test_bootstrap_matches_normal_theory():
    x = np.random.default_rng(1).normal(0, 1, size=(4000, 1))
    m = bootstrap_means(x, 2000, np.random.default_rng(2), chunk=10**6)
    assert m.std() == pytest.approx(1 / np.sqrt(4000), rel=0.1)


def test_bootstrap_means_of_three_pairs_follow_the_binomial_law():
    """Resampling 3 pairs with replacement: the mean of x = (0, 0, 3) is the number of draws
    of the last pair, Binomial(3, 1/3): values 0..3 with probabilities 8, 12, 6, 1 / 27. All
    layers of a resample use the same pairs (column 2 is twice column 1 in every resample)."""
    x = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 6.0]])
    m = bootstrap_means(x, 27000, np.random.default_rng(4), chunk=1000)
    assert m.shape == (27000, 2)
    np.testing.assert_array_equal(m[:, 1], 2 * m[:, 0])
    values, counts = np.unique(m[:, 0], return_counts=True)
    np.testing.assert_allclose(values, [0.0, 1.0, 2.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(counts / 27000, np.array([8, 12, 6, 1]) / 27, atol=0.01)


def _synthetic(tmp_path, n_words=60, reps=4, dim=16, k=3, seed=0):
    """Features where near-homophones are closer than synonyms and synonyms equal random.

    Each word w has a centre c_w; its tokens are c_w + noise. Homophone partners share most
    of their centre; synonym partners have independent centres (so they are as far apart
    as random pairs).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_words, dim))
    for w in range(0, n_words, 2):  # words (w, w+1) near-homophones: centres close
        centres[w + 1] = centres[w] + 0.3 * rng.normal(size=dim)
    ids, rows, word = [], [], []
    for w in range(n_words):
        for r in range(reps):
            ids.append(len(ids))
            word.append(w)
            rows.append(np.stack([centres[w] * (layer + 1) + 0.5 * rng.normal(size=dim) for layer in range(k)]))
    feats = np.stack(rows).astype(np.float32)
    word = np.array(word)
    p = []
    for w in range(0, n_words, 2):
        for i in np.flatnonzero(word == w):
            for j in np.flatnonzero(word == w + 1):
                p.append(("near_homophone", i, j))
    for w in range(0, n_words - 2, 2):  # synonyms: w with w+2 (independent centres)
        for i in np.flatnonzero(word == w):
            for j in np.flatnonzero(word == w + 2):
                p.append(("synonym", i, j))
    perm = rng.permutation(len(ids))
    p += [("random", i, j) for i, j in zip(range(len(ids)), perm) if word[i] != word[j]]
    pairs = pd.DataFrame(p, columns=["pair_type", "token_a", "token_b"])
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as h:
        h["tokens/token_id"] = np.array(ids)
        h["pooled/mean"] = feats
        h.attrs["random_weights"] = False
    return path, pairs


def test_known_ordering_and_ci(tmp_path):
    path, pairs = _synthetic(tmp_path)
    t, counts = codec_distances("syn", str(path), pairs, n_boot=500, aggregate="seeds")
    assert counts["dropped: token without features"] == 0
    for layer in (1, 2, 3):
        g = t[t.layer == layer].set_index("pair_type")
        # near-homophones clearly closer than synonyms and random
        assert g.loc["near_homophone", "ci_high"] < g.loc["synonym", "ci_low"]
        assert g.loc["near_homophone", "norm_ci_high"] < 0
        # synonyms are random pairs in disguise: the normalized CI contains 0
        assert g.loc["synonym", "norm_ci_low"] < 0 < g.loc["synonym", "norm_ci_high"]
        assert g.loc["random", "norm_mean"] == 0
    # layer 1, synonyms: E d^2 = E||c_a - c_b||^2 + E||noise_a - noise_b||^2 = 2*16 + 2*0.25*16 = 40,
    # so the mean distance is a little under sqrt(40) = 6.32 (Jensen)
    syn = t[(t.layer == 1) & (t.pair_type == "synonym")].iloc[0]
    assert 5.5 < syn["mean"] < 6.6


@pytest.mark.parametrize("metric, std", [("cosine", False), ("euclidean", True), ("cosine", True)])
def test_the_optional_distances_through_the_stage(tmp_path, metric, std):
    """``distances.metric: cosine`` and ``distances.standardize: true`` (off by default): the
    stage's means per pair type and layer equal the distances computed here directly from
    the features (z-scored over all tokens, per layer and dimension; 1 - cosine), and the
    table and the CLI's output say which (``metric``: ``cosine``, ``euclidean+std``, ...)."""
    path, pairs = _synthetic(tmp_path)
    with h5py.File(path) as h:
        x = h["pooled/mean"][:].astype(np.float64)  # [N, K, D]
    if std:
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    a, b = x[pairs.token_a.to_numpy()], x[pairs.token_b.to_numpy()]
    if metric == "cosine":
        d = 1 - (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    else:
        d = np.linalg.norm(a - b, axis=-1)
    t, _ = codec_distances("syn", str(path), pairs, metric=metric, std=std, n_boot=50, aggregate="seeds")
    name = metric + ("+std" if std else "")
    assert set(t["metric"]) == {name}
    for kind, g in pairs.groupby("pair_type"):
        got = t[t.pair_type == kind].sort_values("layer")["mean"].to_numpy()
        np.testing.assert_allclose(got, d[g.index].mean(axis=0), rtol=2e-5)
    pairs.to_parquet(tmp_path / "p.parquet")
    argv = ["--codec", "syn", "--features", str(path), "--pairs", str(tmp_path / "p.parquet"), "--out", str(tmp_path / "d.csv"),
            "--metric", metric, "--aggregate", "seeds", "--n-boot", "50"] + ["--standardize"] * std  # fmt: skip
    main(argv)
    out = read_table(str(tmp_path / "d.csv"))
    assert set(out["metric"]) == {name}
    np.testing.assert_allclose(out["mean"].astype(float), t["mean"], rtol=1e-9)


@pytest.mark.parametrize("data_seed", [0, 1, 2])
def test_default_intervals_contain_the_true_mean_distances(tmp_path, data_seed):
    """The configured default (``aggregate: word_types``; one seed, so a bootstrap over word
    types) on the synthetic features, whose expected distances are known: at layer L a pair's
    difference is N(0, s^2 I) in 16 dims with s^2 = 2 L^2 + 0.5 for synonyms (independent
    centres x L, noise sd 0.5 on each token) and 0.09 L^2 + 0.5 for near-homophones (centres
    0.3 apart per dim), so E d = s E[chi_16], E[chi_16] = sqrt(2) G(8.5) / G(8) = 3.938. Each
    95 % interval contains its true value (a bootstrap over token pairs, which share tokens,
    is too narrow for that)."""
    from math import exp, lgamma, sqrt

    path, pairs = _synthetic(tmp_path, seed=data_seed)
    word = np.repeat(np.arange(60), 4).astype(str)  # _synthetic's tokens: 4 per word, in order
    pairs = pairs.assign(word_a=word[pairs.token_a], word_b=word[pairs.token_b])
    t, _ = codec_distances("syn", str(path), pairs, n_boot=500)
    assert set(t.ci_method) == {"bootstrap over word types"}
    e_chi = sqrt(2) * exp(lgamma(8.5) - lgamma(8))
    for layer in (1, 2, 3):
        for kind, var in (("synonym", 2 * layer**2 + 0.5), ("near_homophone", 0.09 * layer**2 + 0.5)):
            r = t[(t.layer == layer) & (t.pair_type == kind)].iloc[0]
            assert r.ci_low < sqrt(var) * e_chi < r.ci_high, (layer, kind, sqrt(var) * e_chi, r.ci_low, r.ci_high)
            assert r.ci_high - r.ci_low < 0.4 * r["mean"]  # and informative (synonyms: about 0.27, 29 word-type pairs)


def test_ci_covers_true_mean_in_most_repeats(tmp_path):
    """Coverage check: 95% bootstrap CI of a known mean, 40 independent repeats."""
    hits = 0
    for s in range(40):
        x = np.random.default_rng(100 + s).exponential(2.0, size=(300, 1))
        t = summarize({"random": x}, n_boot=400, seed=s)
        hits += t.ci_low[0] <= 2.0 <= t.ci_high[0]
    assert hits >= 34  # 95% nominal; binomial(40, .95) >= 34 with prob > 0.99


def test_one_seed_bootstrap_interval_has_its_nominal_width():
    """One seed: the interval is the (alpha/2, 1 - alpha/2) percentiles of the bootstrap
    means; at alpha = 0.5 the half-width of a mean of n N(0, 1) draws is 0.6745 / sqrt(n),
    and that of the difference to random (independent pairs) sqrt(2) times that."""
    rng = np.random.default_rng(5)
    n = 2500
    x = {"random": rng.normal(0, 1, size=(n, 1)), "synonym": rng.normal(0, 1, size=(n, 1))}
    row = summarize(x, n_boot=4000, seed=1, alpha=0.5).set_index("pair_type").loc["synonym"]
    se = x["synonym"].std() / np.sqrt(n)
    assert (row.ci_high - row.ci_low) / 2 == pytest.approx(0.6745 * se, rel=0.1)
    assert row.ci_low < row["mean"] < row.ci_high
    se_diff = np.sqrt(x["synonym"].var() / n + x["random"].var() / n)
    assert (row.norm_ci_high - row.norm_ci_low) / 2 == pytest.approx(0.6745 * se_diff, rel=0.1)


def test_missing_tokens_dropped_and_counted(tmp_path):
    path, pairs = _synthetic(tmp_path, n_words=10)
    extra = pd.DataFrame({"pair_type": ["synonym", "random"], "token_a": [0, 99999], "token_b": [88888, 1]})
    t, counts = codec_distances("syn", str(path), pd.concat([pairs, extra]), n_boot=100, aggregate="seeds")
    assert counts["dropped: token without features"] == 2
    assert_no_nan(t)


def test_fig2_writes_files(tmp_path):
    path, pairs = _synthetic(tmp_path, n_words=10)
    t, _ = codec_distances("syn", str(path), pairs, n_boot=100, aggregate="seeds")
    t2 = t.assign(codec="syn2", random_weights=True)
    fig2(pd.concat([t, t2]), str(tmp_path / "f.pdf"), str(tmp_path / "f.png"), "note")
    assert (tmp_path / "f.pdf").stat().st_size > 1000 and (tmp_path / "f.png").stat().st_size > 1000


def test_bad_features_file(tmp_path):
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(CodecprobeError, match="cannot read features"):
        codec_distances("c", str(tmp_path / "x.h5"), pd.DataFrame(columns=["pair_type", "token_a", "token_b"]), aggregate="seeds")


def _features_file(tmp_path, values):
    """One layer, 1-d features: token i at ``values[i]`` (so a pair's distance is |difference|)."""
    path = tmp_path / "toy.h5"
    with h5py.File(path, "w") as h:
        h["tokens/token_id"] = np.arange(len(values))
        h["pooled/mean"] = np.asarray(values, np.float32).reshape(-1, 1, 1)
        h.attrs["random_weights"] = False
    return str(path)


def test_aggregate_over_seeds_known_answer(tmp_path):
    # the review's agg.py: seed 0 one synonym pair at distance 1, seed 1 nine at 3; random at 5 in both
    path = _features_file(tmp_path, [0, 1, 0, 3, 0, 5])
    pairs = pd.DataFrame(
        {
            "seed": [0] + [1] * 9 + [0, 1], "pair_type": ["synonym"] * 10 + ["random"] * 2,
            "token_a": [0] + [2] * 9 + [4, 4], "token_b": [1] + [3] * 9 + [5, 5],
        }  # fmt: skip
    )
    t, _ = codec_distances("toy", path, pairs, n_boot=200, aggregate="seeds")
    syn = t.set_index("pair_type").loc["synonym"]
    assert syn["mean"] == pytest.approx(2.0) and syn["norm_mean"] == pytest.approx(-3.0)  # (1 + 3) / 2, minus 5
    assert syn["n"] == 10 and syn["median"] == 3.0 and syn["n_seeds"] == 2
    assert syn["ci_method"] == "t over seeds; normalized: t over seeds + bootstrap over pairs"
    half = stats.t.ppf(0.975, 1) * np.std([1.0, 3.0], ddof=1) / np.sqrt(2)  # 12.706 * sqrt(2) / sqrt(2)
    assert (syn.ci_low, syn.ci_high) == pytest.approx((2.0 - half, 2.0 + half))
    assert (syn.norm_ci_low, syn.norm_ci_high) == pytest.approx((-3.0 - half, -3.0 + half))
    # relative: 1/5 - 1 and 3/5 - 1 per seed, then over seeds
    rhalf = stats.t.ppf(0.975, 1) * np.std([-0.8, -0.4], ddof=1) / np.sqrt(2)
    assert (syn.rel_mean, syn.rel_ci_low, syn.rel_ci_high) == pytest.approx((-0.6, -0.6 - rhalf, -0.6 + rhalf))
    # random: the same one pair in both seeds, one replicate; its bootstrap (one pair) has no
    # width, so the synonyms' normalized t-interval is widened by nothing and said so
    rnd = t.set_index("pair_type").loc["random"]
    assert (rnd["mean"], rnd.ci_low, rnd.ci_high) == (5, 5, 5) and rnd.ci_method == "bootstrap over pairs (every seed the same)"
    assert (rnd.norm_mean, rnd.norm_ci_low, rnd.norm_ci_high) == (0, 0, 0)
    assert_no_nan(t)
    assert (t["aggregation"] == "seeds").all()
    # the earlier pooled aggregate: pair-weighted mean (1 + 9 * 3) / 10
    tp, _ = codec_distances("toy", path, pairs, n_boot=200, aggregate="pooled")
    ps = tp.set_index("pair_type").loc["synonym"]
    assert ps["mean"] == pytest.approx(2.8) and ps["norm_mean"] == pytest.approx(-2.2)
    assert ps["ci_method"] == "bootstrap over pairs" and ps["aggregation"] == "pooled"
    with pytest.raises(CodecprobeError, match="aggregate"):
        codec_distances("toy", path, pairs, aggregate="median")


def test_t_interval_over_seeds_against_hand_computation():
    rng = np.random.default_rng(11)
    dist, seeds, per_seed = {}, {}, {}
    for t, loc in (("random", 6.0), ("synonym", 5.5), ("near_homophone", 4.0)):
        xs, ss = [], []
        for s in range(5):
            n = 20 + 17 * s + (t == "synonym") * 40 * (s == 0)  # unequal pair counts: pooled != per-seed mean
            xs.append(rng.normal(loc + 0.3 * s * (t != "random"), 1.0, size=(n, 2)) * [1.0, 2.0])
            ss.append(np.full(n, 10 + s))
        dist[t], seeds[t] = np.concatenate(xs), np.concatenate(ss)
        per_seed[t] = np.stack([x.mean(0) for x in xs])
    table = summarize(dist, seeds=seeds).set_index(["pair_type", "layer"])
    q = stats.t.ppf(0.975, 4)
    for t in dist:
        for layer in (1, 2):
            row = table.loc[(t, layer)]
            m = per_seed[t][:, layer - 1]
            nm = m - per_seed["random"][:, layer - 1]  # normalized per seed, then over seeds
            assert row["mean"] == pytest.approx(m.mean(), rel=1e-12)
            assert row.ci_high - row["mean"] == pytest.approx(q * m.std(ddof=1) / np.sqrt(5), rel=1e-10)
            assert row["mean"] - row.ci_low == pytest.approx(q * m.std(ddof=1) / np.sqrt(5), rel=1e-10)
            assert row.norm_mean == pytest.approx(nm.mean(), abs=1e-12)
            assert row.norm_ci_high - row.norm_mean == pytest.approx(q * nm.std(ddof=1) / np.sqrt(5), abs=1e-12)
            assert row.norm_mean - row.norm_ci_low == pytest.approx(q * nm.std(ddof=1) / np.sqrt(5), abs=1e-12)
            assert row.n == len(dist[t]) and row.n_seeds == 5 and row.ci_method == "t over seeds"
            assert row["median"] == pytest.approx(np.median(dist[t][:, layer - 1]))
    syn = table.loc[("synonym", 1)]
    assert abs(syn["mean"] - dist["synonym"][:, 0].mean()) > 0.05  # not the pooled mean
    assert_no_nan(table.reset_index())  # synonym minus itself: not given
    for layer in (1, 2):  # near-homophone minus synonym per seed, then t over seeds
        row = table.loc[("near_homophone", layer)]
        c = per_seed["near_homophone"][:, layer - 1] - per_seed["synonym"][:, layer - 1]
        assert row.minus_synonym == pytest.approx(c.mean(), abs=1e-12)
        assert row.minus_synonym_ci_high - row.minus_synonym == pytest.approx(q * c.std(ddof=1) / np.sqrt(5), abs=1e-12)
        assert row.minus_synonym - row.minus_synonym_ci_low == pytest.approx(q * c.std(ddof=1) / np.sqrt(5), abs=1e-12)


def test_a_type_one_replicate_on_the_seeds_it_shares_with_random_is_widened():
    """Near-homophones in seeds 0-2, the same pairs in seeds 0 and 1, other ones in seed 2;
    random pairs in seeds 0 and 1 only. Over the seeds both have, the near-homophones are one
    replicate: the t-interval of the differences leaves their sampling out, so it is widened
    by their bootstrap (judged over all three seeds, they were taken for several replicates
    and the plain t-interval over two seeds was given)."""
    rng = np.random.default_rng(7)
    hom, other = rng.normal(4.0, 1.0, size=(30, 2)), rng.normal(4.5, 1.0, size=(30, 2))
    dist = {"random": rng.normal(6.0, 1.0, size=(60, 2)), "near_homophone": np.concatenate([hom, hom, other])}
    seeds = {"random": np.repeat([0, 1], 30), "near_homophone": np.repeat([0, 1, 2], 30)}
    row = summarize(dist, n_boot=300, seed=3, seeds=seeds).set_index(["pair_type", "layer"]).loc[("near_homophone", 1)]
    assert row.ci_method == "t over seeds; normalized: t over seeds + bootstrap over pairs"
    per_seed = hom[:, 0].mean() - dist["random"][:, 0].reshape(2, 30).mean(axis=1)
    m = per_seed.mean()
    tlo, thi = stats.t.interval(0.95, 1, loc=m, scale=per_seed.std(ddof=1) / np.sqrt(2))
    assert row.norm_mean == pytest.approx(m)
    assert row.norm_ci_low < tlo and row.norm_ci_high > thi  # wider than the t-interval over the two seeds


def test_minus_synonym_of_identical_seeds_counts_them_as_one():
    """Seeds that hold the same synonym and near-homophone pairs (a corpus smaller than
    pairs.n_tokens) give the same difference: not a zero-width t-interval, but the one-seed
    bootstrap, named; with seeds that differ, the t-interval; pooled, the pooled means."""
    rng = np.random.default_rng(5)
    syn, hom = rng.normal(5.0, 1.0, size=(40, 2)), rng.normal(4.0, 1.0, size=(30, 2))
    dist = {"random": rng.normal(6.0, 1.0, size=(90, 2)), "synonym": np.tile(syn, (3, 1)), "near_homophone": np.tile(hom, (3, 1))}
    seeds = {"random": np.repeat([0, 1, 2], 30), "synonym": np.repeat([0, 1, 2], 40), "near_homophone": np.repeat([0, 1, 2], 30)}
    t = summarize(dist, n_boot=300, seed=2, seeds=seeds).set_index(["pair_type", "layer"])
    row = t.loc[("near_homophone", 1)]
    assert row.minus_synonym == pytest.approx(hom[:, 0].mean() - syn[:, 0].mean())
    assert row.minus_synonym_method == "bootstrap over pairs (every seed the same)"
    assert row.minus_synonym_ci_low < row.minus_synonym - 0.1 and row.minus_synonym_ci_high > row.minus_synonym + 0.1
    # the type's own interval likewise (not zero wide); its normalization: random pairs differ by
    # seed, and the t-interval over seeds is widened by the near-homophones' own bootstrap
    assert row.ci_method == "bootstrap over pairs (every seed the same); normalized: t over seeds + bootstrap over pairs"
    assert row.ci_low < row["mean"] - 0.1 and row.ci_high > row["mean"] + 0.1
    assert row["mean"] == pytest.approx(hom[:, 0].mean()) and row.n_seeds == 3
    per_seed = hom[:, 0].mean() - dist["random"][:, 0].reshape(3, 30).mean(axis=1)
    m = per_seed.mean()
    tlo, thi = stats.t.interval(0.95, 2, loc=m, scale=per_seed.std(ddof=1) / np.sqrt(3))
    assert row.norm_mean == pytest.approx(m)
    # by hand: the draws in summarize's order (random's t-interval draws none; then synonym,
    # near-homophone, each once, own interval first), the near-homophones' against the random
    # pairs' per-seed means, added to the t half-widths in quadrature
    g = np.random.default_rng(2)
    bootstrap_means(syn, 300, g)  # the synonyms' draws come first
    b_hom = bootstrap_means(hom, 300, g)
    assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.percentile(b_hom[:, 0], [2.5, 97.5])))
    blo, bhi = np.percentile(b_hom[:, 0] - dist["random"][:, 0].reshape(3, 30).mean(axis=1).mean(), [2.5, 97.5])
    assert row.norm_ci_low == pytest.approx(m - np.hypot(m - tlo, m - blo))
    assert row.norm_ci_high == pytest.approx(m + np.hypot(thi - m, bhi - m))
    other = dict(dist, near_homophone=np.concatenate([hom, hom + 0.5, hom - 0.2]))  # seeds now differ
    row = summarize(other, n_boot=300, seed=2, seeds=seeds).set_index(["pair_type", "layer"]).loc[("near_homophone", 1)]
    assert row.minus_synonym == pytest.approx(hom[:, 0].mean() + 0.1 - syn[:, 0].mean())
    assert row.minus_synonym_method == "t over seeds + bootstrap over pairs"  # the synonyms still one replicate
    pooled = summarize(other, n_boot=300, seed=2, seeds=seeds, aggregate="pooled").set_index(["pair_type", "layer"])
    row = pooled.loc[("near_homophone", 2)]
    assert row.minus_synonym == pytest.approx(other["near_homophone"][:, 1].mean() - syn[:, 1].mean())
    assert row.minus_synonym_method == "bootstrap over pairs"


def test_minus_synonym_with_one_seed_bootstraps_both_and_leaves_the_other_columns():
    """One seed: the contrast is the difference of the two means, its interval the percentiles
    of the differences of both types' bootstrap means (the draws the other columns use). With
    seeds mixed so that it draws new resamples, every other column is as without synonyms
    (the type renamed: the same draws in the same order)."""
    rng = np.random.default_rng(3)
    dist = {t: rng.normal(loc, 1.0, size=(n, 2)) for t, loc, n in (("random", 6.0, 80), ("synonym", 5.0, 50), ("near_homophone", 4.0, 60))}
    table = summarize(dist, n_boot=400, seed=9).set_index(["pair_type", "layer"])
    boots = {}  # summarize draws one-seed types in dict order from default_rng(seed)
    g = np.random.default_rng(9)
    for t, d in dist.items():
        boots[t] = bootstrap_means(d, 400, g)
    diff = boots["near_homophone"] - boots["synonym"]
    lo, hi = np.percentile(diff, [2.5, 97.5], axis=0)
    for layer in (1, 2):
        row = table.loc[("near_homophone", layer)]
        assert row.minus_synonym == pytest.approx(dist["near_homophone"][:, layer - 1].mean() - dist["synonym"][:, layer - 1].mean())
        assert (row.minus_synonym_ci_low, row.minus_synonym_ci_high) == pytest.approx((lo[layer - 1], hi[layer - 1]))
        assert row.minus_synonym_ci_high < 0  # 4 vs 5, 50-60 pairs of sd 1
    # mixed seeds: the contrast of near-homophones (seeds 0, 1) with synonyms (seed 1 only) draws
    # new resamples, and same-word pairs (seeds 1, 3; random in 0-2) draw theirs in the main loop
    mix = {"near_homophone": dist["near_homophone"], "same_word": rng.normal(3.0, 1.0, size=(40, 2)),
           "synonym": dist["synonym"], "random": dist["random"]}  # fmt: skip
    seeds = {"near_homophone": np.repeat([0, 1], 30), "same_word": np.repeat([1, 3], 20), "synonym": np.ones(50, int),
             "random": np.repeat([0, 1, 2], [30, 30, 20])}  # fmt: skip
    mixed = summarize(mix, n_boot=400, seed=9, seeds=seeds)
    renamed = summarize({("other" if t == "synonym" else t): d for t, d in mix.items()}, n_boot=400, seed=9,
                        seeds={("other" if t == "synonym" else t): s for t, s in seeds.items()})  # fmt: skip
    keep = [c for c in TABLE_COLUMNS if c in mixed and not c.startswith("minus_synonym") and c != "pair_type"]
    pd.testing.assert_frame_equal(mixed[keep], renamed[keep])
    same = mixed[mixed.pair_type == "same_word"]
    assert (same.ci_method == "t over seeds; normalized: bootstrap over pairs").all()  # its draws were compared
    hom = mixed[mixed.pair_type == "near_homophone"]
    assert np.isfinite(hom[CONTRAST].to_numpy()).all()
    # the one seed both have (1): its difference, bootstrapped, and said so
    one = dist["near_homophone"][30:].mean(0) - dist["synonym"].mean(0)
    assert hom["minus_synonym"].to_numpy() == pytest.approx(one) and (hom["minus_synonym_method"] == "bootstrap over pairs").all()
    assert renamed[["minus_synonym"]].isna().all().all()  # no synonyms: no contrast


def test_cluster_bootstrap_known_answers():
    """Clusters of r copies of a row resample as the rows themselves (the same draws), and
    one row per cluster, in order, is the plain row bootstrap."""
    x = np.random.default_rng(4).normal(size=(37, 3))
    plain = bootstrap_means(x, 250, np.random.default_rng(8))
    copies = bootstrap_means(np.repeat(x, 3, axis=0), 250, np.random.default_rng(8), clusters=np.repeat(np.arange(37), 3))
    np.testing.assert_allclose(copies, plain, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bootstrap_means(x, 250, np.random.default_rng(8), clusters=np.arange(37)), plain, rtol=1e-12, atol=1e-14)
    # unequal clusters by hand: rows 1, 2 | 10; drawing cluster 0 twice gives (1 + 2 + 1 + 2) / 4
    g = np.random.default_rng(0)
    idx = np.random.default_rng(0).integers(0, 2, size=(5, 2))
    b = bootstrap_means(np.array([[1.0], [2.0], [10.0]]), 5, g, clusters=np.array(["a", "a", "b"]))
    want = [(idx[i] == 0).sum() * 3 + (idx[i] == 1).sum() * 10 for i in range(5)]
    want = [w / ((idx[i] == 0).sum() * 2 + (idx[i] == 1).sum()) for i, w in enumerate(want)]
    np.testing.assert_allclose(b[:, 0], want)


def test_cluster_bootstrap_covers_the_mean_where_the_row_bootstrap_does_not():
    """Each unit counted four times (as a word pair in both orders, or its token pairs): the
    bootstrap over rows takes the copies for evidence and its 95 % interval is half as wide;
    the bootstrap over clusters covers the true mean at the nominal rate (40 repeats)."""
    hits = {"clusters": 0, "rows": 0}
    for s in range(40):
        x = np.repeat(np.random.default_rng(200 + s).exponential(2.0, size=(60, 1)), 4, axis=0)
        labels = np.repeat(np.arange(60), 4)
        for name, c in (("clusters", {"random": labels}), ("rows", None)):
            t = summarize({"random": x}, n_boot=400, seed=s, clusters=c)
            hits[name] += t.ci_low[0] <= 2.0 <= t.ci_high[0]
    assert hits["clusters"] >= 34  # binomial(40, .95) >= 34 with prob > 0.99
    assert hits["rows"] <= 30  # about 68 % nominal for the half-width interval


def test_word_bootstrap_known_answers():
    """Words numbered in sorted order over both columns; each resample weighs a pair by how
    often both its words were drawn (by hand on three pairs), and the draws are those of
    :func:`word_draws` from the same generator."""
    from codecprobe.distances import word_bootstrap_means, word_draws, word_ids

    ia, ib, v = word_ids(np.array(["big", "large", "dog"]), np.array(["large", "big", "big"]))
    assert (ia.tolist(), ib.tolist(), v) == ([0, 2, 1], [2, 0, 0], 3)  # big, dog, large
    x = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    draws = np.array([[1, 1, 1], [2, 0, 1], [0, 3, 0], [1, 2, 0]])
    got = word_bootstrap_means(x, ia, ib, draws, chunk=3)  # chunks of one draw
    # draw 0: weights 1, 1, 1 -> 3; draw 1: 2, 2, 0 -> 2; draw 2: none drawn -> NaN; draw 3: 0, 0, 2 -> 5
    np.testing.assert_allclose(got[:, 0], [3.0, 2.0, np.nan, 5.0])
    np.testing.assert_allclose(got[:, 1], [30.0, 20.0, np.nan, 50.0])
    d = word_draws(3, 4, np.random.default_rng(7))
    assert d.shape == (4, 3) and (d.sum(axis=1) == 3).all()
    np.testing.assert_array_equal(d, np.random.default_rng(7).multinomial(3, [1 / 3] * 3, size=4))


def test_word_bootstrap_covers_the_mean_where_pair_resampling_does_not():
    """Pairs that share words (each of 120 words paired with 8 others, a random effect per
    word): resampling word pairs as if independent covers the true mean far below the
    nominal rate; resampling word types covers it at about the nominal rate (40 repeats)."""
    from codecprobe.distances import word_bootstrap_means, word_draws

    hits = {"words": 0, "pairs": 0}
    n = 120
    for r in range(40):
        g = np.random.default_rng(300 + r)
        ia = np.repeat(np.arange(n), 4)
        ib = (ia + np.tile([1, 2, 3, 4], n)) % n  # 4 partners on, so 8 links per word
        effect = g.normal(0.0, 1.0, n)
        x = (effect[ia] + effect[ib] + 0.3 * g.normal(size=len(ia)))[:, None]  # true mean 0
        wb = word_bootstrap_means(x, ia, ib, word_draws(n, 400, g))[:, 0]
        pb = bootstrap_means(x, 400, g)[:, 0]
        hits["words"] += np.nanpercentile(wb, 2.5) <= 0.0 <= np.nanpercentile(wb, 97.5)
        hits["pairs"] += np.percentile(pb, 2.5) <= 0.0 <= np.percentile(pb, 97.5)
    assert hits["words"] >= 34 and hits["pairs"] <= 30, hits


def test_one_seed_word_types_resample_word_types(tmp_path):
    """One seed, word types: the bootstrap draws the words (one vocabulary for every type,
    numbered in sorted order), weighing each ordered word-type pair's mean by how often both
    its words were drawn; x->y and y->x move together, as x->z and x->y (they share x)."""
    path = _features_file(tmp_path, [0, 1, 0, 4, 0, 9, 0, 20, 7, 3, 11, 5])
    rows = [  # seed, type, a, b, word_a, word_b
        (0, "synonym", 0, 1, "x", "y"), (0, "synonym", 1, 0, "y", "x"),  # {x, y} at 1, both orders
        (0, "synonym", 2, 3, "x", "z"),  # {x, z} at 4
        (0, "synonym", 4, 5, "w", "z"), (0, "synonym", 5, 4, "z", "w"),  # {w, z} at 9, both orders
        *[(0, "random", a, b, f"r{a}", f"r{b}") for a, b in ((6, 7), (8, 9), (10, 11))],
    ]  # fmt: skip
    pairs = pd.DataFrame(rows, columns=["seed", "pair_type", "token_a", "token_b", "word_a", "word_b"])
    t, _ = codec_distances("toy", path, pairs, n_boot=300, seed=5, aggregate="word_types")
    syn = t.set_index("pair_type").loc["synonym"]
    assert syn["mean"] == pytest.approx((1 + 1 + 4 + 9 + 9) / 5)  # the estimate still weighs ordered pairs
    vocab = ["r10", "r11", "r6", "r7", "r8", "r9", "w", "x", "y", "z"]
    c = np.random.default_rng(5).multinomial(10, [0.1] * 10, size=300)
    w, x, y, z = (c[:, vocab.index(k)].astype(float) for k in "wxyz")
    # the ordered word-type pairs in the order word_type_means gives them: means 1, 1, 4, 9, 9
    weights = np.stack([x * y, y * x, x * z, w * z, z * w], axis=1)
    with np.errstate(invalid="ignore"):
        means = weights @ np.array([1.0, 1.0, 4.0, 9.0, 9.0]) / weights.sum(axis=1)
    assert (syn.ci_low, syn.ci_high) == pytest.approx(tuple(np.nanpercentile(means, [2.5, 97.5])))
    assert syn.ci_method == "bootstrap over word types"


def test_widened_interval_covers_a_type_the_same_in_every_seed():
    """Synonym pairs drawn once and shared by five seeds, random pairs drawn anew in each:
    the t-interval over seeds of synonym minus random sees the random pairs' variation only
    and covers the true difference (-1) in about 57 % of repeats; widened by the synonyms'
    bootstrap it covers it at about the nominal rate (40 repeats)."""
    hits = {"widened": 0, "t only": 0}
    for r in range(40):
        g = np.random.default_rng(1000 + r)
        syn, rnd = g.exponential(1.0, size=(40, 1)) + 3.0, g.normal(5.0, 1.0, size=(5, 60, 1))  # means 4 and 5
        dist = {"random": rnd.reshape(300, 1), "synonym": np.tile(syn, (5, 1))}
        seeds = {"random": np.repeat(np.arange(5), 60), "synonym": np.repeat(np.arange(5), 40)}
        row = summarize(dist, n_boot=400, seed=r, seeds=seeds).set_index("pair_type").loc["synonym"]
        assert row.ci_method == "bootstrap over pairs (every seed the same); normalized: t over seeds + bootstrap over pairs"
        hits["widened"] += row.norm_ci_low <= -1.0 <= row.norm_ci_high
        per_seed = syn.mean() - rnd.mean(axis=(1, 2))
        half = stats.t.ppf(0.975, 4) * per_seed.std(ddof=1) / np.sqrt(5)
        hits["t only"] += abs(per_seed.mean() + 1.0) <= half
    assert hits["widened"] >= 34 and hits["t only"] <= 30, hits

def test_single_seed_falls_back_to_bootstrap_over_pairs(tmp_path):
    path, pairs = _synthetic(tmp_path, n_words=20)
    one = pairs.assign(seed=3)
    t, _ = codec_distances("syn", str(path), one, n_boot=300, seed=1, aggregate="seeds")
    assert (t.ci_method == "bootstrap over pairs").all() and (t.n_seeds == 1).all()  # no words: pair by pair
    assert_no_nan(t)
    # one seed, no words: the numbers of the pooled bootstrap (the earlier behaviour), draw for draw
    tp, _ = codec_distances("syn", str(path), one, n_boot=300, seed=1, aggregate="pooled")
    cols = ["n", "mean", "median", "ci_low", "ci_high", "norm_mean", "norm_ci_low", "norm_ci_high"]
    pd.testing.assert_frame_equal(t[cols], tp[cols])
    # a CI that is a real band around the mean
    assert (t.ci_low < t["mean"]).all() and (t["mean"] < t.ci_high).all()
    # a type present in one seed only, random in two: that type bootstraps (its normalization
    # within its seed), random gets its t-interval over two seeds
    mixed = pd.concat([one, pairs[pairs.pair_type == "random"].iloc[::2].assign(seed=4)], ignore_index=True)
    tm, _ = codec_distances("syn", str(path), mixed, n_boot=300, aggregate="seeds")
    g = tm[tm.layer == 1].set_index("pair_type")
    assert g.loc["synonym", "ci_method"] == "bootstrap over pairs" and g.loc["synonym", "n_seeds"] == 1
    assert g.loc["random", "ci_method"] == "t over seeds" and g.loc["random", "n_seeds"] == 2
    rnd3 = mixed[(mixed.pair_type == "random") & (mixed.seed == 3)]
    with h5py.File(path, "r") as h:
        f = h["pooled/mean"][:]
    syn3 = one[one.pair_type == "synonym"]
    want = (
        pair_distances(f, syn3.token_a.to_numpy(), syn3.token_b.to_numpy())[:, 0].mean()
        - pair_distances(f, rnd3.token_a.to_numpy(), rnd3.token_b.to_numpy())[:, 0].mean()
    )
    assert g.loc["synonym", "norm_mean"] == pytest.approx(want, rel=1e-6)
    assert_no_nan(tm)


def test_distances_cli_aggregate(tmp_path):
    path, pairs = _synthetic(tmp_path, n_words=10)
    pairs = pd.concat([pairs.assign(seed=0), pairs.iloc[::2].assign(seed=1)], ignore_index=True)  # seeds differ
    pairs.to_csv(tmp_path / "p.csv", index=False)
    for agg, method in (("seeds", "t over seeds"), ("pooled", "bootstrap over pairs")):
        out = tmp_path / f"{agg}.csv"
        args = ["--codec", "c", "--features", str(path), "--pairs", str(tmp_path / "p.csv"), "--out", str(out)]
        main([*args, "--n-boot", "50", "--aggregate", agg])
        t = pd.read_csv(out)
        assert list(t.columns) == TABLE_COLUMNS and (t.ci_method == method).all() and (t.n_seeds == 2).all()


def test_word_type_means_known_answer():
    from codecprobe.distances import word_type_means

    d = np.array([[1.0, 10], [3.0, 30], [5.0, 50], [7.0, 70], [2.0, 20]])
    reps = np.array([0, 0, 0, 1, 0])
    wa = np.array(["big", "big", "large", "big", "big"])
    wb = np.array(["large", "large", "big", "large", "huge"])
    means, r, n, first = word_type_means(d, reps, wa, wb)
    # groups sorted by (rep, a, b): (0,big,huge) (0,big,large) (0,large,big) (1,big,large)
    np.testing.assert_array_equal(means, [[2, 20], [2, 20], [5, 50], [7, 70]])
    np.testing.assert_array_equal(r, [0, 0, 0, 1])
    np.testing.assert_array_equal(n, [1, 2, 1, 1])
    np.testing.assert_array_equal(first, [4, 0, 2, 3])  # each group's first token pair in the input
    m0, r0, n0, f0 = word_type_means(np.zeros((0, 2)), np.zeros(0, int), np.zeros(0, str), np.zeros(0, str))
    assert m0.shape == (0, 2) and len(r0) == 0 and len(n0) == 0 and len(f0) == 0


def test_aggregate_word_types_known_answer(tmp_path):
    # 1-d, one layer: token i sits at values[i]; distances are differences
    path = _features_file(tmp_path, [0, 1, 0, 4, 0, 2, 0, 6, 0, 10])
    rows = [  # seed, type, a, b, word_a, word_b
        *[(0, "synonym", 0, 1, "x", "y")] * 3,  # word pair x->y: three token pairs at 1
        (0, "synonym", 2, 3, "x", "z"),  # x->z: one at 4
        (1, "synonym", 4, 5, "x", "y"),  # seed 1: x->y at 2
        *[(1, "synonym", 6, 7, "y", "x")] * 2,  # y->x (the other order: its own word pair) at 6
        (0, "random", 8, 9, "p", "q"),  # random: 10 in both seeds
        (1, "random", 8, 9, "p", "q"),
    ]
    pairs = pd.DataFrame(rows, columns=["seed", "pair_type", "token_a", "token_b", "word_a", "word_b"])
    t, _ = codec_distances("toy", path, pairs, n_boot=100, aggregate="word_types")
    syn = t.set_index("pair_type").loc["synonym"]
    per_seed = np.array([(1 + 4) / 2, (2 + 6) / 2])  # word pairs weigh the same: 2.5 and 4
    assert syn["mean"] == pytest.approx(per_seed.mean())  # 3.25; token-pair means would give 1.75, 4.67
    half = stats.t.ppf(0.975, 1) * per_seed.std(ddof=1) / np.sqrt(2)
    assert (syn.ci_low, syn.ci_high) == pytest.approx((3.25 - half, 3.25 + half))
    assert syn.norm_mean == pytest.approx(3.25 - 10)
    assert syn.rel_mean == pytest.approx(((2.5 / 10 - 1) + (4 / 10 - 1)) / 2)
    assert syn["n"] == 7 and syn["n_seeds"] == 2  # n counts token pairs
    assert syn["median"] == pytest.approx(np.median([1, 4, 2, 6]))  # over word-type pairs' means
    # random: the same one pair in both seeds (one replicate, no width): said, widening nothing
    assert syn["ci_method"] == "t over seeds; normalized: t over seeds + bootstrap over word types"
    assert syn["aggregation"] == "word_types"
    # the default (seeds) weighs token pairs: seed 0 (3 + 4) / 4, seed 1 (2 + 12) / 3
    ts, _ = codec_distances("toy", path, pairs, n_boot=100, aggregate="seeds")
    assert ts.set_index("pair_type").loc["synonym", "mean"] == pytest.approx((7 / 4 + 14 / 3) / 2)
    # one seed: the bootstrap is over word types
    t1, _ = codec_distances("toy", path, pairs[pairs.seed == 0], n_boot=100, aggregate="word_types")
    assert (t1.ci_method == "bootstrap over word types").all()
    assert t1.set_index("pair_type").loc["synonym", "mean"] == pytest.approx(2.5)
    with pytest.raises(CodecprobeError, match="word_a"):
        codec_distances("toy", path, pairs.drop(columns="word_a"), aggregate="word_types")


def test_word_type_pairs_are_keyed_by_both_words(tmp_path):
    """x->y and w->y are two word-type pairs (a key on word_b alone would merge them)."""
    path = _features_file(tmp_path, [0, 1, 0, 4, 0, 10])
    rows = [*[(0, "synonym", 0, 1, "x", "y")] * 3, (0, "synonym", 2, 3, "w", "y"), (0, "random", 4, 5, "p", "q")]
    pairs = pd.DataFrame(rows, columns=["seed", "pair_type", "token_a", "token_b", "word_a", "word_b"])
    t, _ = codec_distances("toy", path, pairs, n_boot=50, aggregate="word_types")
    assert t.set_index("pair_type").loc["synonym", "mean"] == pytest.approx((1 + 4) / 2)  # not (1 + 1 + 1 + 4) / 4


def test_over_speakers(tmp_path):
    path = _features_file(tmp_path, [0, 1, 0, 3, 0, 5, 0, 9])
    rows = [  # speaker, type, a, b: speaker s1 synonym 1, random 5; s2 synonym 3, random 9
        ("s1", "synonym", 0, 1), ("s1", "random", 4, 5), ("s2", "synonym", 2, 3), ("s2", "random", 6, 7),
    ]  # fmt: skip
    pairs = pd.DataFrame(rows, columns=["speaker_a", "pair_type", "token_a", "token_b"])
    pairs = pairs.assign(speaker_b=pairs.speaker_a, seed=0, word_a="w", word_b="v")
    t, _ = codec_distances("toy", path, pairs, n_boot=100, over="speaker", aggregate="seeds")
    syn = t.set_index("pair_type").loc["synonym"]
    half = stats.t.ppf(0.975, 1) * np.std([1.0, 3.0], ddof=1) / np.sqrt(2)
    assert syn["mean"] == pytest.approx(2.0) and (syn.ci_low, syn.ci_high) == pytest.approx((2 - half, 2 + half))
    assert syn.norm_mean == pytest.approx(((1 - 5) + (3 - 9)) / 2)
    assert syn["n_seeds"] == 2 and syn["ci_method"] == "t over speakers"
    # the same table over seeds has one seed: bootstrap over word types, or pairs without words
    t0, _ = codec_distances("toy", path, pairs, n_boot=100, aggregate="seeds")
    assert (t0.ci_method == "bootstrap over word types").all() and (t0.n_seeds == 1).all()
    t0, _ = codec_distances("toy", path, pairs.drop(columns=["word_a", "word_b"]), n_boot=100, aggregate="seeds")
    assert (t0.ci_method == "bootstrap over pairs").all()
    crossed = pairs.assign(speaker_b=["s2", "s1", "s2", "s2"])
    with pytest.raises(CodecprobeError, match="within one speaker"):
        codec_distances("toy", path, crossed, over="speaker", aggregate="seeds")
    with pytest.raises(CodecprobeError, match="replicate"):
        codec_distances("toy", path, pairs, over="utterance", aggregate="seeds")


def test_fig2_title_says_how_the_bands_are_made():
    from codecprobe.figures import band_text

    assert band_text("t over speakers") == "mean over speakers, 95% t-interval over speakers"
    assert band_text("t over seeds") == "mean over seeds, 95% t-interval over seeds"
    assert band_text("bootstrap over word pairs") == "mean, 95% bootstrap CI over word pairs"
    assert band_text("t over seeds; normalized: bootstrap over pairs") == (
        "mean over seeds, 95% t-interval over seeds; normalized: mean, 95% bootstrap CI over pairs"
    )
    assert band_text("t over seeds + bootstrap over word types") == (
        "mean over seeds, 95% t-interval over seeds, widened by the 95% bootstrap CI over word types"
    )


def test_relative_distance_one_seed_and_zero_random(tmp_path):
    rng = np.random.default_rng(5)
    x = {"random": rng.normal(4.0, 0.5, (400, 2)), "synonym": rng.normal(3.0, 0.5, (300, 2))}
    t = summarize(x, n_boot=300, seed=2).set_index(["pair_type", "layer"])
    row = t.loc[("synonym", 1)]
    assert row.rel_mean == pytest.approx(x["synonym"][:, 0].mean() / x["random"][:, 0].mean() - 1)
    assert row.rel_ci_low < row.rel_mean < row.rel_ci_high and -0.35 < row.rel_mean < -0.15
    # the bootstrap ratio's interval: about the delta-method half-width
    sd = row.rel_mean + 1
    se = sd * np.sqrt((0.5 / 3.0) ** 2 / 300 + (0.5 / 4.0) ** 2 / 400)
    assert (row.rel_ci_high - row.rel_ci_low) / 2 == pytest.approx(1.96 * se, rel=0.2)
    assert t.loc[("random", 2), "rel_mean"] == 0
    z = summarize({"random": np.zeros((5, 1)), "synonym": np.ones((5, 1))}, n_boot=100)
    assert np.isnan(z.set_index("pair_type").loc["synonym", "rel_mean"])  # x / 0: NaN, as README says (was inf)
    assert np.isnan(z.set_index("pair_type").loc["random", "rel_mean"])  # 0 / 0


def test_split_first_layer_known_answer(tmp_path):
    """Two layers, 1-d: layer 1 (accumulated) at u, layer 2 at u + v, so layers 2..k
    without layer 1 are v: the split's distances are |du| and |dv|, all layers |du + dv|."""
    u = np.array([0.0, 1.0, 0.0, 5.0, 0.0, 2.0])
    v = np.array([0.0, 10.0, 0.0, -1.0, 0.0, 30.0])
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as h:
        h["tokens/token_id"] = np.arange(6)
        h["pooled/mean"] = np.stack([u, u + v], axis=1).reshape(6, 2, 1).astype(np.float32)
        h.attrs["random_weights"] = True
    pairs = pd.DataFrame({"seed": [0, 0, 0], "pair_type": ["synonym", "near_homophone", "random"],
                          "token_a": [0, 2, 4], "token_b": [1, 3, 5]})  # fmt: skip
    plain, _ = codec_distances("mimi", str(path), pairs, n_boot=50, aggregate="seeds")
    t, _ = codec_distances("mimi", str(path), pairs, n_boot=50, split_first=True, aggregate="seeds")
    got = {(r.variant, r.pair_type, r.layer): r["mean"] for _, r in t.iterrows()}
    assert got[("layer1_only", "synonym", 1)] == pytest.approx(1) and got[("without_layer1", "synonym", 2)] == pytest.approx(10)
    assert got[("layer1_only", "near_homophone", 1)] == pytest.approx(5)
    assert got[("without_layer1", "near_homophone", 2)] == pytest.approx(1)
    assert got[("accumulated", "near_homophone", 2)] == pytest.approx(4)  # |5 - 1|
    assert got[("without_layer1", "random", 2)] == pytest.approx(30)
    n = t[(t.variant == "without_layer1") & (t.pair_type == "near_homophone")]
    assert n.norm_mean.iloc[0] == pytest.approx(1 - 30) and n.rel_mean.iloc[0] == pytest.approx(1 / 30 - 1)
    # the accumulated rows are those without the split, number for number
    acc = t[t.variant == "accumulated"].reset_index(drop=True)
    pd.testing.assert_frame_equal(acc, plain)
    assert (plain.variant == "accumulated").all() and list(t.columns) == TABLE_COLUMNS
    # centroid pooling does not commute with the sum over layers: no split
    with h5py.File(path, "a") as h:
        h["pooled/centroid"] = h["pooled/mean"][:]
    tc, _ = codec_distances("mimi", str(path), pairs, n_boot=50, pooling="centroid", split_first=True, aggregate="seeds")
    assert set(tc.variant) == {"accumulated"}


def test_fig2_split_draws_only_split_rows(tmp_path):
    from codecprobe.figures import fig2_split

    path, pairs = _synthetic(tmp_path, n_words=10)
    t, _ = codec_distances("mimi", str(path), pairs.assign(seed=0), n_boot=50, split_first=True, aggregate="seeds")
    fig2_split(t, str(tmp_path / "s.pdf"), str(tmp_path / "s.png"), "note")
    assert (tmp_path / "s.png").stat().st_size > 5000
    from codecprobe import figures

    drawn = {}
    real_save = figures.save_figure
    figures.save_figure = lambda fig, pdf, png: drawn.setdefault("fig", fig)
    try:
        fig2(t, str(tmp_path / "f.pdf"), str(tmp_path / "f.png"))  # Fig. 2 draws the accumulated rows only
    finally:
        figures.save_figure = real_save
    lines = drawn["fig"].axes[0].get_lines()
    assert lines and all(list(ln.get_xdata()) == [1, 2, 3] for ln in lines)
    with pytest.raises(CodecprobeError, match="split"):
        fig2_split(t[t.variant == "accumulated"], str(tmp_path / "x.pdf"), str(tmp_path / "x.png"))


def test_fig2_relative_bottom_row(tmp_path):
    from codecprobe import figures

    path, pairs = _synthetic(tmp_path, n_words=10)
    t, _ = codec_distances("syn", str(path), pairs.assign(seed=0), n_boot=50, aggregate="seeds")
    drawn = []
    real_save = figures.save_figure
    figures.save_figure = lambda fig, pdf, png: drawn.append(fig)
    try:
        fig2(t, "a.pdf", "a.png", normalized="relative")
        fig2(t, "b.pdf", "b.png")
    finally:
        figures.save_figure = real_save
    syn = t[t.pair_type == "synonym"].sort_values("layer")
    rel = {ln.get_label(): list(ln.get_ydata()) for ln in drawn[0].axes[1].get_lines()}
    diff = {ln.get_label(): list(ln.get_ydata()) for ln in drawn[1].axes[1].get_lines()}
    assert rel["synonym"] == pytest.approx(list(100 * syn.rel_mean))
    assert diff["synonym"] == pytest.approx(list(syn.norm_mean))
    assert drawn[0].axes[1].get_ylabel() == "distance / random - 1 (%)"
    with pytest.raises(CodecprobeError, match="forcerun distances"):
        fig2(t.drop(columns=["rel_mean", "rel_ci_low", "rel_ci_high"]), "c.pdf", "c.png", normalized="relative")
    with pytest.raises(CodecprobeError, match="not one of"):
        fig2(t, "c.pdf", "c.png", normalized="ratio")


def test_type_in_more_seeds_than_random_is_normalized_over_the_common_seeds(caplog):
    """Synonym pairs from seeds 0, 1, 2 and random pairs from 0 and 1 only: the type's own
    interval is over its three seeds, its normalized one over the two seeds both have."""
    from scipy import stats

    syn = {0: [1.0, 2.0], 1: [4.0, 6.0], 2: [10.0]}
    rnd = {0: [0.5, 0.5], 1: [1.0, 3.0]}
    dist = {
        "synonym": np.array([v for s in syn for v in syn[s]])[:, None],
        "random": np.array([v for s in rnd for v in rnd[s]])[:, None],
    }
    seeds = {"synonym": np.array([s for s in syn for _ in syn[s]]), "random": np.array([s for s in rnd for _ in rnd[s]])}
    with caplog.at_level("WARNING"):
        row = summarize(dist, n_boot=50, seeds=seeds).set_index("pair_type").loc["synonym"]
    means = np.array([1.5, 5.0, 10.0])
    assert row["mean"] == pytest.approx(means.mean()) and row.n_seeds == 3
    assert row.ci_high - row["mean"] == pytest.approx(stats.t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3))
    nm = np.array([1.5 - 0.5, 5.0 - 2.0])  # seeds 0 and 1
    assert row.norm_mean == pytest.approx(nm.mean())
    assert row.norm_ci_high - row.norm_mean == pytest.approx(stats.t.ppf(0.975, 1) * nm.std(ddof=1) / np.sqrt(2))
    assert row.ci_method == "t over seeds"
    assert "synonym: 3 seed(s) with pairs, 2 with random pairs too" in caplog.text


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_load_pooled_same_values_without_a_second_copy(tmp_path, dtype):
    """load_pooled gives the values of ``ds[:].astype(float32)`` (what it did before), and a
    float32 file is read without a second full copy (DAC's features are 4.3 GB at paper scale)."""
    import tracemalloc

    from codecprobe.distances import load_pooled

    rng = np.random.default_rng(0)
    feats = rng.standard_normal((2000, 8, 64)).astype(dtype)  # 4 MB in float32
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as h:
        h["tokens/token_id"] = np.arange(2000) * 3
        h["pooled/mean"] = feats
        h.attrs["random_weights"] = True
    tracemalloc.start()
    ids, got, attrs = load_pooled(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    with h5py.File(path, "r") as h:
        before = h["pooled/mean"][:].astype(np.float32)
    assert got.dtype == np.float32 and got.shape == before.shape
    np.testing.assert_array_equal(got, before)
    np.testing.assert_array_equal(ids, np.arange(2000) * 3)
    assert bool(attrs["random_weights"])
    n32 = before.nbytes
    # float32: one array (the copy made it 2x); float16: the file's half-size array + the float32 one
    assert peak < (1.25 if dtype == "float32" else 1.75) * n32, peak / n32


def test_seeds_with_the_same_pairs_in_another_order_are_one_replicate():
    """float64 distances of the same pairs in another row order per seed: the means differ in
    the last bits, and exact equality read them as two replicates, giving a t-interval of
    zero width (5e-15) instead of the one-replicate bootstrap (before session 22)."""
    rng = np.random.default_rng(7)
    x = rng.random((200, 3)) * np.array([1e3, 1.0, 1e-3]) + np.pi
    order = rng.permutation(200)
    dist = {"random": np.concatenate([x, x[order]])}
    seeds = {"random": np.repeat([0, 1], 200)}
    assert not np.array_equal(x.mean(axis=0), x[order].mean(axis=0))  # the rounding this test is about
    t = summarize(dist, n_boot=200, seeds=seeds)
    assert (t["ci_method"] == "bootstrap over pairs (every seed the same)").all()
    assert (t.ci_high - t.ci_low > 1e-9 * t["mean"]).all()  # a bootstrap's width, not 5e-15


def test_replicates_repairing_the_same_tokens_are_warned(caplog):
    """Seeds that pair the same tokens differently (random pairs when every seed takes every
    token): their t-interval shows the pairing's spread only, and the log says so; seeds
    with the same pairs (one replicate, bootstrapped) or disjoint tokens are not warned."""
    from codecprobe.distances import warn_overlapping_replicates

    toks = np.arange(20)
    rows = []
    for s in range(3):
        perm = np.random.default_rng(s).permutation(toks)
        rows += [(s, "random", a, b) for a, b in zip(perm[::2], perm[1::2])]  # every token, paired anew
        rows += [(s, "synonym", 0, 1), (s, "synonym", 2, 3)]  # the same pairs in every seed
        rows += [(s, "near_homophone", 100 + 2 * s, 101 + 2 * s)]  # other tokens in every seed
    pairs = pd.DataFrame(rows, columns=["seed", "pair_type", "token_a", "token_b"])
    with caplog.at_level(logging.WARNING, logger="codecprobe"):
        assert warn_overlapping_replicates(pairs, "seed", "toy") == {"random": 1.0}
    assert "toy: random: its 3 seeds share 100 % or more of their tokens" in caplog.text


def test_a_non_finite_distance_is_warned_and_no_pair_left_is_an_error(tmp_path, caplog):
    """A pair with a non-finite distance at one layer is left out at every layer (each
    layer's mean over the same pairs), with a warning naming the layer; no pair left at all
    (no token with features) is a clear error, not a KeyError."""
    path = tmp_path / "nan.h5"
    feats = np.arange(12, dtype=np.float32).reshape(6, 2, 1)
    feats[2, 0, 0] = np.nan  # token 2, layer 1
    with h5py.File(path, "w") as h:
        h["tokens/token_id"] = np.arange(6)
        h["pooled/mean"] = feats
    pairs = pd.DataFrame({"seed": 0, "pair_type": ["synonym", "synonym", "random", "random"],
                          "token_a": [0, 2, 4, 1], "token_b": [1, 3, 5, 4]})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="codecprobe"):
        t, counts = codec_distances("toy", str(path), pairs, n_boot=20, aggregate="seeds")
    assert counts["dropped: non-finite distance (synonym)"] == 1
    assert "toy: synonym: 1 of 2 pairs have a non-finite distance (at layer(s) 1) and are left out at every layer" in caplog.text
    assert (t[t.pair_type == "synonym"]["n"] == 1).all()
    with pytest.raises(CodecprobeError, match="toy: no pair left to measure \\(4 in the pairs table"):
        codec_distances("toy", str(path), pairs.assign(token_a=pairs.token_a + 100), n_boot=20, aggregate="seeds")


def test_bootstrap_memory_stays_within_its_chunk():
    """The row bootstrap gathers ``[draws, P, K]`` values a chunk at a time: with P = 20,000
    pairs and K = 32 layers, 100 draws peak well under the 512 MB that gathering them at
    once took (the chunk counted draws x pairs, not x layers)."""
    import tracemalloc

    x = np.random.default_rng(0).normal(size=(20000, 32))
    tracemalloc.start()
    out = bootstrap_means(x, 100, np.random.default_rng(1))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.shape == (100, 32) and peak < 300e6, peak / 1e6


def test_replicates_sharing_exactly_the_warning_share_of_tokens_are_warned(caplog):
    """The warning holds at the threshold itself (``>=``): seed 0 pairs tokens 0-9, seed 1
    pairs 0-8 differently, a Jaccard overlap of 9 / 10 = 0.9 = OVERLAP_WARN exactly."""
    from codecprobe.distances import OVERLAP_WARN, warn_overlapping_replicates

    assert 9 / 10 == OVERLAP_WARN
    rows = [(0, "random", a, a + 1) for a in range(0, 10, 2)]  # tokens 0..9
    rows += [(1, "random", a, a + 1) for a in range(1, 8, 2)] + [(1, "random", 0, 8)]  # tokens 0..8
    pairs = pd.DataFrame(rows, columns=["seed", "pair_type", "token_a", "token_b"])
    with caplog.at_level(logging.WARNING, logger="codecprobe"):
        assert warn_overlapping_replicates(pairs, "seed", "toy") == {"random": 0.9}
    assert "toy: random: its 2 seeds share 90 % or more of their tokens" in caplog.text


def test_replicate_overlap_is_the_smallest_over_the_replicates(caplog):
    """With three seeds, the overlap is the smallest Jaccard of a seed's tokens with seed 0's:
    seed 1 holds seed 0's 10 tokens paired anew (1.0), seed 2 keeps 5 of them and adds 5
    new ones (5 / 15 = 1/3): below the threshold, no warning (the largest would warn)."""
    from codecprobe.distances import warn_overlapping_replicates

    rows = [(0, "random", a, a + 1) for a in range(0, 10, 2)]  # tokens 0..9
    rows += [(1, "random", a, (a + 3) % 10) for a in range(0, 10, 2)]  # tokens 0..9, other pairs
    rows += [(2, "random", a, 100 + a) for a in range(5)]  # tokens 0..4 and 100..104
    pairs = pd.DataFrame(rows, columns=["seed", "pair_type", "token_a", "token_b"])
    with caplog.at_level(logging.WARNING, logger="codecprobe"):
        assert warn_overlapping_replicates(pairs, "seed", "toy") == {}
        assert warn_overlapping_replicates(pairs[pairs.seed < 2], "seed", "toy") == {"random": 1.0}
    assert caplog.text.count("share 100 % or more") == 1


def test_pairs_benchmark_runs_small():
    """``benchmarks/pairs.py`` at a small size: both vectorized variants agree with the loop
    (it asserts so) and it prints each timing with its speed-up and peak memory."""
    import re
    import subprocess
    import sys

    from conftest import REPO

    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "pairs.py"), "--tokens", "500", "--pairs", "2000", "--dim", "32",
                        "--repeat", "2"], capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("16,000 pair-layer distances (2,000 pairs x 8 layers, 32-d"), r.stdout
    assert re.search(r"^loop \(1 run\) +[\d.]+ s  peak +[\d.]+ MiB$", r.stdout, re.MULTILINE), r.stdout
    speedups = re.findall(r"^vectorized, (?:1 thread|\d+ threads \(default\)) .* speed-up +([\d.]+)x \(target >= 20x\)  \[runs: [\d.]+, [\d.]+ s\]$",
                          r.stdout, re.MULTILINE)  # fmt: skip
    assert len(speedups) == 2 and all(float(x) > 0 for x in speedups), r.stdout


def test_the_clis_name_a_table_they_cannot_use(tmp_path):
    """By hand: a pairs table without token_b, a distance table with text among its means."""
    from codecprobe.figures import main as figures_main

    path, pairs = _synthetic(tmp_path, n_words=10)
    pairs.drop(columns="token_b").to_parquet(tmp_path / "p.parquet")
    argv = ["--codec", "syn", "--features", str(path), "--pairs", str(tmp_path / "p.parquet"), "--out", str(tmp_path / "d.csv")]
    with pytest.raises(CodecprobeError, match=r"p.parquet: no column\(s\) token_b"):
        main(argv)
    t, _ = codec_distances("syn", str(path), pairs, n_boot=20, aggregate="seeds")
    t["mean"] = t["mean"].astype(object)
    t.loc[3, "mean"] = "n/a"
    t.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"t.csv: column mean holds text where numbers belong \(row 4: 'n/a'\)"):
        figures_main(["--tables", str(tmp_path / "t.csv"), "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")])
    assert not (tmp_path / "f.png").exists()
    t["mean"] = t["mean"].replace({"n/a": 1.0}).astype(float)
    t.to_csv(tmp_path / "t.csv", index=False)
    fig = ["--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")]
    with pytest.raises(CodecprobeError, match=r"codec 'syn', layer 1, .* twice: each codec's table once"):
        figures_main(["--tables", str(tmp_path / "t.csv"), str(tmp_path / "t.csv"), *fig])
    t.iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"empty.csv: no rows to draw"):
        figures_main(["--tables", str(tmp_path / "empty.csv"), *fig])
    t2 = t.assign(codec="cos", metric="cosine")
    t2.to_csv(tmp_path / "t2.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"more than one metric \(cosine: cos; euclidean: syn\): one figure draws one metric"):
        figures_main(["--tables", str(tmp_path / "t.csv"), str(tmp_path / "t2.csv"), "--combined", str(tmp_path / "c.csv"), *fig])
    assert not (tmp_path / "c.csv").exists() and not (tmp_path / "f.png").exists()
    figures_main(["--tables", str(tmp_path / "t.csv"), *fig])
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_word_bootstrap_counts_a_same_word_pair_as_often_as_its_word():
    """A pair within one word type is that word's own value: drawn c times, it counts c
    times, not c^2 (the same-word interval was 1.65 x too wide: sd 0.075 against 0.046)."""
    from codecprobe.distances import word_bootstrap_means, word_draws

    n = 400
    x = np.random.default_rng(1).normal(size=(n, 1))  # one (w, w) word-type pair per word
    ids = np.arange(n)
    draws = word_draws(n, 2000, np.random.default_rng(2))
    b = word_bootstrap_means(x, ids, ids, draws)[:, 0]
    by_hand = (draws @ x)[:, 0] / draws.sum(axis=1)  # each word counted as often as drawn
    np.testing.assert_allclose(b, by_hand, rtol=1e-12)
    assert b.std() == pytest.approx(x.std() / np.sqrt(n), rel=0.1)  # the plain standard error
    # pairs of two words still count c_a * c_b times
    ia, ib = np.array([0, 1, 2]), np.array([1, 2, 2])
    xs = np.array([[1.0], [2.0], [4.0]])
    c = np.array([[2, 3, 1]])
    assert word_bootstrap_means(xs, ia, ib, c)[0, 0] == pytest.approx((6 * 1 + 3 * 2 + 1 * 4) / (6 + 3 + 1))


def test_standardize_keeps_a_nan_to_its_own_token():
    """One NaN in one token's features turned that dimension NaN for every token when
    standardized: every pair's distance NaN, the stage stopped."""
    from codecprobe.distances import standardize

    rng = np.random.default_rng(0)
    f = rng.normal(size=(8, 2, 3))
    f[2, 0, 0] = np.nan
    z = standardize(f)
    assert np.isnan(z).sum() == 1 and np.isnan(z[2, 0, 0])
    ok = np.delete(f[:, 0, 0], 2)
    np.testing.assert_allclose(np.delete(z[:, 0, 0], 2), (ok - ok.mean()) / ok.std())
    np.testing.assert_allclose(z[:, 1], (f[:, 1] - f[:, 1].mean(0)) / f[:, 1].std(0))


def test_a_zero_width_word_bootstrap_is_warned(caplog):
    """Synonym pairs that all join the same two words (big -> large, large -> big): every
    resample of the words gives the same mean, an interval of zero width, which was not
    logged (the warning counted words, and there are two)."""
    from codecprobe.distances import word_ids

    rng = np.random.default_rng(0)
    wa = ["big"] * 3 + ["large"] * 3 + [f"w{i}" for i in range(8)]
    wb = ["large"] * 3 + ["big"] * 3 + [f"w{i + 1}" for i in range(8)]
    ia, ib, _ = word_ids(wa, wb)
    d = rng.uniform(1, 5, size=(14, 1))
    types = np.array(["synonym"] * 6 + ["random"] * 8)
    dist = {t: d[types == t] for t in ("random", "synonym")}
    words = {t: (ia[types == t], ib[types == t]) for t in dist}
    with caplog.at_level("WARNING", logger="codecprobe.distances"):
        out = summarize(dist, n_boot=200, words=words, boot_over="word types").set_index("pair_type")
    syn = out.loc["synonym"]
    assert syn.ci_low == pytest.approx(d[:6].mean(), rel=1e-12) and syn.ci_high == pytest.approx(d[:6].mean(), rel=1e-12)
    assert "synonym, seed 0: every resample of the words gives the same mean (its pairs join 2 words): a zero-width interval" in caplog.text
    assert "random, seed 0: every resample" not in caplog.text


def test_a_random_mean_of_zero_gives_nan_relative_columns():
    """README: rel_* is NaN where the random pairs' mean is 0 (x / 0 gave +inf)."""
    dist = {"random": np.zeros((4, 1)), "synonym": np.full((4, 1), 2.0)}
    out = summarize(dist, n_boot=50).set_index("pair_type")
    assert np.isnan(out.loc["synonym", ["rel_mean", "rel_ci_low", "rel_ci_high"]].astype(float)).all()
    assert out.loc["synonym", "norm_mean"] == 2.0
