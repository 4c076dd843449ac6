"""CKA: reference values, invariances, debiasing, the fast permutation null and the gap bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from codecprobe.cka import (
    cka_gap_bootstrap,
    cka_gram,
    cka_permutation,
    debiased_cka,
    draw_permutation,
    gram_linear,
    gram_rbf,
    hsic,
    linear_cka,
    linear_cka_gram,
    permutation_null,
    permutation_p_value,
    prepare_gram,
    rbf_cka,
)
from codecprobe.io import CodecprobeError


def reference_data():
    """Kornblith et al.'s demo notebook data."""
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    y = np.random.randn(100, 10) + x
    return x, y


def related(rng: np.random.Generator, n: int = 300, dx: int = 40, dy: int = 30, k: int = 5, noise: float = 1.0):
    z = rng.standard_normal((n, k))
    return (
        z @ rng.standard_normal((k, dx)) + noise * rng.standard_normal((n, dx)),
        z @ rng.standard_normal((k, dy)) + noise * rng.standard_normal((n, dy)),
    )


def orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


ALL = {
    "linear": linear_cka,
    "debiased": debiased_cka,
    "rbf": rbf_cka,
}


# ---------------------------------------------------------------- reference values


def test_reference_values_of_the_notebook():
    x, y = reference_data()
    assert abs(linear_cka(x, y) - 0.55761) < 1e-5
    assert abs(rbf_cka(x, y, sigma_frac=0.5) - 0.65483) < 1e-5
    assert abs(debiased_cka(x, y) - 0.51346) < 1e-5
    # the bandwidth convention matters at 1e-3: median over the pairs only, diagonal left out
    assert abs(rbf_cka(x, y, 0.5, include_diagonal=False) - 0.65401) < 1e-5


def test_feature_and_gram_forms_agree():
    rng = np.random.default_rng(0)
    x, y = related(rng)
    k, l = gram_linear(x), gram_linear(y)
    assert abs(linear_cka(x, y) - linear_cka_gram(k, l)) < 1e-10
    assert abs(debiased_cka(x, y) - cka_gram(k, l, debiased=True)) < 1e-10


def test_hsic_against_the_textbook_formulas():
    """Biased: tr(KHLH) / (n-1)^2 with an explicit H; unbiased: Song et al. (2007), eq. 5, written out."""
    rng = np.random.default_rng(1)
    x, y = related(rng, n=60)
    k, l = gram_rbf(x), gram_linear(y)
    n = len(k)
    h = np.eye(n) - 1.0 / n
    assert abs(hsic(k, l) - np.trace(k @ h @ l @ h) / (n - 1) ** 2) < 1e-10 * abs(hsic(k, l))
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    song = (
        np.trace(kt @ lt)
        + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ kt @ lt @ one)
    ) / (n * (n - 3))
    assert abs(hsic(k, l, unbiased=True) - song) < 1e-10 * abs(song)


# ---------------------------------------------------------------- invariances


@pytest.mark.parametrize("name", list(ALL))
def test_self_similarity_is_one(name):
    x, _ = related(np.random.default_rng(2))
    assert abs(ALL[name](x, x) - 1.0) < 1e-10


@pytest.mark.parametrize("name", list(ALL))
def test_invariant_to_orthogonal_maps_and_isotropic_scaling(name):
    rng = np.random.default_rng(3)
    x, y = related(rng)
    base = ALL[name](x, y)
    qx, qy = orthogonal(rng, x.shape[1]), orthogonal(rng, y.shape[1])
    assert abs(ALL[name](x @ qx, y) - base) < 1e-10
    assert abs(ALL[name](x, y @ qy) - base) < 1e-10
    assert abs(ALL[name](7.5 * x, y) - base) < 1e-10
    assert abs(ALL[name](x, 0.01 * y @ qy) - base) < 1e-10
    assert abs(ALL[name](x + 3.0, y - 1.0) - base) < 1e-10  # column centring


