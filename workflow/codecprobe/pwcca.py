"""Projection-weighted CCA (PWCCA; Morcos, Raghu & Bengio 2018) between two representations.

Orientation: every function here takes **datapoints x features**, ``x [n_frames, n_x]``
and ``y [n_frames, n_y]`` (e.g. VTD with 120 gridlines against one codec layer's
features, frame-aligned). The reference code (google/svcca, ``cca_core.py`` and
``pwcca.py``) takes the transpose, neurons x datapoints: pass ``acts.T`` to compare.

CCA, as in the reference (``cca``):

1. centre each column; covariance blocks ``Sxx [n_x, n_x]``, ``Syy``, ``Sxy``
   (the 1/(n-1) factor cancels in step 2);
2. scale (``scaling``, per side): ``"dims"`` (the default) divides each dimension by its
   own standard deviation, so ``Sxx`` and ``Syy`` become correlation matrices and ``Sxy``
   ``Dx^-1 Sxy Dy^-1``; ``"max"`` (google/svcca's convention, used for
   ``variates="svcca"``) divides ``Sxx`` by ``max|Sxx|``, ``Syy`` by ``max|Syy|`` and
   ``Sxy`` by ``sqrt(max|Sxx| max|Syy|)``;
3. drop dimensions whose variance is below ``epsilon`` x a reference variance (constant
   columns, or columns of rounding noise): the **median** of the side's non-zero
   variances with ``"dims"``, the largest with ``"max"``;
4. add ``epsilon`` to the diagonals of the kept, scaled blocks (a ridge);
5. ``A = Sxx^-1/2 Sxy Syy^-1/2`` (inverse square roots by eigendecomposition,
   eigenvalues below 1e-15 x the largest treated as 0, like ``np.linalg.pinv``);
6. canonical correlations ``rho = svd(A)``, clipped to [0, 1], in decreasing order.

With ``epsilon = 0`` nothing is dropped or regularized and ``rho`` are the exact sample
canonical correlations (the cosines of the principal angles between the two centred
column spaces), whatever the scaling. With ``epsilon > 0`` the two scalings differ where
a side's channels differ much in scale: under ``"max"`` the ridge and the drop threshold
are relative to the strongest channel, so one channel 1e4 x the others in scale moved a
synthetic PWCCA from 0.474 to 0.473, and at 1e5 to 0.408 with 15 of its 50 channels
dropped; under ``"dims"`` the ridge is relative to each channel and the threshold to a
typical one, and neither moves the value (tested). Canonical correlations and the
``canonical`` and ``release`` variates do not depend on the scaling otherwise (exact
arithmetic); the ``svcca`` variates do (they apply the whitened directions to unwhitened
data), so they keep the reference's ``"max"``.

PWCCA (``pwcca``): the canonical directions of one side (``weight_side``; default the side
with fewer kept dimensions, ties to x, as the reference; the seed paper's release weights
the VTD side, ``weight_side="x"`` with VTD as x) give ``k = min(n_x, n_y)`` direction
time courses ``D [n_frames, k]``; ``P = qr(D)`` orthonormalizes them (in order of
decreasing rho); ``weight_i = sum_j |<P[:, i], z_j>|`` over that side's kept dimensions
``z_j`` (columns), normalized to sum 1; ``pwcca = sum_i weight_i rho_i``. The weights are
computed from the covariance alone (``projection_weights``: a Cholesky QR of ``D^T D``), so
PWCCA costs one pass over the frames; the tests check them against an explicit Householder
QR of ``D`` to 1e-10. (A Cholesky QR loses about cond(D^T D) x 1e-16: negligible for the
``canonical`` variates, whose ``D`` has orthogonal columns.)

Three ways of forming ``D`` (``variates``):

- ``"canonical"`` (default): the canonical variates of the paper, ``D = Xc Sxx^-1/2 U``
  (``U``: left singular vectors of ``A``; the variates are already uncorrelated, so the
  QR only normalizes them), weights on the centred data. Invariant to adding a constant
  to any column, to the sign convention of the SVD and to the order of x and y.
- ``"svcca"``: exactly what the reference ``pwcca.py`` (google/svcca) computes; it
  reproduces the regression value of ``shared/notes/articulatory.md`` (0.5727165770,
  to 1e-10). There the *whitened* directions ``U`` are applied to the un-whitened
  centred data, ``D = Xc U``; the mean of dimension ``i`` is added to column ``i`` of
  ``D``; and the weights use the uncentred data. The added means make it depend on the
  SVD's sign convention (swapping x and y changes the 4th digit).
- ``"release"``: the weighting the seed paper's release (``src/analysis/pwcca.py``,
  vendored from the vocal_tract_distance toolbox) sets out to compute: proper canonical
  variates but of the *uncentred* data, ``D = X Sxx^-1/2 U``, weights on the uncentred
  data. (Its correlations are ``sqrt(eig(A A^T) + eps)``; here they are ``svd(A)``, which
  differs by < eps / 2rho.) It is *not* what that release's shipped code returns: there
  ``gs_orthonormalize`` QR-factors the variates as a ``[k, n_frames]`` array (no
  transpose), so it orthonormalizes across frames, gets a ``k x k`` orthogonal matrix,
  zero-pads it to ``[k, n_frames]`` and so weights with the first ``k`` frames of the data
  only. On synthetic VTD-like data (120 dims in [0, 1] against 256, 3,000 frames) the
  shipped code gave 0.400, this formula 0.563 (the shipped code with the QR transposed:
  0.563), ``canonical`` 0.511. The release also feeds VTD normalized by each gridline's
  per-clip maximum and averages PWCCA over buckets of clips; the uncentred weighting
  depends on that scaling.

``"svcca"`` and ``"release"`` are not translation invariant: columns with large means
(VTD normalized by its maximum lies in [0, 1]) put most of the weight on the first
canonical direction and inflate PWCCA towards the largest rho. On synthetic data with
120 dims in [0, 1] against 256 dims, ``canonical`` gave 0.376 while ``svcca`` gave 0.545
and ``release`` 0.537 (0.374 / 0.376 / 0.374 with the means removed). Use them only to
compare with numbers computed by those codes.

Degenerate input: constant dimensions, or canonical directions that are linearly
dependent, raise :class:`DegenerateCCAError` (a ``CodecprobeError``), which callers
comparing many speakers may skip. Exactly linearly dependent input columns (e.g. VTD
gridlines refilled as copies or linear mixes of their neighbours) are *not* always
caught: the Cholesky of ``D^T D`` can succeed on rounding noise, and the null directions
then get weights of their own (on synthetic data: 0.924 instead of 0.938 with the five
copied columns removed). Drop such columns before calling (the articulatory stage drops
the gridlines :func:`codecprobe.articulatory.nodata_gridlines` flags).

Fixed, not copied, from the reference: its ``else`` branch (weights on the second
input) projects the *first* input with the second input's directions and means; here
either order and either ``weight_side`` is handled with the right input. If the weight
side has more kept dimensions than the other, only its first ``k`` directions (those
with a canonical correlation) are used.

Chance level: PWCCA of unrelated data is far from 0. For independent Gaussian x and y
(p <= q dims, n frames) the squared canonical correlations follow, as n, p, q grow with
c1 = p / (n - 1) and c2 = q / (n - 1) fixed, the Wachter (MANOVA) law

    f(l) = sqrt((l - a)(b - l)) / (2 pi c1 l (1 - l)),  a, b = (sqrt(c2 (1 - c1)) -/+ sqrt(c1 (1 - c2)))^2,

whose mean is c2 (exact at every n: E sum rho^2 = p q / (n - 1)); ``wachter_chance``
integrates it for the mean canonical correlation and gives the edge ``sqrt(b)`` that
the largest one approaches (from below, at finite n). Real features are autocorrelated
and far from white, so ``pwcca_shuffled`` (a block-shuffled baseline) is the one to
report beside every value.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .io import CodecprobeError

log = logging.getLogger("codecprobe.pwcca")

# The version of what this module computes: 1 up to session 24 (google/svcca's max-scaling),
# 2 since session 25 (each dimension scaled by its own sd). Bump it with any change that moves
# PWCCA values: the PWCCA rules pass it (--pwcca-method), so Snakemake reruns their jobs.
METHOD_VERSION = 2

WEIGHT_SIDES = ("smaller", "x", "y")
VARIATES = ("canonical", "svcca", "release")
SCALINGS = ("dims", "max")


class DegenerateCCAError(CodecprobeError):
    """The data of one comparison cannot give a PWCCA value (constant or linearly dependent
    dimensions, zero projections). Callers that compare many speakers or layers can skip
    the one that raised it; bad arguments and malformed input raise plain ``CodecprobeError``."""


class ShuffleError(CodecprobeError):
    """Too few frames for a block shuffle that moves every frame by a block (one block, or
    two of unequal length): callers comparing many speakers can skip the one that raised it."""


@dataclass(frozen=True)
class CcaResult:
    """Canonical correlation analysis of ``x [n, n_x]`` and ``y [n, n_y]`` (see module docstring).

    ``rhos [k]`` with ``k = min(kept x, kept y)``, decreasing, in [0, 1]. ``u [kx, k]`` and
    ``vt [k, ky]``: the singular vectors of ``A`` that have a singular value (columns of ``u``,
    rows of ``vt``), i.e. the canonical directions in whitened coordinates. ``inv_sqrt_xx [kx, kx]``,
    ``inv_sqrt_yy [ky, ky]``: inverse square roots of the scaled, regularized covariances.
    ``x_kept [n_x]``, ``y_kept [n_y]``: boolean masks of the dimensions kept in step 3.
    ``x_mean [n_x]``, ``y_mean [n_y]``: column means. ``cxx [kx, kx]``, ``cyy [ky, ky]``:
    unnormalized centred cross-products ``Xc^T Xc`` of the kept dimensions (input units
    squared, not scaled); ``n_frames``: the number of frames. ``x_scale [kx]``,
    ``y_scale [ky]``: what step 2 divided each kept dimension's centred data by (the square
    roots of its ``Xc^T Xc`` diagonal with ``scaling="dims"``, one value with ``"max"``), so
    the canonical directions in data coordinates are ``(inv_sqrt_xx @ u) / x_scale[:, None]``.
    """

    rhos: np.ndarray
    u: np.ndarray
    vt: np.ndarray
    inv_sqrt_xx: np.ndarray
    inv_sqrt_yy: np.ndarray
    x_kept: np.ndarray
    y_kept: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    cxx: np.ndarray
    cyy: np.ndarray
    n_frames: int
    x_scale: np.ndarray
    y_scale: np.ndarray
    scaling: str = "dims"


@dataclass(frozen=True)
class PwccaResult:
    """PWCCA value, with ``rhos [k]`` (decreasing) and ``weights [k]`` (sum 1) of the side ``side``.

    ``mean_cca`` is the unweighted mean of the canonical correlations.
    """

    pwcca: float
    rhos: np.ndarray
    weights: np.ndarray
    side: str
    x_kept: np.ndarray
    y_kept: np.ndarray

    @property
    def mean_cca(self) -> float:
        return float(np.mean(self.rhos))


@dataclass(frozen=True)
class ShuffleBaseline:
    """PWCCA with the time axis of x block-shuffled: ``mean`` and ``sd`` (ddof=1) of ``values [n]``."""

    mean: float
    sd: float
    values: np.ndarray


def check_frames(a: np.ndarray, name: str) -> np.ndarray:
    """Validate one representation ``[n_frames, n_dims]``; returns it as a 2-D array (dtype kept if float).

    Raises ``CodecprobeError`` for a wrong rank, no frames or dims, NaN (naming how many) or inf.
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise CodecprobeError(f"{name}: expected a 2-D array [n_frames, n_dims], got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise CodecprobeError(f"{name}: empty array of shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    if np.all(np.isfinite(np.sum(a, axis=0, dtype=np.float64))):  # fast path: no [n, d] boolean temporary
        return a
    n_nan = int(np.count_nonzero(np.isnan(a)))
    if n_nan:
        raise CodecprobeError(
            f"{name}: {n_nan} NaN value(s) in an array of shape {a.shape}; impute or drop them before CCA"
        )
    n_inf = int(np.count_nonzero(np.isinf(a)))
    if n_inf:
        raise CodecprobeError(f"{name}: {n_inf} infinite value(s) in an array of shape {a.shape}")
    return a


def check_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``x [n, n_x]`` and ``y [n, n_y]``: same frame count, more frames than dims on
    each side. With ``n - 1 < n_x + n_y`` (centred data: the two sides share at least
    ``n_x + n_y - (n - 1)`` dimensions, each a canonical correlation of 1 whatever the data)
    a warning says the value is meaningless; the articulatory stage skips such speakers."""
    x, y = check_frames(x, "x"), check_frames(y, "y")
    if x.shape[0] != y.shape[0]:
        hint = ""
        if x.shape[1] == y.shape[1]:
            hint = f" (both have {x.shape[1]} columns: transposed neurons x datapoints arrays? pass [n_frames, n_dims])"
        raise CodecprobeError(f"x has {x.shape[0]} frames but y has {y.shape[0]}: inputs must be frame-aligned{hint}")
    n = x.shape[0]
    for name, a in (("x", x), ("y", y)):
        if n <= a.shape[1]:
            raise CodecprobeError(
                f"{name}: {n} frames for {a.shape[1]} dims; CCA needs more datapoints than dimensions "
                "(inputs are [n_frames, n_dims]: transpose a neurons x datapoints array)"
            )
    if n - 1 < x.shape[1] + y.shape[1]:
        log.warning("%d frames for %d + %d dims: the centred sides share dimensions, whose canonical correlations are 1 "
                    "whatever the data; PWCCA is near 1 by construction", n, x.shape[1], y.shape[1])  # fmt: skip
    return x, y


def _column_mean(a: np.ndarray) -> np.ndarray:
    return np.mean(a, axis=0, dtype=np.float64)


def _centred_cov(
    x: np.ndarray, y: np.ndarray, mx: np.ndarray, my: np.ndarray, cross_only: bool = False, chunk_bytes: int = 1 << 25,
    skip_yy: bool = False,
):  # fmt: skip
    """``Xc^T Xc, Xc^T Yc, Yc^T Yc`` (unnormalized), accumulated in float64 over row chunks.

    Chunks of about ``chunk_bytes`` (32 MiB) keep the float64 centred copies small when the
    inputs are large or float32. ``cross_only``: only ``Xc^T Yc`` (the others are None);
    ``skip_yy``: no ``Yc^T Yc`` (None).
    """
    sxx = None if cross_only else np.zeros((x.shape[1], x.shape[1]))
    syy = None if cross_only or skip_yy else np.zeros((y.shape[1], y.shape[1]))
    sxy = np.zeros((x.shape[1], y.shape[1]))
    step = max(1, chunk_bytes // (8 * (x.shape[1] + y.shape[1])))
    for s in range(0, x.shape[0], step):
        xc = np.array(x[s : s + step], dtype=np.float64)
        yc = np.array(y[s : s + step], dtype=np.float64)
        xc -= mx
        yc -= my
        sxy += xc.T @ yc
        if sxx is not None:
            sxx += xc.T @ xc
        if syy is not None:
            syy += yc.T @ yc
    return sxx, sxy, syy


EPSILON = 1e-10  # the default ridge and drop threshold (relative; see the module docstring)


def _check_epsilon(epsilon: float) -> None:
    if not epsilon >= 0 or not np.isfinite(epsilon):
        raise CodecprobeError(f"epsilon must be a finite number >= 0, got {epsilon}")


def _check_scaling(scaling: str) -> None:
    if scaling not in SCALINGS:
        raise CodecprobeError(f"scaling must be one of {SCALINGS}, got {scaling!r}")


def scaling_for(variates: str) -> str:
    """The scaling (step 2) that ``variates`` needs: ``"max"`` for google/svcca's
    (its directions are applied to unwhitened data), ``"dims"`` otherwise."""
    return "max" if variates == "svcca" else "dims"


def inv_sqrt_psd(s: np.ndarray, rcond: float = 1e-15) -> np.ndarray:
    """``S^-1/2`` of a symmetric positive semi-definite ``s [d, d]``; eigenvalues <= rcond x max count as 0."""
    w, v = np.linalg.eigh(s)
    keep = w > rcond * max(float(w.max()), 0.0)
    inv = np.zeros_like(w)
    inv[keep] = 1.0 / np.sqrt(w[keep])
    return (v * inv) @ v.T


def cca(x: np.ndarray, y: np.ndarray, epsilon: float = 1e-10, scaling: str = "dims") -> CcaResult:
    """Canonical correlations of ``x [n_frames, n_x]`` and ``y [n_frames, n_y]`` (steps 1-6 of the module docstring).

    ``epsilon`` (dimensionless, relative to the scaled covariances): drop threshold and
    diagonal ridge; the seed paper's release used 1e-6, the reference default is 0.
    ``scaling``: ``"dims"`` (each dimension by its own sd) or ``"max"`` (google/svcca's).
    """
    x, y = check_pair(x, y)
    _check_epsilon(epsilon)
    _check_scaling(scaling)
    mx, my = _column_mean(x), _column_mean(y)
    sxx, sxy, syy = _centred_cov(x, y, mx, my)
    return cca_from_cov(sxx, sxy, syy, mx, my, x.shape[0], epsilon, scaling)


@dataclass(frozen=True)
class Whitened:
    """One side of a CCA after steps 2-4: ``kept [n_dims]`` (dimensions kept in step 3),
    ``cov [kd, kd]`` (the unnormalized centred cross-product of the kept dimensions),
    ``inv_sqrt [kd, kd]`` (inverse square root of the scaled, regularized covariance),
    ``scale [kd]`` (what each kept dimension's centred data was divided by in step 2) and
    ``scaling`` (``"dims"`` or ``"max"``). Depends on that side's frames only, so a CCA
    that changes the other side (time lags, shuffles) reuses it."""

    kept: np.ndarray
    cov: np.ndarray
    inv_sqrt: np.ndarray
    scale: np.ndarray
    scaling: str = "dims"


def whiten(s: np.ndarray, name: str, n_frames: int, epsilon: float = 1e-10, scaling: str = "dims") -> Whitened:
    """Steps 2-4 and the inverse square root for one side, from its ``Xc^T Xc [d, d]`` (unnormalized).

    ``scaling="dims"``: dimensions with ``diag(s) < epsilon x`` the median of the non-zero
    diagonal are dropped, the rest scaled to unit variance (a correlation matrix) before the
    ridge. ``"max"``: google/svcca's, everything relative to ``max|s|``.
    Raises :class:`DegenerateCCAError` when every dimension is constant or below ``epsilon``."""
    _check_scaling(scaling)
    smax = float(np.abs(s).max())
    if smax == 0.0:
        raise DegenerateCCAError(f"{name}: all {s.shape[0]} dimensions are constant over the {n_frames} frames")
    var = np.diag(s)
    ref = smax if scaling == "max" else float(np.median(var[var > 0]))
    kept = var >= epsilon * ref
    if not kept.any():
        raise DegenerateCCAError(
            f"{name}: every dimension has variance below epsilon={epsilon} x the {'largest' if scaling == 'max' else 'median'}"
        )
    c = s[np.ix_(kept, kept)]
    if scaling == "max":
        scale = np.full(c.shape[0], np.sqrt(smax))
    else:
        scale = np.sqrt(np.diag(c))
        scale[scale == 0] = 1.0  # constant dims kept only with epsilon = 0: zero rows either way
    scaled = c / np.outer(scale, scale)
    return Whitened(kept=kept, cov=c, inv_sqrt=inv_sqrt_psd(scaled + epsilon * np.eye(c.shape[0])), scale=scale,
                    scaling=scaling)  # fmt: skip


def cca_from_cov(
    sxx: np.ndarray | Whitened,
    sxy: np.ndarray,
    syy: np.ndarray | Whitened,
    mx: np.ndarray,
    my: np.ndarray,
    n_frames: int,
    epsilon: float = 1e-10,
    scaling: str = "dims",
) -> CcaResult:
    """Steps 2-6 from the unnormalized centred cross-products ``Xc^T Xc [n_x, n_x]``, ``Xc^T Yc``, ``Yc^T Yc``.

    Either side may be given already whitened (:func:`whiten`, with the same ``epsilon``
    and ``scaling``). ``mx [n_x]``, ``my [n_y]``: column means (kept for the weights of
    ``"svcca"`` and ``"release"``). The inputs are not modified.
    """
    wx = sxx if isinstance(sxx, Whitened) else whiten(sxx, "x", n_frames, epsilon, scaling)
    wy = syy if isinstance(syy, Whitened) else whiten(syy, "y", n_frames, epsilon, scaling)
    if wx.scaling != scaling or wy.scaling != scaling:
        raise CodecprobeError(f"whitened sides scaled {wx.scaling!r} / {wy.scaling!r}, CCA asked for {scaling!r}")
    a = wx.inv_sqrt @ (sxy[np.ix_(wx.kept, wy.kept)] / np.outer(wx.scale, wy.scale)) @ wy.inv_sqrt
    u, s, vt = np.linalg.svd(a, full_matrices=False)  # the k = min(kx, ky) directions that have a rho
    return CcaResult(
        rhos=np.clip(s, 0.0, 1.0),
        u=u,
        vt=vt,
        inv_sqrt_xx=wx.inv_sqrt,
        inv_sqrt_yy=wy.inv_sqrt,
        x_kept=wx.kept,
        y_kept=wy.kept,
        x_mean=mx,
        y_mean=my,
        cxx=wx.cov,
        cyy=wy.cov,
        n_frames=n_frames,
        x_scale=wx.scale,
        y_scale=wy.scale,
        scaling=scaling,
    )


def _pick_side(weight_side: str, res: CcaResult) -> str:
    if weight_side not in WEIGHT_SIDES:
        raise CodecprobeError(f"weight_side must be one of {WEIGHT_SIDES}, got {weight_side!r}")
    if weight_side == "smaller":
        return "x" if res.x_kept.sum() <= res.y_kept.sum() else "y"
    return weight_side


def projection_weights(
    c: np.ndarray,
    mean: np.ndarray,
    dirs: np.ndarray,
    inv_sqrt: np.ndarray,
    n_frames: int,
    variates: str,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """PWCCA weights ``[k]`` (sum 1) of one side, from its covariance only (no pass over the frames).

    ``c [d, d]``: ``Zc^T Zc`` of the side's kept, centred columns; ``mean [d]``: their means;
    ``dirs [d, k]``: whitened canonical directions; ``inv_sqrt [d, d]``: ``S^-1/2`` of the
    scaled covariance; ``scale [d]``: what step 2 divided each dimension by (None: one
    value for all, which the orthonormalization cancels). With ``D = Zc W + 1 b^T``
    (direction time courses) and ``Z = Zc + 1 c0^T`` (the data the weights are taken
    against), ``variates`` sets ``W, b, c0`` (canonical: ``diag(1/scale) S^-1/2 U, 0, 0``;
    svcca: ``U, mean[:k], mean``; release: ``diag(1/scale) S^-1/2 U, W^T mean, mean``).
    Since ``Zc^T 1 = 0``, ``D^T D = W^T c W + n b b^T`` and
    ``D^T Z = W^T c + n b c0^T``; with ``D^T D = R^T R`` (Cholesky), the orthonormalized
    directions are ``P = D R^-1`` (the Q of ``D = QR``, up to column signs) and
    ``P^T Z = R^-T D^T Z``; ``weight_i = sum_j |(P^T Z)_ij|``.
    """
    if variates not in VARIATES:
        raise CodecprobeError(f"variates must be one of {VARIATES}, got {variates!r}")
    k = dirs.shape[1]
    if variates == "svcca":
        w, b, c0 = dirs, mean[:k], mean  # google/svcca: mean of dimension i added to direction i
    else:
        w = inv_sqrt @ dirs if scale is None else (inv_sqrt @ dirs) / scale[:, None]  # directions in data units
        if variates == "release":
            b, c0 = w.T @ mean, mean  # canonical variates of the uncentred data
        else:
            b, c0 = np.zeros(k), np.zeros_like(mean)
    wc = w.T @ c  # [k, d]
    dtd = wc @ w + n_frames * np.outer(b, b)
    dtz = wc + n_frames * np.outer(b, c0)
    try:
        r = np.linalg.cholesky((dtd + dtd.T) / 2).T  # upper, dtd = r^T r
    except np.linalg.LinAlgError as e:
        raise DegenerateCCAError(
            "PWCCA: the canonical directions are linearly dependent (some input dimensions are copies or "
            "linear combinations of others, e.g. VTD gridlines refilled from their neighbours)"
        ) from e
    proj = np.linalg.solve(r.T, dtz)  # P^T Z [k, d]
    weights = np.abs(proj).sum(axis=1)
    total = weights.sum()
    if not np.isfinite(total) or total <= 0:
        raise DegenerateCCAError("PWCCA weights are degenerate (zero projections); are the inputs constant?")
    return weights / total


def pwcca(
    x: np.ndarray,
    y: np.ndarray,
    epsilon: float = 1e-10,
    weight_side: str = "smaller",
    variates: str = "canonical",
) -> PwccaResult:
    """Projection-weighted CCA of ``x [n_frames, n_x]`` and ``y [n_frames, n_y]`` (datapoints x features).

    ``weight_side``: ``"smaller"`` (fewer kept dims; ties -> x), ``"x"`` or ``"y"``.
    ``variates``: ``"canonical"`` (default), ``"svcca"`` (google/svcca) or ``"release"`` (seed
    paper's release); see the module docstring.
    Returns ``PwccaResult`` with the value in [0, 1], the rhos and the weights. The CCA
    scales each dimension by its own sd (``scaling="dims"``), except for ``"svcca"``, which
    keeps google/svcca's max-scaling (:func:`scaling_for`).
    """
    return pwcca_from_cca(cca(x, y, epsilon=epsilon, scaling=scaling_for(variates)), weight_side, variates)


def pwcca_results_each_x(
    xs: Sequence[np.ndarray],
    y: np.ndarray,
    epsilon: float = 1e-10,
    weight_side: str = "smaller",
    variates: str = "canonical",
) -> list[PwccaResult]:
    """:class:`PwccaResult` of each ``xs[i] [n_frames, n_x_i]`` against the same ``y [n_frames, n_y]``.

    The same as ``[pwcca(x, y, ...) for x in xs]`` up to rounding (arguments as in
    :func:`pwcca`), with y's mean, ``Yc^T Yc`` and its whitening (:func:`whiten`) computed
    once: the costly part when y is wide (a 1024-dim codec layer against 120 gridlines),
    e.g. for VTD read at several time lags against one layer's features.
    """
    _check_epsilon(epsilon)
    scaling = scaling_for(variates)
    if len(xs) == 0:
        raise CodecprobeError("pwcca_each_x: no x given")
    y = check_frames(y, "y")
    my, wy = _column_mean(y), None
    out = []
    for x in xs:
        x, _ = check_pair(x, y)
        mx = _column_mean(x)
        sxx, sxy, syy = _centred_cov(x, y, mx, my, skip_yy=wy is not None)
        wy = whiten(syy, "y", y.shape[0], epsilon, scaling) if wy is None else wy
        res = cca_from_cov(sxx, sxy, wy, mx, my, x.shape[0], epsilon, scaling)
        out.append(pwcca_from_cca(res, weight_side, variates))
    return out


def pwcca_each_x(
    xs: Sequence[np.ndarray],
    y: np.ndarray,
    epsilon: float = 1e-10,
    weight_side: str = "smaller",
    variates: str = "canonical",
) -> np.ndarray:
    """PWCCA of each ``xs[i]`` against the same ``y``: ``[len(xs)]``, the values of
    :func:`pwcca_results_each_x`."""
    return np.array([r.pwcca for r in pwcca_results_each_x(xs, y, epsilon, weight_side, variates)])


def pwcca_from_cca(res: CcaResult, weight_side: str = "smaller", variates: str = "canonical") -> PwccaResult:
    """PWCCA from a ``CcaResult`` (``weight_side`` and ``variates`` as in ``pwcca``).

    ``"svcca"`` variates need a CCA with ``scaling="max"`` (:func:`scaling_for`); the
    others take either scaling."""
    side = _pick_side(weight_side, res)
    if variates == "svcca" and res.scaling != "max":
        raise CodecprobeError('variates="svcca" applies whitened directions to unwhitened data: it needs a CCA '
                              'computed with scaling="max" (google/svcca\'s), this one used ' + repr(res.scaling))  # fmt: skip
    k = res.rhos.shape[0]
    if side == "x":
        w = projection_weights(res.cxx, res.x_mean[res.x_kept], res.u[:, :k], res.inv_sqrt_xx, res.n_frames, variates,
                               res.x_scale)  # fmt: skip
    else:
        w = projection_weights(res.cyy, res.y_mean[res.y_kept], res.vt[:k].T, res.inv_sqrt_yy, res.n_frames, variates,
                               res.y_scale)  # fmt: skip
    return PwccaResult(
        pwcca=float(np.sum(w * res.rhos)), rhos=res.rhos, weights=w, side=side, x_kept=res.x_kept, y_kept=res.y_kept
    )


def wachter_chance(p: int, q: int, n_frames: int) -> tuple[float, float]:
    """Chance level of CCA between independent Gaussian ``[n_frames, p]`` and ``[n_frames, q]`` data.

    Returns ``(mean_rho, max_rho)``: the mean canonical correlation under the Wachter law
    (module docstring; numerical integration) and its upper edge ``sqrt(b)``, the
    asymptotic largest canonical correlation. Centring costs one frame (n - 1 is used).
    With white, isotropic data PWCCA is close to ``mean_rho``.
    """
    from scipy.integrate import quad

    p, q = min(p, q), max(p, q)
    m = n_frames - 1
    if p < 1 or p + q >= m:
        raise CodecprobeError(f"wachter_chance needs 1 <= p and p + q < n_frames - 1, got p={p} q={q} n={n_frames}")
    c1, c2 = p / m, q / m
    a = (np.sqrt(c2 * (1 - c1)) - np.sqrt(c1 * (1 - c2))) ** 2
    b = (np.sqrt(c2 * (1 - c1)) + np.sqrt(c1 * (1 - c2))) ** 2

    def density(lam: float) -> float:
        return np.sqrt(max((lam - a) * (b - lam), 0.0)) / (2 * np.pi * c1 * lam * (1 - lam))

    mean_rho = quad(lambda lam: np.sqrt(lam) * density(lam), a, b, limit=200)[0]
    return float(mean_rho), float(np.sqrt(b))


def block_shuffle(n_frames: int, block_len: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation ``[n_frames]`` of frame indices that reorders whole blocks of ``block_len`` frames.

    Blocks are consecutive runs of ``block_len`` frames (the last one may be shorter); their
    order is drawn at random such that every frame moves by at least ``block_len`` frames, so
    the autocorrelation within blocks is kept while the alignment with the other side is
    broken. With equal blocks that is any order leaving no block in its own slot (a
    derangement); with a short last block it also excludes a block placed one slot later
    after the short one, which would sit only the short block's length from home (nearly
    aligned). Orders are drawn until one qualifies (one exists for >= 3 blocks, and for 2
    equal ones).
    """
    if block_len < 1:
        raise CodecprobeError(f"block_len must be >= 1 frame, got {block_len}")
    n_blocks = -(-n_frames // block_len)
    if n_blocks < 2:
        raise ShuffleError(f"block_len={block_len} leaves a single block for {n_frames} frames: nothing to shuffle")
    if n_blocks == 2 and n_frames % block_len:
        raise ShuffleError(
            f"block_len={block_len} over {n_frames} frames: two blocks of unequal length cannot swap with every "
            f"frame moving by at least {block_len} frames; use a shorter block"
        )
    while True:
        perm = _block_order(rng.permutation(n_blocks), n_frames, block_len)
        if perm is not None:
            return perm


def _block_order(order: np.ndarray, n_frames: int, block_len: int) -> np.ndarray | None:
    """Frame indices ``[n_frames]`` of the blocks of ``block_len`` frames taken in ``order``,
    or None when some frame would move by less than ``block_len`` (the order does not qualify)."""
    starts = order * block_len
    perm = np.concatenate([np.arange(s, min(s + block_len, n_frames)) for s in starts])
    return perm if np.abs(perm - np.arange(n_frames)).min() >= block_len else None


@functools.lru_cache(maxsize=256)
def shuffle_arrangements(n_frames: int, block_len: int, limit: int = 7) -> int | None:
    """How many different permutations :func:`block_shuffle` can return, counted when there
    are at most ``limit`` blocks (None above: at least 1,854, the derangements of 7). Cached:
    :func:`pwcca_shuffled` asks it for every layer of a speaker with the same frame count."""
    n_blocks = -(-n_frames // block_len)
    if n_blocks > limit:
        return None
    if n_blocks < 2 or (n_blocks == 2 and n_frames % block_len):
        return 0
    return sum(_block_order(np.array(o), n_frames, block_len) is not None for o in itertools.permutations(range(n_blocks)))


def pwcca_shuffled(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    n: int = 20,
    block_len: int = 25,
    epsilon: float = 1e-10,
    weight_side: str = "smaller",
    variates: str = "canonical",
) -> ShuffleBaseline:
    """Chance baseline: PWCCA of ``x[perm]`` against ``y`` for ``n`` block shuffles of x's frames.

    ``block_len`` in frames: choose it longer than x's autocorrelation (VTD is smooth over
    tens of ms) and much shorter than ``n_frames``. Other arguments as in ``pwcca``.
    Permuting x's frames leaves the means, ``Xc^T Xc`` and ``Yc^T Yc`` unchanged, so they are
    computed and whitened (:func:`whiten`) once and each shuffle only recomputes ``Xc[perm]^T
    Yc`` and one SVD (the same values as ``pwcca(x[perm], y)`` up to rounding, several times
    faster when y is wide).
    """
    x, y = check_pair(x, y)
    if n < 2:
        raise CodecprobeError(f"n must be >= 2 shuffles for a mean and sd, got {n}")
    _check_epsilon(epsilon)
    ways = shuffle_arrangements(x.shape[0], block_len)
    if ways is not None and ways < n:
        log.warning(
            "shuffled baseline: %d frames in blocks of %d allow only %d different shuffle(s) for %d draws: "
            "the draws repeat and the baseline's sd understates its spread (use shorter blocks or more frames)",
            x.shape[0], block_len, ways, n,
        )  # fmt: skip
    mx, my = _column_mean(x), _column_mean(y)
    sxx, _, syy = _centred_cov(x, y, mx, my)
    scaling = scaling_for(variates)
    wx, wy = whiten(sxx, "x", x.shape[0], epsilon, scaling), whiten(syy, "y", y.shape[0], epsilon, scaling)
    vals = np.empty(n)
    for i in range(n):
        xp = x[block_shuffle(x.shape[0], block_len, rng)]
        sxy = _centred_cov(xp, y, mx, my, cross_only=True)[1]
        res = cca_from_cov(wx, sxy, wy, mx, my, x.shape[0], epsilon, scaling)
        vals[i] = pwcca_from_cca(res, weight_side, variates).pwcca
    return ShuffleBaseline(mean=float(vals.mean()), sd=float(vals.std(ddof=1)), values=vals)
