"""Known-answer tests of the midline, gridlines and Vocal Tract Distance (codecprobe.vtd)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecprobe import vtd as V
from codecprobe.io import CodecprobeError
from codecprobe.rtmri import IMAGE_SIZE, MM_PER_PIXEL, load_track

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "fixtures" / "rtmri" / "cs_aba_track.mat"

W = 4.0  # tube width (px)


def straight_tube(w=W, bump=None):
    """Inner wall y = 0 (optionally raised to y = bump over x in [40, 60]), outer y = w, x in [-10, 110]."""
    x = np.linspace(-10, 110, 241)
    yi = np.zeros_like(x)
    if bump is not None:
        yi = np.where((x >= 40) & (x <= 60), bump, 0.0)
    inner = np.column_stack((x, yi))
    outer = np.column_stack((x, np.full_like(x, w)))
    mid = np.column_stack((np.linspace(0, 100, 101), np.full(101, w / 2)))
    return inner, outer, mid


def rot(p, theta, shift):
    c, s = np.cos(theta), np.sin(theta)
    return np.asarray(p) @ np.array([[c, s], [-s, c]]) + np.asarray(shift)


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# ------------------------------------------------------------------ known answers


def test_straight_tube_gives_width_everywhere():
    inner, outer, mid = straight_tube()
    g = V.gridlines(mid, n=120, half_length=3 * W, inner=inner)
    assert g.shape == (120, 2, 2)
    # end 0 on the inner side (y < w/2), gridlines ordered along the midline
    assert np.all(g[:, 0, 1] < W / 2) and np.all(g[:, 1, 1] > W / 2)
    assert np.all(np.diff(g.mean(axis=1)[:, 0]) > 0)
    for pick in V.PICKS:
        d = V.vtd(inner, outer, g, pick=pick)
        np.testing.assert_allclose(d, W, atol=1e-9)
    # several frames at once, and mm
    d = V.vtd(np.stack([inner] * 3), np.stack([outer] * 3), g)
    assert d.shape == (3, 120)
    np.testing.assert_allclose(d * MM_PER_PIXEL, W * 200 / 84, atol=1e-9)


@pytest.mark.parametrize("bump", [W, W + 1.0])  # touching, crossing
def test_closure_gives_zero(bump):
    inner, outer, mid = straight_tube(bump=bump)
    g = V.gridlines(mid, n=120, half_length=3 * W, inner=inner)
    d = V.vtd(inner, outer, g)
    x = g.mean(axis=1)[:, 0]
    closed = (x > 41) & (x < 59)
    open_ = (x < 39) | (x > 61)
    assert closed.sum() > 15 and open_.sum() > 80
    np.testing.assert_allclose(d[closed], 0.0, atol=1e-9)
    np.testing.assert_allclose(d[open_], W, atol=1e-9)
    assert np.all(d >= 0)


def test_rotation_and_translation_invariance():
    inner, outer, mid = straight_tube(bump=W + 1.0)
    inner[:, 1] += 0.3 * np.sin(inner[:, 0] / 7)  # a wavy wall, so values differ per line
    g = V.gridlines(mid, n=120, half_length=3 * W, inner=inner)
    ref = V.vtd(inner, outer, g)
    for theta, shift in [(0.7321, (13.2, -40.5)), (2.9, (-5.0, 7.0)), (-1.234, (100.0, 0.5))]:
        ri, ro, rm = rot(inner, theta, shift), rot(outer, theta, shift), rot(mid, theta, shift)
        rg = V.gridlines(rm, n=120, half_length=3 * W, inner=ri)
        np.testing.assert_allclose(rg, rot(g.reshape(-1, 2), theta, shift).reshape(g.shape), atol=1e-9)
        np.testing.assert_allclose(V.vtd(ri, ro, rg), ref, atol=1e-9)


def test_gridlines_perpendicular_to_midline():
    # straight midline at an angle
    m = rot(np.column_stack((np.linspace(0, 50, 30), np.zeros(30))), 0.4, (3, 4))
    g = V.gridlines(m, n=120, half_length=5)
    tan = unit(m[-1] - m[0])
    assert np.max(np.abs(unit(g[:, 1] - g[:, 0]) @ tan)) < 1e-6
    # circular arc: analytic tangent at each gridline centre
    r = 20.0
    a = np.linspace(0.2, 1.8, 400)
    m = np.column_stack((r * np.cos(a), r * np.sin(a)))
    g = V.gridlines(m, n=120, half_length=5)
    c = g.mean(axis=1)
    ang = np.arctan2(c[:, 1], c[:, 0])
    tan = np.column_stack((-np.sin(ang), np.cos(ang)))
    assert np.max(np.abs(np.sum(unit(g[:, 1] - g[:, 0]) * tan, axis=1))) < 1e-6
    np.testing.assert_allclose(np.hypot(c[:, 0], c[:, 1]), r, atol=1e-6)  # centred on the midline
    # a sine-shaped midline
    x = np.linspace(0, 40, 800)
    m = np.column_stack((x, 3 * np.sin(x / 6)))
    g = V.gridlines(m, n=120, half_length=5)
    c = g.mean(axis=1)
    tan = unit(np.column_stack((np.ones(len(c)), 0.5 * np.cos(c[:, 0] / 6))))
    assert np.max(np.abs(np.sum(unit(g[:, 1] - g[:, 0]) * tan, axis=1))) < 1e-6
    np.testing.assert_allclose(c[:, 1], 3 * np.sin(c[:, 0] / 6), atol=1e-6)
    # evenly spaced along the midline
    s = np.cumsum(np.hypot(*np.diff(c, axis=0).T))
    assert np.ptp(np.diff(np.r_[0, s])) < 0.01


def test_gridlines_span_the_midline_from_end_to_end():
    """Gridline g is centred at arc length g * L / (n - 1): the first at the lips end, the
    last at the larynx end; on a circular arc of radius r from angle 0.2 to 1.8 the centres
    are at angles 0.2 + 1.6 g / (n - 1); each gridline is 2 * half_length long."""
    r, n = 20.0, 120
    a = np.linspace(0.2, 1.8, 400)
    g = V.gridlines(np.column_stack((r * np.cos(a), r * np.sin(a))), n=n, half_length=5)
    c = g.mean(axis=1)
    want = 0.2 + 1.6 * np.arange(n) / (n - 1)
    np.testing.assert_allclose(np.arctan2(c[:, 1], c[:, 0]), want, atol=1e-6)
    np.testing.assert_allclose(np.hypot(*(g[:, 1] - g[:, 0]).T), 10.0, atol=1e-9)
    # a straight midline of length 119 px: centres 1 px apart, x = 10 .. 129
    m = np.column_stack((np.linspace(10, 129, 50), np.full(50, 7.0)))
    c = V.gridlines(m, n=n, half_length=3).mean(axis=1)
    np.testing.assert_allclose(c, np.column_stack((10.0 + np.arange(n), np.full(n, 7.0))), atol=1e-9)


def test_gridline_direction_from_a_chord_window():
    """``window``: the direction is the chord over ``window`` px of arc length centred on the
    gridline; on a circle that chord is parallel to the tangent there, so away from the
    clamped ends the gridlines are those of the local tangent."""
    r = 20.0
    a = np.linspace(0.2, 1.8, 400)
    m = np.column_stack((r * np.cos(a), r * np.sin(a)))
    g0 = V.gridlines(m, n=120, half_length=5)
    g2 = V.gridlines(m, n=120, half_length=5, window=2.0)
    s = np.linspace(0, r * 1.6, 120)
    inside = (s > 1.0) & (s < r * 1.6 - 1.0)
    np.testing.assert_allclose(g2[inside], g0[inside], atol=1e-4)
    assert np.abs(g2[0] - g0[0]).max() > 1e-3  # at the ends the chord is one-sided


def test_curved_tube_gives_radius_difference():
    r1, r2 = 10.0, 16.0
    a = np.linspace(-0.3, np.pi / 2 + 0.3, 20001)  # walls reach past the midline's ends
    inner = np.column_stack((r1 * np.cos(a), r1 * np.sin(a)))
    outer = np.column_stack((r2 * np.cos(a), r2 * np.sin(a)))
    am = np.linspace(0, np.pi / 2, 500)
    mid = np.column_stack(((r1 + r2) / 2 * np.cos(am), (r1 + r2) / 2 * np.sin(am)))
    g = V.gridlines(mid, n=120, half_length=6, inner=inner)
    assert np.all(np.hypot(*g[:, 0].T) < np.hypot(*g[:, 1].T))  # end 0 on the inner (r1) side
    d = V.vtd(inner, outer, g)
    np.testing.assert_allclose(d, r2 - r1, atol=1e-3)
    # rotated and shifted: the same
    d2 = V.vtd(
        rot(inner, 1.1, (40, 40)), rot(outer, 1.1, (40, 40)), rot(g.reshape(-1, 2), 1.1, (40, 40)).reshape(g.shape)
    )
    np.testing.assert_allclose(d2, d, atol=1e-9)


def test_missing_wall_is_nan_and_multiple_crossings():
    inner, outer, mid = straight_tube()
    g = V.gridlines(mid, n=120, half_length=3 * W, inner=inner)
    short_outer = outer[outer[:, 0] < 50]
    d = V.vtd(inner, short_outer, g)
    x = g.mean(axis=1)[:, 0]
    assert np.all(np.isnan(d[x > 49.51])) and np.allclose(d[x < 49.49], W)  # outer ends at x = 49.5
    # a second outer wall farther out (a fold): "airway" keeps the near one, "wall" the far one
    outer2 = np.concatenate([outer, np.array([[np.nan, np.nan]]), outer[::-1] + [0, 2.0]])
    np.testing.assert_allclose(V.vtd(inner, outer2, g, pick="airway"), W, atol=1e-9)
    np.testing.assert_allclose(V.vtd(inner, outer2, g, pick="wall"), W + 2, atol=1e-9)
    _, pin, pout = V.vtd(inner, outer2, g, return_points=True)
    np.testing.assert_allclose(pin[:, 1], 0, atol=1e-9)
    np.testing.assert_allclose(pout[:, 1], W, atol=1e-9)


def test_gridline_too_short_to_reach_a_wall_gives_nan():
    """A wall crossed only on the gridline's extension (beyond its ends) is not crossed."""
    inner, outer, mid = straight_tube()  # inner y = 0, outer y = 4
    low = mid - [0, 0.5]  # midline at y = 1.5: gridlines from y = -0.5 to 3.5 (half length 2)
    g = V.gridlines(low, n=120, half_length=2.0, inner=inner)
    assert np.all(np.isnan(V.vtd(inner, outer, g)))
    np.testing.assert_allclose(V.vtd(inner, outer, V.gridlines(low, n=120, half_length=2.6, inner=inner)), W, atol=1e-9)


