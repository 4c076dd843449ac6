"""Audio reading, mixing, resampling and cutting (codecprobe.audio): known answers on sines."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from codecprobe.audio import cut, load_audio, read_audio, resample, to_mono
from codecprobe.io import CodecprobeError


def sine(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


@pytest.mark.parametrize("rate_in, rate_out", [(16000, 24000), (44100, 24000), (24000, 16000)])
def test_resample_keeps_frequency_and_loudness(rate_in, rate_out):
    x = sine(1000.0, rate_in)
    y = resample(x, rate_in, rate_out)
    assert y.dtype == np.float32 and abs(len(y) - len(x) * rate_out / rate_in) <= 1
    assert peak_hz(y, rate_out) == pytest.approx(1000.0, abs=2.0)
    mid = slice(len(y) // 10, -len(y) // 10)  # away from the edges' filter transients
    assert rms(y[mid]) == pytest.approx(0.5 / np.sqrt(2), rel=2e-3)  # loudness untouched


def test_resample_removes_what_the_new_rate_cannot_hold():
    """10 kHz at 24 kHz -> 16 kHz (Nyquist 8 kHz): filtered out, not folded to 6 kHz;
    7 kHz stays."""
    gone = resample(sine(10000.0, 24000), 24000, 16000)
    assert rms(gone[1600:-1600]) < 1e-3 * 0.5
    kept = resample(sine(7000.0, 24000), 24000, 16000)
    assert rms(kept[1600:-1600]) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_resample_identity_and_bad_rates():
    x = sine(440.0, 16000, 0.1).astype(np.float64)
    y = resample(x, 16000, 16000)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype(np.float32))
    for bad in ((0, 16000), (16000, 0), (-8000, 16000), (16000.5, 24000)):
        with pytest.raises(CodecprobeError, match="rates must be positive integers"):
            resample(x, *bad)


def test_stereo_is_mixed_to_the_channel_mean(tmp_path):
    left, right = sine(300.0, 48000, 0.5), sine(500.0, 48000, 0.5, amp=0.25)
    p = tmp_path / "stereo.wav"
    sf.write(p, np.column_stack((left, right)), 48000, subtype="FLOAT")
    x, sr = read_audio(p)
    assert sr == 48000 and x.shape == left.shape
    np.testing.assert_allclose(x, (left + right) / 2, atol=1e-7)
    both, _ = read_audio(p, mono=False)
    assert both.shape == (len(left), 2)
    np.testing.assert_array_equal(to_mono(both), x)
    y = load_audio(p, 24000)
    assert len(y) == len(left) // 2 and y.dtype == np.float32


def test_bad_audio_files_name_the_file(tmp_path):
    with pytest.raises(CodecprobeError, match="nope.wav: audio file not found"):
        read_audio(tmp_path / "nope.wav")
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(CodecprobeError, match="junk.flac: cannot read audio"):
        read_audio(junk)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(CodecprobeError, match="empty.wav: empty audio"):
        read_audio(empty)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_name_the_file_and_the_first_one(tmp_path, bad):
    # a float WAV can hold NaN or infinity: soxr would spread them over the neighbouring
    # samples and every feature of the utterance (and a melrvq fit over it) would be NaN
    x = np.zeros(16000, np.float32)
    x[8000] = bad
    p = tmp_path / "nan.wav"
    sf.write(p, np.stack([x, np.zeros_like(x)], 1), 16000, subtype="FLOAT")
    with pytest.raises(CodecprobeError, match=r"nan.wav: 1 non-finite samples \(NaN or infinity\), the first at 0.500 s"):
        read_audio(p)
    with pytest.raises(CodecprobeError, match="nan.wav: 1 non-finite"):
        load_audio(p, 24000)


def test_cut_takes_start_to_end_rounded_to_samples():
    x = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(cut(x, 10, 0.0, 0.5), np.arange(5))
    np.testing.assert_array_equal(cut(x, 10, 0.26, 0.54), [3, 4])  # 2.6 -> 3, 5.4 -> 5: [3, 5)
    np.testing.assert_array_equal(cut(x, 10, -0.3, 0.2), [0, 1])  # before the start: from sample 0
    np.testing.assert_array_equal(cut(x, 10, 9.8, 12.0), [98, 99])  # past the end: to the last sample
