"""PWCCA against the time lag between VTD and codec features (``artstage lag``): known lags
planted in synthetic data are found, with the right sign; lag 0 equals Fig. 3's PWCCA on the
same frames; the frame selection, the layer list and the summary by hand."""

import numpy as np
import pandas as pd
import pytest
from codecprobe.articulatory import best_lags, lag_grid, pick_layers, summarize_speakers
from codecprobe.artstage import LAG_COLUMNS, codec_lag_pwcca, codec_pwcca, main
from codecprobe.io import CodecprobeError, read_table
from codecprobe.pwcca import pwcca, pwcca_each_x
from codecprobe.rtmri import frame_time
from test_artstage import _write_features, _write_vtd

RATE = 50.0  # codec frames per second in the synthetic files


def _latent(t, freqs, phases):
    """Smooth articulatory motion ``[len(t), L]``: one sum of sinusoids (0.5-6 Hz) per latent."""
    return np.stack([np.sin(2 * np.pi * f * t[:, None] + p).sum(1) for f, p in zip(freqs, phases)], axis=1)


def _speaker(tmp_path, spk, delay, rng, n_clips=4, seconds=6.0, n_grid=30, dim=16, n_layers=3):
    """One speaker's VTD file and a codec file whose layer 1 is the articulation ``delay`` s
    earlier (``y(t) = latent(t - delay) W + noise``) and whose layers 2.. add noise only.
    Returns ``(vtd path, {utt: (codec frame times, increments [K, F, D])})``."""
    n_lat = 4
    freqs = rng.uniform(0.5, 6.0, (n_lat, 3))
    mix, w = rng.standard_normal((n_lat, n_grid)), rng.standard_normal((n_lat, dim))
    clips, utts = [], {}
    for c in range(n_clips):
        phases = rng.uniform(0, 2 * np.pi, (n_lat, 3))
        t_mri = frame_time(np.arange(1, int(seconds * 83.2778) + 1))
        px = 10 + _latent(t_mri, freqs, phases) @ mix + 0.3 * rng.standard_normal((len(t_mri), n_grid))
        name = f"{spk}_2drt_{c + 10:02d}_topic"
        clips.append((name, px, np.zeros(n_grid, bool)))
        t = (np.arange(int(seconds * RATE)) + 0.5) / RATE
        y1 = _latent(t - delay, freqs, phases) @ w + 0.5 * rng.standard_normal((len(t), dim))
        utts[name] = (t, np.stack([y1] + [0.5 * rng.standard_normal((len(t), dim)) for _ in range(n_layers - 1)]))
    return _write_vtd(tmp_path / f"{spk}.h5", spk, clips), utts


@pytest.mark.parametrize("delay", [0.06, -0.04])
def test_the_planted_lag_is_found_with_its_sign(tmp_path, delay):
    """Features that carry the articulation ``delay`` s late peak at ``lag_s == delay`` for every
    speaker, and fall off on both sides."""
    rng = np.random.default_rng(11)
    v1, u1 = _speaker(tmp_path, "sub801", delay, rng)
    v2, u2 = _speaker(tmp_path, "sub802", delay, rng)
    feats = _write_features(tmp_path / "f.h5", {**u1, **u2}, RATE)
    lags = lag_grid(0.12, 0.02)
    res = codec_lag_pwcca("syn", feats, [v1, v2], lags, [1, -1])
    assert list(res.columns) == LAG_COLUMNS and len(res) == 2 * 2 * 13
    for (spk, layer), g in res.groupby(["speaker", "layer"]):
        g = g.sort_values("lag_s")
        assert g["n_frames"].nunique() == 1 and (g["n_gridlines"] == 30).all()
        if layer == 1:
            i = int(np.argmax(g["pwcca"]))
            assert g["lag_s"].iloc[i] == pytest.approx(delay), (spk, g[["lag_s", "pwcca"]])
            assert g["pwcca"].iloc[i] > g["pwcca"].iloc[i - 1] and g["pwcca"].iloc[i] > g["pwcca"].iloc[i + 1]
            assert g["pwcca"].iloc[i] > g.loc[g["lag_s"] == 0, "pwcca"].iloc[0] + 0.01
    best = best_lags(summarize_speakers(res, by=("codec", "layer", "lag_s")))
    row = best[best.layer == 1].iloc[0]
    assert row.best_lag_s == pytest.approx(delay) and not row.at_edge and row.n_speakers == 2
    assert list(best.layer) == [1, 3]