def test_not_invariant_to_a_general_invertible_map():
    """Stretching x's features by condition number 1e3 (in a rotated basis) changes CKA by more than 0.05."""
    rng = np.random.default_rng(4)
    x, y = related(rng, n=500, dx=20, dy=20, k=10)
    q = orthogonal(rng, 20)
    m = q @ np.diag(np.logspace(0, 3, 20)) @ q.T  # invertible, cond = 1000
    assert np.linalg.cond(m) == pytest.approx(1000, rel=1e-6)
    assert abs(linear_cka(x @ m, y) - linear_cka(x, y)) > 0.05
    assert abs(debiased_cka(x @ m, y) - debiased_cka(x, y)) > 0.05


def test_debiased_cka_of_independent_data_is_near_zero():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2000, 256)), rng.standard_normal((2000, 64))
    assert abs(debiased_cka(x, y)) < 0.02
    assert linear_cka(x, y) > 0.04  # plain CKA is biased upward, about sqrt(256 * 64) / 2000 = 0.064


# ---------------------------------------------------------------- permutation baseline


@pytest.mark.parametrize(
    "kernel,debiased,slow",
    [
        ("linear", False, linear_cka),
        ("linear", True, debiased_cka),
        ("rbf", False, rbf_cka),
        ("rbf", True, lambda a, b: rbf_cka(a, b, debiased=True)),
    ],
)
def test_fast_null_equals_recomputation_from_features(kernel, debiased, slow):
    rng = np.random.default_rng(6)
    x, y = related(rng, n=150)
    perms = [rng.permutation(len(x)) for _ in range(8)]
    kc, lc = prepare_gram(x, kernel, debiased), prepare_gram(y, kernel, debiased)
    fast = permutation_null(kc, lc, perms)
    np.testing.assert_allclose(fast, [slow(x[p], y) for p in perms], rtol=0, atol=1e-10)


@pytest.mark.parametrize("groups", [None, "types"])
def test_cka_permutation_draws_the_permutations_it_reports(groups):
    rng = np.random.default_rng(7)
    x, y = related(rng, n=120)
    labels = None if groups is None else np.repeat(np.arange(30), 4)
    res = cka_permutation(x, y, 25, np.random.default_rng(11), groups=labels)
    replay = np.random.default_rng(11)
    codes = None if labels is None else labels  # already 0..29
    perms = [draw_permutation(len(x), replay, codes) for _ in range(25)]
    np.testing.assert_allclose(res.null, [linear_cka(x[p], y) for p in perms], rtol=0, atol=1e-10)
    assert abs(res.observed - linear_cka(x, y)) < 1e-10
    assert res.p_value == permutation_p_value(res.observed, res.null)
    assert res.p_value == pytest.approx(1 / 26)  # strongly related: no permutation reaches the observed value


def test_within_group_permutations_stay_in_their_group():
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 7, 200)
    for _ in range(10):
        p = draw_permutation(200, rng, codes)
        assert sorted(p.tolist()) == list(range(200))
        assert np.array_equal(codes[p], codes)
    with pytest.raises(CodecprobeError, match="single word"):
        cka_permutation(*related(rng, n=20), 5, rng, groups=np.arange(20))


def test_p_value_on_a_hand_example():
    # 2 of 4 null values reach 0.5 (0.5 itself counts): (1 + 2) / (1 + 4)
    assert permutation_p_value(0.5, np.array([0.1, 0.5, 0.7, 0.2])) == pytest.approx(0.6)
    assert permutation_p_value(0.9, np.array([0.1, 0.5, 0.7, 0.2])) == pytest.approx(0.2)
    assert permutation_p_value(0.0, np.zeros(9)) == pytest.approx(1.0)


def test_independent_data_gets_a_uniform_looking_p_value_and_a_null_near_plain_cka():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((300, 128)), rng.standard_normal((300, 32))
    res = cka_permutation(x, y, 199, rng)
    assert res.p_value > 0.01
    assert abs(res.gap) < 3 * res.null_sd
    assert res.null_mean > 0.1  # plain CKA's chance level is far from 0 (about sqrt(128 * 32) / 300)


def test_float32_grams_give_the_same_null():
    rng = np.random.default_rng(10)
    x, y = related(rng, n=400)
    perms = [rng.permutation(400) for _ in range(5)]
    a = permutation_null(prepare_gram(x), prepare_gram(y), perms)
    b = permutation_null(prepare_gram(x, dtype=np.float32), prepare_gram(y, dtype=np.float32), perms)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- gap bootstrap


