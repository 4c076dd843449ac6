import numpy as np
import pandas as pd
import pytest

from codecprobe.articulatory import MRI_FRAME_RATE, layer_pwcca, resample_vtd, summarize_speakers
from codecprobe.io import CodecprobeError


def _sines(t, freqs):
    return np.stack([np.sin(2 * np.pi * f * t) for f in freqs], axis=1)


def test_resample_keeps_slow_motion_and_removes_aliasing():
    t_mri = np.arange(830) / MRI_FRAME_RATE  # ~10 s
    # 12.5 Hz codec (MIMI): Nyquist 6.25 Hz. A 1 Hz gridline survives; a 20 Hz one must not alias.
    t_codec = (np.arange(120) + 0.5) / 12.5
    v = _sines(t_mri, [1.0, 20.0])
    r = resample_vtd(v, t_mri, t_codec, codec_rate=12.5)
    inner = slice(10, -10)  # away from the filter's edges
    np.testing.assert_allclose(r[inner, 0], np.sin(2 * np.pi * 1.0 * t_codec[inner]), atol=0.02)
    assert np.abs(r[inner, 1]).max() < 0.01
    # without the low-pass, plain interpolation would alias the 20 Hz line
    naive = np.interp(t_codec, t_mri, v[:, 1])
    assert np.abs(naive[inner]).max() > 0.3


def test_antialias_cutoff_is_045_times_the_codec_rate():
    """The zero-phase order-4 Butterworth low-pass has power gain 1/2 per pass at its cutoff,
    so amplitude gain 1/2 after the two passes: a sine at 0.45 x 12.5 Hz = 5.625 Hz comes out
    at half its amplitude, one at 0.5 Hz unchanged, one at 10 Hz (past 12.5 / 2) removed."""
    from codecprobe.articulatory import antialias_vtd

    t = np.arange(4000) / MRI_FRAME_RATE  # 48 s
    freqs = (0.45 * 12.5, 0.5, 10.0)
    out = antialias_vtd(_sines(t, freqs), t, codec_rate=12.5)
    mid = slice(500, -500)  # away from the edges
    for g, (f, gain) in enumerate(zip(freqs, (0.5, 1.0, 0.0))):
        basis = np.stack([np.sin(2 * np.pi * f * t[mid]), np.cos(2 * np.pi * f * t[mid])], axis=1)
        amp = np.hypot(*np.linalg.lstsq(basis, out[mid, g], rcond=None)[0])
        assert amp == pytest.approx(gain, abs=0.01), (f, amp)


def test_resample_up_is_plain_interpolation():
    t_mri = np.arange(100) / MRI_FRAME_RATE
    v = np.stack([2 * t_mri + 1, -t_mri], axis=1)  # linear tracks are interpolated exactly
    t_codec = (np.arange(100) + 0.5) / 100.0
    r = resample_vtd(v, t_mri, t_codec, codec_rate=100.0)
    inside = t_codec <= t_mri[-1]
    np.testing.assert_allclose(r[inside, 0], 2 * t_codec[inside] + 1, atol=1e-12)
    # beyond the last MRI frame: the nearest value, no extrapolation
    np.testing.assert_allclose(r[~inside, 0], v[-1, 0])


def test_antialias_over_skipped_frames_runs_on_the_regular_grid():
    """Bad frames skipped leave gaps in the MRI times; the low-pass runs on the regular MRI
    grid (gaps filled linearly), so on tracks that are linear over the gaps the result at
    the kept frames equals that of the complete track. Treating the kept frames as
    contiguous (before session 14) puts a step at each gap, and the filter rings there."""
    from codecprobe.articulatory import antialias_vtd, lowpass

    t = np.arange(400) / MRI_FRAME_RATE
    v = np.stack([3 * t + 1, -2 * t + 0.5 * np.sin(2 * np.pi * 0.5 * t)], axis=1)
    keep = np.ones(len(t), bool)
    keep[100:104] = False  # frames 100-103 skipped (t = 1.20-1.24 s)
    keep[250:262] = False  # and 12 more (t = 3.00-3.15 s)
    near_gaps = ((t > 1.0) & (t < 1.4)) | ((t > 2.9) & (t < 3.3))
    v[:, 1] = np.where(near_gaps, -2 * t, v[:, 1])  # linear across both gaps
    full = antialias_vtd(v, t, codec_rate=12.5)
    got = antialias_vtd(v[keep], t[keep], codec_rate=12.5)
    np.testing.assert_allclose(got, full[keep], atol=1e-9)
    contiguous = lowpass(v[keep], MRI_FRAME_RATE, 0.45 * 12.5)
    assert np.abs(contiguous - full[keep]).max() > 0.05  # the test sees the difference
    with pytest.raises(CodecprobeError, match="do not increase"):
        antialias_vtd(v[:3], t[[0, 2, 1]], codec_rate=12.5)