def test_lag_zero_is_fig3s_pwcca_and_frames_stay_inside_the_mri_span(tmp_path):
    """With the single lag 0 the values equal :func:`codec_pwcca`'s (same frames, same CCA);
    with lags up to 0.1 s, only codec frames whose centres t keep t - 0.1 and t + 0.1 inside
    the MRI span are used, the same for every lag."""
    rng = np.random.default_rng(2)
    vtd, utts = _speaker(tmp_path, "sub801", 0.0, rng, n_clips=3)
    feats = _write_features(tmp_path / "f.h5", utts, RATE)
    fig3 = codec_pwcca("syn", feats, [vtd], n_shuffles=2)
    zero = codec_lag_pwcca("syn", feats, [vtd], np.zeros(1), [1, 2, 3])
    np.testing.assert_allclose(zero.pwcca, fig3.pwcca, atol=1e-10)
    assert (zero.n_frames == fig3.n_frames).all()
    wide = codec_lag_pwcca("syn", feats, [vtd], lag_grid(0.1, 0.05), [2])
    t_mri = frame_time(np.arange(1, int(6.0 * 83.2778) + 1))
    t = (np.arange(300) + 0.5) / RATE
    inside = ((t - 0.1 >= t_mri[0]) & (t + 0.1 <= t_mri[-1])).sum()
    assert list(wide.lag_s) == [-0.1, -0.05, 0.0, 0.05, 0.1] and (wide.n_frames == 3 * inside).all()
    assert (wide.layer == 2).all() and wide.n_frames[0] < fig3.n_frames[0]


def test_pwcca_each_x_equals_pwcca_one_by_one():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((400, 40))
    xs = [y[:, :8] @ rng.standard_normal((8, 12)) + rng.standard_normal((400, 12)) for _ in range(3)]
    xs.append(rng.standard_normal((400, 5)))  # another width: each x is on its own
    for variates in ("canonical", "release"):
        got = pwcca_each_x(xs, y, weight_side="x", variates=variates)
        want = [pwcca(x, y, weight_side="x", variates=variates).pwcca for x in xs]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    with pytest.raises(CodecprobeError, match="frames"):
        pwcca_each_x([xs[0][:-1]], y)


def test_lag_grid_and_layers():
    np.testing.assert_array_equal(lag_grid(0.1, 0.02), [-0.1, -0.08, -0.06, -0.04, -0.02, 0.0, 0.02, 0.04, 0.06, 0.08, 0.1])
    assert 0.0 in lag_grid(0.16, 0.03) and len(lag_grid(0.16, 0.03)) == 11  # up to 0.15
    assert list(lag_grid(0.0, 0.02)) == [0.0]
    for bad, msg in (((0.1, 0.0), "step_seconds"), ((-0.1, 0.02), "max_seconds"), ((10.0, 0.001), "lags")):
        with pytest.raises(CodecprobeError, match=msg):
            lag_grid(*bad)
    assert pick_layers([1, -1], 8) == [1, 8] and pick_layers([-1, 8, 3], 8) == [3, 8]
    for bad in ([9], [0], [-9]):
        with pytest.raises(CodecprobeError, match=r"rtmri.lag.layers: layer .* in mimi with 8 layers"):
            pick_layers(bad, 8, "mimi")
    with pytest.raises(CodecprobeError, match=r"^rtmri.regions.layers: layer 9 does not exist in mimi with 8 layers"):
        pick_layers([9], 8, "mimi", "rtmri.regions.layers")  # the region job named the lag's key


def test_best_lags_by_hand():
    """Mean over speakers per lag; the best lag, the value at 0, and the edge flag."""
    rows = []
    for spk, vals in (("a", [0.50, 0.60, 0.70, 0.65]), ("b", [0.52, 0.58, 0.66, 0.69])):
        rows += [{"codec": "c", "speaker": spk, "layer": 1, "lag_s": lag, "pwcca": v} for lag, v in zip([-0.02, 0.0, 0.02, 0.04], vals)]
        rows += [{"codec": "c", "speaker": spk, "layer": 2, "lag_s": lag, "pwcca": v} for lag, v in zip([-0.02, 0.0, 0.02, 0.04], [0.7, 0.6, 0.5, 0.4])]
    s = summarize_speakers(pd.DataFrame(rows), by=("codec", "layer", "lag_s"))
    assert s.loc[(s.layer == 1) & (s.lag_s == 0.02), "pwcca"].iloc[0] == pytest.approx(0.68)
    half = 12.706205 * np.std([0.70, 0.66], ddof=1) / np.sqrt(2)  # t(0.975, 1 df)
    assert s.loc[(s.layer == 1) & (s.lag_s == 0.02), "ci_high"].iloc[0] == pytest.approx(0.68 + half, rel=1e-5)
    b = best_lags(s).set_index("layer")
    assert b.loc[1, "best_lag_s"] == 0.02 and b.loc[1, "best_pwcca"] == pytest.approx(0.68) and not b.loc[1, "at_edge"]
    assert b.loc[1, "pwcca_lag0"] == pytest.approx(0.59)
    assert b.loc[2, "best_lag_s"] == -0.02 and b.loc[2, "at_edge"]  # falling: the peak at the grid's first lag


