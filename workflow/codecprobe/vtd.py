"""Gridlines and Vocal Tract Distance (VTD) from rt-MRI articulator contours.

After Kim et al. (2014) and the seed paper (Sec. 2.4, Fig. 1): a midline runs from the
lips to the larynx; ``n`` (= 120) gridlines are spread evenly along it, each
perpendicular to the local midline direction and centred on it; per MRI frame the VTD
of a gridline is the distance between its crossing with the inner (jaw-side: tongue,
epiglottis, lower lip) wall and its crossing with the outer (palate, velum,
pharyngeal wall, upper lip) wall.

Conventions
-----------
* All coordinates are image pixels (x right, y down, 84 x 84 image), as
  :mod:`codecprobe.rtmri` returns them. VTD is given in pixels; multiply by
  :data:`MM_PER_PIXEL` (200 mm / 84 px = 2.381 mm) for millimetres
  (:attr:`VTDResult.mm` does).
* A grid is a float array ``[n, 2, 2]``: ``grid[g, 0]`` is gridline ``g``'s end on the
  inner (jaw) side, ``grid[g, 1]`` its end on the outer side; gridlines run lips -> larynx.
  A grid from the lab's toolbox (``line_lb`` = inner ends, ``line_rt`` = outer ends)
  can be read with :func:`load_grid` and put in this order with :func:`orient_grid`.
* Several crossings of one wall (folded contours, the velum's two faces, the long
  straight jump the outer wall makes from the velum tip to the image border in the
  older template): ``pick="airway"`` (default, as the seed paper's release does) keeps,
  for each wall, the crossing closest to the gridline's end on the *opposite* side,
  i.e. the one facing the airway; ``pick="wall"`` keeps the one closest to the
  gridline's end on the wall's own side. On the real fixture ``"wall"`` measures
  through the velum, the epiglottis and the larynx loop of segment 1 section 6 (it
  takes their far faces), so it is not the default.
* Closure: when the chosen inner crossing lies at or beyond the chosen outer one
  along the gridline (walls touch or cross), VTD is 0. When a wall is not crossed at
  all the raw VTD is NaN.

NaN policy (:func:`postprocess`, per clip)
------------------------------------------
1. Gridlines that are NaN in every frame of the clip (typically beyond the lips or
   below the larynx) are dropped and then refilled by linear interpolation across the
   gridline index from the nearest kept gridlines (constant beyond the first/last kept
   one), so that every clip keeps ``n`` columns and column ``g`` stays one place in the
   tract. This is the release's ``vtd_trim_interpolation``. Such a column is a copy or a
   linear mix of its neighbours and carries no data: ``VTDResult.dropped`` flags it (the
   speaker's HDF5 stores the flags as ``/utterances/dropped``), and a gridline flagged in
   every utterance of a speaker is dropped before CCA
   (:func:`codecprobe.articulatory.nodata_gridlines`), since it makes the VTD covariance
   singular.
2. The remaining NaNs (a wall missed in some frames): ``nan_policy="interpolate"``
   (default) interpolates each gridline linearly over time (constant at the clip edges),
   bridging runs of at most ``max_gap`` unmeasured MRI frames (10 in the configs, 0.12 s;
   skipped bad frames count); a longer run is refilled in each of its frames across the
   gridline index from the gridlines measured or bridged there, as in step 1, rather
   than made up from measurements up to seconds away (the fixture's gridline 2 was
   measured in 13 of 117 frames, in runs up to 59 frames apart). ``"zero"`` sets them
   to 0, as the release does (this reads a missed wall as a closure); ``"keep"`` leaves
   them NaN. ``VTDResult.nan_mask`` records which values were filled,
   ``VTDResult.across`` which of them were refilled across gridlines. Frames of such a
   run where no gridline is measured or bridged (tracking kept, but no gridline crosses
   both walls for more than ``max_gap`` frames) have nothing to refill from: they are
   left out of the clip (:func:`vtd_track`), as skipped bad frames are, so that no VTD
   is drawn as a straight line across them and the codec frames there are left out of
   CCA (:func:`codecprobe.artstage.in_long_gaps`).

Midline (:func:`midline_from_contours`)
---------------------------------------
Rather than pairing points of the two walls (they have no point-to-point
correspondence, and the outer wall can hold image-border runs), the midline is the curve
equidistant from the mean inner and mean outer walls, traced as the cheapest raster path
from a lips anchor (midpoint of the closest lower-lip / upper-lip pair) to the lowest
equidistant point; then smoothed (Gaussian, 4 px), extended straight by 3 px at both ends
(lip protrusion, larynx lowering) and resampled to even arc length. Gridline normals come
from the cubic spline of that smooth midline (``window`` gives chord directions instead).

Speed: :func:`vtd` tests all gridlines against all wall segments of a block of frames
at once (side tests as one matrix product, then element-wise work on
``frames x points x gridlines`` arrays): about 10,000 frames/s on one core for the
fixture's walls (60 + 90 points, 120 gridlines) with the default ``chunk=16``; larger
blocks are slower (their temporaries leave the cache).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import CodecprobeError, atomic_path
from .rtmri import FRAME_RATE, IMAGE_SIZE, LOWER_LIP, MM_PER_PIXEL, UPPER_LIP

log = logging.getLogger("codecprobe.vtd")

N_GRIDLINES = 120
PICKS = ("airway", "wall")
NAN_POLICIES = ("interpolate", "zero", "keep")


# ---------------------------------------------------------------------------------------
# polyline helpers
# ---------------------------------------------------------------------------------------


def _clean(poly: np.ndarray) -> np.ndarray:
    """Drop NaN rows and repeated consecutive points of a ``[P, 2]`` polyline."""
    p = np.asarray(poly, dtype=float).reshape(-1, 2)
    p = p[np.all(np.isfinite(p), axis=1)]
    if len(p) > 1:
        keep = np.r_[True, np.any(np.diff(p, axis=0) != 0, axis=1)]
        p = p[keep]
    return p


def arc_length(poly: np.ndarray) -> np.ndarray:
    """Cumulative arc length ``[P]`` of a ``[P, 2]`` polyline (starts at 0)."""
    return np.r_[0.0, np.cumsum(np.hypot(*np.diff(poly, axis=0).T))]


def resample_polyline(poly: np.ndarray, n: int | None = None, spacing: float | None = None) -> np.ndarray:
    """Points evenly spaced by arc length along a polyline (``n`` points, or every ``spacing``)."""
    p = _clean(poly)
    if len(p) < 2:
        raise CodecprobeError(f"polyline has {len(p)} valid point(s); need at least 2")
    s = arc_length(p)
    if n is None:
        if spacing is None or spacing <= 0:
            raise ValueError("give n or a positive spacing")
        n = max(2, int(np.ceil(s[-1] / spacing)) + 1)
    si = np.linspace(0.0, s[-1], n)
    return np.column_stack((np.interp(si, s, p[:, 0]), np.interp(si, s, p[:, 1])))


def _densify(poly: np.ndarray, step: float) -> np.ndarray:
    """Points along every finite segment of a (NaN-broken) polyline, at most ``step`` apart."""
    p = np.asarray(poly, dtype=float).reshape(-1, 2)
    a, b = p[:-1], p[1:]
    ok = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(b), axis=1)
    out = [p[np.all(np.isfinite(p), axis=1)]]
    for x0, x1 in zip(a[ok], b[ok]):
        k = int(np.ceil(np.hypot(*(x1 - x0)) / step))
        if k > 1:
            w = np.linspace(0, 1, k + 1)[1:-1, None]
            out.append(x0 + w * (x1 - x0))
    return np.concatenate(out)


def _mean_wall(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if w.ndim == 3:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN padding columns
            w = np.nanmean(w, axis=0)
    if w.ndim != 2 or w.shape[1] != 2:
        raise CodecprobeError(f"a wall must be [P, 2] or [F, P, 2], got shape {w.shape}")
    return w


# ---------------------------------------------------------------------------------------
# midline
# ---------------------------------------------------------------------------------------


def _lips_anchor(inner: np.ndarray, outer: np.ndarray, fraction: float) -> np.ndarray:
    """Midpoint of the closest pair between the lips-end parts (first ``fraction`` of arc length)."""

    def head(p):
        p = _clean(p)
        s = arc_length(p)
        return _densify(p[s <= max(fraction * s[-1], s[min(2, len(s) - 1)])], 0.1)

    a, b = head(inner), head(outer)
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return (a[i] + b[j]) / 2


def _smooth_polyline(p: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian smoothing with point-reflected ends (keeps the ends and straight runs in place)."""
    from scipy.ndimage import gaussian_filter1d

    if sigma_samples <= 0 or len(p) < 3:
        return p
    k = min(len(p) - 1, int(np.ceil(4 * sigma_samples)))
    head = 2 * p[0] - p[1 : k + 1][::-1]
    tail = 2 * p[-1] - p[-k - 1 : -1][::-1]
    q = gaussian_filter1d(np.concatenate([head, p, tail]), sigma_samples, axis=0, mode="nearest")
    return q[k : k + len(p)]