def test_gap_bootstrap_covers_zero_for_independent_data():
    """Without zeroing the pairs of duplicated words the bootstrap gap of this case is about 0.37."""
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((300, 256)), rng.standard_normal((300, 64))
    res = cka_gap_bootstrap(x, y, 60, np.random.default_rng(0), n_perm=5)
    assert res.ci_low < 0 < res.ci_high
    assert res.ci_high - res.ci_low < 0.1
    assert res.values.shape == (60,)


def test_gap_bootstrap_of_related_data_with_groups():
    rng = np.random.default_rng(13)
    x, y = related(rng, n=240, noise=2.0)
    groups = np.repeat(np.arange(60), 4)
    res = cka_gap_bootstrap(x, y, 40, np.random.default_rng(1), n_perm=5, groups=groups)
    assert 0 < res.ci_low <= res.gap <= res.ci_high
    assert abs(res.gap - debiased_cka(x, y)) < 0.1


def _ucentre_reference(g: np.ndarray) -> np.ndarray:
    """U-centring by its formula (Szekely & Rizzo 2014), element by element."""
    n = g.shape[0]
    a = g.copy()
    np.fill_diagonal(a, 0)
    row, total = a.sum(1), a.sum()
    out = np.zeros_like(a)
    for i in range(n):
        for j in range(n):
            if i != j:
                out[i, j] = a[i, j] - row[i] / (n - 2) - row[j] / (n - 2) + total / ((n - 1) * (n - 2))
    return out


def test_resampled_gram_zeroes_every_pair_of_copies_of_one_word():
    """The bootstrap's Gram of a resample: pairs of copies of the same word (not only the
    diagonal) are zeroed before U-centring; copies in any order, groups of 1 to 3 copies."""
    from codecprobe.cka import _masked_ucentre

    rng = np.random.default_rng(21)
    origin = np.array([4, 0, 7, 4, 2, 7, 9, 4, 0, 5])  # words 4 (x3), 0 (x2), 7 (x2), 2, 9, 5
    x = rng.standard_normal((10, 6))
    x[origin == 4] = x[np.flatnonzero(origin == 4)[0]]  # copies have equal rows, as in a resample
    x[origin == 0] = x[np.flatnonzero(origin == 0)[0]]
    x[origin == 7] = x[np.flatnonzero(origin == 7)[0]]
    g = gram_linear(x)
    masked = g.copy()
    copies = origin[:, None] == origin[None, :]
    masked[copies] = 0
    expected = _ucentre_reference(masked)
    expected[copies] = 0  # and zero again after U-centring, which shifts them (diagonal included)
    np.testing.assert_allclose(_masked_ucentre(g.copy(), origin), expected, atol=1e-12)


def test_rbf_gap_bootstrap_on_unrelated_data_covers_zero():
    """Copies' pairs were zeroed before U-centring only; an RBF Gram's entries are all
    positive, so centring moved them to about -0.15 in both Grams, where they aligned in
    the observed CKA and not in the null: on unrelated data every interval lay above 0
    (e.g. [+0.011, +0.039])."""
    rng = np.random.default_rng(12)
    for rep in range(3):
        x, y = rng.standard_normal((200, 32)), rng.standard_normal((200, 16))
        b = cka_gap_bootstrap(x, y, 40, np.random.default_rng(rep), n_perm=5, kernel="rbf")
        assert b.ci_low < 0 < b.ci_high, (rep, b.ci_low, b.ci_high)


def test_bootstrap_needs_permutations_and_float32_nulls_tie():
    """``n_perm = 0`` gave a NaN interval without a word; float32 Grams (above 5,000 word
    types) round by about 1e-7, so a within-group null that equals the observed CKA must
    tie at float32's tolerance (p = 1), not fall to rounding (p was 0.61)."""
    from codecprobe.cka import cka_permutation, tie_tol

    x, y = related(np.random.default_rng(5), n=40)
    with pytest.raises(CodecprobeError, match=r"n_perm must be >= 1 \(the permutations per resample\), got 0"):
        cka_gap_bootstrap(x, y, 5, np.random.default_rng(0), n_perm=0)
    assert tie_tol(np.float64) == 1e-9 and tie_tol(np.float32) == pytest.approx(64 * 2.0**-23)
    rng = np.random.default_rng(3)
    types = np.repeat(np.arange(60), 5)
    text = rng.standard_normal((60, 16))[types]  # the same row for every token of a type
    speech = text @ rng.standard_normal((16, 24)) + 0.3 * rng.standard_normal((300, 24))
    for dt in (np.float64, np.float32):
        for deb in (False, True):
            r = cka_permutation(speech, text, 50, np.random.default_rng(4), groups=types, debiased=deb, dtype=dt)
            assert r.p_value == 1.0, (dt, deb, np.abs(r.null - r.observed).max())