def test_cli_lag_and_figure(tmp_path):
    """The two CLI steps: per-codec table, then summary, best lags and the figure, whose lines
    are drawn at the lags in ms, one per layer."""
    from codecprobe import artstage

    rng = np.random.default_rng(4)
    vtd, utts = _speaker(tmp_path, "sub801", 0.04, rng, n_clips=3)
    feats = _write_features(tmp_path / "f.h5", utts, RATE)
    main(["lag", "--codec", "syn", "--features", feats, "--vtd", vtd, "--out", str(tmp_path / "syn.csv"),
          "--max-seconds", "0.08", "--step-seconds", "0.04", "--layers", "1", "-1"])  # fmt: skip
    t = read_table(str(tmp_path / "syn.csv"))
    assert sorted(set(t.lag_s)) == [-0.08, -0.04, 0.0, 0.04, 0.08] and sorted(set(t.layer)) == [1, 3]
    assert (t.epsilon == 1e-10).all()
    main(["lag", "--codec", "syn", "--features", feats, "--vtd", vtd, "--out", str(tmp_path / "ridged.csv"),
          "--max-seconds", "0.08", "--step-seconds", "0.04", "--layers", "1", "-1", "--epsilon", "0.001"])  # fmt: skip
    ridged = read_table(str(tmp_path / "ridged.csv"))  # rtmri.epsilon reaches the CCA through the CLI
    assert (ridged.epsilon == 1e-3).all() and not np.allclose(ridged.pwcca, t.pwcca, atol=1e-6)
    for bad in ("nan", "-1e-3", "inf", "x"):
        with pytest.raises(SystemExit):
            main(["lag", "--codec", "syn", "--features", feats, "--vtd", vtd, "--out", str(tmp_path / "x.csv"),
                  "--epsilon", bad])  # fmt: skip
    drawn = {}
    real = artstage.save_figure
    artstage.save_figure = lambda fig, pdf, png: drawn.setdefault("fig", fig)
    try:
        main(["lag-figure", "--tables", str(tmp_path / "syn.csv"), "--combined", str(tmp_path / "all.csv"),
              "--summary", str(tmp_path / "s.csv"), "--best", str(tmp_path / "b.csv"), "--pdf", str(tmp_path / "f.pdf"),
              "--png", str(tmp_path / "f.png"), "--note", "synthetic"])  # fmt: skip
    finally:
        artstage.save_figure = real
    best = read_table(str(tmp_path / "b.csv"))
    assert best.loc[best.layer == 1, "best_lag_s"].iloc[0] == pytest.approx(0.04)
    lines = [ln for ln in drawn["fig"].axes[0].get_lines() if ln.get_label().startswith("layer")]
    assert [ln.get_label() for ln in lines] == ["layer 1 (1 speaker)", "layer 3 (1 speaker)"]
    assert all(list(ln.get_xdata()) == [-80.0, -40.0, 0.0, 40.0, 80.0] for ln in lines)
    with pytest.raises(CodecprobeError, match="layer 4 does not exist in syn with 3 layers"):
        main(["lag", "--codec", "syn", "--features", feats, "--vtd", vtd, "--out", str(tmp_path / "x.csv"), "--layers", "4"])


def test_lag_benchmark_runs_small():
    """``benchmarks/lag.py`` on a small case: it finds the planted lag and both ways agree."""
    import subprocess
    import sys

    from conftest import REPO

    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "lag.py"), "--frames", "3000", "--lags", "5", "--dy", "64"],
                       capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "ratio" in r.stdout and "best lag index 2 (planted: 2)" in r.stdout
    assert float(r.stdout.split("max |difference| ")[1].split()[0]) < 1e-12


