"""Audio reading: mono float32 at a requested sample rate (soxr resampling), loudness untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .io import CodecprobeError


def to_mono(x: np.ndarray) -> np.ndarray:
    """``[T]`` or ``[T, C]`` -> ``[T]`` (channel mean)."""
    return x if x.ndim == 1 else x.mean(axis=1)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling with soxr (``HQ``); identity when the rates match."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    if sr_in <= 0 or sr_out <= 0 or int(sr_in) != sr_in or int(sr_out) != sr_out:
        raise CodecprobeError(f"cannot resample from {sr_in} Hz to {sr_out} Hz (rates must be positive integers)")
    import soxr

    return soxr.resample(x.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ").astype(np.float32)


def first_non_finite(x: np.ndarray) -> int | None:
    """The first sample (frame) of ``x [T]`` or ``[T, C]`` holding NaN or infinity in any
    channel, or None when every value is finite."""
    bad = ~np.isfinite(x).reshape(len(x), -1).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def read_audio(path: str | Path, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 at its own sample rate: ``(samples, rate)``.

    ``mono=True`` averages the channels (``[T]``); otherwise ``[T]`` or ``[T, C]``.
    Raises :class:`CodecprobeError` naming the file when it is missing, unreadable, empty
    or holds NaN or infinite samples (possible in a floating-point WAV; resampling would
    spread them, and a codec or the melrvq fit would turn them into wrong features).
    """
    path = Path(path)
    if not path.is_file():
        raise CodecprobeError(f"{path}: audio file not found")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as e:  # libsndfile errors vary by format
        raise CodecprobeError(f"{path}: cannot read audio ({e})") from e
    if x.size == 0:
        raise CodecprobeError(f"{path}: empty audio")
    first = first_non_finite(x)
    if first is not None:
        n_bad = x.size - int(np.count_nonzero(np.isfinite(x)))
        raise CodecprobeError(
            f"{path}: {n_bad} non-finite samples (NaN or infinity), the first at {first / sr:.3f} s (sample {first})"
        )
    return (to_mono(x).astype(np.float32, copy=False) if mono else x), int(sr)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Read ``path``, mix to mono, resample to ``sample_rate`` Hz. ``[T]`` float32 in [-1, 1].

    Raises :class:`CodecprobeError` naming the file when it cannot be read.
    """
    x, sr = read_audio(path)
    return resample(x, sr, sample_rate)


def sample_span(sample_rate: int, start: float, end: float) -> tuple[int, int]:
    """``[start, end)`` seconds as sample indices ``(a, b)``, each rounded to the nearest
    sample, not clipped to any audio (``b`` past the audio's length: a clip cut short)."""
    return int(round(start * sample_rate)), int(round(end * sample_rate))


def cut(x: np.ndarray, sample_rate: int, start: float, end: float) -> np.ndarray:
    """Samples of ``[start, end)`` seconds (:func:`sample_span`), within ``x``."""
    a, b = sample_span(sample_rate, start, end)
    return x[max(0, a) : min(len(x), b)]