def test_gap_bootstrap_interval_is_the_percentiles_of_its_values():
    rng = np.random.default_rng(22)
    x, y = related(rng, n=60, noise=2.0)
    res = cka_gap_bootstrap(x, y, 30, np.random.default_rng(2), n_perm=3, ci=0.5)
    assert res.ci_low == pytest.approx(np.percentile(res.values, 25))
    assert res.ci_high == pytest.approx(np.percentile(res.values, 75))
    assert res.ci_low < res.ci_high


# ---------------------------------------------------------------- bad input


def test_bad_inputs():
    rng = np.random.default_rng(14)
    x, y = related(rng, n=50)
    bad = x.copy()
    bad[[0, 3], 1] = np.nan
    with pytest.raises(CodecprobeError, match="X: 2 NaN"):
        linear_cka(bad, y)
    with pytest.raises(CodecprobeError, match="rows must be the same words"):
        linear_cka(x, y[:-1])
    with pytest.raises(CodecprobeError, match="constant"):
        debiased_cka(np.ones((50, 3)), y)
    with pytest.raises(CodecprobeError, match="at least 4 words"):
        debiased_cka(x[:3], y[:3])
    with pytest.raises(CodecprobeError, match="not symmetric"):
        linear_cka_gram(rng.standard_normal((5, 5)), np.eye(5))
    with pytest.raises(CodecprobeError, match="kernel"):
        cka_permutation(x, y, 3, rng, kernel="poly")
    with pytest.raises(CodecprobeError, match="sigma_frac"):
        rbf_cka(x, y, sigma_frac=0)
    with pytest.raises(CodecprobeError, match="2-D"):
        linear_cka(x[:, 0], y)