@pytest.mark.parametrize("width, half_length", [(8.0, 12.0), (2.0, 6.0), (12.0, 15.0)])
def test_default_half_length_is_three_half_widths_clipped(width, half_length):
    """``build_grid(half_length=None)``: 3 x the 95th percentile of the half width along the
    midline (here width / 2 everywhere), clipped to [6, 15] px."""
    inner, outer, mid = straight_tube(w=width)
    g, _ = V.build_grid(inner, outer, midline=mid)
    np.testing.assert_allclose(np.hypot(*(g[:, 1] - g[:, 0]).T), 2 * half_length, rtol=1e-9)


def test_precomputed_grid_and_orientation(tmp_path):
    inner, outer, mid = straight_tube()
    g = V.gridlines(mid, n=120, half_length=3 * W, inner=inner)
    flipped = g[::-1, ::-1]  # larynx -> lips, ends swapped (as a toolbox grid may come)
    np.testing.assert_allclose(V.orient_grid(flipped, inner), g)
    for theta, shift in [(0.3, (200.0, 300.0)), (-2.0, (-150.0, 40.0))]:  # anywhere in the plane
        rg = rot(g.reshape(-1, 2), theta, shift).reshape(g.shape)
        ri = rot(inner, theta, shift)
        np.testing.assert_allclose(V.orient_grid(rg[::-1, ::-1], ri), rg, atol=1e-9)
        np.testing.assert_allclose(V.orient_grid(rg[::-1], ri), rg, atol=1e-9)
        np.testing.assert_allclose(V.orient_grid(rg[:, ::-1], ri), rg, atol=1e-9)
    np.save(tmp_path / "g.npy", flipped)
    np.testing.assert_allclose(V.load_grid(tmp_path / "g.npy"), flipped)
    import scipy.io

    scipy.io.savemat(
        tmp_path / "sub001.mat", {"grid": {"line_lb": g[:, 0], "line_rt": g[:, 1], "center_pt": g.mean(1)}}
    )
    np.testing.assert_allclose(V.load_grid(tmp_path / "sub001.mat"), g)
    np.testing.assert_allclose(V.vtd(inner, outer, V.load_grid(tmp_path / "sub001.mat")), W, atol=1e-9)
    scipy.io.savemat(tmp_path / "bad.mat", {"grid": np.zeros((5, 3))})
    with pytest.raises(CodecprobeError, match="bad.mat"):
        V.load_grid(tmp_path / "bad.mat")
    scipy.io.savemat(tmp_path / "uneven.mat", {"grid": {"line_lb": g[:, 0], "line_rt": g[:-1, 1]}})
    with pytest.raises(CodecprobeError, match=r"uneven.mat: grid line_lb \(120, 2\) and line_rt \(119, 2\) differ in shape"):
        V.load_grid(tmp_path / "uneven.mat")
    with pytest.raises(CodecprobeError, match="not found"):
        V.load_grid(tmp_path / "none.npy")
    with pytest.raises(CodecprobeError, match="zero-length"):
        V.check_grid(np.zeros((3, 2, 2)))


