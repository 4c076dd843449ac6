"""PWCCA: exact cases, a second CCA implementation, the chance level, the reference regression value."""

from __future__ import annotations

import numpy as np
import pytest

from codecprobe.io import CodecprobeError
from codecprobe.pwcca import (
    block_shuffle,
    cca,
    pwcca,
    pwcca_from_cca,
    pwcca_shuffled,
    scaling_for,
    shuffle_arrangements,
    wachter_chance,
)


def related(rng: np.random.Generator, n: int = 2000, p: int = 30, q: int = 60, k: int = 5, noise: float = 1.0):
    """x [n, p] and y [n, q] sharing a k-dim latent."""
    z = rng.standard_normal((n, k))
    x = z @ rng.standard_normal((k, p)) + noise * rng.standard_normal((n, p))
    y = z @ rng.standard_normal((k, q)) + noise * rng.standard_normal((n, q))
    return x, y


def principal_angle_cosines(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Independent CCA: cosines of the principal angles between the centred column spaces."""
    qx, _ = np.linalg.qr(x - x.mean(0))
    qy, _ = np.linalg.qr(y - y.mean(0))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


def notes_regression_data():
    """Neurons x datapoints, exactly as in shared/notes/articulatory.md."""
    np.random.seed(0)
    z = np.random.randn(5, 2000)
    a = np.random.randn(30, 5) @ z + np.random.randn(30, 2000)
    b = np.random.randn(60, 5) @ z + np.random.randn(60, 2000)
    return a, b


# ---------------------------------------------------------------- regression values


def test_regression_value_of_the_reference():
    a, b = notes_regression_data()
    res = pwcca(a.T, b.T, epsilon=1e-10, variates="svcca")  # google/svcca's computation
    assert abs(res.pwcca - 0.5727165770) < 1e-8
    assert res.side == "x" and res.rhos.shape == (30,) and res.weights.shape == (30,)


def test_regression_value_of_the_default():
    a, b = notes_regression_data()
    res = pwcca(a.T, b.T, epsilon=1e-10)  # canonical variates (default)
    assert abs(res.pwcca - 0.571079257413) < 1e-8
    # translation, order and sign invariant: same value with the inputs swapped or shifted
    assert abs(pwcca(b.T, a.T, epsilon=1e-10).pwcca - res.pwcca) < 1e-10
    assert abs(pwcca(a.T + 5.0, b.T - 3.0, epsilon=1e-10).pwcca - res.pwcca) < 1e-8


def test_release_equals_canonical_on_centred_data():
    x, y = related(np.random.default_rng(4))
    x, y = x - x.mean(0), y - y.mean(0)
    assert abs(pwcca(x, y, variates="release").pwcca - pwcca(x, y).pwcca) < 1e-10


def test_reference_variants_are_inflated_by_column_means():
    x, y = related(np.random.default_rng(5), n=3000, p=40, q=80, noise=2.0)
    shifted = x + 10 * np.abs(x).max()
    base = pwcca(x, y).pwcca
    assert abs(pwcca(shifted, y).pwcca - base) < 1e-8
    assert pwcca(shifted, y, variates="svcca").pwcca > base + 0.1
    assert pwcca(shifted, y, variates="release").pwcca > base + 0.1


def explicit_weights(a: np.ndarray, kept: np.ndarray, dirs: np.ndarray, inv_sqrt: np.ndarray, variates: str,
                     scale: np.ndarray):  # fmt: skip
    """PWCCA weights the long way: direction time courses over the frames, Householder QR, projections.
    ``scale [kd]``: what the CCA divided each kept dimension by (its whitened directions
    ``inv_sqrt @ dirs`` are in scaled units)."""
    z = a[:, kept]
    m = z.mean(0)
    zc = z - m
    k = dirs.shape[1]
    if variates == "svcca":
        d, target = zc @ dirs + m[:k], z
    elif variates == "release":
        d, target = (z / scale) @ (inv_sqrt @ dirs), z
    else:
        d, target = (zc / scale) @ (inv_sqrt @ dirs), zc
    q, _ = np.linalg.qr(d)
    w = np.abs(q.T @ target).sum(1)
    return w / w.sum()


@pytest.mark.parametrize("variates", ["canonical", "svcca", "release"])
def test_weights_from_covariance_equal_the_explicit_qr(variates):
    rng = np.random.default_rng(17)
    x, y = related(rng, n=1500, p=40, q=25, noise=1.5)
    x, y = x + rng.uniform(-3, 3, 40), y + rng.uniform(0, 5, 25)  # non-zero means
    res = cca(x, y, scaling=scaling_for(variates))
    k = len(res.rhos)
    for side in ("x", "y"):
        got = pwcca(x, y, weight_side=side, variates=variates)
        if side == "x":
            want = explicit_weights(x, res.x_kept, res.u[:, :k], res.inv_sqrt_xx, variates, res.x_scale)
        else:
            want = explicit_weights(y, res.y_kept, res.vt[:k].T, res.inv_sqrt_yy, variates, res.y_scale)
        np.testing.assert_allclose(got.weights, want, rtol=0, atol=1e-10)


# ---------------------------------------------------------------- exact cases


@pytest.mark.parametrize("variates", ["canonical", "svcca", "release"])
def test_identical_inputs_give_one(variates):
    x, _ = related(np.random.default_rng(1))
    res = pwcca(x, x, variates=variates)
    assert abs(res.pwcca - 1.0) < 1e-6
    assert np.all(res.rhos > 1 - 1e-6)


@pytest.mark.parametrize("side", ["x", "y"])
def test_invertible_linear_map_gives_one(side):
    rng = np.random.default_rng(2)
    x, _ = related(rng, p=40)
    m = rng.standard_normal((40, 40)) + 3 * np.eye(40)  # invertible, condition number ~ 10
    assert np.linalg.cond(m) < 100
    y = x @ m + rng.standard_normal(40)  # plus an offset per column
    res = pwcca(x, y, weight_side=side)
    assert abs(res.pwcca - 1.0) < 1e-6
    assert abs(pwcca(y, x, weight_side=side).pwcca - 1.0) < 1e-6


@pytest.mark.parametrize("epsilon,tol,spread", [(0.0, 1e-10, 10.0), (1e-10, 1e-8, 1.0)])
def test_rhos_agree_with_principal_angles(epsilon, tol, spread):
    """Exact with epsilon = 0; with the ridge, rho moves by about epsilon / (smallest scaled eigenvalue)."""
    rng = np.random.default_rng(3)
    for p, q in [(30, 60), (60, 30), (25, 25)]:
        x, y = related(rng, n=1500, p=p, q=q, noise=1.5)
        x = x * rng.uniform(1 / spread, spread, p)  # uneven column scales exercise the scaling step
        res = cca(x, y, epsilon=epsilon)
        np.testing.assert_allclose(res.rhos, principal_angle_cosines(x, y), rtol=0, atol=tol)


def test_weights_are_a_distribution_on_the_chosen_side():
    x, y = related(np.random.default_rng(6), p=50, q=20)
    res = pwcca(x, y)
    assert res.side == "y" and res.weights.shape == (20,)
    assert np.all(res.weights >= 0) and abs(res.weights.sum() - 1) < 1e-12
    assert abs(res.pwcca - float(res.weights @ res.rhos)) < 1e-15
    forced = pwcca(x, y, weight_side="x")  # larger side: its first k = 20 directions
    assert forced.side == "x" and forced.weights.shape == (20,)


def test_either_order_is_handled():
    """The reference's else branch projects the wrong input; swapping x, y and the side must not matter."""
    x, y = related(np.random.default_rng(7), p=60, q=30)
    for side, other in [("x", "y"), ("y", "x"), ("smaller", "smaller")]:
        a, b = pwcca(x, y, weight_side=side), pwcca(y, x, weight_side=other)
        assert abs(a.pwcca - b.pwcca) < 1e-10
        np.testing.assert_allclose(a.weights, b.weights, atol=1e-10)


def test_constant_dimensions_are_dropped():
    rng = np.random.default_rng(8)
    x, y = related(rng)
    x_const = np.column_stack([x, np.full(len(x), 3.0), np.zeros(len(x))])
    res = pwcca(x_const, y)
    assert res.x_kept.tolist() == [True] * 30 + [False, False]
    assert abs(res.pwcca - pwcca(x, y).pwcca) < 1e-10


# ---------------------------------------------------------------- chance level


def test_independent_gaussians_sit_at_the_wachter_chance_level():
    """Squared canonical correlations of independent Gaussians follow the Wachter law (see pwcca docstring).

    Checked three ways at n = 4000, p = 20, q = 60: the mean rho^2 against its exact
    expectation q / (n - 1); PWCCA and the mean rho against the integrated mean of the law
    (finite-p bias about -0.001, seed-to-seed sd 0.0015); the largest rho below the edge.
    """
    rng = np.random.default_rng(9)
    n, p, q = 4000, 20, 60
    x, y = rng.standard_normal((n, p)), rng.standard_normal((n, q))
    res = pwcca(x, y)
    mean_rho, edge = wachter_chance(p, q, n)
    assert abs(mean_rho - 0.11722) < 1e-4 and abs(edge - 0.19237) < 1e-4
    assert abs(np.mean(res.rhos**2) - q / (n - 1)) < 0.002
    assert abs(res.mean_cca - mean_rho) < 0.006
    assert abs(res.pwcca - mean_rho) < 0.006
    assert res.mean_cca < res.rhos.max() < edge + 0.01


def test_wachter_mean_against_a_monte_carlo_of_principal_angles():
    """10 draws at n = 1000, p = 25, q = 75: MC mean 0.2611 (sd of the mean 0.0014) vs the law's 0.2628."""
    rng = np.random.default_rng(10)
    n, p, q = 1000, 25, 75
    draws = [principal_angle_cosines(rng.standard_normal((n, p)), rng.standard_normal((n, q))) for _ in range(10)]
    assert abs(np.mean([d.mean() for d in draws]) - wachter_chance(p, q, n)[0]) < 0.005
    assert abs(np.mean([np.mean(d**2) for d in draws]) - q / (n - 1)) < 0.002


def test_vtd_sized_chance_level():
    """120 gridlines against 512 features over 3000 frames: chance PWCCA about 0.40, far from 0."""
    rng = np.random.default_rng(11)
    n, p, q = 3000, 120, 512
    res = pwcca(rng.standard_normal((n, p)), rng.standard_normal((n, q)))
    assert abs(res.pwcca - wachter_chance(p, q, n)[0]) < 0.01
    assert res.pwcca > 0.35


# ---------------------------------------------------------------- shuffled baseline


def test_block_shuffle_moves_whole_blocks():
    rng = np.random.default_rng(12)
    for _ in range(20):
        perm = block_shuffle(103, 10, rng)
        assert sorted(perm.tolist()) == list(range(103))
        order, i = [], 0
        while i < len(perm):  # read the blocks back: each starts at a multiple of 10 and runs on
            start = int(perm[i])
            assert start % 10 == 0
            length = min(10, 103 - start)
            assert perm[i : i + length].tolist() == list(range(start, start + length))
            order.append(start // 10)
            i += length
        assert sorted(order) == list(range(11))  # the last, short block moves as a whole too
        assert not any(b == slot for slot, b in enumerate(order))  # no block stays in its slot


def test_block_shuffle_bounds():
    rng = np.random.default_rng(14)
    assert block_shuffle(8, 4, rng).tolist() == [4, 5, 6, 7, 0, 1, 2, 3]  # two blocks: the one derangement
    with pytest.raises(CodecprobeError, match="two blocks of unequal length"):
        block_shuffle(7, 4, rng)  # swapped, block 0 would sit 3 frames from home
    # three blocks, the last short (0-3, 4-7, 8-9): of the two derangements, (2, 0, 1) puts
    # block 0 at frames 2-5, two frames from home; only (1, 2, 0) moves every frame by >= 4
    for _ in range(10):
        assert block_shuffle(10, 4, rng).tolist() == [4, 5, 6, 7, 8, 9, 0, 1, 2, 3]
    perm = block_shuffle(5, 1, rng)  # one-frame blocks: a derangement of the frames
    assert sorted(perm.tolist()) == list(range(5)) and not np.any(perm == np.arange(5))
    with pytest.raises(CodecprobeError, match="single block"):
        block_shuffle(4, 4, rng)
    with pytest.raises(CodecprobeError, match="block_len must be >= 1"):
        block_shuffle(4, 0, rng)


def test_block_shuffle_moves_every_frame_a_block_away():
    # 101 frames in blocks of 25: four full blocks and one of 1 frame. A derangement may put
    # a full block one slot later behind the short block, 1 frame from home (22 of the 44
    # derangements did, drawn before session 22); now no frame stays within 25 frames of home.
    rng = np.random.default_rng(20)
    ident = np.arange(101)
    moved = [np.abs(block_shuffle(101, 25, rng) - ident).min() for _ in range(300)]
    assert min(moved) >= 25
    perms = {tuple(block_shuffle(101, 25, rng)) for _ in range(300)}
    assert len(perms) == shuffle_arrangements(101, 25) > 1  # every qualifying order is drawn


def test_shuffle_arrangements_known_counts():
    assert shuffle_arrangements(8, 4) == 1  # two equal blocks: the swap
    assert shuffle_arrangements(7, 4) == 0  # two unequal blocks: none
    assert shuffle_arrangements(12, 4) == 2  # three equal blocks: the derangements of 3
    assert shuffle_arrangements(10, 4) == 1  # three, the last short: (1, 2, 0) only (above)
    assert shuffle_arrangements(16, 4) == 9  # four equal blocks: the derangements of 4
    assert shuffle_arrangements(4, 4) == 0
    assert shuffle_arrangements(100, 4) is None  # 25 blocks: not counted


def test_shuffled_baseline_warns_when_draws_must_repeat(caplog):
    x, y = related(np.random.default_rng(21), n=60, p=3, q=5)
    with caplog.at_level("WARNING", logger="codecprobe.pwcca"):
        base = pwcca_shuffled(x, y, np.random.default_rng(0), n=5, block_len=20)
    assert "only 2 different shuffle(s) for 5 draws" in caplog.text
    assert len(np.unique(np.round(base.values, 12))) <= 2
    caplog.clear()
    with caplog.at_level("WARNING", logger="codecprobe.pwcca"):
        pwcca_shuffled(x, y, np.random.default_rng(0), n=5, block_len=10)  # 6 blocks: 265 orders
    assert caplog.text == ""


def test_shuffled_baseline_is_below_the_aligned_value_and_reproducible():
    rng = np.random.default_rng(13)
    n = 3000
    kernel = np.hanning(31)
    z = np.column_stack([np.convolve(rng.standard_normal(n), kernel, "same") for _ in range(4)])  # smooth latent
    x = z @ rng.standard_normal((4, 20)) + 0.5 * rng.standard_normal((n, 20))
    y = z @ rng.standard_normal((4, 50)) + 0.5 * rng.standard_normal((n, 50))
    real = pwcca(x, y).pwcca
    base = pwcca_shuffled(x, y, np.random.default_rng(0), n=5, block_len=100)
    again = pwcca_shuffled(x, y, np.random.default_rng(0), n=5, block_len=100)
    assert base.values.shape == (5,) and np.array_equal(base.values, again.values)
    assert base.mean < real - 0.1 and base.sd > 0
    assert abs(base.sd - np.std(base.values, ddof=1)) < 1e-15


@pytest.mark.parametrize("variates", ["canonical", "svcca"])
def test_shuffled_baseline_reuses_covariances_correctly(variates):
    rng = np.random.default_rng(18)
    x, y = related(rng, n=800, p=12, q=30)
    x = x + 2.0  # non-zero means matter for the svcca weights
    base = pwcca_shuffled(x, y, np.random.default_rng(5), n=4, block_len=40, variates=variates)
    replay = np.random.default_rng(5)
    direct = [pwcca(x[block_shuffle(800, 40, replay)], y, variates=variates).pwcca for _ in range(4)]
    np.testing.assert_allclose(base.values, direct, rtol=0, atol=1e-10)


# ---------------------------------------------------------------- bad input


def test_nan_input_names_the_count():
    x, y = related(np.random.default_rng(14))
    x[[1, 5, 9], 2] = np.nan
    with pytest.raises(CodecprobeError, match="x: 3 NaN"):
        pwcca(x, y)
    y[0, 0] = np.inf
    with pytest.raises(CodecprobeError, match="y: 1 infinite"):
        pwcca(np.nan_to_num(x), y)


def test_too_few_frames():
    rng = np.random.default_rng(15)
    with pytest.raises(CodecprobeError, match="more datapoints than dimensions"):
        pwcca(rng.standard_normal((100, 20)), rng.standard_normal((100, 100)))
    with pytest.raises(CodecprobeError, match="more datapoints than dimensions"):
        pwcca(rng.standard_normal((30, 2000)), rng.standard_normal((30, 2000)))  # neurons x datapoints
    with pytest.raises(CodecprobeError, match="transposed"):
        pwcca(rng.standard_normal((30, 2000)), rng.standard_normal((60, 2000)))


def test_mismatched_frames_constant_inputs_and_bad_options():
    rng = np.random.default_rng(16)
    x, y = rng.standard_normal((500, 10)), rng.standard_normal((500, 20))
    with pytest.raises(CodecprobeError, match="frame-aligned"):
        pwcca(x, y[:-1])
    with pytest.raises(CodecprobeError, match="constant"):
        pwcca(np.ones((500, 10)), y)
    with pytest.raises(CodecprobeError, match="weight_side"):
        pwcca(x, y, weight_side="z")
    with pytest.raises(CodecprobeError, match="variates"):
        pwcca(x, y, variates="other")
    with pytest.raises(CodecprobeError, match="2-D"):
        pwcca(x[:, 0], y)
    with pytest.raises(CodecprobeError, match="single block"):
        block_shuffle(50, 50, rng)


def test_degenerate_input_raises_the_skippable_error():
    """Degenerate data (constant dims, linearly dependent canonical directions) raise
    ``DegenerateCCAError`` (a ``CodecprobeError``) so that a caller comparing many
    speakers can skip the one that raised; bad arguments raise plain ``CodecprobeError``."""
    from codecprobe.pwcca import DegenerateCCAError, projection_weights

    rng = np.random.default_rng(17)
    y = rng.standard_normal((500, 20))
    with pytest.raises(DegenerateCCAError, match="constant"):
        pwcca(np.ones((500, 10)), y)
    # two identical direction time courses: D^T D is singular, its Cholesky fails
    c = np.eye(3)
    dirs = np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(DegenerateCCAError, match="linearly dependent"):
        projection_weights(c, np.zeros(3), dirs, np.eye(3), 500, "canonical")
    with pytest.raises(CodecprobeError) as e:
        pwcca(rng.standard_normal((500, 10)), y, weight_side="z")
    assert not isinstance(e.value, DegenerateCCAError)


def test_inv_sqrt_psd_drops_the_same_directions_at_any_scale():
    """Eigenvalues at or below ``rcond`` x the largest count as 0, whatever the scale."""
    from codecprobe.pwcca import inv_sqrt_psd

    q, _ = np.linalg.qr(np.random.default_rng(15).standard_normal((4, 4)))
    w = np.array([4.0, 1.0, 1e-10, 0.0])  # with rcond 1e-12: 1e-10 is kept, 0 (rounded to ~1e-16) dropped
    want = (q * np.r_[0.5, 1.0, 1e5, 0.0]) @ q.T
    for c in (1e-12, 1.0, 1e12):
        got = inv_sqrt_psd((q * (c * w)) @ q.T, rcond=1e-12)
        np.testing.assert_allclose(got * np.sqrt(c), want, rtol=1e-6, atol=1e-6 * 1e5)


def test_epsilon_zero_is_allowed():
    """``epsilon = 0`` (the reference implementation's default): no ridge, nothing dropped."""
    from codecprobe.pwcca import pwcca_each_x

    x, y = related(np.random.default_rng(16), n=500, p=5, q=8)
    assert pwcca(x, y, epsilon=0.0).pwcca == pytest.approx(pwcca(x, y, epsilon=1e-14).pwcca, abs=1e-9)
    assert pwcca_each_x([x], y, epsilon=0.0)[0] == pytest.approx(pwcca(x, y, epsilon=0.0).pwcca, abs=1e-9)
    for call in (
        lambda: pwcca(x, y, epsilon=-1e-9),
        lambda: pwcca_each_x([x], y, epsilon=-1e-9),
        lambda: pwcca_shuffled(x, y, np.random.default_rng(0), n=2, epsilon=-1e-9),
        lambda: pwcca(x, y, epsilon=float("nan")),  # NaN passed the old "< 0" check
        lambda: pwcca(x, y, epsilon=float("inf")),
    ):
        with pytest.raises(CodecprobeError, match="epsilon must be a finite number >= 0"):
            call()


def test_near_constant_dimensions_are_dropped_at_any_scale():
    """A column whose variance is below ``epsilon`` x the largest is dropped (steps 2-3),
    whether the data are in pixels, millimetres or micrometres."""
    x, y = related(np.random.default_rng(17), n=800, p=4, q=6)
    x[:, 2] = x[:, 0].mean() + 1e-7 * np.random.default_rng(18).standard_normal(800)  # variance ~1e-14 of the others
    for scale in (1e-6, 1.0, 1e6):
        res = cca(scale * x, y)
        assert res.x_kept.tolist() == [True, True, False, True] and res.y_kept.all()


def test_too_few_frames_for_both_sides_together_is_warned(caplog):
    """Independent noise, 60 frames for 20 + 50 dims: PWCCA 0.9 by construction. The
    articulatory stage skips such speakers; a direct caller now gets a warning."""
    import logging

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 20)), rng.standard_normal((60, 50))
    with caplog.at_level(logging.WARNING, logger="codecprobe.pwcca"):
        value = pwcca(x, y)
    assert value.pwcca > 0.85 and "60 frames for 20 + 50 dims" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="codecprobe.pwcca"):
        pwcca(rng.standard_normal((600, 20)), rng.standard_normal((600, 50)))
    assert "frames for" not in caplog.text