def test_resample_errors():
    t = np.arange(10) / MRI_FRAME_RATE
    with pytest.raises(CodecprobeError, match="does not match"):
        resample_vtd(np.zeros((9, 3)), t, t, 50.0)
    bad = np.zeros((10, 3))
    bad[2, 1] = np.nan
    with pytest.raises(CodecprobeError, match="1 non-finite"):
        resample_vtd(bad, t, t, 50.0)


def test_layer_pwcca_signal_vs_shuffled():
    """Features that carry the VTD (layer 2) beat the shuffled baseline; pure noise (layer 1) does not."""
    rng = np.random.default_rng(0)
    vtds, feats = [], []
    for u in range(4):
        n = 500
        latent = np.cumsum(rng.standard_normal((n, 3)), axis=0)  # smooth articulatory motion
        v = latent @ rng.standard_normal((3, 12)) + 0.1 * rng.standard_normal((n, 12))
        noise = rng.standard_normal((n, 16))
        carry = np.concatenate([latent @ rng.standard_normal((3, 8)), rng.standard_normal((n, 8))], axis=1)
        vtds.append(v)
        feats.append(np.stack([noise, carry]))
    t = layer_pwcca(vtds, feats, n_shuffles=5, block_len=25)
    assert list(t.layer) == [1, 2]
    l1, l2 = t.iloc[0], t.iloc[1]
    assert l2.pwcca > l2.shuffled_mean + 5 * l2.shuffled_sd
    assert abs(l1.pwcca - l1.shuffled_mean) < 5 * l1.shuffled_sd + 0.05
    with pytest.raises(CodecprobeError, match="VTD frames but"):
        layer_pwcca([np.zeros((5, 2))], [np.zeros((1, 6, 3))])
    with pytest.raises(CodecprobeError, match="non-zero number"):
        layer_pwcca([], [])


def test_layer_pwcca_pools_utterances_and_weights_on_the_vtd_side():
    """Each layer's value is PWCCA of the utterances' frames concatenated, VTD as x, with the
    weights on the VTD side by default (as the seed release; here the VTD is the wider side,
    so "smaller" would pick the features), ``weight_side`` passed on."""
    from codecprobe.pwcca import pwcca

    rng = np.random.default_rng(8)
    vtds, feats = [], []
    for n in (300, 220):
        z = np.cumsum(rng.standard_normal((n, 3)), axis=0)
        vtds.append(z @ rng.standard_normal((3, 14)) + 0.3 * rng.standard_normal((n, 14)))
        feats.append(np.stack([z @ rng.standard_normal((3, 10)) + s * rng.standard_normal((n, 10)) for s in (0.5, 3.0)]))
    x = np.concatenate(vtds)
    t = layer_pwcca(vtds, feats, n_shuffles=2, block_len=20)
    for k in range(2):
        y = np.concatenate([f[k] for f in feats])
        want_x, want_y = pwcca(x, y, weight_side="x").pwcca, pwcca(x, y, weight_side="y").pwcca
        assert abs(want_x - want_y) > 1e-3  # the side matters on these data
        assert t.pwcca[k] == pytest.approx(want_x, rel=1e-10)
        assert t.n_frames[k] == 520
        ty = layer_pwcca(vtds, feats, n_shuffles=2, block_len=20, weight_side="y")
        assert ty.pwcca[k] == pytest.approx(want_y, rel=1e-10)


def test_summarize_speakers_t_interval():
    tab = pd.DataFrame({"codec": "c", "speaker": ["a", "b", "c"], "layer": 1, "pwcca": [0.5, 0.6, 0.7], "shuffled_mean": 0.3})
    s = summarize_speakers(tab).iloc[0]
    # mean 0.6, sd 0.1, t(0.975, 2) = 4.302653 -> half-width 0.1 * 4.302653 / sqrt(3)
    assert s.pwcca == pytest.approx(0.6)
    assert s.ci_high - s.pwcca == pytest.approx(0.1 * 4.302653 / np.sqrt(3), rel=1e-5)
    assert s.pwcca - s.ci_low == pytest.approx(0.1 * 4.302653 / np.sqrt(3), rel=1e-5)
    assert s.shuffled_mean == pytest.approx(0.3)
    assert s.n_speakers == 3


