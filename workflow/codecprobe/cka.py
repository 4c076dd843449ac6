"""Centered kernel alignment (CKA; Kornblith et al. 2019) between two token spaces.

Inputs are **examples x features**: ``X [n_words, d_x]`` and ``Y [n_words, d_y]`` with
row i of both describing the same word (e.g. a speech codec's pooled word features and
a text model's embedding of the same word). Gram matrices are ``[n_words, n_words]``.

- ``linear_cka(X, Y)``: centre the columns, ``||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)``
  (feature space; cheap when features < words).
- ``linear_cka_gram(K, L)`` / ``cka_gram``: the same from Gram matrices,
  ``<HKH, HLH>_F / (||HKH||_F ||HLH||_F)`` with ``H = I - 11^T / n``, i.e. biased HSIC
  ``tr(KHLH) / (n - 1)^2`` normalized (``hsic``).
- ``debiased_cka``: the unbiased HSIC estimator of Song et al. (2007) in place of the
  biased one, in numerator and denominator; computed in feature space, or from Grams by
  the U-centring of Szekely & Rizzo (2014) (``unbiased_center_gram``: zero diagonal,
  row/column means over n - 2), whose Frobenius inner product is ``n (n - 3)`` times the
  unbiased HSIC. Plain CKA is strongly biased upwards when features are many and words
  few (independent 4096-d vs 512-d data: 0.825 at n = 200, 0.205 at n = 5000);
  the debiased value stays near 0. It can be slightly negative.
- ``rbf_cka(X, Y, sigma_frac)``: Gaussian kernel ``exp(-d^2 / (2 sigma^2))`` with
  ``sigma = sigma_frac * sqrt(median of d^2)``, the median taken, as in Kornblith's
  reference notebook, over all ``n^2`` entries of the squared-distance matrix *including*
  its zero diagonal (``include_diagonal=False`` takes the ``n (n - 1) / 2`` pairs instead;
  on the reference data this moves RBF CKA from 0.65483 to 0.65401).

Permutation baseline (``cka_permutation``): rows of X are permuted (optionally only within
groups; see its docstring for what that tests) and CKA is recomputed. Permuting the rows of X permutes the rows
and columns of its centred Gram matrix (and of its U-centred one: both centrings are
permutation-equivariant) while the norms stay the same, so each permutation costs one
O(n^2) pass, ``sum_ij Kc[p_i, p_j] Lc[i, j]`` (``permuted_alignment``, gathered in
cache-sized row blocks), instead of recomputing features' products.
``p = (1 + #{null >= observed}) / (1 + n_perm)``, values within 1e-9 of the observed counting
as ties (``permutation_p_value``).

``cka_gap_bootstrap``: percentile bootstrap CI over words of ``CKA - mean(null)``
(debiased CKA only; see its docstring for why and how duplicated words are handled).

``effective_dimension``: the participation ratio of one space, to read a CKA value and
its null against (the paper's Sec. 3.3 explains MIMI's higher CKA by its space's low
effective dimensionality; the permutation null of linear CKA has mean
``sqrt(PR_x PR_y) / (n - 1)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .arrays import group_positions
from .io import CodecprobeError

KERNELS = ("linear", "rbf")


@dataclass(frozen=True)
class PermutationResult:
    """Observed CKA, the permutation ``null [n_perm]`` and ``p_value = (1 + #{null >= observed}) / (1 + n_perm)``."""

    observed: float
    null: np.ndarray
    p_value: float

    @property
    def null_mean(self) -> float:
        return float(np.mean(self.null))

    @property
    def null_sd(self) -> float:
        return float(np.std(self.null, ddof=1)) if len(self.null) > 1 else 0.0

    @property
    def gap(self) -> float:
        """``observed - null_mean``."""
        return self.observed - self.null_mean


@dataclass(frozen=True)
class GapBootstrap:
    """Bootstrap of ``gap = CKA - mean(null)``: point estimate on all words, percentile CI, ``values [n_boot]``."""

    gap: float
    ci_low: float
    ci_high: float
    values: np.ndarray


# ---------------------------------------------------------------- validation


def check_features(a: np.ndarray, name: str) -> np.ndarray:
    """Validate ``[n_words, n_features]``; returns a float array (float32 kept, other types -> float64).

    Raises ``CodecprobeError`` for a wrong rank, NaN or inf (naming how many), or rows that are all equal.
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise CodecprobeError(f"{name}: expected a 2-D array [n_words, n_features], got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] == 0:
        raise CodecprobeError(f"{name}: need at least 2 words and 1 feature, got shape {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if not np.all(np.isfinite(np.sum(a, axis=0, dtype=np.float64))):
        n_nan, n_inf = int(np.count_nonzero(np.isnan(a))), int(np.count_nonzero(np.isinf(a)))
        if n_nan or n_inf:
            raise CodecprobeError(f"{name}: {n_nan} NaN and {n_inf} infinite value(s) in an array of shape {a.shape}")
    if np.all(np.ptp(a, axis=0) == 0):
        raise CodecprobeError(f"{name}: all {a.shape[0]} rows are identical (constant input): CKA is undefined")
    return a


def check_pair(x: np.ndarray, y: np.ndarray, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``x [n, d_x]`` and ``y [n, d_y]``: same number of rows (words), at least ``min_n``."""
    x, y = check_features(x, "X"), check_features(y, "Y")
    if x.shape[0] != y.shape[0]:
        raise CodecprobeError(f"X has {x.shape[0]} rows but Y has {y.shape[0]}: rows must be the same words")
    if x.shape[0] < min_n:
        raise CodecprobeError(f"need at least {min_n} words, got {x.shape[0]}")
    return x, y


def check_grams(k: np.ndarray, l: np.ndarray, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate two square, symmetric, finite Gram matrices ``[n, n]`` of the same size."""
    out = []
    for name, g in (("K", k), ("L", l)):
        g = np.asarray(g)
        if g.ndim != 2 or g.shape[0] != g.shape[1]:
            raise CodecprobeError(f"{name}: a Gram matrix must be square [n, n], got shape {g.shape}")
        if g.dtype not in (np.float32, np.float64):
            g = g.astype(np.float64)
        if not np.all(np.isfinite(g)):
            raise CodecprobeError(f"{name}: {int(np.count_nonzero(~np.isfinite(g)))} non-finite value(s)")
        if not np.allclose(g, g.T, rtol=1e-5, atol=1e-8 * float(np.abs(g).max())):
            raise CodecprobeError(f"{name}: the Gram matrix is not symmetric")
        out.append(g)
    if out[0].shape != out[1].shape:
        raise CodecprobeError(f"K is {out[0].shape} but L is {out[1].shape}: Grams must be over the same words")
    if out[0].shape[0] < min_n:
        raise CodecprobeError(f"need at least {min_n} words, got {out[0].shape[0]}")
    return out[0], out[1]


# ---------------------------------------------------------------- Gram matrices and centring


def gram_linear(x: np.ndarray) -> np.ndarray:
    """Linear kernel ``x x^T [n, n]`` of ``x [n, d]`` (in x's dtype)."""
    return x @ x.T


def gram_rbf(x: np.ndarray, sigma_frac: float = 0.5, include_diagonal: bool = True) -> np.ndarray:
    """Gaussian kernel ``exp(-d_ij^2 / (2 sigma^2)) [n, n]`` with ``sigma^2 = sigma_frac^2 * median(d^2)``.

    The median runs over all ``n^2`` squared distances, zero diagonal included (Kornblith's
    convention), or over the ``n (n - 1) / 2`` pairs with ``include_diagonal=False``.
    Distances in x's units; computed in float64.
    """
    if sigma_frac <= 0:
        raise CodecprobeError(f"sigma_frac must be > 0, got {sigma_frac}")
    x = np.asarray(x, dtype=np.float64)
    g = x @ x.T
    sq = np.diag(g).copy()
    g *= -2.0
    g += sq[:, None]
    g += sq[None, :]
    np.maximum(g, 0.0, out=g)  # squared distances, rounding kept >= 0
    med = float(np.median(g if include_diagonal else g[np.triu_indices(len(g), 1)]))
    if med <= 0:
        raise CodecprobeError("rbf: the median squared distance is 0 (most words have identical features)")
    g *= -1.0 / (2.0 * sigma_frac**2 * med)
    return np.exp(g, out=g)


def center_gram(k: np.ndarray, inplace: bool = False) -> np.ndarray:
    """``H K H`` for a symmetric ``k [n, n]``, ``H = I - 11^T / n`` (row and column means removed)."""
    k = k if inplace else k.copy()
    means = np.mean(k, axis=0, dtype=np.float64)
    grand = means.mean()
    m = (means - grand / 2).astype(k.dtype)
    k -= m[:, None]
    k -= m[None, :]
    return k


def unbiased_center_gram(k: np.ndarray, inplace: bool = False) -> np.ndarray:
    """U-centred ``k [n, n]`` (Szekely & Rizzo 2014), for the unbiased HSIC; needs n >= 4.

    Diagonal set to 0; off-diagonal ``k_ij - r_i / (n - 2) - r_j / (n - 2) + s / ((n - 1)(n - 2))``
    with ``r`` the row sums and ``s`` the total of the zero-diagonal matrix. Then
    ``<U(K), U(L)>_F / (n (n - 3))`` is the unbiased HSIC of Song et al. (2007).
    """
    n = k.shape[0]
    if n < 4:
        raise CodecprobeError(f"the unbiased HSIC needs at least 4 words, got {n}")
    k = k if inplace else k.copy()
    np.fill_diagonal(k, 0)
    means = np.sum(k, axis=0, dtype=np.float64) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    m = means.astype(k.dtype)
    k -= m[:, None]
    k -= m[None, :]
    np.fill_diagonal(k, 0)
    return k


def _block_dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` of two blocks of the same shape, in their dtype, on this thread.

    Not ``np.vdot``: OpenBLAS threads a dot of over 10,000 numbers, and on a busy
    machine (a shared node, Snakemake running jobs side by side) each such call waited
    for its threads: up to 8 ms instead of 40 us for a 1 MiB block on 2 shared cores,
    which made a permutation at 5,000 words 3x to 35x slower, with the load
    (``benchmarks/cka_blocks.py``; with one BLAS thread einsum is 10 % slower). ``einsum``
    never calls BLAS, so the sum no longer depends on the BLAS thread count either.
    """
    return float(np.einsum("ij,ij->", a, b))


def _frob_dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` accumulated per row block in float64 (exact enough for float32 Grams)."""
    n = a.shape[0]
    step = max(1, (1 << 18) // max(1, a.shape[1]))
    return float(sum(_block_dot(a[s : s + step], b[s : s + step]) for s in range(0, n, step)))


def hsic(k: np.ndarray, l: np.ndarray, unbiased: bool = False) -> float:
    """HSIC of two Gram matrices ``[n, n]``: ``tr(KHLH) / (n - 1)^2`` or the unbiased estimator (Song et al. 2007)."""
    k, l = check_grams(k, l, min_n=4 if unbiased else 2)
    n = k.shape[0]
    if unbiased:
        return _frob_dot(unbiased_center_gram(k), unbiased_center_gram(l)) / (n * (n - 3))
    return _frob_dot(center_gram(k), l) / (n - 1) ** 2


def cka_from_centred(kc: np.ndarray, lc: np.ndarray) -> float:
    """``<Kc, Lc>_F / (||Kc||_F ||Lc||_F)`` of two already centred (or U-centred) Grams."""
    nk, nl = np.sqrt(_frob_dot(kc, kc)), np.sqrt(_frob_dot(lc, lc))
    if nk == 0 or nl == 0:
        raise CodecprobeError("CKA is undefined: a centred Gram matrix is zero (constant representation)")
    return _frob_dot(kc, lc) / (nk * nl)


def cka_gram(k: np.ndarray, l: np.ndarray, debiased: bool = False) -> float:
    """CKA from Gram matrices ``k, l [n, n]``: biased (H-centred) or debiased (U-centred, n >= 4)."""
    k, l = check_grams(k, l, min_n=4 if debiased else 2)
    centre = unbiased_center_gram if debiased else center_gram
    # zero up to rounding (a constant representation): undefined, as cka_permutation and linear_cka say
    kc, lc = (_check_centred(centre(g), float(np.abs(g).max())) for g in (k, l))
    return cka_from_centred(kc, lc)


def linear_cka_gram(k: np.ndarray, l: np.ndarray) -> float:
    """Linear CKA from Gram matrices ``k = X X^T``, ``l = Y Y^T`` (HSIC form, ``H K H``)."""
    return cka_gram(k, l, debiased=False)


# ---------------------------------------------------------------- feature-space CKA


def _centred64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64) - np.mean(a, axis=0, dtype=np.float64)


def effective_dimension(x: np.ndarray) -> float:
    """Participation ratio of ``x [n, d]``: ``(sum_i l_i)^2 / sum_i l_i^2`` over the
    eigenvalues ``l_i`` of the columns' covariance (the squared singular values of the
    column-centred ``x``). 1 when the rows vary along one direction; ``k`` when they vary
    equally along ``k`` orthogonal ones; at most ``min(n - 1, d)``. The seed paper reads
    MIMI's higher linear CKA as an artifact of a low effective dimensionality (Sec. 3.3).
    What the ratio says of the permutation baseline is exact: over uniform row
    permutations the mean of linear CKA is ``sqrt(PR_x PR_y) / (n - 1)`` (for centred Grams
    ``E[<Kc, P Lc P^T>] = tr Kc tr Lc / (n - 1)``, and ``tr Kc / ||Kc||_F = sqrt(PR)``), so
    the chance level *rises* with the effective dimensions; a space dominated by a few
    directions raises linear CKA only where those directions are shared with the other space.

    No eigendecomposition: ``sum l_i = ||Xc||_F^2`` and ``sum l_i^2 = ||Xc^T Xc||_F^2 =
    ||Xc Xc^T||_F^2``, so one product of the smaller size (float64) suffices."""
    xc = _centred64(check_features(x, "x"))
    g = xc @ xc.T if xc.shape[0] <= xc.shape[1] else xc.T @ xc
    return float(np.trace(g) ** 2 / np.sum(g * g))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of ``x [n, d_x]`` and ``y [n, d_y]`` in feature space (columns centred, float64)."""
    x, y = check_pair(x, y)
    xc, yc = _centred64(x), _centred64(y)
    return float(np.linalg.norm(xc.T @ yc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


def _unbiased_dot(xty_sq: float, rx: np.ndarray, ry: np.ndarray, n: int) -> float:
    """``n (n - 3)`` x unbiased HSIC of linear kernels, from centred features.

    With ``K~ = Xc Xc^T - diag(r_x)`` (``r_x``: squared row norms, ``Xc^T 1 = 0``) Song's estimator
    ``tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2 1'K~L~1 / (n-2)`` becomes
    ``||Xc^T Yc||^2 - n/(n-2) r_x.r_y + sum(r_x) sum(r_y) / ((n-1)(n-2))``.
    """
    return xty_sq - n / (n - 2.0) * float(rx @ ry) + float(rx.sum()) * float(ry.sum()) / ((n - 1.0) * (n - 2.0))


def debiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Debiased linear CKA of ``x [n, d_x]`` and ``y [n, d_y]`` (unbiased HSIC, Song et al. 2007), feature space.

    Equal to ``cka_gram(X X^T, Y Y^T, debiased=True)``; n >= 4; may be slightly negative.
    """
    x, y = check_pair(x, y, min_n=4)
    n = x.shape[0]
    xc, yc = _centred64(x), _centred64(y)
    rx, ry = np.einsum("ij,ij->i", xc, xc), np.einsum("ij,ij->i", yc, yc)
    xy = _unbiased_dot(float(np.linalg.norm(xc.T @ yc) ** 2), rx, ry, n)
    sx, sy = float(np.linalg.norm(xc.T @ xc) ** 2), float(np.linalg.norm(yc.T @ yc) ** 2)
    xx, yy = _unbiased_dot(sx, rx, rx, n), _unbiased_dot(sy, ry, ry, n)
    tol = _rounding_tol(n, np.float64)  # as _check_centred
    if any(scale == 0 or abs(v) <= tol * scale for v, scale in ((xx, sx), (yy, sy))):
        raise CodecprobeError(
            f"CKA is undefined: a representation of {n} rows is constant up to rounding (or, for the debiased "
            "estimator, constant but for one word)"
        )
    if xx <= 0 or yy <= 0:
        raise CodecprobeError(
            f"debiased CKA: a self-HSIC estimate is not positive ({xx:.3g}, {yy:.3g}) over {n} words: too few words, "
            "or a representation constant but for one word (then CKA is undefined)"
        )
    return xy / np.sqrt(xx * yy)


def rbf_cka(
    x: np.ndarray, y: np.ndarray, sigma_frac: float = 0.5, debiased: bool = False, include_diagonal: bool = True
) -> float:
    """CKA with Gaussian kernels, bandwidth ``sigma_frac`` x the median distance (see ``gram_rbf``)."""
    x, y = check_pair(x, y, min_n=4 if debiased else 2)
    return cka_gram(gram_rbf(x, sigma_frac, include_diagonal), gram_rbf(y, sigma_frac, include_diagonal), debiased)


# ---------------------------------------------------------------- permutation baseline


def prepare_gram(
    x: np.ndarray,
    kernel: str = "linear",
    debiased: bool = False,
    sigma_frac: float = 0.5,
    dtype: type = np.float64,
) -> np.ndarray:
    """Centred Gram ``[n, n]`` of ``x [n, d]`` for ``cka_from_centred`` and ``permuted_alignment``.

    Linear: ``Xc Xc^T`` (already H-centred), computed in ``dtype``; RBF: ``gram_rbf`` then
    centred. ``debiased``: U-centred instead. ``dtype=np.float32`` halves the memory
    (20,000 words: 1.6 GB instead of 3.2 GB per Gram); relative error of CKA about 1e-6.
    """
    if kernel not in KERNELS:
        raise CodecprobeError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "linear":
        if len(x) and not np.ptp(np.asarray(x), axis=0).any():
            # every column constant: the centred rows are only the rounding of the means and
            # CKA is undefined (its callers refuse it before; here too, so no caller gets ~0)
            raise CodecprobeError(f"CKA is undefined: the representation of {len(x)} rows is constant over the words")
        xc = (np.asarray(x, dtype=np.float64) - np.mean(x, axis=0, dtype=np.float64)).astype(dtype, copy=False)
        g = xc @ xc.T
        del xc
        if not debiased:
            return g
        scale = float(np.abs(g).max())
        return _check_centred(unbiased_center_gram(g, inplace=True), scale)
    g = gram_rbf(x, sigma_frac).astype(dtype, copy=False)
    scale = float(np.abs(g).max())
    return _check_centred(unbiased_center_gram(g, inplace=True) if debiased else center_gram(g, inplace=True), scale)


def _rounding_tol(n: int, dtype) -> float:
    """Relative size below which a centred quantity of ``n`` rows is zero up to rounding."""
    return min(64 * n * float(np.finfo(dtype).eps), 1e-6)


def _check_centred(gc: np.ndarray, scale: float) -> np.ndarray:
    """``gc`` (a centred Gram), or :class:`CodecprobeError` when it is zero up to rounding
    against ``scale`` (the largest entry before centring): CKA is then undefined (a constant
    representation, or for U-centring one constant but for a single row), and rounding
    would otherwise give a value near 0 and p = 1 without a word."""
    n = gc.shape[0]
    tol = _rounding_tol(n, gc.dtype) * scale
    if scale > 0 and float(np.abs(gc).max()) <= tol:
        raise CodecprobeError(
            f"CKA is undefined: the centred Gram of {n} rows is zero up to rounding (a representation constant "
            "over the words, or for the debiased estimator constant but for one word)"
        )
    return gc


def permuted_alignment(kc: np.ndarray, lc: np.ndarray, perm: np.ndarray, block_bytes: int = 1 << 20) -> float:
    """``sum_ij kc[p_i, p_j] lc[i, j]``: the Frobenius product of ``kc`` with rows and columns permuted by ``perm``, and ``lc``.

    One O(n^2) gather, in row blocks of about ``block_bytes`` (1 MiB) so the gathered block
    stays in cache; block sums in the Grams' dtype, accumulated in float64.
    """
    n = kc.shape[0]
    step = max(1, block_bytes // (n * kc.itemsize))
    rows = np.empty((step, n), kc.dtype)
    block = np.empty((step, n), kc.dtype)
    total = 0.0
    for s in range(0, n, step):
        idx = perm[s : s + step]
        m = len(idx)
        np.take(kc, idx, axis=0, out=rows[:m], mode="clip")  # "clip": out= unbuffered
        np.take(rows[:m], perm, axis=1, out=block[:m], mode="clip")
        total += _block_dot(block[:m], lc[s : s + m])
    return total


def permutation_null(kc: np.ndarray, lc: np.ndarray, perms: Iterable[np.ndarray]) -> np.ndarray:
    """CKA of ``x[p]`` vs ``y`` for each permutation ``p``, from the centred Grams ``kc`` (of x) and ``lc`` (of y).

    Each value equals recomputing CKA from the permuted features (same centring), at
    O(n^2) per permutation.
    """
    norm = np.sqrt(_frob_dot(kc, kc) * _frob_dot(lc, lc))
    if norm == 0:
        raise CodecprobeError("CKA is undefined: a centred Gram matrix is zero (constant representation)")
    return np.array([permuted_alignment(kc, lc, np.asarray(p)) / norm for p in perms], dtype=np.float64)


TIE_TOL = 1e-9  # null values this close below the observed CKA count as ties (>=), float64 Grams


def tie_tol(dtype: type = np.float64) -> float:
    """The tie tolerance of a null computed from Grams of ``dtype``: :data:`TIE_TOL` for
    float64; for float32 (the stage's Grams above 5,000 word types) 64 x its machine epsilon
    (7.6e-6), as rounding of float32 sums reaches about 1e-7 x the terms' scale (at 1e-9 a
    null whose permutations all leave CKA unchanged gave p = 0.61 instead of 1)."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    return TIE_TOL if eps < 1e-12 else 64 * eps


def permutation_p_value(observed: float, null: np.ndarray, tol: float = TIE_TOL) -> float:
    """``(1 + #{null >= observed - tol}) / (1 + len(null))`` (never 0; the observed counts as one draw).

    ``tol``: a permutation that leaves CKA unchanged (one that only moves rows among equal
    rows) sums the same terms in another order, and rounding puts its value up to about
    1e-15 (float64 Grams) either side of the observed; such ties must count as ``>=``, not
    fall to rounding. 1e-9 is far below any null's spread (its sd is about 2e-4 at 5,000
    words)."""
    null = np.asarray(null)
    return float((1 + np.count_nonzero(null >= observed - tol)) / (1 + null.size))


def _group_codes(groups: np.ndarray | None, n: int) -> np.ndarray | None:
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise CodecprobeError(f"groups must have one label per word ({n}), got shape {groups.shape}")
    _, codes = np.unique(groups, return_inverse=True)
    if np.bincount(codes).max() < 2:
        raise CodecprobeError("groups: every group has a single word, so within-group permutations change nothing")
    return codes


def draw_permutation(
    n: int, rng: np.random.Generator, codes: np.ndarray | None = None, keys: np.ndarray | None = None
) -> np.ndarray:
    """A random permutation of ``range(n)``; with integer group ``codes [n]``, rows move only
    within their group, in the order of ``keys [n]`` (default: drawn from ``rng``). Groups of
    equal size whose rows carry the same keys move alike (copies of one group in a resample)."""
    if codes is None:
        return rng.permutation(n)
    home = np.argsort(codes, kind="stable")  # positions, grouped
    moved = np.lexsort((rng.random(n) if keys is None else keys, codes))  # same groups, random order within each
    perm = np.empty(n, dtype=np.intp)
    perm[home] = moved
    return perm


def cka_permutation(
    x: np.ndarray,
    y: np.ndarray,
    n_perm: int,
    rng: np.random.Generator,
    groups: np.ndarray | None = None,
    kernel: str = "linear",
    debiased: bool = False,
    sigma_frac: float = 0.5,
    dtype: type = np.float64,
) -> PermutationResult:
    """CKA of ``x [n, d_x]`` and ``y [n, d_y]`` against ``n_perm`` row permutations of x.

    ``groups [n]`` (optional labels): permute only within groups. That tests the variation
    within groups only: where one side is the same for every row of a group (the text
    embedding of repeated tokens of one word type), permuting within groups leaves CKA
    unchanged, the null equals the observed and p is 1. To test word types with repeated
    tokens, pool each type to one row first (as :mod:`codecprobe.speechtext` does). The centred
    Grams are built once (``prepare_gram``; ``dtype`` float32 for large n), then each
    permutation costs O(n^2). Returns observed, null and the p-value.
    """
    x, y = check_pair(x, y, min_n=4 if debiased else 2)
    if n_perm < 1:
        raise CodecprobeError(f"n_perm must be >= 1, got {n_perm}")
    codes = _group_codes(groups, x.shape[0])
    kc = prepare_gram(x, kernel, debiased, sigma_frac, dtype)
    lc = prepare_gram(y, kernel, debiased, sigma_frac, dtype)
    ident = np.arange(x.shape[0])
    observed = float(permutation_null(kc, lc, [ident])[0])  # same arithmetic as the null (ties compare fairly)
    null = permutation_null(kc, lc, (draw_permutation(x.shape[0], rng, codes) for _ in range(n_perm)))
    return PermutationResult(observed=observed, null=null, p_value=permutation_p_value(observed, null, tie_tol(dtype)))


def _masked_ucentre(g: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """U-centre a resampled Gram after zeroing the pairs of copies of the same word (treated like the diagonal)."""
    order = np.argsort(origin, kind="stable")
    so = origin[order]
    starts = np.flatnonzero(np.r_[True, so[1:] != so[:-1]])
    ends = np.r_[starts[1:], len(so)]
    for a, b in zip(starts, ends):
        if b - a > 1:
            idx = order[a:b]
            g[np.ix_(idx, idx)] = 0
    u = unbiased_center_gram(g, inplace=True)
    u[origin[:, None] == origin[None, :]] = 0  # U-centring shifted them (an RBF Gram's by about -0.15): zero again
    return u


def cka_gap_bootstrap(
    x: np.ndarray,
    y: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    n_perm: int = 10,
    groups: np.ndarray | None = None,
    kernel: str = "linear",
    sigma_frac: float = 0.5,
    ci: float = 0.95,
    dtype: type = np.float64,
) -> GapBootstrap:
    """Percentile bootstrap CI over words of ``gap = debiased CKA - mean(permutation null)``.

    Each resample draws words with replacement (whole groups when ``groups`` is given: a
    cluster bootstrap over word types), takes the rows and columns of the uncentred Grams,
    recomputes the debiased CKA and the mean of ``n_perm`` permutation nulls (within the
    drawn groups, each drawn copy of a group its own group, every copy of one group
    permuted alike) and stores the gap; the CI is
    the ``(1 - ci) / 2`` and ``(1 + ci) / 2`` quantiles. The point estimate uses all words
    and ``n_perm`` permutations.

    Only the debiased CKA is supported: a resample repeats words, and the pairs of copies
    of one word carry self-similarity in both Grams, which inflates the observed CKA but
    not its null. Here those pairs are zeroed before U-centring, like the diagonal that the
    unbiased HSIC already leaves out (the U-centring's normalization then ignores them, an
    O(1/n) approximation). Plain CKA has no such fix (its bias comes from the diagonal).
    Cost per resample: (n_perm + 2) O(n^2) passes.
    """
    x, y = check_pair(x, y, min_n=4)
    if n_boot < 2:
        raise CodecprobeError(f"n_boot must be >= 2, got {n_boot}")
    if n_perm < 1:
        raise CodecprobeError(f"n_perm must be >= 1 (the permutations per resample), got {n_perm}")
    if not 0 < ci < 1:
        raise CodecprobeError(f"ci must be in (0, 1), got {ci}")
    n = x.shape[0]
    codes = _group_codes(groups, n)
    if kernel == "linear":
        kx, ky = (gram_linear(_centred64(a).astype(dtype, copy=False)) for a in (x, y))
    elif kernel == "rbf":
        kx, ky = (gram_rbf(a, sigma_frac).astype(dtype, copy=False) for a in (x, y))
    else:
        raise CodecprobeError(f"kernel must be one of {KERNELS}, got {kernel!r}")

    def gap_of(idx: np.ndarray, copy_codes: np.ndarray | None, resample: bool = True) -> float:
        kc = _masked_ucentre(kx[np.ix_(idx, idx)], idx)
        lc = _masked_ucentre(ky[np.ix_(idx, idx)], idx)
        try:
            obs = permutation_null(kc, lc, [np.arange(len(idx))])[0]
        except CodecprobeError as e:
            if not resample:  # the data themselves
                raise
            distinct = len(np.unique(idx))  # the data passed (the point estimate): the resample is degenerate
            raise CodecprobeError(f"the CKA gap bootstrap: a resample of the {n} rows holds {distinct} distinct ones, "
                                  f"too few for debiased CKA (the stage bootstraps 20 word types or more): {e}") from e
        # with groups, sort keys are drawn per original row, so every copy of one group moves
        # alike: the pairs of copies of one row, zeroed in both Grams, stay aligned, as in the
        # data. With a permutation of its own per copy they met the other side's non-zero
        # near-copies, and the null lost those large products: groups of 4 near-identical
        # rows with no relation gave a gap of 0 and a CI of [0.029, 0.057].
        perms = (
            draw_permutation(len(idx), rng, copy_codes, None if copy_codes is None else rng.random(n)[idx])
            for _ in range(n_perm)
        )
        null = permutation_null(kc, lc, perms)
        return float(obs - null.mean())

    point = gap_of(np.arange(n), codes, resample=False)
    values = np.empty(n_boot)
    if codes is None:
        for b in range(n_boot):
            values[b] = gap_of(rng.integers(0, n, n), None)
    else:
        members = group_positions(codes)
        n_groups = len(members)
        for b in range(n_boot):
            drawn = rng.integers(0, n_groups, n_groups)
            idx = np.concatenate([members[g] for g in drawn])
            copy_codes = np.repeat(np.arange(n_groups), [len(members[g]) for g in drawn])
            values[b] = gap_of(idx, copy_codes)
    lo, hi = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2])
    return GapBootstrap(gap=point, ci_low=float(lo), ci_high=float(hi), values=values)