# ---------------------------------------------------------------- scaling (step 2)


@pytest.mark.parametrize("factor", [1e4, 1e5, 1e-4])
def test_one_channel_out_of_scale_does_not_move_the_value(factor):
    """With the default per-dimension scaling, the ridge and the drop threshold are not
    relative to the strongest channel: one codec channel 1e4 or 1e5 x the others (or 1e-4)
    leaves PWCCA, its weights and every channel kept. Under google/svcca's max-scaling the
    same data moved (an audit of session 24: 0.611 -> 0.600 at 1e4, 41 of 50 channels
    dropped at 1e5)."""
    rng = np.random.default_rng(24)
    x, y = related(rng, n=3000, p=20, q=50, k=5, noise=2.0)
    base = pwcca(x, y, weight_side="x")
    y2 = y.copy()
    y2[:, 7] *= factor
    got = pwcca(x, y2, weight_side="x")
    assert got.y_kept.all()
    assert abs(got.pwcca - base.pwcca) < 1e-9
    np.testing.assert_allclose(got.rhos, base.rhos, atol=1e-9)
    np.testing.assert_allclose(got.weights, base.weights, atol=1e-9)
    old = pwcca_from_cca(cca(x, y2, scaling="max"), "x", "canonical")  # the reference's convention moves
    if factor > 1:
        assert abs(old.pwcca - base.pwcca) > 1e-3 or not old.y_kept.all()