def test_postprocess_nan_policy(monkeypatch):
    raw = np.array(
        [
            [np.nan, 1.0, 2.0, np.nan, np.nan],
            [np.nan, np.nan, 4.0, np.nan, 6.0],
            [np.nan, 3.0, 6.0, np.nan, 8.0],
        ]
    )
    out, info = V.postprocess(raw)
    assert info["dropped"].tolist() == [True, False, False, True, False]
    assert info["n_nan"] == 8
    # time interpolation of kept lines (constant at the clip edge)
    np.testing.assert_allclose(out[:, 1], [1, 2, 3])
    np.testing.assert_allclose(out[:, 4], [6, 6, 8])
    # dropped lines refilled across the gridline index
    np.testing.assert_allclose(out[:, 0], out[:, 1])
    np.testing.assert_allclose(out[:, 3], (out[:, 2] + out[:, 4]) / 2)
    z, _ = V.postprocess(raw, "zero")
    assert z[1, 1] == 0 and z[0, 4] == 0
    k, _ = V.postprocess(raw, "keep")
    assert np.isnan(k[1, 1]) and k[1, 0] == 4.0  # dropped lines refilled from the finite kept ones
    with pytest.raises(CodecprobeError):
        V.postprocess(np.full((3, 4), np.nan))
    # a gap filled over the frame numbers: frames 3-9 skipped as bad, frame 10 missed a wall
    fno = np.array([1, 2, 10, 11, 12])
    lin = np.stack([2.0 * fno, 2.0 * fno], axis=1)
    lin[2, 1] = np.nan
    g, _ = V.postprocess(lin, frame_no=fno)
    assert g[2, 1] == pytest.approx(20.0)  # 2 x 10; over the row index it would be 12
    assert V.postprocess(lin)[0][2, 1] == pytest.approx(13.0)
    with pytest.raises(CodecprobeError, match="frame numbers"):
        V.postprocess(lin, frame_no=fno[:4])
    # vtd_track fills over the track's own frame numbers
    from types import SimpleNamespace

    track = SimpleNamespace(inner=None, outer=None, frame_no=fno, times=(fno - 0.5) / 83.2778, n_bad=7,
                            policy="skip", name="x")  # fmt: skip
    monkeypatch.setattr(V, "vtd", lambda inner, outer, grid, pick: lin)
    assert V.vtd_track(track, np.zeros((2, 2, 2))).px[2, 1] == pytest.approx(20.0)
    np.testing.assert_allclose(V.normalize_by_max(np.array([[1.0, 0], [2.0, 0]])), [[0.5, 0], [1, 0]])


