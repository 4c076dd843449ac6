"""Articulatory probing (paper Sec. 2.4, 3.2): VTD against codec features, per layer.

* :func:`resample_vtd`: VTD ``[F_mri, G]`` at the MRI frame times -> the codec's frame times,
  per gridline, by linear interpolation; when the codec's frame rate is below the MRI's,
  a zero-phase low-pass (Butterworth, cut-off at 0.45 x the codec frame rate) is
  applied first so that articulatory motion above the codec's Nyquist frequency does
  not alias into the resampled track.
* :func:`nodata_gridlines`: the gridlines of a speaker that hold no measurement in any of
  its utterances (refilled from their neighbours by :func:`codecprobe.vtd.postprocess`,
  hence linearly dependent on them): they are dropped before CCA.
* :func:`layer_pwcca`: for one speaker, the utterances' resampled VTD and the codec's
  accumulated features at layer k are concatenated over utterances (frames pooled), and
  PWCCA is computed per layer, with a block-shuffled baseline beside every value.
* :func:`summarize_speakers`: mean over speakers with a t-interval.
* Time lag (beyond the paper): :func:`lag_grid` (symmetric lags in s), :func:`pick_layers`
  (the config's layer list, ``-1`` = last) and :func:`best_lags` (the lag of the highest
  mean PWCCA per codec and layer, flagged when it sits at the grid's edge). Causal
  encoders (EnCodec, MIMI) see only the audio up to each frame's end, so their frames may
  match the VTD of an earlier time best; ``artstage lag`` measures it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .io import CodecprobeError
from .pwcca import EPSILON, cca, pwcca_from_cca, pwcca_shuffled, scaling_for
from .rtmri import FRAME_RATE as MRI_FRAME_RATE

# MRI_FRAME_RATE: 83.2778 frames/s (TR 6.004 ms, 2 spiral arms per frame), one value with rtmri's


def lowpass(x: np.ndarray, rate: float, cutoff: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass of ``x [F, G]`` along time (``rate`` Hz, ``cutoff`` Hz)."""
    from scipy.signal import butter, sosfiltfilt

    if cutoff >= rate / 2:
        return x
    sos = butter(order, cutoff, btype="low", fs=rate, output="sos")
    padlen = min(3 * (2 * len(sos) + 1), len(x) - 1)
    if padlen < 1:
        return x
    return sosfiltfilt(sos, x, axis=0, padlen=padlen)


def resample_vtd(vtd: np.ndarray, t_mri: np.ndarray, t_codec: np.ndarray, codec_rate: float, mri_rate: float = MRI_FRAME_RATE) -> np.ndarray:
    """VTD ``[F_mri, G]`` sampled at ``t_mri`` (s) -> ``[len(t_codec), G]`` at ``t_codec`` (s).

    Low-passed at 0.45 x ``codec_rate`` first when ``codec_rate < mri_rate`` (anti-aliasing);
    codec frames outside the MRI time span take the nearest MRI value (no extrapolation).
    The two steps are :func:`antialias_vtd` and :func:`interp_vtd`.
    """
    return interp_vtd(antialias_vtd(vtd, t_mri, codec_rate, mri_rate), t_mri, t_codec)


def antialias_vtd(vtd: np.ndarray, t_mri: np.ndarray, codec_rate: float, mri_rate: float = MRI_FRAME_RATE) -> np.ndarray:
    """VTD ``[F_mri, G]`` (float64), low-passed at 0.45 x ``codec_rate`` when that is below
    ``mri_rate`` (zero-phase Butterworth, along time), else unchanged. Checks the shapes
    against ``t_mri [F_mri]`` and that every value is finite.

    Where frames are missing (bad frames skipped: ``t_mri`` steps by more than one MRI
    frame), the filter runs on the regular MRI frame grid, the gaps filled linearly, and
    the result is read back at ``t_mri``; the filter's taps assume evenly spaced samples."""
    vtd = np.asarray(vtd, dtype=np.float64)
    if vtd.ndim != 2 or len(vtd) != len(t_mri):
        raise CodecprobeError(f"VTD of shape {vtd.shape} does not match {len(t_mri)} MRI frame times")
    if not np.isfinite(vtd).all():
        raise CodecprobeError(f"VTD holds {int((~np.isfinite(vtd)).sum())} non-finite values: post-process it first")
    if codec_rate < mri_rate:
        k = np.rint((np.asarray(t_mri, np.float64) - t_mri[0]) * mri_rate).astype(np.int64) if len(vtd) else []
        if len(k) > 1 and (np.diff(k) != 1).any():
            if (np.diff(k) < 1).any():
                raise CodecprobeError("MRI frame times do not increase by at least one frame")
            grid = np.arange(k[-1] + 1)
            full = np.stack([np.interp(grid, k, vtd[:, g]) for g in range(vtd.shape[1])], axis=1)
            return lowpass(full, mri_rate, 0.45 * codec_rate)[k]
        vtd = lowpass(vtd, mri_rate, 0.45 * codec_rate)
    return vtd