def test_canonical_correlations_do_not_depend_on_column_scales():
    """Exact CCA is invariant to scaling any column of either side; the default scaling keeps
    that to rounding over 8 orders of magnitude (the weights of the weighted side do depend
    on its own column scales, by the definition of PWCCA, so they are not compared)."""
    rng = np.random.default_rng(25)
    x, y = related(rng, n=2000, p=12, q=30)
    base = cca(x, y)
    sx, sy = 10.0 ** rng.uniform(-4, 4, 12), 10.0 ** rng.uniform(-4, 4, 30)
    got = cca(x * sx, y * sy)
    assert got.x_kept.all() and got.y_kept.all()
    np.testing.assert_allclose(got.rhos, base.rhos, atol=1e-9)
    np.testing.assert_allclose(got.rhos, principal_angle_cosines(x, y)[: len(got.rhos)], atol=1e-8)
    # the side that is not weighted can be rescaled freely
    assert abs(pwcca(x, y * sy, weight_side="x").pwcca - pwcca(x, y, weight_side="x").pwcca) < 1e-9


def test_dims_scaling_drops_rounding_noise_relative_to_a_typical_channel():
    """A column of rounding noise (sd 1e-7 of the others) is dropped, however strong another
    channel is; a weak but real channel (sd 1e-4 of the others) is kept."""
    rng = np.random.default_rng(26)
    x, y = related(rng, n=1500, p=6, q=10)
    y[:, 3] = 0.5 + 1e-7 * rng.standard_normal(1500)  # constant up to rounding
    y[:, 4] *= 1e-4
    y[:, 5] *= 1e6
    res = cca(x, y)
    assert res.y_kept.tolist() == [True, True, True, False, True, True, True, True, True, True]
    old = cca(x, y, scaling="max")  # relative to the strongest: the weak channel goes too, and more
    assert not old.y_kept[4] and old.y_kept.sum() < 9


