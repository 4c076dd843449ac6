import h5py
import numpy as np
import pandas as pd
import pytest

from codecprobe.distances import bootstrap_means, codec_distances, pair_distances, standardize, summarize
from codecprobe.figures import fig2
from codecprobe.io import CodecprobeError


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


def test_standardize():
    f = np.random.default_rng(0).normal(3, 2, size=(500, 2, 4))
    z = standardize(f)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-12)


def test_bootstrap_matches_normal_theory():
    x = np.random.default_rng(1).normal(0, 1, size=(4000, 1))
    m = bootstrap_means(x, 2000, np.random.default_rng(2), chunk=10**6)
    assert m.std() == pytest.approx(1 / np.sqrt(4000), rel=0.1)


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
    t, counts = codec_distances("syn", str(path), pairs, n_boot=500)
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
    assert syn.ci_low <= syn["mean"] <= syn.ci_high
    assert 5.5 < syn["mean"] < 6.6


def test_ci_covers_true_mean_in_most_repeats(tmp_path):
    """Coverage check: 95% bootstrap CI of a known mean, 40 independent repeats."""
    hits = 0
    for s in range(40):
        x = np.random.default_rng(100 + s).exponential(2.0, size=(300, 1))
        t = summarize({"random": x}, n_boot=400, seed=s)
        hits += t.ci_low[0] <= 2.0 <= t.ci_high[0]
    assert hits >= 34  # 95% nominal; binomial(40, .95) >= 34 with prob > 0.99


def test_missing_tokens_dropped_and_counted(tmp_path):
    path, pairs = _synthetic(tmp_path, n_words=10)
    extra = pd.DataFrame({"pair_type": ["synonym", "random"], "token_a": [0, 99999], "token_b": [88888, 1]})
    t, counts = codec_distances("syn", str(path), pd.concat([pairs, extra]), n_boot=100)
    assert counts["dropped: token without features"] == 2
    assert not t.isna().any().any()


def test_fig2_writes_files(tmp_path):
    path, pairs = _synthetic(tmp_path, n_words=10)
    t, _ = codec_distances("syn", str(path), pairs, n_boot=100)
    t2 = t.assign(codec="syn2", random_weights=True)
    fig2(pd.concat([t, t2]), str(tmp_path / "f.pdf"), str(tmp_path / "f.png"), "note")
    assert (tmp_path / "f.pdf").stat().st_size > 1000 and (tmp_path / "f.png").stat().st_size > 1000


def test_bad_features_file(tmp_path):
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(CodecprobeError, match="cannot read features"):
        codec_distances("c", str(tmp_path / "x.h5"), pd.DataFrame(columns=["pair_type", "token_a", "token_b"]))