def _vdot_alignment(kc, lc, perm, block_bytes=1 << 20):
    """permuted_alignment as it was before session 15 (block sums by np.vdot, i.e. BLAS)."""
    n = kc.shape[0]
    step = max(1, block_bytes // (n * kc.itemsize))
    return sum(float(np.vdot(kc[np.ix_(perm[s : s + step], perm)], lc[s : s + step])) for s in range(0, n, step))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_block_sums_without_blas_give_the_same_numbers(dtype):
    """The BLAS-free block sums (einsum) give the CKA, nulls and p-values of the vdot ones
    (rounding only: BLAS's own sums already changed with its thread count)."""
    from codecprobe.cka import (
        _frob_dot,
        cka_permutation,
        permuted_alignment,
        prepare_gram,
    )

    rng = np.random.default_rng(3)
    z = rng.standard_normal((600, 8))
    x = z @ rng.standard_normal((8, 300)) + rng.standard_normal((600, 300))
    y = z @ rng.standard_normal((8, 200)) + 2 * rng.standard_normal((600, 200))
    for debiased in (False, True):
        kc, lc = prepare_gram(x, debiased=debiased, dtype=dtype), prepare_gram(y, debiased=debiased, dtype=dtype)
        # on the CKA scale (sums over the product of the norms): float64 to 1e-13, float32 to 1e-6
        tol = 1e-13 if dtype == np.float64 else 1e-6
        norm = np.sqrt(float(np.vdot(kc, kc)) * float(np.vdot(lc, lc)))
        assert abs(_frob_dot(kc, lc) - float(np.vdot(kc, lc))) < tol * norm
        for _ in range(3):
            p = rng.permutation(600)
            for bb in (1 << 14, 1 << 20):  # several blocks, one block
                assert abs(permuted_alignment(kc, lc, p, bb) - _vdot_alignment(kc, lc, p, bb)) < tol * norm
        res = cka_permutation(x, y, 50, np.random.default_rng(0), debiased=debiased, dtype=dtype)
        perms = np.random.default_rng(0)
        old_null = np.array([_vdot_alignment(kc, lc, perms.permutation(600)) / norm for _ in range(50)])
        np.testing.assert_allclose(res.null, old_null, rtol=0, atol=tol)
        np.testing.assert_allclose(res.observed, _vdot_alignment(kc, lc, np.arange(600)) / norm, rtol=0, atol=tol)
        assert res.p_value == (1 + np.count_nonzero(old_null >= res.observed)) / 51


def test_gap_bootstrap_spread_matches_the_spread_over_fresh_samples_of_words():
    """The bootstrap resamples words with replacement, so the sd of its gaps estimates the
    sd of the gap over fresh samples of words from the same population (here 60 draws).
    Resampling without replacement (every resample all words) would leave only the noise
    of the permutation null: about a quarter of it."""
    rng = np.random.default_rng(30)
    wx, wy = rng.standard_normal((5, 40)), rng.standard_normal((5, 30))

    def draw(n: int = 80):
        z = rng.standard_normal((n, 5))
        return z @ wx + 2 * rng.standard_normal((n, 40)), z @ wy + 2 * rng.standard_normal((n, 30))

    fresh = [cka_gap_bootstrap(*draw(), 2, np.random.default_rng(i), n_perm=5).gap for i in range(60)]
    res = cka_gap_bootstrap(*draw(), 200, np.random.default_rng(0), n_perm=5)
    ratio = res.values.std(ddof=1) / np.std(fresh, ddof=1)
    assert 0.6 < ratio < 1.7, ratio


@pytest.mark.parametrize("debiased", [False, True])
def test_within_group_permutation_of_a_side_constant_in_groups_is_a_tie(debiased):
    """100 word types x 5 tokens, the text side the same for every token of a type, speech
    strongly related: permuting speech within types leaves CKA unchanged, so every null value
    is the observed one up to rounding (up to 4e-16 apart) and p must be 1, not whatever the
    rounding gives (before session 22 the debiased case gave 0.16 with these seeds)."""
    rng = np.random.default_rng(3)
    types = np.repeat(np.arange(100), 5)
    text = rng.standard_normal((100, 16))[types]
    speech = text @ rng.standard_normal((16, 24)) + 0.3 * rng.standard_normal((500, 24))
    res = cka_permutation(speech, text, 30, np.random.default_rng(4), groups=types, debiased=debiased)
    assert np.abs(res.null - res.observed).max() < 1e-12
    assert res.p_value == 1.0
    free = cka_permutation(speech, text, 30, np.random.default_rng(4), debiased=debiased)
    assert free.p_value == pytest.approx(1 / 31)  # over all words the relation shows


def test_p_value_counts_near_ties_only():
    null = np.array([0.5 - 1e-15, 0.5 - 1e-6, 0.5 + 1e-15, 0.1])
    assert permutation_p_value(0.5, null) == pytest.approx(3 / 5)  # the two within 1e-9, and the observed
    assert permutation_p_value(0.5, null, tol=0.0) == pytest.approx(2 / 5)


def test_gap_point_estimate_permutes_within_groups():
    """Words of a group share their features (up to a little noise) and the relation lies
    between groups only: permuting within groups barely moves X, so the null is the observed
    CKA and the gap about 0, though the debiased CKA is high (a null over all words gives
    a gap near the CKA itself)."""
    rng = np.random.default_rng(31)
    groups = np.repeat(np.arange(40), 4)
    z = rng.standard_normal((40, 6))[groups]
    x = z @ rng.standard_normal((6, 20)) + 0.05 * rng.standard_normal((160, 20))
    y = z @ rng.standard_normal((6, 12)) + 0.05 * rng.standard_normal((160, 12))
    assert debiased_cka(x, y) > 0.5
    res = cka_gap_bootstrap(x, y, 5, np.random.default_rng(1), n_perm=5, groups=groups)
    assert abs(res.gap) < 0.01


def test_gap_bootstrap_of_near_copies_in_groups_brackets_its_estimate():
    """Groups of 4 near-identical rows, x and y unrelated: within groups there is nothing to
    permute, so every resample's gap is about 0, like the estimate. Copies of a group drawn
    twice must be permuted alike: with a permutation per copy, the zeroed pairs of copies of
    one row met the other side's large near-copy products and the null fell, giving a CI of
    [0.029, 0.057] above a gap of 5e-7."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 4)
    x = rng.normal(size=(60, 20))[groups] + 0.01 * rng.normal(size=(240, 20))
    y = rng.normal(size=(60, 20))[groups] + 0.01 * rng.normal(size=(240, 20))
    res = cka_gap_bootstrap(x, y, 30, np.random.default_rng(1), n_perm=5, groups=groups)
    assert abs(res.gap) < 1e-4
    assert res.ci_low <= res.gap <= res.ci_high and res.ci_high - res.ci_low < 1e-3


def test_effective_dimension_known_answers():
    """Participation ratio: k equal orthogonal directions give k, whatever the rotation and
    offset; eigenvalues 1, 1, 2 give 16 / 6; one direction gives 1; and the eigenvalues of
    an independent reference (numpy's eigvalsh of the covariance) agree."""
    from codecprobe.cka import effective_dimension

    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    h = np.kron(np.eye(3), [[1.0], [-1.0]])  # [6, 3]: centred, orthogonal columns of equal norm
    assert effective_dimension(h @ q[:3] + 5.0) == pytest.approx(3.0)  # rows in 40-d, wide: the n x n path
    assert effective_dimension(np.tile(h, (20, 1)) * [1.0, 1.0, np.sqrt(2.0)]) == pytest.approx(16 / 6)  # tall: d x d
    assert effective_dimension(np.outer(rng.standard_normal(50), rng.standard_normal(7))) == pytest.approx(1.0)
    x = rng.standard_normal((300, 12)) * np.linspace(0.2, 3.0, 12)
    lam = np.linalg.eigvalsh(np.cov(x, rowvar=False))
    assert effective_dimension(x) == pytest.approx(lam.sum() ** 2 / np.sum(lam**2), rel=1e-10)
    with pytest.raises(CodecprobeError, match="constant input"):
        effective_dimension(np.ones((5, 3)))


def test_permutation_null_mean_of_linear_cka_is_set_by_the_effective_dimensions():
    """E over row permutations of linear CKA = sqrt(PR_x PR_y) / (n - 1), exactly: the mean of
    many drawn permutations agrees within its Monte Carlo error, for spaces of low and of
    high effective dimension (the chance level rises with them)."""
    from codecprobe.cka import effective_dimension

    rng = np.random.default_rng(7)
    n = 40
    for scales in (np.array([5.0, 1.0, 0.2, 0.1]), np.ones(30)):
        x = rng.standard_normal((n, len(scales))) * scales
        y = rng.standard_normal((n, 6)) * [3.0, 1, 1, 1, 0.5, 0.5]
        res = cka_permutation(x, y, 4000, np.random.default_rng(1))
        expected = np.sqrt(effective_dimension(x) * effective_dimension(y)) / (n - 1)
        assert abs(res.null_mean - expected) < 4 * res.null_sd / np.sqrt(4000) + 1e-12, (res.null_mean, expected)
    low = np.sqrt(effective_dimension(rng.standard_normal((n, 4)) * [5.0, 1.0, 0.2, 0.1]) * 2) / (n - 1)
    high = np.sqrt(effective_dimension(rng.standard_normal((n, 30))) * 2) / (n - 1)
    assert low < high


def test_permutation_mean_identity_over_all_permutations():
    """The identity behind the last test, exactly: linear CKA averaged over all 720 row
    orders of 6 words equals sqrt(PR_x PR_y) / (n - 1) (not / n)."""
    from itertools import permutations

    from codecprobe.cka import effective_dimension

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 3)) * [2.0, 1.0, 0.3], rng.standard_normal((6, 4))
    mean = np.mean([linear_cka(x[list(p)], y) for p in permutations(range(6))])
    pr = effective_dimension(x) * effective_dimension(y)
    assert mean == pytest.approx(np.sqrt(pr) / 5, rel=1e-9)
    assert mean != pytest.approx(np.sqrt(pr) / 6, rel=1e-3)