def test_svcca_variates_need_max_scaling():
    from codecprobe.pwcca import DegenerateCCAError, whiten

    x, y = related(np.random.default_rng(27), n=500, p=4, q=6)
    with pytest.raises(CodecprobeError, match='needs a CCA computed with scaling="max"'):
        pwcca_from_cca(cca(x, y), "x", "svcca")
    with pytest.raises(CodecprobeError, match="scaling must be one of"):
        cca(x, y, scaling="median")
    with pytest.raises(CodecprobeError, match="scaled 'max' / 'dims'"):
        from codecprobe.pwcca import cca_from_cov

        xc, yc = x - x.mean(0), y - y.mean(0)
        wx = whiten(xc.T @ xc, "x", 500, scaling="max")
        cca_from_cov(wx, xc.T @ yc, yc.T @ yc, x.mean(0), y.mean(0), 500)
    assert scaling_for("svcca") == "max" and scaling_for("canonical") == scaling_for("release") == "dims"
    with pytest.raises(DegenerateCCAError, match="constant"):
        cca(np.zeros((500, 3)), y)


# ---------------------------------------------------------------- constant columns, boundaries (mutation sweep)


def mostly_constant_x(rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """x [n, 4]: columns 0-2 constant (1, 2, 3), column 3 N(0, 1); y [n, 3]: x3 + 0.5 noise and two noise columns.
    Three of x's four variances are 0, so their median is 0."""
    x3 = rng.standard_normal(n)
    x = np.column_stack([np.full(n, 1.0), np.full(n, 2.0), np.full(n, 3.0), x3])
    y = np.column_stack([x3 + 0.5 * rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)])
    return x, y