def _extend(p: np.ndarray, start: float, end: float, window: float) -> np.ndarray:
    s = arc_length(p)
    parts = [p]
    if start > 0:
        j = int(np.searchsorted(s, min(window, s[-1])))
        d = p[0] - p[min(j, len(p) - 1)]
        d /= np.hypot(*d)
        parts.insert(0, (p[0] + np.outer(np.linspace(start, 0, 20, endpoint=False), d)))
    if end > 0:
        j = int(np.searchsorted(s, max(s[-1] - window, 0)))
        d = p[-1] - p[max(min(j, len(p) - 2), 0)]
        d /= np.hypot(*d)
        parts.append(p[-1] + np.outer(np.linspace(0, end, 21)[1:], d))
    return np.concatenate(parts)


def midline_from_contours(
    inner: np.ndarray,
    outer: np.ndarray,
    *,
    lips: np.ndarray | None = None,
    larynx: np.ndarray | None = None,
    step: float = 0.25,
    max_half_width: float = 12.0,
    smooth: float = 4.0,
    extend: tuple[float, float] = (3.0, 3.0),
    spacing: float = 0.25,
    lip_fraction: float = 0.15,
    margin: float = 4.0,
) -> np.ndarray:
    """A smooth midline ``[M, 2]`` from the lips to the larynx, evenly spaced by arc length.

    ``inner``/``outer``: the walls, ``[P, 2]`` or ``[F, P, 2]`` (then averaged over frames,
    point by point: give frames of one point layout, e.g. :func:`codecprobe.rtmri.stack_walls`),
    each running lips -> larynx.

    Method: on a raster of pitch ``step`` px, the distances ``D_i`` and ``D_o`` to the mean
    inner and outer walls; the midline is the cheapest raster path from the lips anchor to
    the larynx anchor with node cost ``|D_i - D_o| + step / 10`` (the curve equidistant from
    both walls), and a heavy penalty where both walls are farther than ``max_half_width``.
    ``lips`` defaults to the midpoint of the closest pair of points between the lips ends of
    the two walls (their first ``lip_fraction`` of arc length); ``larynx`` to the lowest
    (largest y) equidistant point connected to the lips within ``max_half_width``, not below
    the inner wall's lowest point. The path is smoothed (Gaussian, ``smooth`` px), extended
    straight by ``extend = (at lips, at larynx)`` px for lip protrusion and larynx
    lowering, and resampled every ``spacing`` px.
    """
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    wi, wo = _mean_wall(inner), _mean_wall(outer)
    if len(_clean(wi)) < 2 or len(_clean(wo)) < 2:
        raise CodecprobeError("midline: a wall has fewer than 2 valid points")
    di_pts, do_pts = _densify(wi, step / 2), _densify(wo, step / 2)
    allp = np.concatenate([di_pts, do_pts])
    lo = allp.min(axis=0) - margin
    hi = allp.max(axis=0) + margin
    xs = np.arange(lo[0], hi[0] + step / 2, step)
    ys = np.arange(lo[1], hi[1] + step / 2, step)
    nx, ny = len(xs), len(ys)
    gx, gy = np.meshgrid(xs, ys)  # [ny, nx]
    nodes = np.column_stack((gx.ravel(), gy.ravel()))
    d_in = cKDTree(di_pts).query(nodes)[0].reshape(ny, nx)
    d_out = cKDTree(do_pts).query(nodes)[0].reshape(ny, nx)
    diff = np.abs(d_in - d_out)
    far = np.maximum(d_in, d_out) > max_half_width
    cost = diff + step / 10 + np.where(far, 10 * max_half_width, 0.0)

    def node_of(pt):
        c = int(np.clip(np.rint((pt[0] - xs[0]) / step), 0, nx - 1))
        r = int(np.clip(np.rint((pt[1] - ys[0]) / step), 0, ny - 1))
        return r, c

    lips_pt = _lips_anchor(wi, wo, lip_fraction) if lips is None else np.asarray(lips, float)
    r0, c0 = node_of(lips_pt)
    if larynx is None:
        ridge = (diff <= 1.5 * step) & ~far
        ridge = ndimage.binary_dilation(ridge, structure=np.ones((3, 3), bool))
        lab, _ = ndimage.label(ridge, structure=np.ones((3, 3), bool))
        if lab[r0, c0] == 0:  # snap the lips anchor onto the equidistant curve
            rr, cc = np.nonzero(lab)
            k = int(np.argmin((rr - r0) ** 2 + (cc - c0) ** 2))
            r0, c0 = int(rr[k]), int(cc[k])
        comp = lab == lab[r0, c0]
        comp &= gy <= np.nanmax(wi[:, 1])
        rr, cc = np.nonzero(comp)
        if len(rr) == 0:
            raise CodecprobeError("midline: no point equidistant from both walls near the lips")
        rmax = rr.max()
        cands = np.sort(cc[rr == rmax])
        r1, c1 = int(rmax), int(cands[len(cands) // 2])
    else:
        r1, c1 = node_of(np.asarray(larynx, float))

    idx = np.arange(nx * ny).reshape(ny, nx)
    cflat = cost.ravel()
    rows, cols, w = [], [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = idx[max(0, -dr) : ny - max(0, dr), max(0, -dc) : nx - max(0, dc)].ravel()
        b = idx[max(0, dr) : ny + min(0, dr) or None, max(0, dc) : nx + min(0, dc) or None].ravel()
        rows.append(a)
        cols.append(b)
        w.append(step * np.hypot(dr, dc) * (cflat[a] + cflat[b]) / 2)
    graph = coo_matrix((np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))), shape=(nx * ny,) * 2)
    src, dst = idx[r0, c0], idx[r1, c1]
    dist, pred = dijkstra(graph.tocsr(), directed=False, indices=src, return_predecessors=True)
    if not np.isfinite(dist[dst]):
        raise CodecprobeError("midline: the larynx anchor cannot be reached from the lips anchor")
    path = [dst]
    while path[-1] != src:
        path.append(pred[path[-1]])
    path = nodes[np.asarray(path[::-1])]
    if len(path) < 3:
        raise CodecprobeError("midline: lips and larynx anchors coincide")
    p = resample_polyline(path, spacing=step)
    p = _smooth_polyline(p, smooth / step)
    p = _extend(p, extend[0], extend[1], window=max(2.0, smooth))
    return resample_polyline(p, spacing=spacing)


def midline_from_tracks(tracks, **kw) -> np.ndarray:
    """:func:`midline_from_contours` on the mean walls of ``tracks`` (a speaker's
    :class:`codecprobe.rtmri.Track` list); the lips anchor is the midpoint of the closest
    pair between the mean lower lip (segment 1 section 4) and upper lip (segment 3 section 5)."""
    from .rtmri import stack_walls

    inner, outer = stack_walls(list(tracks))
    if "lips" not in kw:
        lo = [s[LOWER_LIP] for t in tracks for s in t.sections if LOWER_LIP in s]
        up = [s[UPPER_LIP] for t in tracks for s in t.sections if UPPER_LIP in s]
        n_lo, n_up = np.bincount([len(a) for a in lo]).argmax(), np.bincount([len(a) for a in up]).argmax()
        kw["lips"] = lips_midpoint(
            np.mean([a for a in lo if len(a) == n_lo], axis=0), np.mean([a for a in up if len(a) == n_up], axis=0)
        )
    return midline_from_contours(inner, outer, **kw)


def lips_midpoint(lower_lip: np.ndarray, upper_lip: np.ndarray) -> np.ndarray:
    """Midpoint ``[2]`` of the closest pair of points between two lip polylines ``[P, 2]``
    (each densified to 0.1 px first): the lips anchor of the midline."""
    lo, up = _densify(lower_lip, 0.1), _densify(upper_lip, 0.1)
    d = np.hypot(lo[:, None, 0] - up[None, :, 0], lo[:, None, 1] - up[None, :, 1])
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return (lo[i] + up[j]) / 2


# ---------------------------------------------------------------------------------------
# gridlines
# ---------------------------------------------------------------------------------------


def _spline(midline: np.ndarray):
    from scipy.interpolate import CubicSpline

    p = _clean(midline)
    if len(p) < 2:
        raise CodecprobeError(f"midline has {len(p)} valid point(s); need at least 2")
    s = arc_length(p)
    if len(p) < 4:  # too few points for a cubic: straight pieces
        p = resample_polyline(p, n=8)
        s = arc_length(p)
    return CubicSpline(s, p, axis=0), s[-1]


def gridlines(
    midline: np.ndarray,
    n: int = N_GRIDLINES,
    half_length: float = 12.0,
    *,
    window: float | None = None,
    inner: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` gridlines ``[n, 2, 2]`` evenly spaced along ``midline`` (lips -> larynx).

    ``midline``: ``[M, 2]`` points ordered lips -> larynx (interpolated by a cubic spline of
    arc length). Gridline ``g`` is centred on the midline at arc length ``g * L / (n - 1)``,
    perpendicular to the midline direction there and ``2 * half_length`` px long. The
    direction is the local tangent (``window=None``) or the chord over ``window`` px of arc
    length centred there (clamped at the ends) for smoother normals on a noisy midline.
    ``grid[g, 0]`` is the end on the inner-wall side: the side where ``inner`` (a wall,
    ``[P, 2]`` or ``[F, P, 2]``) lies for most gridlines; without ``inner``, the left of the
    direction of travel in image coordinates (below a midline running +x, which is the
    jaw side for a face looking left, as in the USC data).
    """
    if n < 2:
        raise ValueError("need n >= 2 gridlines")
    if not half_length > 0:
        raise ValueError("half_length must be positive")
    sp, L = _spline(midline)
    s = np.linspace(0.0, L, n)
    c = sp(s)
    if window is None or window <= 0:
        t = sp(s, 1)
    else:
        t = sp(np.clip(s + window / 2, 0, L)) - sp(np.clip(s - window / 2, 0, L))
    t = t / np.hypot(t[:, 0], t[:, 1])[:, None]
    nrm = np.column_stack((-t[:, 1], t[:, 0]))  # left of travel, image coordinates
    if inner is not None:
        from scipy.spatial import cKDTree

        w = _densify(_mean_wall(inner), 0.25)
        nearest = w[cKDTree(w).query(c)[1]]
        if np.sum(np.sign(np.sum((nearest - c) * nrm, axis=1))) < 0:
            nrm = -nrm
    return np.stack((c + half_length * nrm, c - half_length * nrm), axis=1)


def check_grid(grid, name: str = "grid") -> np.ndarray:
    """Validate a grid: float ``[n, 2, 2]``, finite, no zero-length gridline."""
    g = np.asarray(grid, dtype=float)
    if g.ndim != 3 or g.shape[1:] != (2, 2) or len(g) < 1:
        raise CodecprobeError(f"{name}: expected an array [n, 2, 2] (two end points per gridline), got {g.shape}")
    if not np.all(np.isfinite(g)):
        raise CodecprobeError(f"{name}: non-finite end points")
    if np.any(np.hypot(*(g[:, 1] - g[:, 0]).T) == 0):
        raise CodecprobeError(f"{name}: zero-length gridline(s)")
    return g


def load_grid(path: str | os.PathLike) -> np.ndarray:
    """Read a precomputed grid ``[n, 2, 2]`` (inner end, outer end) from ``.npy``, ``.npz``
    (array ``grid`` or the only array) or ``.mat``: a variable ``grid`` that is such an array,
    or the lab toolbox's struct with ``line_lb`` (inner ends) and ``line_rt`` (outer ends).
    The order of the gridlines is kept; see :func:`orient_grid`."""
    path = Path(path)
    if not path.is_file():
        raise CodecprobeError(f"{path}: grid file not found")
    try:
        if path.suffix == ".npy":
            return check_grid(np.load(path), str(path))
        if path.suffix == ".npz":
            with np.load(path) as z:
                key = "grid" if "grid" in z.files else (z.files[0] if len(z.files) == 1 else None)
                if key is None:
                    raise CodecprobeError(f"{path}: no array 'grid' (arrays: {', '.join(z.files)})")
                return check_grid(z[key], str(path))
        import scipy.io

        m = scipy.io.loadmat(str(path), simplify_cells=True)
    except CodecprobeError:
        raise
    except Exception as e:
        raise CodecprobeError(f"{path}: cannot read grid ({type(e).__name__}: {e})") from e
    g = m.get("grid")
    if g is None:
        raise CodecprobeError(
            f"{path}: no variable 'grid' (variables: {', '.join(k for k in m if not k.startswith('__'))})"
        )
    if isinstance(g, dict):
        if "line_lb" not in g or "line_rt" not in g:
            raise CodecprobeError(f"{path}: 'grid' struct lacks line_lb/line_rt (fields: {', '.join(g)})")
        lb, rt = np.asarray(g["line_lb"], float), np.asarray(g["line_rt"], float)
        if lb.shape != rt.shape:
            raise CodecprobeError(f"{path}: grid line_lb {lb.shape} and line_rt {rt.shape} differ in shape (one end per gridline each)")
        return check_grid(np.stack((lb, rt), axis=1), str(path))
    return check_grid(g, str(path))


def orient_grid(grid: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Put a grid in this module's order: gridlines lips -> larynx, end 0 on the inner side.

    ``inner``: the inner wall(s) ``[P, 2]`` or ``[F, P, 2]`` running lips -> larynx (as
    :class:`codecprobe.rtmri.Track` stores them). Gridlines are reversed when the first is
    farther than the last from the wall's lips end; ends are swapped (all gridlines at once)
    when most gridlines have their end 1 nearer the inner wall."""
    from scipy.spatial import cKDTree

    g = check_grid(grid).copy()
    w = _clean(_mean_wall(inner))
    c = g.mean(axis=1)
    if np.hypot(*(c[0] - w[0])) > np.hypot(*(c[-1] - w[0])):
        g = g[::-1]
    tree = cKDTree(_densify(w, 0.25))
    d0, d1 = tree.query(g[:, 0])[0], tree.query(g[:, 1])[0]
    if np.sum(d0 < d1) < np.sum(d1 < d0):
        g = g[:, ::-1]
    return np.ascontiguousarray(g)


def build_grid(inner, outer, n: int = N_GRIDLINES, half_length: float | None = None, *, midline=None, **midline_kw):
    """Midline and gridlines from walls (``[F, P, 2]`` frames of one layout, or mean walls).

    ``midline``: use this one instead of :func:`midline_from_contours` (``**midline_kw``).
    ``half_length=None``: three times the 95th percentile of the mean tract's half width
    along the midline, clipped to [6, 15] px (long enough for frames more open than the
    mean, short enough not to reach across the tongue at the oro-pharyngeal bend).
    Returns ``(grid [n, 2, 2], midline [M, 2])``."""
    from scipy.spatial import cKDTree

    mid = midline_from_contours(inner, outer, **midline_kw) if midline is None else np.asarray(midline, float)
    if half_length is None:
        wi = _densify(_mean_wall(inner), 0.1)
        wo = _densify(_mean_wall(outer), 0.1)
        hw = (cKDTree(wi).query(mid)[0] + cKDTree(wo).query(mid)[0]) / 2
        half_length = float(np.clip(3.0 * np.percentile(hw, 95), 6.0, 15.0))
    return gridlines(mid, n=n, half_length=half_length, inner=inner), mid


def grid_from_tracks(tracks, n: int = N_GRIDLINES, half_length: float | None = None, **midline_kw):
    """A speaker's grid from its :class:`codecprobe.rtmri.Track` list (all, or a sample of
    them): :func:`midline_from_tracks` (lips anchor from the lip sections) and
    :func:`build_grid` on the stacked walls. Returns ``(grid [n, 2, 2], midline [M, 2])``."""
    from .rtmri import stack_walls

    tracks = list(tracks)
    inner, outer = stack_walls(tracks)
    mid = midline_from_tracks(tracks, **midline_kw)
    return build_grid(inner, outer, n=n, half_length=half_length, midline=mid)


# ---------------------------------------------------------------------------------------
# VTD
# ---------------------------------------------------------------------------------------


def _crossing_params(walls: np.ndarray, grid: np.ndarray, nearest_to_end1: bool) -> np.ndarray:
    """Per frame and gridline, the position ``t`` in [0, 1] (0 = end 0, 1 = end 1) of the
    chosen crossing of the wall polyline: the largest ``t`` if ``nearest_to_end1``, else the
    smallest; NaN when the gridline does not cross the wall. ``walls``: ``[F, P, 2]``."""
    a = grid[:, 0]
    d = grid[:, 1] - grid[:, 0]
    l2 = np.sum(d * d, axis=1)
    # side(P) = cross(d, P - A); proj(P) = dot(P - A, d) / |d|^2 -- as one product each
    m_side = np.stack((-d[:, 1], d[:, 0]))  # [2, G]
    k_side = d[:, 1] * a[:, 0] - d[:, 0] * a[:, 1]
    m_proj = (d / l2[:, None]).T
    k_proj = -np.sum(a * d, axis=1) / l2
    f, p, _ = walls.shape
    flat = walls.reshape(f * p, 2)
    side = (flat @ m_side + k_side).reshape(f, p, -1)  # [F, P, G]
    proj = (flat @ m_proj + k_proj).reshape(f, p, -1)
    s0, s1 = side[:, :-1], side[:, 1:]
    q0, q1 = proj[:, :-1], proj[:, 1:]
    den = s0 - s1
    with np.errstate(invalid="ignore", divide="ignore"):
        hit = (s0 * s1 <= 0) & (den != 0)
        t = q0 + (s0 / den) * (q1 - q0)
        hit &= (t >= -1e-12) & (t <= 1 + 1e-12)
    if nearest_to_end1:
        r = np.where(hit, t, -np.inf).max(axis=1)
        r[np.isneginf(r)] = np.nan
    else:
        r = np.where(hit, t, np.inf).min(axis=1)
        r[np.isposinf(r)] = np.nan
    return r


def vtd(
    inner: np.ndarray,
    outer: np.ndarray,
    grid: np.ndarray,
    *,
    pick: str = "airway",
    chunk: int = 16,
    return_points: bool = False,
):
    """Raw VTD in pixels per frame and gridline.

    ``inner``/``outer``: ``[F, P, 2]`` (or ``[P, 2]`` for one frame) wall polylines in image
    pixels, NaN-padded points allowed (segments touching NaN are ignored); ``grid``:
    ``[n, 2, 2]`` (end 0 on the inner side). Returns ``[F, n]`` (``[n]`` for one frame):
    the distance between the inner and outer crossings, 0 at closure (the inner crossing
    at or beyond the outer one along the gridline), NaN when a wall is not crossed. With
    ``return_points`` also the crossing points ``(inner_pts, outer_pts)``, ``[F, n, 2]`` each.
    See the module docstring for ``pick``. Multiply by :data:`MM_PER_PIXEL` for mm.
    """
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {PICKS}, got {pick!r}")
    g = check_grid(grid)
    wi, wo = np.asarray(inner, dtype=float), np.asarray(outer, dtype=float)
    single = wi.ndim == 2
    if single:
        wi, wo = wi[None], wo[None]
    if wi.ndim != 3 or wo.ndim != 3 or wi.shape[2] != 2 or wo.shape[2] != 2 or len(wi) != len(wo):
        raise CodecprobeError(f"vtd: walls must be [F, P, 2] with the same F, got {wi.shape} and {wo.shape}")
    F = len(wi)
    t_in = np.empty((F, len(g)))
    t_out = np.empty((F, len(g)))
    airway = pick == "airway"
    for a in range(0, F, max(1, chunk)):
        b = min(F, a + max(1, chunk))
        t_in[a:b] = _crossing_params(wi[a:b], g, nearest_to_end1=airway)
        t_out[a:b] = _crossing_params(wo[a:b], g, nearest_to_end1=not airway)
    length = np.hypot(*(g[:, 1] - g[:, 0]).T)
    out = np.maximum(t_out - t_in, 0.0) * length  # NaN propagates
    if single:
        out = out[0]
    if not return_points:
        return out
    d = g[:, 1] - g[:, 0]
    pin = g[None, :, 0] + t_in[..., None] * d[None]
    pout = g[None, :, 0] + t_out[..., None] * d[None]
    if single:
        pin, pout = pin[0], pout[0]
    return out, pin, pout


def _interp_nan_1d(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(y)
    if ok.all() or not ok.any():
        return y
    y = y.copy()
    y[~ok] = np.interp(x[~ok], x[ok], y[ok])
    return y


def nan_gaps(ok: np.ndarray, frame_no: np.ndarray) -> np.ndarray:
    """Length of the run of unmeasured frames each value belongs to, counted in MRI frames.

    ``ok [F, n]`` (bool: measured), ``frame_no [F]`` (increasing frame numbers; skipped bad
    frames leave holes, which count as unmeasured). Returns ``[F, n]`` int: 0 where measured;
    elsewhere the frames from the last measured one before to the next measured one after,
    exclusive (a run at a clip edge counts from the clip's first or to its last frame).
    """
    ok = np.asarray(ok, bool).reshape(len(frame_no), -1)
    x = np.asarray(frame_no, np.int64)
    f = len(x)
    idx = np.arange(f)[:, None]
    prev = np.maximum.accumulate(np.where(ok, idx, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(ok, idx, f)[::-1], axis=0)[::-1]
    left = np.where(prev >= 0, x[np.clip(prev, 0, None)], x[0] - 1)
    right = np.where(nxt < f, x[np.clip(nxt, None, f - 1)], x[-1] + 1)
    return np.where(ok, 0, right - left - 1)


def postprocess(
    raw: np.ndarray, nan_policy: str = "interpolate", frame_no: np.ndarray | None = None, max_gap: int | None = None
) -> tuple[np.ndarray, dict]:
    """Clean one clip's raw VTD ``[F, n]`` (see the module docstring's NaN policy).

    ``frame_no [F]``: the MRI frame numbers of the rows (default ``0..F-1``); ``interpolate``
    fills a gap over them, so a frame next to a skipped bad frame is filled at its place in
    time, not as if the frames were contiguous. ``max_gap`` (MRI frames; ``interpolate``
    only): a run of more unmeasured frames of a gridline (:func:`nan_gaps`) is not bridged
    over time but refilled in each of its frames across the gridline index, as a gridline
    NaN in every frame is; None bridges every run.

    Returns ``(vtd [F, n], info)`` with ``info["dropped"]`` (bool ``[n]``: gridlines NaN in
    every frame, refilled across the gridline index), ``info["nan_mask"]`` (bool ``[F, n]``:
    values that were NaN before cleaning), ``info["across"]`` (bool ``[F, n]``: values of
    kept gridlines refilled across the gridline index, their gap being over ``max_gap``),
    ``info["unmeasured"]`` (bool ``[F]``: frames where every kept gridline's gap is over
    ``max_gap``, so no gridline is measured or bridged there to refill across from; their
    rows are NaN, for the caller to leave out), ``info["n_nan"]`` and ``info["n_across"]``.
    A clip where every value is NaN raises :class:`CodecprobeError`.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    if max_gap is not None and max_gap < 0:
        raise CodecprobeError(f"postprocess: max_gap must be >= 0 frames or None, got {max_gap}")
    v = np.array(raw, dtype=float)
    if v.ndim != 2:
        raise CodecprobeError(f"postprocess: expected [frames, gridlines], got {v.shape}")
    nan_mask = ~np.isfinite(v)
    dropped = nan_mask.all(axis=0)
    if dropped.all():
        raise CodecprobeError("postprocess: every gridline is NaN in every frame (walls never crossed)")
    kept = np.nonzero(~dropped)[0]
    sub = v[:, kept]
    across = np.zeros_like(nan_mask)
    unmeasured = np.zeros(len(v), bool)
    if nan_policy == "interpolate":
        x = np.arange(len(v), dtype=float) if frame_no is None else np.asarray(frame_no, dtype=float)
        if x.shape != (len(v),):
            raise CodecprobeError(f"postprocess: {x.shape} frame numbers for {len(v)} frames")
        sub = np.apply_along_axis(_interp_nan_1d, 0, sub, x)
        if max_gap is not None:
            long = nan_gaps(~nan_mask[:, kept], x) > max_gap
            unmeasured = long.all(axis=1)  # no gridline to refill across from: NaN rows, left out by the caller
            long[unmeasured] = False
            across[:, kept] = long
            sub[long] = np.nan
    elif nan_policy == "zero":
        sub = np.where(np.isfinite(sub), sub, 0.0)
    out = np.empty_like(v)
    out[:, kept] = sub
    refill = dropped[None, :] | across
    if refill.any():
        cols = np.arange(v.shape[1])
        for f in np.nonzero(refill.any(axis=1) & ~unmeasured)[0]:  # across gridline index; NaN kept values stay NaN ("keep")
            ok = ~refill[f] & np.isfinite(out[f])
            out[f, refill[f]] = np.interp(cols[refill[f]], cols[ok], out[f, ok]) if ok.any() else np.nan
    out[unmeasured] = np.nan
    return out, {"dropped": dropped, "nan_mask": nan_mask, "across": across, "unmeasured": unmeasured,
                 "n_nan": int(nan_mask.sum()), "n_across": int(across.sum())}  # fmt: skip


def normalize_by_max(v: np.ndarray) -> np.ndarray:
    """Each gridline divided by its maximum over the clip (the release's ``vtd_normalize``;
    all-zero gridlines stay 0)."""
    m = np.nanmax(v, axis=0)
    m = np.where(m > 0, m, 1.0)
    return v / m


@dataclass
class VTDResult:
    """One clip's VTD at the MRI frame rate (one row per kept frame)."""

    name: str
    frame_no: np.ndarray  # [F] 1-based MRI frame numbers
    times: np.ndarray  # [F] seconds, frame centres (frameNo - 0.5) / 83.2778
    px: np.ndarray  # [F, n] cleaned VTD in pixels
    raw_px: np.ndarray  # [F, n] before the NaN policy
    dropped: np.ndarray  # [n] gridlines NaN in every frame
    nan_mask: np.ndarray  # [F, n]
    grid: np.ndarray  # [n, 2, 2]
    n_bad_frames: int = 0  # bad track frames (skipped or interpolated by the loader)
    n_unmeasured_frames: int = 0  # frames left out: no gridline measured for more than max_gap frames
    across: np.ndarray | None = None  # [F, n] kept-gridline values refilled across gridlines (gaps over max_gap)
    frame_rate: float = FRAME_RATE
    extra: dict = field(default_factory=dict)
    last_frame_no: int | None = None  # the track file's last frameNo (its last frames may be bad, left out)

    @property
    def mm(self) -> np.ndarray:
        """VTD in millimetres (``px * 200 / 84``)."""
        return self.px * MM_PER_PIXEL


class NoCrossingError(CodecprobeError):
    """No gridline crosses both walls in any frame of a track (tracking lost, subject moved
    out of the grid's place)."""


def vtd_track(
    track, grid: np.ndarray, *, pick: str = "airway", nan_policy: str = "interpolate", max_gap: int | None = None
) -> VTDResult:
    """VTD of one :class:`codecprobe.rtmri.Track` on ``grid``, post-processed per clip
    (``max_gap``: :func:`postprocess`). Frames in a run of more than ``max_gap`` where no
    gridline crosses both walls (``info["unmeasured"]``) are left out of the result, as the
    loader leaves out skipped bad frames (``n_unmeasured_frames`` counts them). A track whose
    walls no gridline crosses in any frame raises :class:`NoCrossingError` naming its file."""
    raw = vtd(track.inner, track.outer, grid, pick=pick)
    if not np.isfinite(raw).any():
        raise NoCrossingError(
            f"{track.path}: no gridline crosses both walls in any of its {len(raw)} frames "
            "(tracking lost, or the speaker's grid does not fit this track)"
        )
    px, info = postprocess(raw, nan_policy, track.frame_no, max_gap)
    use = ~info["unmeasured"]
    last = getattr(track, "last_frame_no", None)
    return VTDResult(
        name=track.name,
        frame_no=np.asarray(track.frame_no)[use],
        times=np.asarray(track.times)[use],
        px=px[use],
        raw_px=raw[use],
        dropped=info["dropped"],
        nan_mask=info["nan_mask"][use],
        grid=np.asarray(grid, float),
        n_bad_frames=track.n_bad,
        n_unmeasured_frames=int((~use).sum()),
        across=info["across"][use],
        extra={"pick": pick, "nan_policy": nan_policy, "bad_policy": track.policy, "max_gap": max_gap},
        last_frame_no=int(np.asarray(track.frame_no)[-1]) if last is None else last,
    )


# ----------------------------------------------------------------------------- regions
# Regions of the tract by the outer-wall section a gridline crosses. Segment 3's sections
# (upper lip, hard palate, velum) are the same in Annot-16's dense tracks and the lab's older
# template; segment 2's differ between them (arytenoid / pharyngeal wall, or one section
# for the whole posterior wall), so all of segment 2 is one region.
REGIONS = ("lips", "palate", "velum", "pharynx")
OUTER_REGION = {(3, 5): 0, (3, 1): 1, (3, 2): 2}  # (segment, section) -> index in REGIONS; segment 2: 3


def gridline_regions(tracks, grid: np.ndarray, max_frames: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The region of the tract each gridline measures: ``(region [G] int, share [G] float)``.

    For up to ``max_frames`` frames drawn from ``tracks`` (:class:`codecprobe.rtmri.Track`;
    ``np.random.default_rng(seed)``), the gridline's outer-wall crossing (as :func:`vtd`
    picks it) is assigned to the outer section with the nearest contour point, and that
    section to a region (:data:`REGIONS`: upper lip -> lips, hard palate -> palate,
    velum -> velum, any section of segment 2 -> pharynx). ``region[g]`` is the index of the
    region most of the frames give, or -1 when the gridline crosses the outer wall in
    fewer than half of them (beyond the lips, below the larynx); ``share[g]``: the fraction
    of the drawn frames that gave that region (0 for -1).
    """
    from .rtmri import OUTER_REVERSED_RUNS, OUTER_RUNS

    g = check_grid(grid)
    frames = [(i, f) for i, t in enumerate(tracks) for f in range(t.n_frames)]
    if not frames:
        raise CodecprobeError("gridline_regions: no frame in the tracks")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(frames), min(max_frames, len(frames)), replace=False)
    keys = [(seg, sec) for seg, secs in OUTER_RUNS + OUTER_REVERSED_RUNS for sec in secs]
    votes = np.zeros((len(g), len(REGIONS)), np.int64)
    for j in np.sort(pick):
        i, f = frames[j]
        t = tracks[i]
        _, _, pout = vtd(t.inner[f], t.outer[f], g, return_points=True)
        hit = np.isfinite(pout).all(axis=1)
        if not hit.any():
            continue
        pts = [t.sections[f][k] for k in keys]
        owner = np.concatenate([np.full(len(p), OUTER_REGION.get(k, 3)) for k, p in zip(keys, pts)])
        allp = np.concatenate(pts)
        d = np.linalg.norm(pout[hit][:, None, :] - allp[None, :, :], axis=2)  # [hit, points]
        votes[np.flatnonzero(hit), owner[d.argmin(axis=1)]] += 1
    n = len(pick)
    region = votes.argmax(axis=1)
    share = votes.max(axis=1) / n
    none = votes.sum(axis=1) < n / 2
    region[none], share[none] = -1, 0.0
    return region, share


def write_vtd(result: VTDResult, path: str | os.PathLike) -> None:
    """Save a :class:`VTDResult` atomically as ``.npz`` (``px``, ``mm``, ``raw_px``,
    ``frame_no``, ``times``, ``dropped``, ``nan_mask``, ``grid``, ``frame_rate``,
    ``mm_per_pixel``, ``n_bad_frames``, ``name``)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                px=result.px.astype(np.float32),
                mm=result.mm.astype(np.float32),
                raw_px=result.raw_px.astype(np.float32),
                frame_no=result.frame_no,
                times=result.times,
                dropped=result.dropped,
                nan_mask=result.nan_mask,
                grid=result.grid,
                frame_rate=result.frame_rate,
                mm_per_pixel=MM_PER_PIXEL,
                n_bad_frames=result.n_bad_frames,
                name=result.name,
            )


# ---------------------------------------------------------------------------------------
# debug figure
# ---------------------------------------------------------------------------------------


def debug_figure(
    frame_contours,
    midline: np.ndarray | None,
    grid: np.ndarray,
    path: str | os.PathLike,
    *,
    crossings: tuple[np.ndarray, np.ndarray] | None = None,
    title: str | None = None,
    image_size: int = IMAGE_SIZE,
    dpi: int = 120,
) -> Path:
    """Draw one frame's contours, the midline and the gridlines (image coordinates, y down)
    and save it atomically as PNG.

    ``frame_contours``: a mapping label -> ``[P, 2]`` points (e.g.
    :meth:`codecprobe.rtmri.Track.frame_contours`) or a sequence of ``[P, 2]`` arrays.
    ``crossings``: optional ``(inner_pts, outer_pts)`` ``[n, 2]`` from :func:`vtd` with
    ``return_points=True``, drawn as dots. Gridline 0 (lips) is drawn in red.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = check_grid(grid)
    items = frame_contours.items() if isinstance(frame_contours, dict) else enumerate(frame_contours)
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    try:
        cmap = plt.get_cmap("tab20")
        for k, (label, pts) in enumerate(items):
            pts = np.asarray(pts, float).reshape(-1, 2)
            ax.plot(pts[:, 0], pts[:, 1], "-", lw=1.2, color=cmap(k % 20), label=str(label))
        for j, (a, b) in enumerate(g):
            label = ("gridline 0 (lips)" if j == 0 else "gridlines") if j < 2 else None
            ax.plot([a[0], b[0]], [a[1], b[1]], "-", lw=1.2 if j == 0 else 0.5, color="red" if j == 0 else "0.55",
                    label=label)  # fmt: skip
        ax.plot(g[:, 0, 0], g[:, 0, 1], ".", ms=2, color="tab:orange", label="gridline ends, inner side")
        if midline is not None:
            m = np.asarray(midline, float)
            ax.plot(m[:, 0], m[:, 1], "-", lw=1.5, color="k", label="midline")
        if crossings is not None:
            pin, pout = (np.asarray(c, float) for c in crossings)
            ax.plot(pin[:, 0], pin[:, 1], "o", ms=2.5, color="tab:blue", label="inner crossing")
            ax.plot(pout[:, 0], pout[:, 1], "o", ms=2.5, color="tab:red", label="outer crossing")
        ax.set_xlim(0, image_size)
        ax.set_ylim(image_size, 0)  # y down
        ax.set_aspect("equal")
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px, down)")
        if title:
            ax.set_title(title, fontsize=9)
        ax.legend(fontsize=5, loc="lower left", ncol=2)
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return Path(path)
