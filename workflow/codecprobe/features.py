"""Per-layer word features: accumulated features, word frames, pooling.

Names follow the paper: the feature at quantizer layer k is the sum of the decoded
outputs of quantizers 1..k (``accumulated_features``).
"""

from __future__ import annotations

import numpy as np

POOLINGS = ("mean", "center", "centroid")


def accumulated_features(layer_vectors: np.ndarray, axis: int = 0) -> np.ndarray:
    """Cumulative sum over the layer axis: ``out[k] = sum_{j <= k} layer_vectors[j]``.

    ``layer_vectors``: ``[K, F, D]`` (decoded vector of each layer at each frame), or any
    array with the layers on ``axis``. Returns the same shape, summed in at least float32
    (a float16 input would round every partial sum; integer input gives float64).
    """
    a = np.asarray(layer_vectors)
    return np.cumsum(a, axis=axis, dtype=np.result_type(a.dtype, np.float32))


def word_frames(start: float, end: float, centres: np.ndarray) -> tuple[np.ndarray, bool]:
    """Indices of the frames whose centre (``centres``, seconds) lies in ``[start, end)``.

    A word with no centre inside gets the frame nearest to its midpoint; the flag says
    so. That is a word shorter than one frame (:func:`shorter_than_frame`), or one lying
    beyond the first or last centre (a word may end up to 0.05 s after the audio, see
    ``codecprobe.words.AUDIO_END_TOLERANCE``): the caller counts the two apart. For a
    codec, ``centres = codec.frame_times(F)``.
    """
    idx = np.flatnonzero((centres >= start) & (centres < end))
    if idx.size:
        return idx, False
    if len(centres) == 0:
        return idx, True
    mid = (start + end) / 2
    return np.array([int(np.argmin(np.abs(centres - mid)))]), True


def shorter_than_frame(start: float, end: float, frame_rate: float) -> bool:
    """Whether the word ``[start, end)`` (s) is shorter than one frame period,
    ``1 / frame_rate`` s (``frame_rate`` in frames per second), by more than 1e-9 s."""
    return end - start < 1.0 / frame_rate - 1e-9


CENTROID_TIE = 1e-6  # centroid scores (mean cosines) closer than this are equal: float32 rounding


def pool(features: np.ndarray, method: str = "mean") -> np.ndarray:
    """Pool ``[K, F, D]`` per-layer frame features over frames -> ``[K, D]``.

    * ``mean``: average over frames;
    * ``center``: the middle frame (index ``F // 2``);
    * ``centroid``: per layer, the frame with the highest mean cosine similarity to the
      other frames of the word (Choi et al.); with one frame, that frame. Frames whose
      scores are within :data:`CENTROID_TIE` of the highest tie, and the one nearest the
      middle frame ``F // 2`` is taken (the earlier of two as near): with two frames,
      whose scores are always equal, ``center``'s frame (argmax picked by float rounding,
      which varied from layer to layer, before session 24).
    """
    if features.ndim != 3 or features.shape[1] == 0:
        raise ValueError(f"pool: expected [K, F>0, D] features, got shape {features.shape}")
    if method == "mean":
        return features.mean(axis=1)
    if method == "center":
        return features[:, features.shape[1] // 2]
    if method == "centroid":
        n_frames = features.shape[1]
        if n_frames == 1:
            return features[:, 0]
        unit = features / np.maximum(np.linalg.norm(features, axis=-1, keepdims=True), 1e-12)
        sim = np.einsum("kfd,kgd->kfg", unit, unit)
        score = (sim.sum(axis=-1) - np.einsum("kff->kf", sim)) / (n_frames - 1)
        tied = score >= score.max(axis=1, keepdims=True) - CENTROID_TIE  # [K, F]
        from_middle = np.abs(np.arange(n_frames) - n_frames // 2)
        best = np.where(tied, from_middle, n_frames + 1).argmin(axis=1)
        return features[np.arange(features.shape[0]), best]
    raise ValueError(f"unknown pooling {method!r} (known: {', '.join(POOLINGS)})")