def multiple_correlation(v: np.ndarray, y: np.ndarray) -> float:
    """R of the least-squares regression of one column ``v [n]`` on ``y [n, q]`` (with intercept):
    the one canonical correlation of a single x column with y."""
    vc, yc = v - v.mean(), y - y.mean(0)
    coef, *_ = np.linalg.lstsq(yc, vc, rcond=None)
    return float(np.linalg.norm(yc @ coef) / np.linalg.norm(vc))


def test_drop_threshold_is_relative_to_the_non_zero_variances():
    """The reference variance of step 3 is the median of the *non-zero* variances: with three
    of four x columns constant (median of all four: 0) they are still dropped, and PWCCA is
    the one canonical correlation of the remaining column with y, i.e. its multiple
    correlation R from a least-squares regression (R = 0.8935 here)."""
    x, y = mostly_constant_x(np.random.default_rng(31))
    want = multiple_correlation(x[:, 3], y)
    assert abs(want - 0.8935) < 1e-3
    res = cca(x, y)
    assert res.x_kept.tolist() == [False, False, False, True] and res.y_kept.all()
    np.testing.assert_allclose(res.rhos, [want], rtol=0, atol=1e-9)
    got = pwcca(x, y)
    assert got.x_kept.tolist() == [False, False, False, True]
    assert abs(got.pwcca - want) < 1e-9 and got.weights.tolist() == [1.0]