def test_pwcca_with_baseline_reports_the_configured_and_the_release_variates():
    """One CCA, two weightings: ``pwcca`` follows ``variates``; ``pwcca_release`` is always
    the seed release's formula (for comparing with the paper's numbers)."""
    from codecprobe.articulatory import pwcca_with_baseline
    from codecprobe.pwcca import pwcca

    rng = np.random.default_rng(4)
    z = rng.standard_normal((600, 3))
    x = np.abs(z @ rng.standard_normal((3, 12)) + 0.5 * rng.standard_normal((600, 12))) + 2.0  # VTD-like, mean far from 0
    y = z @ rng.standard_normal((3, 20)) + rng.standard_normal((600, 20))
    canon = pwcca_with_baseline(x, y, n_shuffles=3, block_len=20)
    assert canon["pwcca"] == pytest.approx(pwcca(x, y, weight_side="x").pwcca, rel=1e-12)
    assert canon["pwcca_release"] == pytest.approx(pwcca(x, y, weight_side="x", variates="release").pwcca, rel=1e-12)
    assert abs(canon["pwcca_release"] - canon["pwcca"]) > 0.01  # the two weightings differ on such data
    rel = pwcca_with_baseline(x, y, n_shuffles=3, block_len=20, variates="release")
    assert rel["pwcca"] == rel["pwcca_release"] == canon["pwcca_release"]


def test_codec_frames_read_the_mri_frame_nearest_in_time():
    """MRI frame N is stamped at its centre (N - 0.5) T: a step in VTD between MRI frames
    lands at the codec frame whose centre is nearer the later MRI frame's centre, and a VTD
    ramp equal to acquisition time is read back at the codec frame centres (before the
    fix frames were stamped at their start and everything read 6 ms late)."""
    from codecprobe.rtmri import frame_time

    frame_no = np.arange(1, 301)
    t_mri = frame_time(frame_no)
    centres = (frame_no - 0.5) * 0.012008  # acquisition centres
    steps = 40 + 7 * np.arange(30)  # gridline g steps from 0 to 1 after MRI frame steps[g]
    v = (frame_no[:, None] > steps[None, :]).astype(float)
    t_codec = (np.arange(20, 340) + 0.5) / 100.0  # 100 Hz codec frame centres (no low-pass)
    r = resample_vtd(v, t_mri, t_codec, 100.0)
    nearest = np.argmin(np.abs(t_codec[:, None] - centres[None, :]), axis=1)
    gap = np.sort(np.abs(t_codec[:, None] - centres[None, :]), axis=1)
    assert (gap[:, 1] - gap[:, 0]).min() > 1e-5  # no ties (10 us)
    np.testing.assert_array_equal(np.round(r), v[nearest])
    # a ramp through the anti-aliasing low-pass (75 Hz codec): value read = codec frame centre
    ramp = np.repeat(centres[:, None], 3, axis=1)
    t75 = (np.arange(10, 250) + 0.5) / 75.0
    r75 = resample_vtd(ramp, t_mri, t75, 75.0)
    assert abs(np.mean(r75[20:-20, 0] - t75[20:-20])) < 1e-4


def test_mri_frame_rate_of_the_75_speaker_corpus():
    """TR 6.004 ms and 2 spiral arms per frame (the corpus paper): 83.2778 frames/s."""
    assert MRI_FRAME_RATE == pytest.approx(83.2778, abs=5e-5)


def test_lowpass_is_scipys_zero_phase_filter_and_handles_short_clips():
    from codecprobe.articulatory import lowpass
    from scipy.signal import butter, sosfiltfilt

    x = np.random.default_rng(4).standard_normal((400, 3))
    sos = butter(4, 5.0, fs=MRI_FRAME_RATE, output="sos")
    np.testing.assert_allclose(lowpass(x, MRI_FRAME_RATE, 5.0), sosfiltfilt(sos, x, axis=0), atol=1e-12)
    for n in (2, 5, 15):  # shorter than scipy's default padding: padded as far as the clip allows
        np.testing.assert_allclose(lowpass(np.full((n, 2), 3.0), MRI_FRAME_RATE, 5.0), 3.0, atol=1e-9)
    one = np.ones((1, 2))
    assert lowpass(one, MRI_FRAME_RATE, 5.0) is one
    assert lowpass(x, MRI_FRAME_RATE, MRI_FRAME_RATE / 2) is x  # cutoff at Nyquist: nothing to do