def test_prepare_gram_refuses_a_representation_constant_up_to_its_means_rounding():
    """Linear, not debiased, of a constant representation: its centred rows are rounding
    noise of the mean (0.1 x 3 averages to 0.1 + 1.4e-17), so its Gram is noise and CKA
    came out of 0/0 or of that noise; an error naming it, as the other estimators give.
    A representation that varies, however little against its size, is kept."""
    from codecprobe.cka import prepare_gram

    for x in (np.full((5, 3), 0.1), np.full((7, 2), 1e6), np.zeros((4, 3)) + np.array([1.0, -2.0, 3.0]), np.zeros((4, 3))):
        with pytest.raises(CodecprobeError, match=rf"^CKA is undefined: the representation of {len(x)} rows is constant"):
            prepare_gram(x)
    with pytest.raises(CodecprobeError, match="constant"):  # many rows: the mean's rounding grows with n
        prepare_gram(np.tile([0.1, 1 / 3, 2 / 7, -5.3], (20000, 1)))
    x = np.full((5, 3), 1e6)
    x[0, 0] += 1e-6  # 1e-12 relative: far above rounding (2e-16)
    g = prepare_gram(x)
    assert g[0, 0] == pytest.approx(0.8 * 0.8 * 1e-12, rel=1e-3)
    x = np.column_stack([np.full(50, 1e8), np.linspace(0, 1e-8, 50)])  # one column varies, however little
    assert prepare_gram(x)[0, 0] > 0