def test_epsilon_zero_keeps_constant_columns():
    """With ``epsilon = 0`` nothing is dropped (module docstring), constant columns included
    (the threshold is ``var >= 0``): x keeps all four columns and the rhos are those of the
    exact CCA, R and then zeros for the constant columns' (empty) directions."""
    x, y = mostly_constant_x(np.random.default_rng(31))
    want = multiple_correlation(x[:, 3], y)
    res = cca(x, y, epsilon=0.0)
    assert res.x_kept.tolist() == [True] * 4 and res.y_kept.all()
    assert res.rhos.shape == (3,)
    np.testing.assert_allclose(res.rhos, [want, 0.0, 0.0], rtol=0, atol=1e-9)


def test_epsilon_zero_with_one_constant_column_adds_a_zero_rho():
    """A constant column kept at ``epsilon = 0`` is scaled by 1, not by its sd of 0 (no
    division by zero): the rhos are those without it, plus one 0."""
    rng = np.random.default_rng(32)
    _, y = mostly_constant_x(rng)
    x2 = np.column_stack([rng.standard_normal((200, 2)), np.full(200, 5.0)])
    res = cca(x2, y, epsilon=0.0)
    assert res.x_kept.all() and np.all(np.isfinite(res.rhos))
    want = np.r_[principal_angle_cosines(x2[:, :2], y), 0.0]
    np.testing.assert_allclose(res.rhos, want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.rhos[:2], cca(x2[:, :2], y, epsilon=0.0).rhos, rtol=0, atol=1e-12)


