"""Small array helpers shared by the stages: runs laid end to end, and rows grouped by a code."""

from __future__ import annotations

import numpy as np


def offsets(counts) -> np.ndarray:
    """Start of each run when runs of ``counts`` (``[N]``) items are laid end to end:
    ``[0, c0, c0 + c1, ...]`` (``[N]`` int64), e.g. each clip's first frame in ``/codes``."""
    counts = np.asarray(counts, np.int64)
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if counts.size else np.zeros(0, np.int64)


def group_positions(codes, n_groups: int | None = None) -> list[np.ndarray]:
    """Positions of each group's rows: ``codes`` ``[N]`` non-negative ints -> one increasing
    array of positions per code ``0 .. max(codes)`` (at least ``n_groups`` of them; a code
    absent from ``codes`` gets an empty array); no codes, no groups."""
    codes = np.asarray(codes, np.int64)
    counts = np.bincount(codes, minlength=n_groups or 0)
    if not counts.size:
        return []
    return np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])


def group_sums(x, codes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row sums of ``x [N, ...]`` per group: ``codes [N]`` group numbers ``0 .. G-1``, every one
    present -> ``(sums [G, ...] float64, counts [G], order [N])``, ``order`` the rows sorted by
    group (stable: ``order[offsets(counts)]`` is each group's first row)."""
    codes = np.asarray(codes, np.int64)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    return np.add.reduceat(np.asarray(x, np.float64)[order], offsets(counts), axis=0), counts, order