def test_cka_benchmark_runs_small():
    """``benchmarks/cka.py`` at small sizes: both paths agree (it asserts so), and it prints
    the speed-up, the peak memory and the growth lines, marking extrapolated totals."""
    import re
    import subprocess
    import sys

    from conftest import REPO

    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "cka.py"), "--sizes", "200,400", "--perms", "20,10",
                        "--slow", "3,2", "--dim", "64"], capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.count("speed-up (slow / fast, 1,000 permutations):") == 2, out
    assert "(extrapolated from 20)" in out and "(extrapolated from 3)" in out and "peak" in out
    assert "n = 400 (2x words): fast per permutation" in out
    errs = [float(e) for e in re.findall(r"max \|fast - slow\| over \d+ permutations: ([\d.e+-]+)", out)]
    assert len(errs) == 2 and max(errs) < 1e-10, out


def test_every_estimator_says_cka_is_undefined_for_a_constant_representation():
    """A constant representation (or, debiased, constant but for one word): the Gram forms and
    the feature-form debiased CKA gave rounding noise (-1.5e-17, 3.6e-10) where linear_cka and
    the stage's path stop with "CKA is undefined"."""
    from codecprobe.cka import cka_gram, debiased_cka, linear_cka_gram

    rng = np.random.default_rng(0)
    y = rng.standard_normal((50, 8))
    const = np.full((50, 6), 0.1)
    one_off = const.copy()
    one_off[7] += 1.0  # constant but for one word
    for call in (lambda: linear_cka_gram(const @ const.T, y @ y.T), lambda: cka_gram(const @ const.T, y @ y.T, debiased=True),
                 lambda: cka_gram(one_off @ one_off.T, y @ y.T, debiased=True), lambda: debiased_cka(one_off, y)):  # fmt: skip
        with pytest.raises(CodecprobeError, match="CKA is undefined"):
            call()
    x = rng.standard_normal((50, 6))
    assert debiased_cka(x, y) == pytest.approx(cka_gram(x @ x.T, y @ y.T, debiased=True), abs=1e-12)
    assert linear_cka_gram(x @ x.T, x @ x.T) == pytest.approx(1.0)


def test_a_degenerate_bootstrap_resample_is_named_as_such():
    """At 4-6 words a resample can hold 2 distinct rows: the error blamed "a constant
    representation" although the data are not (their CKA is 0.57); constant data still say so."""
    from codecprobe.cka import cka_gap_bootstrap, debiased_cka

    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 3))
    y = x + rng.normal(size=(4, 3))
    assert debiased_cka(x, y) == pytest.approx(0.5657, abs=1e-4)
    with pytest.raises(CodecprobeError, match=r"a resample of the 4 rows holds \d distinct ones, too few for debiased CKA"):
        cka_gap_bootstrap(x, y, 300, np.random.default_rng(0), n_perm=3)
    with pytest.raises(CodecprobeError) as e:
        cka_gap_bootstrap(np.ones((8, 3)), y.repeat(2, axis=0), 10, np.random.default_rng(0), n_perm=3)
    assert "resample" not in str(e.value) and "CKA is undefined" in str(e.value)