def test_each_x_uses_the_scaling_the_svcca_variates_need():
    """``pwcca_results_each_x(..., variates="svcca")`` uses the max-scaling as ``pwcca`` does:
    the same value, on data (one x column x 1e3) where the canonical variates, which
    use per-dimension scaling, give another."""
    from codecprobe.pwcca import pwcca_results_each_x

    x, y = related(np.random.default_rng(33), n=600, p=6, q=10)
    x[:, 2] *= 1e3
    want = pwcca(x, y, variates="svcca").pwcca
    assert abs(want - pwcca(x, y).pwcca) > 1e-3  # the variates differ on these data
    (got,) = pwcca_results_each_x([x], y, variates="svcca")
    assert abs(got.pwcca - want) < 1e-10
    (canon,) = pwcca_results_each_x([x], y)
    assert abs(canon.pwcca - pwcca(x, y).pwcca) < 1e-10


def test_shuffled_baseline_ignores_one_channel_out_of_scale():
    """The shuffled baseline uses the scaling the variates need (per dimension for the
    default ones), as the observed value does: one y channel x 1e5 leaves every shuffled
    value unchanged (same shuffles), as it leaves PWCCA."""
    x, y = related(np.random.default_rng(34), n=1000, p=10, q=30, noise=2.0)
    y2 = y.copy()
    y2[:, 7] *= 1e5
    base = pwcca_shuffled(x, y, np.random.default_rng(3), n=4, block_len=50)
    got = pwcca_shuffled(x, y2, np.random.default_rng(3), n=4, block_len=50)
    assert abs(got.mean - base.mean) < 1e-9
    np.testing.assert_allclose(got.values, base.values, rtol=0, atol=1e-9)