def test_speed_is_reasonable():
    """Vectorized crossings: a few thousand frames/s on 120 gridlines (loose bound for CI)."""
    import time

    inner, outer, mid = straight_tube()
    g = V.gridlines(mid, n=120, half_length=3 * W, inner=inner)
    rng = np.random.default_rng(0)
    idx = np.linspace(0, len(inner) - 1, 60).astype(int)
    fi = inner[idx][None] + rng.normal(0, 0.2, (2000, 60, 2))
    fo = outer[np.linspace(0, len(outer) - 1, 90).astype(int)][None] + rng.normal(0, 0.2, (2000, 90, 2))
    t0 = time.perf_counter()
    d = V.vtd(fi, fo, g)
    rate = len(fi) / (time.perf_counter() - t0)
    assert d.shape == (2000, 120)
    assert rate > 300, f"{rate:.0f} frames/s"


# ------------------------------------------------------------------ the real fixture


@pytest.fixture(scope="module")
def real():
    if not FIXTURE.exists():
        pytest.skip(f"fixture {FIXTURE} not present")
    track = load_track(FIXTURE)
    grid, mid = V.grid_from_tracks([track])
    return track, grid, mid


def test_generic_anchor_close_to_labelled_one(real):
    track, grid, mid = real
    g2, mid2 = V.build_grid(track.inner, track.outer)  # lips anchor without section labels
    assert g2.shape == (120, 2, 2)
    assert np.hypot(*(mid2[0] - mid[0])) < 3 and np.hypot(*(mid2[-1] - mid[-1])) < 3