def interp_vtd(vtd: np.ndarray, t_mri: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``vtd [F_mri, G]`` at ``t_mri`` (s) linearly interpolated per gridline to ``t [n]`` (s):
    ``[n, G]``; times outside the MRI span take the nearest MRI value."""
    out = np.empty((len(t), vtd.shape[1]))
    for g in range(vtd.shape[1]):
        out[:, g] = np.interp(t, t_mri, vtd[:, g])
    return out


def nodata_gridlines(dropped: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Gridlines without a single measurement in any utterance of a speaker.

    ``dropped``: one boolean ``[G]`` mask per utterance (``VTDResult.dropped``: the
    gridline was NaN in every frame of that utterance and :func:`codecprobe.vtd.postprocess`
    refilled it by interpolating across the gridline index). Returns a boolean ``[G]``,
    True where every utterance refilled the gridline. Such a column is a copy or a linear
    mix of its neighbours in every frame, so it carries no data of its own and makes the
    VTD covariance singular (PWCCA's canonical directions become linearly dependent):
    drop it before CCA. A gridline measured in at least one utterance is kept.
    """
    d = np.atleast_2d(np.asarray(dropped, dtype=bool))
    if d.size == 0 or d.shape[0] == 0:
        raise CodecprobeError("nodata_gridlines: no utterance masks given")
    return d.all(axis=0)


def index_runs(idx) -> str:
    """``[0, 1, 116, 117, 118, 119]`` -> ``"0-1, 116-119"`` (for log messages)."""
    idx = sorted(int(i) for i in idx)
    if not idx:
        return "none"
    runs, start, prev = [], idx[0], idx[0]
    for i in idx[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        runs.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(runs)


def layer_pwcca(
    vtds: list[np.ndarray],
    features: list[np.ndarray],
    n_shuffles: int = 10,
    block_len: int = 25,
    seed: int = 0,
    weight_side: str = "x",
) -> pd.DataFrame:
    """PWCCA per layer for one speaker, utterances pooled.

    ``vtds[u]``: ``[F_u, G]`` VTD of utterance u at the codec's frame times;
    ``features[u]``: ``[K, F_u, D]`` accumulated features of the same frames. Returns one row
    per layer: ``layer, n_frames, pwcca, shuffled_mean, shuffled_sd`` (VTD is x; weights on
    the VTD side by default, as the seed paper's release).
    """
    if len(vtds) != len(features) or not vtds:
        raise CodecprobeError("layer_pwcca: need the same, non-zero number of VTD and feature arrays")
    for u, (v, f) in enumerate(zip(vtds, features)):
        if len(v) != f.shape[1]:
            raise CodecprobeError(f"utterance {u}: {len(v)} VTD frames but {f.shape[1]} codec frames")
    x = np.concatenate(vtds)
    rows = []
    for k in range(features[0].shape[0]):
        y = np.concatenate([f[k] for f in features])
        rows.append({"layer": k + 1, **pwcca_with_baseline(x, y, n_shuffles, block_len, seed + k, weight_side)})
    return pd.DataFrame(rows)


def pwcca_with_baseline(
    x: np.ndarray, y: np.ndarray, n_shuffles: int = 10, block_len: int = 25, seed: int = 0, weight_side: str = "x",
    variates: str = "canonical", epsilon: float = EPSILON,
) -> dict:  # fmt: skip
    """PWCCA of frame-aligned ``x [F, G]`` (VTD) and ``y [F, D]`` (``variates`` as in
    :func:`codecprobe.pwcca.pwcca`) beside its block-shuffled baseline, plus the value the
    seed paper's release weighting gives on the same CCA (``pwcca_release``; see the
    module docstring of :mod:`codecprobe.pwcca` for how it differs from the numbers that
    release's shipped code printed): ``{n_frames, n_gridlines, pwcca, pwcca_release,
    shuffled_mean, shuffled_sd}``, ``n_gridlines`` = the columns of ``x`` CCA kept.
    ``epsilon``: the CCA's ridge and drop threshold, for the value and its baseline alike.

    Raises :class:`codecprobe.pwcca.DegenerateCCAError` when the data cannot give a value
    (e.g. linearly dependent columns of ``x``: drop :func:`nodata_gridlines` first)."""
    res = cca(x, y, epsilon=epsilon, scaling=scaling_for(variates))
    obs = pwcca_from_cca(res, weight_side, variates).pwcca
    rel = obs if variates == "release" else pwcca_from_cca(res, weight_side, "release").pwcca
    sh = pwcca_shuffled(x, y, np.random.default_rng(seed), n=n_shuffles, block_len=block_len, epsilon=epsilon,
                        weight_side=weight_side, variates=variates)  # fmt: skip
    return {
        "n_frames": len(x), "n_gridlines": int(res.x_kept.sum()), "pwcca": obs, "pwcca_release": rel,
        "shuffled_mean": sh.mean, "shuffled_sd": sh.sd,
    }  # fmt: skip


def _random_weights(g: pd.DataFrame) -> dict[str, bool]:
    """``{"random_weights": any of g's}``: the flag a summary row carries from the rows it is
    built from; rows without the flag count as random, as in the figures
    (:func:`codecprobe.figures.has_random_weights`)."""
    from .figures import has_random_weights

    return {"random_weights": has_random_weights(g)}


def summarize_speakers(table: pd.DataFrame, alpha: float = 0.05, by: tuple[str, ...] = ("codec", "layer")) -> pd.DataFrame:
    """Mean PWCCA over speakers per ``by`` group (codec and layer; the lag table adds
    ``lag_s``) with a t-interval.

    ``table`` columns: ``by``, ``speaker, pwcca`` and, when present, ``shuffled_mean``,
    ``shuffled_sd`` and ``pwcca_release`` (averaged over the speakers too) and ``random_weights`` (carried: true
    when any of the group's rows is, so that a random-weight codec's summary says so).
    """
    from scipy.stats import t as student_t

    rows = []
    for key, g in table.groupby(list(by), sort=False):
        n = len(g)
        m, sd = g["pwcca"].mean(), g["pwcca"].std(ddof=1) if n > 1 else np.nan
        half = student_t.ppf(1 - alpha / 2, n - 1) * sd / np.sqrt(n) if n > 1 else np.nan
        rows.append(
            dict(zip(by, key)) | {"n_speakers": n, "pwcca": m, "ci_low": m - half, "ci_high": m + half}
            | {c: g[c].mean() for c in ("shuffled_mean", "shuffled_sd", "pwcca_release") if c in g}
            | _random_weights(g)
        )  # fmt: skip
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- time lag
def lag_grid(max_seconds: float, step_seconds: float, max_lags: int = 401) -> np.ndarray:
    """Time lags (s) ``-max_seconds .. +max_seconds`` in steps of ``step_seconds``, 0 included
    and exact (multiples of the step, rounded to 1 us): ``[2 m + 1]``, ``m = floor(max / step)``."""
    if not step_seconds > 0:
        raise CodecprobeError(f"rtmri.lag.step_seconds must be > 0, got {step_seconds}")
    if not max_seconds >= 0:
        raise CodecprobeError(f"rtmri.lag.max_seconds must be >= 0, got {max_seconds}")
    m = int(np.floor(max_seconds / step_seconds + 1e-9))
    if 2 * m + 1 > max_lags:
        raise CodecprobeError(f"rtmri.lag: {2 * m + 1} lags (max {max_seconds} s in steps of {step_seconds} s); at most {max_lags}")
    return np.round(np.arange(-m, m + 1) * step_seconds, 6) + 0.0  # + 0.0: no -0.0


def pick_layers(layers: list[int], n_layers: int, codec: str = "", key: str = "rtmri.lag.layers") -> list[int]:
    """1-based layers from the config's list (negative counts from the end: -1 = the last of
    ``n_layers``), sorted, each once. An entry out of range raises :class:`CodecprobeError`
    naming ``key`` (the config key the list came from)."""
    out = set()
    for k in layers:
        j = k if k > 0 else n_layers + 1 + k
        if k == 0 or not 1 <= j <= n_layers:
            raise CodecprobeError(f"{key}: layer {k} does not exist in {codec or 'a codec'} with {n_layers} layers "
                                  "(1 .. n, or -1 for the last)")  # fmt: skip
        out.add(j)
    if not out:
        raise CodecprobeError(f"{key}: no layer given")
    return sorted(out)


def best_lags(summary: pd.DataFrame) -> pd.DataFrame:
    """Per codec and layer of a lag summary (:func:`summarize_speakers` with ``by=("codec",
    "layer", "lag_s")``): the lag of the highest mean PWCCA (``best_lag_s``, ``best_pwcca``), the
    value at lag 0 (``pwcca_lag0``, NaN when 0 is not in the grid), and ``at_edge``: the best lag
    is the first or last of the grid, so the true peak may lie beyond it (widen ``max_seconds``);
    ``random_weights`` carried from the summary when it has the column."""
    rows = []
    for (codec, layer), g in summary.groupby(["codec", "layer"], sort=False):
        g = g.sort_values("lag_s")
        i = int(np.argmax(g["pwcca"].to_numpy()))
        zero = g.loc[g["lag_s"] == 0, "pwcca"]
        rows.append({
            "codec": codec, "layer": layer, "best_lag_s": float(g["lag_s"].iloc[i]), "best_pwcca": float(g["pwcca"].iloc[i]),
            "pwcca_lag0": float(zero.iloc[0]) if len(zero) else np.nan, "n_lags": len(g),
            "at_edge": bool(len(g) > 1 and i in (0, len(g) - 1)), "n_speakers": int(g["n_speakers"].max()),
        } | _random_weights(g))  # fmt: skip
    return pd.DataFrame(rows)