def test_too_few_frames_warning_boundary(caplog):
    """The warning fires exactly when ``n - 1 < n_x + n_y``: 30 frames for 10 + 20 dims (29
    centred dimensions for 30) warn, 31 frames do not."""
    import logging

    rng = np.random.default_rng(35)
    x, y = rng.standard_normal((31, 10)), rng.standard_normal((31, 20))
    with caplog.at_level(logging.WARNING, logger="codecprobe.pwcca"):
        cca(x[:30], y[:30])
    assert "30 frames for 10 + 20 dims" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="codecprobe.pwcca"):
        cca(x, y)
    assert "frames for" not in caplog.text


def derangements(k: int) -> int:
    """Permutations of k items with no fixed point, by the recurrence D(k) = (k - 1)(D(k-1) + D(k-2))."""
    d = [1, 0]
    for i in range(2, k + 1):
        d.append((i - 1) * (d[-1] + d[-2]))
    return d[k]


def test_shuffle_arrangements_counts_up_to_the_limit():
    """Arrangements are counted up to and including ``limit`` blocks: 7 equal blocks (the
    default limit) give the derangements of 7, 1854 (the docstring's number); 8 are not counted."""
    assert derangements(7) == 1854
    assert shuffle_arrangements(28, 4) == derangements(7)  # 7 blocks of 4
    assert shuffle_arrangements(32, 4) is None  # 8 blocks
    assert shuffle_arrangements(20, 4, limit=5) == derangements(5) == 44  # 5 blocks at limit 5
    assert shuffle_arrangements(24, 4, limit=5) is None


def test_pwcca_benchmark_runs_small():
    """``benchmarks/pwcca.py`` on a small case: every line it prints, with a PWCCA in (0, 1]
    above its block-shuffled baseline (the data share a latent)."""
    import re
    import subprocess
    import sys

    from conftest import REPO

    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "pwcca.py"), "--frames", "3000", "--dy", "64"],
                       capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "inputs: x 3 MiB" in r.stdout, r.stdout
    values = {k: float(v) for k, v in re.findall(r"^y (float32|float64): pwcca ([\d.]+)", r.stdout, re.MULTILINE)}
    assert set(values) == {"float32", "float64"} and abs(values["float32"] - values["float64"]) < 1e-4, r.stdout
    shuffled = float(re.search(r"pwcca_shuffled x5 .*: mean ([\d.]+)", r.stdout).group(1))
    assert 0 < shuffled < values["float64"] <= 1 and "peak" in r.stdout and "variates=svcca" in r.stdout