def test_real_fixture_grid_and_vtd(real, tmp_path):
    track, grid, mid = real
    assert grid.shape == (120, 2, 2)
    # midline runs lips (front, small x) -> larynx (bottom, large y), inside the image
    assert mid[0, 0] < 20 and mid[-1, 1] > 75
    assert np.all((mid > -5) & (mid < IMAGE_SIZE + 5))
    # midline lies between the walls: in the mid tract both walls are within a few px
    from scipy.spatial import cKDTree

    mi = np.nanmean(track.inner, axis=0)
    mo = np.nanmean(track.outer, axis=0)
    c = grid.mean(axis=1)[20:100]
    di = cKDTree(V._densify(mi, 0.1)).query(c)[0]
    do = cKDTree(V._densify(mo, 0.1)).query(c)[0]
    assert np.all(di < 8) and np.all(do < 8) and np.median(np.abs(di - do)) < 1.0
    # gridlines perpendicular to the (dense, smooth) midline
    k = np.clip(cKDTree(mid).query(grid.mean(axis=1))[1], 1, len(mid) - 2)
    tan = unit(mid[k + 1] - mid[k - 1])
    assert np.max(np.abs(np.sum(unit(grid[:, 1] - grid[:, 0]) * tan, axis=1))) < 2e-2

    raw, pin, pout = V.vtd(track.inner, track.outer, grid, return_points=True)
    assert raw.shape == (117, 120)
    mid_tract = raw[:, 15:105]
    assert np.isfinite(mid_tract).mean() > 0.95
    fin = raw[np.isfinite(raw)]
    assert np.all(fin >= 0) and np.all(fin < IMAGE_SIZE)
    assert 1.0 < np.median(fin) < 15.0

    res = V.vtd_track(track, grid)
    assert res.px.shape == (117, 120) and np.all(np.isfinite(res.px))
    np.testing.assert_allclose(res.times, (track.frame_no - 0.5) / 83.2778, rtol=1e-5)
    np.testing.assert_allclose(res.mm, res.px * 200 / 84)
    V.write_vtd(res, tmp_path / "clip_vtd.npz")
    with np.load(tmp_path / "clip_vtd.npz") as z:
        assert z["px"].shape == (117, 120) and float(z["frame_rate"]) == pytest.approx(83.2778, abs=1e-4)

    png = V.debug_figure(
        track.frame_contours(30), mid, grid, tmp_path / "debug.png", crossings=(pin[30], pout[30]), title="cs_aba 30"
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 300
    assert not list(tmp_path.glob(".debug.png*"))  # no temporary left behind


def test_real_fixture_rigid_motion_invariance(real):
    track, grid, _ = real
    ref = V.vtd(track.inner, track.outer, grid)
    th, sh = 0.37, (5.0, -3.0)
    ri = rot(track.inner.reshape(-1, 2), th, sh).reshape(track.inner.shape)
    ro = rot(track.outer.reshape(-1, 2), th, sh).reshape(track.outer.shape)
    rg = rot(grid.reshape(-1, 2), th, sh).reshape(grid.shape)
    np.testing.assert_allclose(V.vtd(ri, ro, rg), ref, atol=1e-9)


def test_midline_of_a_straight_tube():
    """A vertical tube (walls x = 0 and x = 6, lips at y = 0, larynx at y = 100): the midline is
    x = 3, from the lips end to the larynx end, extended by 3 px at both ends by default,
    spaced 0.25 px; with anchors given and no extension, it runs from one anchor to the other."""
    y = np.linspace(0, 100, 201)
    inner, outer = np.column_stack((np.zeros_like(y), y)), np.column_stack((np.full_like(y, 6.0), y))
    m = V.midline_from_contours(inner, outer)
    np.testing.assert_allclose(m[:, 0], 3.0, atol=1e-9)
    np.testing.assert_allclose(m[[0, -1], 1], [-3.0, 103.0], atol=0.05)
    np.testing.assert_allclose(np.hypot(*np.diff(m, axis=0).T), 0.25, atol=0.01)
    m = V.midline_from_contours(inner, outer, lips=(3.0, 10.0), larynx=(3.0, 60.0), extend=(0.0, 0.0))
    np.testing.assert_allclose(m[[0, -1]], [[3.0, 10.0], [3.0, 60.0]], atol=0.05)
    np.testing.assert_allclose(m[:, 0], 3.0, atol=1e-9)


def test_lips_anchor_is_the_midpoint_of_the_closest_lip_points():
    lower = np.array([[0.0, 12.0], [3.0, 10.0], [6.0, 12.0]])  # tips at (3, 10) and (3.5, 6), 4.03 px apart
    upper = np.array([[0.0, 4.0], [3.5, 6.0], [7.0, 4.0]])
    np.testing.assert_allclose(V.lips_midpoint(lower, upper), [3.25, 8.0], atol=0.05)
    np.testing.assert_allclose(V.lips_midpoint(lower + [50, -20], upper + [50, -20]), [53.25, -12.0], atol=0.05)


def test_grid_files_npz(tmp_path):
    inner, _, mid = straight_tube()
    g = V.gridlines(mid, n=120, half_length=3 * W, inner=inner)
    np.savez(tmp_path / "two.npz", other=np.zeros(3), grid=g)
    np.savez(tmp_path / "one.npz", g)
    np.savez(tmp_path / "bad.npz", a=g, b=g)
    np.testing.assert_array_equal(V.load_grid(tmp_path / "two.npz"), g)  # the array named grid
    np.testing.assert_array_equal(V.load_grid(tmp_path / "one.npz"), g)  # the only array
    with pytest.raises(CodecprobeError, match=r"bad\.npz: no array 'grid' \(arrays: a, b\)"):
        V.load_grid(tmp_path / "bad.npz")


def test_midline_errors():
    with pytest.raises(CodecprobeError):
        V.midline_from_contours(np.full((5, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(CodecprobeError):
        V.vtd(np.zeros((2, 5, 2)), np.zeros((3, 5, 2)), np.ones((4, 2, 2)) * [[0, 0], [1, 1]])


def test_nan_gaps_counts_unmeasured_frames_by_frame_number():
    ok = np.array([[True, False], [False, False], [False, True], [True, True], [False, True]])
    # column 0: frames 2, 3 missing between 1 and 4 (2 frames); frame 5 missing at the end (1)
    # column 1: frames 1, 2 missing at the start (2 frames)
    assert V.nan_gaps(ok, np.array([1, 2, 3, 4, 5])).tolist() == [[0, 2], [2, 2], [2, 0], [0, 0], [1, 0]]
    # frames 3-9 skipped as bad: the run around frame 10 is 8 frames (3..10), not 1
    ok1 = np.array([True, True, False, True])
    assert V.nan_gaps(ok1[:, None], np.array([1, 2, 10, 11]))[:, 0].tolist() == [0, 0, 8, 0]


def test_postprocess_refills_long_gaps_across_gridlines():
    f = 20
    raw = np.tile(np.array([1.0, 2.0, 4.0, 8.0]), (f, 1)) + np.arange(f)[:, None] * 0.1
    raw[5:8, 1] = np.nan  # 3 frames: bridged over time
    raw[4:16, 2] = np.nan  # 12 frames: refilled from gridlines 1 and 3 in each frame
    raw[:, 3] = np.nan  # never measured: dropped, refilled from gridline 2 (constant beyond)
    out, info = V.postprocess(raw, max_gap=10)
    np.testing.assert_allclose(out[5:8, 1], 2.0 + 0.1 * np.arange(5, 8))  # linear in time, exact here
    rows = np.arange(4, 16)
    # gridline 2 in its long gap: gridline 3 is never measured, so only gridline 1 (measured or
    # bridged) is there to refill from, held constant beyond it
    np.testing.assert_allclose(out[rows, 2], out[rows, 1])
    np.testing.assert_allclose(out[:, 3], out[:, 2])
    assert info["across"][:, 2].tolist() == [4 <= i < 16 for i in range(f)]
    assert not info["across"][:, [0, 1, 3]].any() and info["n_across"] == 12
    # the same gap bridged when max_gap allows it, and by default (None)
    for m in (12, None):
        o, i2 = V.postprocess(raw, max_gap=m)
        np.testing.assert_allclose(o[rows, 2], 4.0 + 0.1 * rows)
        assert i2["n_across"] == 0
    # a kept gridline between two measured ones takes their mean in its long gap
    raw2 = raw.copy()
    raw2[:, 3] = 8.0
    o2, _ = V.postprocess(raw2, max_gap=10)
    np.testing.assert_allclose(o2[rows, 2], (o2[rows, 1] + 8.0) / 2)
    # frames where every kept gridline is in a long gap have nothing to refill from: NaN rows,
    # flagged for the caller to leave out (they were bridged over time, a straight line over 13 frames)
    raw3 = raw2.copy()
    raw3[2:15, :] = np.nan
    o3, i3 = V.postprocess(raw3, max_gap=5)
    assert i3["unmeasured"].tolist() == [2 <= i < 15 for i in range(f)]
    assert np.isnan(o3[2:15]).all() and np.isfinite(np.delete(o3, np.s_[2:15], axis=0)).all()
    assert not i3["across"][2:15].any()
    measured = np.isfinite(raw3)
    np.testing.assert_array_equal(o3[measured], raw3[measured])
    # the same run within max_gap is bridged over time, and nothing is flagged
    o4, i4 = V.postprocess(raw3, max_gap=13)
    np.testing.assert_allclose(o4[8, 0], 1.0 + 0.8) and not i4["unmeasured"].any()
    with pytest.raises(CodecprobeError, match="max_gap"):
        V.postprocess(raw, max_gap=-1)


def test_vtd_track_leaves_out_frames_no_gridline_measures_for_over_max_gap(monkeypatch):
    """Frames the loader kept but where no gridline crosses both walls, in a run over max_gap:
    left out of the clip as skipped bad frames are, so the PWCCA stage leaves the codec
    frames there out (they were bridged by a straight line over the run, and used)."""
    from types import SimpleNamespace

    from codecprobe.artstage import in_long_gaps
    from codecprobe.rtmri import FRAME_RATE

    f = 60
    fno = np.arange(1, f + 1)
    raw = 5 + np.sin(np.arange(f) / 3.0)[:, None] * np.arange(1, 6)[None]
    raw[20:50] = np.nan  # 30 frames, no gridline measured
    track = SimpleNamespace(inner=None, outer=None, frame_no=fno, times=(fno - 0.5) / FRAME_RATE, n_bad=0,
                            policy="skip", name="x", last_frame_no=None)  # fmt: skip
    monkeypatch.setattr(V, "vtd", lambda inner, outer, grid, pick: raw)
    r = V.vtd_track(track, np.zeros((5, 2, 2)), max_gap=10)
    assert r.frame_no.tolist() == [*range(1, 21), *range(51, 61)] and r.n_unmeasured_frames == 30
    assert r.px.shape == r.raw_px.shape == r.nan_mask.shape == r.across.shape == (30, 5) and np.isfinite(r.px).all()
    np.testing.assert_array_equal(r.px, np.delete(raw, np.s_[20:50], axis=0)) and r.last_frame_no == 60
    tc = (np.arange(int(f / FRAME_RATE * 25)) + 0.5) / 25  # 25 Hz codec frames
    inside = (tc > r.times[19]) & (tc < r.times[20])
    assert inside.sum() == 9 and np.array_equal(in_long_gaps(tc, r.times, 10, np.zeros(1)), inside)
    # within max_gap (or max_gap None) the run is bridged over time and every frame kept
    for m in (30, None):
        assert V.vtd_track(track, np.zeros((5, 2, 2)), max_gap=m).n_unmeasured_frames == 0


def test_vtd_track_without_any_crossing_names_its_file(tmp_path):
    from types import SimpleNamespace

    grid = np.array([[[0.0, 0.0], [0.0, 10.0]], [[5.0, 0.0], [5.0, 10.0]]])  # two vertical gridlines
    far = np.full((3, 2, 2), 500.0) + np.array([[0.0, 0.0], [1.0, 0.0]])  # walls far from the grid
    track = SimpleNamespace(path=tmp_path / "sub901_x_track.mat", inner=far, outer=far + 5.0, frame_no=np.arange(1, 4),
                            times=np.arange(3) / 83.2778, name="sub901_x", n_bad=0, policy="skip")  # fmt: skip
    with pytest.raises(V.NoCrossingError, match=r"sub901_x_track\.mat: no gridline crosses both walls in any of its 3 frames"):
        V.vtd_track(track, grid)


def test_debug_figure_draws_contours_gridlines_midline_and_crossings(real, tmp_path, monkeypatch):
    """The debug figure (`results/rtmri/vtd/<speaker>_grid.png`) shows what it promises: each
    contour of the frame, every gridline (gridline 0, at the lips, in red), the midline and
    the wall crossings, in image coordinates with y down."""
    import matplotlib
    from matplotlib.colors import to_rgba

    track, grid, mid = real
    _, pin, pout = V.vtd(track.inner, track.outer, grid, return_points=True)
    saved = []
    real_savefig = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: (saved.append(fig), real_savefig(fig, *a, **k))[1])
    contours = track.frame_contours(30)
    V.debug_figure(contours, mid, grid, tmp_path / "debug.png", crossings=(pin[30], pout[30]), title="cs_aba 30")
    (ax,) = saved[0].axes
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines[: len(contours)]] == [str(k) for k in contours]
    for ln, pts in zip(lines, contours.values()):
        np.testing.assert_allclose(np.c_[ln.get_xdata(), ln.get_ydata()], np.asarray(pts, float).reshape(-1, 2))
    gridlines = lines[len(contours) : len(contours) + len(grid)]
    assert len(gridlines) == 120 and to_rgba(gridlines[0].get_color()) == to_rgba("red")
    assert all(to_rgba(ln.get_color()) == to_rgba("0.55") for ln in gridlines[1:])
    for ln, (a, b) in zip(gridlines, grid):
        np.testing.assert_allclose(np.c_[ln.get_xdata(), ln.get_ydata()], [a, b])
    by_label = {ln.get_label(): ln for ln in lines}
    np.testing.assert_allclose(np.c_[by_label["midline"].get_xdata(), by_label["midline"].get_ydata()], mid)
    np.testing.assert_allclose(np.c_[by_label["inner crossing"].get_xdata(), by_label["inner crossing"].get_ydata()], pin[30])
    np.testing.assert_allclose(np.c_[by_label["outer crossing"].get_xdata(), by_label["outer crossing"].get_ydata()], pout[30])
    assert ax.get_ylim() == (IMAGE_SIZE, 0) and ax.get_title() == "cs_aba 30"
