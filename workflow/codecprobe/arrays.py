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