def test_in_long_gaps_by_hand():
    """Frames 11..21 (11 frames) missing between kept frames 10 and 22 (1-based): a codec
    frame reading VTD strictly between their centres is in a long gap when max_gap < 11."""
    from codecprobe.artstage import in_long_gaps

    r = 83.2778
    t_mri = (np.r_[0:10, 21:31] + 0.5) / r  # centres of frames 1..10 and 22..31
    t = np.array([9.0, 10.0, 21.0, 22.0]) / r
    assert in_long_gaps(t, t_mri, 10, np.zeros(1)).tolist() == [False, True, True, False]
    assert not in_long_gaps(t, t_mri, 11, np.zeros(1)).any()  # 11 missing frames are bridged
    assert not in_long_gaps(t, t_mri, None, np.zeros(1)).any()  # None: every gap bridged
    # lags up to one frame: t - lag for some lag lands in the gap; 22/r - 1/r = 21/r < 21.5/r
    assert in_long_gaps(t, t_mri, 10, np.array([0.0, 1 / r])).tolist() == [False, True, True, True]


@pytest.mark.parametrize("max_gap, left_out", [(10, True), (-1, False)])
def test_codec_frames_in_long_mri_gaps_are_left_out(tmp_path, max_gap, left_out):
    """Bad MRI frames skipped leave a gap in an utterance's VTD times. Over a run of more
    than max_gap frames the VTD is not interpolated over time (the limit that vtd applies
    per gridline): the codec frames inside it are left out of CCA, at every lag. A file
    with max_gap -1 (every gap bridged) keeps them."""
    import h5py

    rng = np.random.default_rng(3)
    vtd, utts = _speaker(tmp_path, "sub801", 0.0, rng, n_clips=2)
    feats = _write_features(tmp_path / "f.h5", utts, RATE)
    full = codec_pwcca("syn", feats, [vtd], n_shuffles=2)
    with h5py.File(vtd, "a") as h:  # frames 101..200 of the first utterance were bad and skipped
        n0 = int(h["utterances/n_frames"][0])
        keep = np.r_[0:100, 200 : len(h["times"])]
        data = {k: h[k][:][keep] for k in ("vtd", "times", "frame_no")}
        for k, v in data.items():
            del h[k]
            h[k] = v
        h["utterances/n_frames"][0] = n0 - 100
        h["utterances/offset"][1] = n0 - 100
        h.attrs["max_gap"] = max_gap
    a, b = frame_time(100), frame_time(201)
    t = (np.arange(300) + 0.5) / RATE  # the first utterance's codec frames
    inside = int(((t > a) & (t < b)).sum())
    res = codec_pwcca("syn", feats, [vtd], n_shuffles=2)
    assert inside == 60 and (res.n_frames == full.n_frames - (inside if left_out else 0)).all()
    lag = codec_lag_pwcca("syn", feats, [vtd], lag_grid(0.04, 0.02), [1])
    span = (t - 0.04 >= frame_time(1)) & (t + 0.04 <= frame_time(499))  # inside the MRI span at every lag
    in_gap = (t + 0.04 > a) & (t - 0.04 < b)  # the VTD at t - lag lies in the gap for some lag
    assert (lag.n_frames == (span & ~in_gap).sum() + span.sum() if left_out else lag.n_frames == 2 * span.sum()).all()


def test_pwcca_rules_carry_the_method_version_and_jobs_check_it(tmp_path):
    """The PWCCA rules' arguments hold codecprobe.pwcca.METHOD_VERSION, so that a change of
    the method reruns their jobs (session 25's scaling change otherwise left every PWCCA
    table stale until --forcerun); a job planned with another version refuses to run."""
    import yaml
    from codecprobe import pwcca
    from codecprobe.artstage import main
    from codecprobe.config import lag_args, pwcca_args, region_args
    from conftest import REPO

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for args in (pwcca_args(cfg, "mimi"), lag_args(cfg), region_args(cfg)):
        assert f"--pwcca-method {pwcca.METHOD_VERSION}" in args
    stale = str(pwcca.METHOD_VERSION - 1)
    with pytest.raises(CodecprobeError, match=f"planned with PWCCA method {stale}, but this code computes method"):
        main(["pwcca", "--codec", "c", "--features", "f.h5", "--vtd", "v.h5", "--out", str(tmp_path / "o.csv"),
              "--pwcca-method", stale])  # fmt: skip
