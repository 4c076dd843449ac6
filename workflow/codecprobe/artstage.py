"""Articulatory probing stage CLIs: VTD per speaker, the rt-MRI utterance table, PWCCA per codec, Fig. 3/4.

``python -m codecprobe.artstage vtd|utterances|pwcca|figures|lag|lag-figure|regions|region-pwcca|region-figure ...`` (see ``--help``).

* ``vtd``: one HDF5 per speaker: ``/vtd`` ``[frames, 120]`` float32 (pixels; x 2.381 for mm),
  ``/times`` (s, frame centres (frameNo - 0.5) / 83.2778), ``/frame_no``, ``/utterances/{name,
  offset, n_frames, last_frame_no, dropped, nan_share, across_share}`` (``last_frame_no``:
  the track file's last frame number, the clip's end at ``last_frame_no / 83.2778`` s, also
  where its last frames were bad and left out) (``dropped [utterances, 120]``:
  gridline NaN in every frame of that utterance, refilled across the gridline index;
  ``nan_share`` / ``across_share`` float32 ``[utterances, 120]``: share of the utterance's
  frames where the gridline was not measured / was refilled across gridlines, its gap
  being over ``max_gap``), ``/grid`` ``[120, 2, 2]`` (inner-side end, outer-side end,
  image pixels), ``/midline``; attributes: speaker, frame rate, mm per pixel, NaN policy,
  ``max_gap`` (-1: every gap bridged), counts. Plus a
  debug PNG (one frame with contours, midline and gridlines).
* ``utterances``: the table the encode stage reads in feature slicing mode (one "token"
  per utterance spanning its audio); utterances whose audio is missing or unreadable, or
  whose audio and track lengths differ by more than a tolerance, are skipped and counted.
* ``pwcca``: per speaker and layer, PWCCA between VTD (resampled to the codec's frame
  times) and the codec's accumulated features, rebuilt from the stored codes and
  codebook tables one layer at a time (memory: frames x D). Gridlines that hold no
  measurement in any utterance of a speaker (refilled copies of their neighbours) are
  dropped before CCA (logged; ``n_gridlines`` in the table); a speaker whose CCA is
  degenerate all the same is skipped with a warning and counted. ``--variant without_first``
  adds, for split codecs such as MIMI, layer 1 alone and the accumulated layers 2..k
  without layer 1 (Fig. 4).
* ``lag``: PWCCA of chosen layers against VTD read at time lags (``lag_s > 0``: the codec
  frame at ``t`` against the VTD at ``t - lag_s``), per speaker; ``lag-figure``: the mean
  over speakers per lag, the best lag per codec and layer, and the figure.
* ``regions``: the tract region (lips, palate, velum, pharynx) of each gridline of a
  speaker, by the outer-wall section it crosses; ``region-pwcca``: PWCCA per speaker,
  region and chosen layer, with shuffled baselines; ``region-figure``: the mean over
  speakers and the figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import latex_provenance, source_version, with_provenance
from .arrays import offsets
from .articulatory import (
    antialias_vtd,
    best_lags,
    index_runs,
    interp_vtd,
    lag_grid,
    nodata_gridlines,
    pick_layers,
    pwcca_with_baseline,
    summarize_speakers,
)
from .figures import (
    codec_grid,
    has_random_weights,
    latex_codec_name,
    latex_decimals,
    latex_interval,
    layer_ticks,
    legend_entries,
    set_marked_title,
)
from .io import (
    CodecprobeError,
    atomic_path,
    check_file_digest,
    read_table,
    readable_h5,
    repeated,
    run_cli,
    save_figure,
    setup_logging,
    utf8_bytes,
    write_table,
    write_text,
)
from .pwcca import EPSILON, DegenerateCCAError, ShuffleError, pwcca_results_each_x
from .rtmri import BAD_FRAME_POLICIES, FRAME_RATE
from .vtd import NAN_POLICIES

log = logging.getLogger("codecprobe.artstage")


# ----------------------------------------------------------------------------- VTD
BAD_TRACK_POLICIES = ("skip", "error")


def speaker_tracks(annot16: str, speaker: str, skip_tasks: list[str], bad_frames: str = "skip",
                   bad_tracks: str = "skip", max_gap: int | None = None) -> tuple[list, int]:  # fmt: skip
    """The speaker's kept tracks (:func:`codecprobe.rtmri.load_track`, with ``bad_frames`` and
    ``max_gap``) and how many track files were left out as unreadable. ``bad_tracks="skip"``: a file that is not a usable
    track (unreadable, no ``trackdata``, no good frame) is left out with a warning naming
    it and the problem; ``"error"``: it stops the job. No usable track at all is an error."""
    from .rtmri import list_tracks, load_track

    if bad_tracks not in BAD_TRACK_POLICIES:
        raise ValueError(f"bad_tracks must be one of {BAD_TRACK_POLICIES}, got {bad_tracks!r}")
    tracks, n_bad = [], 0
    for t in list_tracks(annot16, speaker, skip_tasks):
        try:
            tracks.append(load_track(t.track, bad_frames=bad_frames, max_gap=max_gap))
        except CodecprobeError as e:
            if bad_tracks == "error":
                raise
            n_bad += 1
            log.warning("%s: track file left out: %s", speaker, e)
    if not tracks:
        raise CodecprobeError(f"{speaker}: none of its track files under {annot16} is usable ({n_bad} left out)")
    return tracks, n_bad


def speaker_vtd(annot16: str, speaker: str, out: str, figure: str, skip_tasks: list[str], grid_path: str | None,
                n_gridlines: int = 120, nan_policy: str = "interpolate", bad_frames: str = "skip",
                bad_tracks: str = "skip", max_gap: int | None = 10) -> dict:  # fmt: skip
    """Build the grid (or load it), compute VTD for every kept track, write HDF5 + debug PNG.
    ``bad_tracks``: see :func:`speaker_tracks`; it also covers a track that no gridline
    crosses in any frame (:class:`codecprobe.vtd.NoCrossingError`). ``max_gap``: see
    :func:`codecprobe.vtd.postprocess`."""
    from .vtd import NoCrossingError, debug_figure, grid_from_tracks, load_grid, orient_grid, vtd, vtd_track

    tracks, n_bad_files = speaker_tracks(annot16, speaker, skip_tasks, bad_frames, bad_tracks, max_gap)
    counts = {"tracks": len(tracks), "unusable track files": n_bad_files, "bad frames": int(sum(t.n_bad for t in tracks))}
    if grid_path:
        grid, midline = orient_grid(load_grid(grid_path), tracks[0].inner[0]), None
        if len(grid) != n_gridlines:  # the paper's 120; a toolbox grid of another count is not resampled silently
            raise CodecprobeError(
                f"{grid_path}: {len(grid)} gridlines, but rtmri.n_gridlines is {n_gridlines}: set n_gridlines to "
                f"{len(grid)} to use this grid as it is, or set rtmri.grid to null to build {n_gridlines} from the contours"
            )
    else:
        grid, midline = grid_from_tracks(tracks, n=n_gridlines)
    results, crossed = [], []  # the VTD of the tracks some gridline crosses, and those tracks
    for t in tracks:
        try:
            results.append(vtd_track(t, grid, nan_policy=nan_policy, max_gap=max_gap))
            crossed.append(t)
        except NoCrossingError as e:
            if bad_tracks == "error":
                raise
            log.warning("%s: track left out: %s", speaker, e)
    counts["tracks no gridline crosses"] = len(tracks) - len(crossed)
    if not results:
        raise CodecprobeError(f"{speaker}: no gridline crosses both walls in any of its {len(tracks)} usable tracks")
    tracks = crossed
    counts["gridlines dropped (NaN in every frame), summed over tracks"] = int(sum(r.dropped.sum() for r in results))
    counts["values filled over time"] = int(sum((r.nan_mask & ~r.dropped & ~r.across).sum() for r in results))
    counts["values refilled across gridlines (gaps over max_gap frames)"] = int(sum(r.across.sum() for r in results))
    counts["frames left out: no gridline measured for over max_gap frames"] = int(sum(r.n_unmeasured_frames for r in results))
    nodata = nodata_gridlines([r.dropped for r in results])
    counts["gridlines with no measurement in any track"] = int(nodata.sum())
    if nodata.sum() > len(nodata) / 2:  # a handful beyond the lips and the larynx is normal (6 of 120 on the fixture)
        why = (f" with the grid {grid_path}: is it in the contours' image pixels, x before y, as rtmri.grid needs?"
               if grid_path else ": do the tracks' walls face each other?")  # fmt: skip
        raise CodecprobeError(f"{speaker}: {int(nodata.sum())} of {len(nodata)} gridlines cross the two walls in no frame "
                              f"of any track{why}")  # fmt: skip
    if nodata.any():
        log.info("%s: gridline(s) %s hold no measurement in any track (refilled; dropped before CCA)",
                 speaker, index_runs(np.nonzero(nodata)[0]))  # fmt: skip
    write_speaker_vtd(out, speaker, results, grid, midline, nan_policy=nan_policy, bad_frames=bad_frames,
                      max_gap=-1 if max_gap is None else max_gap, counts=json.dumps(counts))  # fmt: skip
    # the debug figure shows the two walls VTD is measured between (not the raw sections,
    # whose names differ between contour templates) and the crossings of every gridline
    t0, mid = tracks[0], len(tracks[0].frame_no) // 2
    inner, outer = t0.inner[mid], t0.outer[mid]
    walls = {"inner wall": inner[np.isfinite(inner).all(1)], "outer wall": outer[np.isfinite(outer).all(1)]}
    _, pin, pout = vtd(inner, outer, grid, return_points=True)
    debug_figure(walls, midline, grid, figure, crossings=(pin, pout),
                 title=f"{speaker}: {t0.name}, frame {int(t0.frame_no[mid])}")  # fmt: skip
    for k, v in counts.items():
        log.info("%s: %s = %d", speaker, k, v)
    return counts


def write_speaker_vtd(
    out: str, speaker: str, results, grid: np.ndarray, midline: np.ndarray | None = None, **attrs
) -> None:
    """Write one speaker's :class:`codecprobe.vtd.VTDResult` list as the ``vtd`` HDF5 (module
    docstring); ``attrs`` are added to the file's attributes."""
    import h5py

    from .rtmri import MM_PER_PIXEL

    n = np.array([len(r.px) for r in results])
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h:
        h["vtd"] = np.concatenate([r.px for r in results]).astype(np.float32)
        h["times"] = np.concatenate([r.times for r in results])
        h["frame_no"] = np.concatenate([r.frame_no for r in results])
        h["utterances/name"] = utf8_bytes([r.name for r in results])
        h["utterances/n_frames"] = n
        h["utterances/offset"] = offsets(n)
        # the file's last frame number, also where its last frames were bad and left out: the clip's end
        h["utterances/last_frame_no"] = np.array(
            [int(r.frame_no[-1]) if r.last_frame_no is None else r.last_frame_no for r in results], np.int64
        )
        h["utterances/dropped"] = np.stack([np.asarray(r.dropped, bool) for r in results])
        # per utterance and gridline: the share of frames not measured (filled by the NaN
        # policy), and of those refilled across gridlines (gaps over max_gap)
        h["utterances/nan_share"] = np.stack([np.asarray(r.nan_mask, bool).mean(axis=0) for r in results]).astype(np.float32)
        h["utterances/across_share"] = np.stack(
            [np.zeros(r.px.shape[1]) if r.across is None else r.across.mean(axis=0) for r in results]
        ).astype(np.float32)
        h["grid"] = grid
        if midline is not None:
            h["midline"] = midline
        h.attrs.update(speaker=speaker, frame_rate=FRAME_RATE, mm_per_pixel=MM_PER_PIXEL, unit="pixel",
                       codecprobe=source_version(), **attrs)  # fmt: skip


def _vtd_file(path: str):
    """``path`` open for reading as a VTD file (:func:`speaker_vtd` writes them), see :func:`codecprobe.io.readable_h5`."""
    return readable_h5(path, "VTD file", "rtmri_vtd")


def read_vtd(path: str) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``(speaker, {utterance name: (times [F], vtd [F, G])})`` from a ``vtd`` HDF5 file."""
    spk, utts, *_ = read_vtd_with_dropped(path)
    return spk, utts


def read_vtd_with_dropped(
    path: str,
) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray] | None, int | None]:
    """:func:`read_vtd`'s ``(speaker, utterances)``, ``{utterance name: dropped [G]}``
    (gridlines NaN in every frame of that utterance, refilled across the gridline index),
    ``None`` for a file written before the masks were stored, and the file's ``max_gap``
    (MRI frames; ``None``: every gap bridged, or a file from before session 22); one
    opening of the file."""
    with _vtd_file(path) as h:
        v, t = h["vtd"][:], h["times"][:]
        names = [x.decode() for x in h["utterances/name"][:]]
        off, n = h["utterances/offset"][:], h["utterances/n_frames"][:]
        spk = str(h.attrs["speaker"])
        dropped = dict(zip(names, h["utterances/dropped"][:].astype(bool))) if "utterances/dropped" in h else None
        max_gap = int(h.attrs.get("max_gap", -1))
    utts = {nm: (t[o : o + k], v[o : o + k]) for nm, o, k in zip(names, off, n)}
    return spk, utts, dropped, (None if max_gap < 0 else max_gap)


# ----------------------------------------------------------------------------- utterances
def clip_ends(path: str) -> dict[str, float]:
    """``{utterance name: end of its track clip (s)}``, the file's last frame, kept or not:
    ``last_frame_no / FRAME_RATE`` (``/utterances/last_frame_no``); empty for a VTD file
    written before it was stored (the end of the last kept frame is used then)."""
    with _vtd_file(path) as h:
        if "utterances/last_frame_no" not in h:
            return {}
        names = [x.decode() for x in h["utterances/name"][:]]
        return {nm: int(k) / FRAME_RATE for nm, k in zip(names, h["utterances/last_frame_no"][:])}


def utterance_table(root: str, vtd_files: list[str], tolerance: float = 0.2) -> tuple[pd.DataFrame, dict]:
    """One row per utterance with VTD: ``token_id, utt_id, speaker, word, start, end, path``.

    Utterances whose audio is missing or unreadable (:func:`codecprobe.audio.read_audio`
    decodes it whole: corrupt, empty, or NaN or infinite samples), or whose audio duration
    differs from the track's span by more than ``tolerance`` seconds, are skipped, named
    in the log and counted. A speaker (VTD file) none of whose utterances is left is an
    error naming it: a configured speaker would otherwise drop out of Fig. 3 unnoticed.
    """
    from .audio import read_audio
    from .rtmri import audio_path

    rows, counts = [], {"missing audio": 0, "unreadable audio": 0, "length mismatch": 0}
    for f in vtd_files:
        spk, utts = read_vtd(f)
        ends = clip_ends(f)
        n_before, counts_before = len(rows), dict(counts)
        for name, (t, _) in utts.items():
            p = audio_path(root, name)
            if not p.is_file():
                counts["missing audio"] += 1
                log.warning("%s: no audio %s, skipped", name, p)
                continue
            try:  # decoded to its end here, so that one bad file does not stop the encode jobs
                x, sr = read_audio(p)
            except CodecprobeError as e:
                counts["unreadable audio"] += 1
                log.warning("%s: %s, skipped", name, e)
                continue
            dur = len(x) / sr
            span = ends.get(name, t[-1] + 0.5 / FRAME_RATE if len(t) else 0.0)  # times are frame centres
            if abs(dur - span) > tolerance:
                counts["length mismatch"] += 1
                log.warning("%s: audio %.2f s but track spans %.2f s (tolerance %.2f s), skipped", name, dur, span, tolerance)
                continue
            rows.append({"token_id": len(rows), "utt_id": name, "speaker": spk, "word": "<utterance>",
                         "start": 0.0, "end": dur, "path": str(p)})  # fmt: skip
        if utts and len(rows) == n_before:
            why = ", ".join(f"{k} {counts[k] - counts_before[k]}" for k in counts if counts[k] > counts_before[k])
            raise CodecprobeError(
                f"rt-MRI speaker {spk} ({f}): none of its {len(utts)} utterances with VTD has usable audio ({why}; the"
                f" log names each); check its audio under {root} against its track names, or drop {spk} from rtmri.speakers"
            )
    if not rows:
        raise CodecprobeError("no rt-MRI utterance with both audio and VTD")
    return pd.DataFrame(rows), counts


# ----------------------------------------------------------------------------- PWCCA
def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _codec_utterances(path: str, codec: str) -> tuple[dict, list[np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``(attrs, codebook tables, {utt: (codes [K, F], frame times [F])})`` of a feature-sliced
    file of ``codec`` (the file's ``codec`` attribute must name it: the results are labelled so)."""
    with readable_h5(path, "rt-MRI feature file", "encode_rtmri") as h:
        if h.attrs.get("slicing") != "feature" or "utterances" not in h:
            raise CodecprobeError(f"{path}: not a feature-sliced (whole-utterance) codec file")
        attrs = dict(h.attrs)
        codes = h["codes"][:]
        tabs = [h[f"codebooks/{k}"][:] for k in sorted(h["codebooks"])]
        names = [x.decode() for x in h["utterances/utt_id"][:]]
        off, n = h["utterances/frame_offset"][:], h["utterances/n_frames"][:]
        times = h["utterances/frame_times"][:]
    if "codec" in attrs and str(attrs["codec"]) != codec:
        raise CodecprobeError(f"{path}: features of codec {str(attrs['codec'])!r}, not {codec!r}")
    return attrs, tabs, {nm: (codes[:, o : o + k], times[o : o + k]) for nm, o, k in zip(names, off, n)}


def shuffle_block_frames(rate: float, block_len: int = 25, block_seconds: float | None = None) -> int:
    """Block length, in codec frames, of the shuffled-VTD baseline: ``block_seconds`` at the
    codec's frame ``rate`` (Hz), rounded, at least 2 frames, when given (the same duration
    for every codec, so that their baselines are comparable); else ``block_len`` frames."""
    if block_seconds is None:
        if block_len < 1:
            raise CodecprobeError(f"rtmri.block_len must be >= 1 frame, got {block_len}")
        return int(block_len)
    if not block_seconds > 0:
        raise CodecprobeError(f"rtmri.block_seconds must be > 0, got {block_seconds}")
    return max(2, int(round(block_seconds * rate)))


class LaggedVTD(Sequence):
    """One speaker's VTD read at each time lag, built when asked for (one lag in memory at a
    time): ``self[i] [F, G']`` = every utterance's anti-aliased VTD interpolated to its codec
    frame times minus ``lags[i]`` (s), utterances concatenated, columns ``cols [G]`` kept.

    ``parts``: per utterance ``(t_mri [F_mri], antialiased VTD [F_mri, G], codec frame times [F_u])``.
    """

    def __init__(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], lags: np.ndarray, cols: np.ndarray):
        self.parts, self.lags, self.cols = parts, np.asarray(lags, np.float64), np.asarray(cols, bool)

    def __len__(self) -> int:
        return len(self.lags)

    def __getitem__(self, i: int) -> np.ndarray:
        lag = self.lags[i]  # IndexError past the end ends iteration
        return np.concatenate([interp_vtd(v, tm, tc - lag) for tm, v, tc in self.parts])[:, self.cols]


BIAS_FRAMES_PER_DIM = 10  # fewer frames per CCA dimension: a warning that PWCCA is biased upward


def in_long_gaps(t: np.ndarray, t_mri: np.ndarray, max_gap: int | None, lags: np.ndarray) -> np.ndarray:
    """Codec frames (centres ``t [F]``, s) whose VTD at ``t - lag``, for some lag in
    ``lags`` (s), lies strictly inside a run of more than ``max_gap`` missing MRI frames:
    two neighbouring frame centres of ``t_mri [F_mri]`` (s, increasing; frames left out as
    bad) more than ``max_gap + 1`` frame periods apart. ``bool [F]``; none when ``max_gap``
    is ``None`` (every gap bridged). The same limit as the per-gridline runs of
    :func:`codecprobe.vtd.nan_gaps`: VTD is interpolated over time across at most
    ``max_gap`` missing frames."""
    t = np.asarray(t, np.float64)
    out = np.zeros(t.shape, bool)
    if max_gap is None or len(t_mri) < 2:
        return out
    step = np.diff(t_mri) * FRAME_RATE  # frame periods between neighbouring kept frames
    for i in np.flatnonzero(step > max_gap + 1.5):  # runs of >= max_gap + 1 missing frames
        a, b = t_mri[i], t_mri[i + 1]
        out |= (t - np.min(lags) > a) & (t - np.max(lags) < b)
    return out


def _speaker_inputs(codec: str, vtd_files: list[str], utts: dict, rate: float, dim: int, skipped: dict[str, list[str]],
                    lags: np.ndarray | None = None):  # fmt: skip
    """Per speaker whose data can give a PWCCA value: ``(speaker, xs, codes)``.

    ``codes [K, F]``: the codec's codes of the speaker's utterances, pooled, at the codec
    frames whose centres ``t`` lie inside the span of the MRI frame centres for every lag
    (``t - lag`` within it; ``lags`` in s, default ``[0]``); ``xs[i] [F, G']`` (a
    :class:`LaggedVTD`): the VTD resampled to ``t - lags[i]``, without the gridlines that hold
    no measurement in any of the utterances used (logged). A speaker left out is logged and named in ``skipped``
    (``"no codec features"``, ``"too few frames"`` or ``"degenerate CCA"``).
    """
    lags = np.zeros(1) if lags is None else np.asarray(lags, np.float64)
    seen: dict[str, str] = {}
    for f in vtd_files:
        spk, vt, dropped, max_gap = read_vtd_with_dropped(f)
        if spk in seen:  # the same file by another path, or a copy: its frames would count twice
            raise CodecprobeError(f"{f}: VTD of speaker {spk} again (first: {seen[spk]}): its frames would count twice")
        seen[spk] = f
        if dropped is None:
            raise CodecprobeError(
                f"{f}: VTD file written by codecprobe before session 8 (no /utterances/dropped masks, and its "
                "/times are frame starts, half an MRI frame early): rebuild it (snakemake --forcerun rtmri_vtd)"
            )
        common = [u for u in vt if u in utts]
        if not common:
            log.warning("%s: no utterance with codec features, skipped", spk)
            skipped["no codec features"].append(spk)
            continue
        # only codec frames inside the span of the MRI frames at every lag (no extrapolated VTD)
        keep = {u: (utts[u][1] - lags.max() >= vt[u][0][0]) & (utts[u][1] - lags.min() <= vt[u][0][-1]) for u in common}
        # nor inside a run of more than max_gap missing MRI frames (bad frames skipped): no VTD bridged over it
        in_gaps = {u: in_long_gaps(utts[u][1], vt[u][0], max_gap, lags) & keep[u] for u in common}
        n_gap = sum(int(g.sum()) for g in in_gaps.values())
        if n_gap:
            log.info("%s %s: %d codec frames left out: they lie in runs of more than %d MRI frames without VTD "
                     "(bad frames skipped), which are not bridged over time", codec, spk, n_gap, max_gap)  # fmt: skip
            keep = {u: keep[u] & ~in_gaps[u] for u in common}
        n_features = len(common)
        common = [u for u in common if keep[u].sum() > 1]
        if len(common) < len(vt):
            log.info("%s %s: %d of %d utterances used (%d without codec features, %d with at most one codec frame "
                     "inside the MRI span)", codec, spk, len(common), len(vt), len(vt) - n_features,
                     n_features - len(common))  # fmt: skip
        if not common:
            log.warning("%s %s: no codec frame inside the MRI span of any utterance, speaker skipped", codec, spk)
            skipped["no codec frame inside the MRI span"].append(spk)
            continue
        nodata = nodata_gridlines([dropped[u] for u in common])
        if nodata.all():
            log.warning("%s %s: no gridline holds a measurement, speaker skipped", codec, spk)
            skipped["degenerate CCA"].append(spk)
            continue
        try:
            parts = [(vt[u][0], antialias_vtd(vt[u][1], vt[u][0], rate), utts[u][1][keep[u]]) for u in common]
        except CodecprobeError as e:  # the VTD file of this speaker is not what rtmri_vtd writes
            raise CodecprobeError(f"{f} (speaker {spk}): {e}") from None
        xs = LaggedVTD(parts, lags, ~nodata)  # frames of all utterances, aligned with the columns of `codes`
        if nodata.any():
            log.info("%s %s: %d of %d gridlines hold no measurement in any of its %d utterances (refilled from "
                     "their neighbours), dropped before CCA: %s", codec, spk, int(nodata.sum()), len(nodata),
                     len(common), index_runs(np.nonzero(nodata)[0]))  # fmt: skip
        codes = np.concatenate([utts[u][0][:, keep[u]] for u in common], axis=1)  # [K, F_total]
        n_dims = dim + int((~nodata).sum())  # features and gridlines together
        if codes.shape[1] <= n_dims:
            log.warning(
                "%s %s: %d frames at %.1f Hz for %d-dim features and %d gridlines: too few for CCA (at most "
                "%d frames, the two sides share dimensions and canonical correlations of 1 whatever the data), "
                "speaker skipped", codec, spk, codes.shape[1], rate, dim, n_dims - dim, n_dims,
            )  # fmt: skip
            skipped["too few frames"].append(spk)
            continue
        if codes.shape[1] < BIAS_FRAMES_PER_DIM * n_dims:
            log.warning(
                "%s %s: %d frames for %d dimensions (features + gridlines), fewer than %d per dimension: its "
                "PWCCA is biased upward; read it against its shuffled baseline", codec, spk, codes.shape[1], n_dims,
                BIAS_FRAMES_PER_DIM,
            )  # fmt: skip
        yield spk, xs, codes


# why speakers are left out of a codec's PWCCA, as the final error words each ({}: the speakers)
SKIP_REASONS = {
    "no codec features": "without any utterance in the feature file: {}",
    "no codec frame inside the MRI span": "with no codec frame inside the MRI span of any utterance: {}",
    "too few frames": "with too few frames for CCA (no more than feature dimensions + gridlines) or for the "
    "shuffled baseline: {}",
    "degenerate CCA": "whose CCA is degenerate: {}; see the warnings in the log",
}


def _over_speakers(codec: str, vtd_files: list[str], utts: dict, rate: float, dim: int, speaker_rows,
                   lags: np.ndarray | None = None) -> list[dict]:  # fmt: skip
    """The rows ``speaker_rows(speaker, xs, codes)`` gives for every speaker whose data can give
    PWCCA values (:func:`_speaker_inputs`). A :class:`DegenerateCCAError` at any of a speaker's
    values, or a :class:`ShuffleError` (too few frames for its shuffled baseline), skips the
    speaker, all its rows (so that every mean of this call is over the same speakers), with
    a warning; the speakers used and skipped are logged, and when none is left
    :class:`CodecprobeError` says why."""
    out: list[dict] = []
    skipped: dict[str, list[str]] = {reason: [] for reason in SKIP_REASONS}
    for spk, xs, codes in _speaker_inputs(codec, vtd_files, utts, rate, dim, skipped, lags):
        try:
            out.extend(speaker_rows(spk, xs, codes))
        except DegenerateCCAError as e:
            log.warning("%s %s: PWCCA failed (%s); speaker skipped", codec, spk, e)
            skipped["degenerate CCA"].append(spk)
        except ShuffleError as e:
            log.warning("%s %s: %d frames, too few for the shuffled baseline (%s); speaker skipped", codec, spk,
                        codes.shape[1], e)  # fmt: skip
            skipped["too few frames"].append(spk)
    n_used = len({r["speaker"] for r in out})
    n_skipped = sum(len(v) for v in skipped.values())
    log.info("%s: %d speaker(s) used, %d skipped%s", codec, n_used, n_skipped,
             "".join(f"; {k}: {len(v)} ({', '.join(v)})" for k, v in skipped.items() if v))  # fmt: skip
    if not out:
        why = [f"{len(v)} speaker(s) {SKIP_REASONS[k].format(', '.join(v))}" for k, v in skipped.items() if v]
        raise CodecprobeError(f"{codec}: no speaker gave a PWCCA value" + (f" ({'; '.join(why)})" if why else ""))
    return out


def _accumulated(tabs: list[np.ndarray], codes: np.ndarray, first: int, last: int):
    """``(layer, feature [F, D] float64)`` for layers ``first .. last`` (1-based), where the
    feature sums the decoded vectors of layers ``first .. layer`` (``codes [K, F]``, ``tabs[k]
    [C_k, D]``), built one layer at a time in one buffer (yielded, not copied)."""
    acc = np.zeros((codes.shape[1], tabs[0].shape[1]), np.float64)
    for k in range(first - 1, last):
        acc += tabs[k][codes[k]]
        yield k + 1, acc


def codec_pwcca(codec: str, features: str, vtd_files: list[str], variant: str = "accumulated",
                n_shuffles: int = 10, block_len: int = 25, seed: int = 0, variates: str = "canonical",
                block_seconds: float | None = None, epsilon: float = EPSILON) -> pd.DataFrame:  # fmt: skip
    """Rows ``codec, speaker, variant, layer, n_frames, n_gridlines, pwcca, shuffled_mean,
    shuffled_sd, pwcca_release, block_len, variates, epsilon, random_weights`` (``block_len``: the
    shuffle block in codec frames, :func:`shuffle_block_frames`; ``epsilon``: the CCA's ridge,
    :data:`codecprobe.pwcca.EPSILON` by default).

    Per speaker, the gridlines that hold no measurement in any of the utterances used
    (``/utterances/dropped`` of the VTD file, see :func:`codecprobe.articulatory.nodata_gridlines`)
    are dropped before CCA; ``n_gridlines`` is the number of VTD columns CCA used. A
    speaker with too few frames, or whose CCA is degenerate all the same
    (:class:`codecprobe.pwcca.DegenerateCCAError` at any layer), is skipped with a warning
    and counted; when no speaker is left, :class:`CodecprobeError` says why.
    """
    attrs, tabs, utts = _codec_utterances(features, codec)
    rate = float(attrs["frame_rate"])
    block_len = shuffle_block_frames(rate, block_len, block_seconds)
    log.info("%s: shuffled baseline in blocks of %d frames (%.3f s at %.2f Hz)", codec, block_len, block_len / rate, rate)
    variants = {"accumulated": (1, len(tabs))}  # first and last layer summed
    if variant == "without_first":
        variants = {"layer1_only": (1, 1), "without_layer1": (2, len(tabs))}

    def speaker_rows(spk, xs, codes):
        x, rows = xs[0], []  # the VTD at lag 0, built once for every layer
        for name, (first, last) in variants.items():
            for layer, acc in _accumulated(tabs, codes, first, last):
                try:
                    row = pwcca_with_baseline(x, acc, n_shuffles, block_len, seed + layer - 1, variates=variates,
                                              epsilon=epsilon)  # fmt: skip
                except DegenerateCCAError as e:
                    raise DegenerateCCAError(f"{name} layer {layer}: {e}") from e
                rows.append(row | {"codec": codec, "speaker": spk, "variant": name, "layer": layer})
                log.info("%s %s %s layer %d: pwcca %.3f (shuffled %.3f), %d gridlines", codec, spk, name, layer,
                         row["pwcca"], row["shuffled_mean"], row["n_gridlines"])  # fmt: skip
        return rows

    out = _over_speakers(codec, vtd_files, utts, rate, tabs[0].shape[1], speaker_rows)
    cols = ["codec", "speaker", "variant", "layer", "n_frames", "n_gridlines", "pwcca", "shuffled_mean", "shuffled_sd",
            "pwcca_release"]  # fmt: skip
    df = pd.DataFrame(out)[cols]
    df["block_len"] = block_len
    df["variates"] = variates
    df["epsilon"] = epsilon
    df["random_weights"] = bool(attrs.get("random_weights", False))
    return df


def warn_unequal_speakers(table: pd.DataFrame, codec: str) -> dict[str, list[str]]:
    """Speakers present in some variants of a PWCCA table but not in others (each variant's
    speakers are those whose CCA gave values at every layer of that variant): ``{variant:
    speakers it lacks}``, each logged as a warning, since Fig. 3's line and Fig. 4's lines of
    one codec are then means over different speakers. Empty when all agree."""
    sets = {str(v): set(g["speaker"].astype(str)) for v, g in table.groupby("variant", sort=False)}
    every = set().union(*sets.values()) if sets else set()
    lacking = {v: sorted(every - got) for v, got in sets.items() if every - got}
    for v, spk in lacking.items():
        log.warning("%s: variant %s lacks speaker(s) %s that another variant has: its mean over speakers is over "
                    "fewer speakers", codec, v, ", ".join(spk))  # fmt: skip
    return lacking


LAG_COLUMNS = ["codec", "speaker", "layer", "lag_s", "n_frames", "n_gridlines", "pwcca", "variates", "epsilon",
               "random_weights"]  # fmt: skip


def codec_lag_pwcca(codec: str, features: str, vtd_files: list[str], lags: np.ndarray, layers: list[int],
                    variates: str = "canonical", epsilon: float = EPSILON) -> pd.DataFrame:  # fmt: skip
    """PWCCA of each chosen layer's accumulated features against VTD read ``lag_s`` earlier:
    rows ``LAG_COLUMNS``, one per speaker, layer (1-based, :func:`pick_layers`) and lag (s).

    ``lag_s > 0``: the codec frame centred at ``t`` is compared with the VTD at ``t - lag_s``
    (the features trail the articulation, as a causal encoder's frames would); ``< 0``: with
    the VTD at a later time. Per speaker, every lag uses the same codec frames (those with
    ``t - lag`` inside the MRI span for all lags), so the curve's shape is the lag's alone;
    these frames are slightly fewer than Fig. 3's, whose value at lag 0 can differ a little.
    Skips and errors as :func:`codec_pwcca`. No shuffled baseline per lag: chance is Fig. 3's.
    """
    attrs, tabs, utts = _codec_utterances(features, codec)
    rate = float(attrs["frame_rate"])
    lags = np.asarray(lags, np.float64)
    layers = pick_layers(layers, len(tabs), codec)
    log.info("%s: PWCCA at %d lags (%g .. %g s) for layers %s", codec, len(lags), lags.min(), lags.max(), layers)

    def speaker_rows(spk, xs, codes):
        rows = []
        for layer, acc in _accumulated(tabs, codes, 1, max(layers)):
            if layer not in layers:
                continue
            try:
                res = pwcca_results_each_x(xs, acc, epsilon=epsilon, weight_side="x", variates=variates)
            except DegenerateCCAError as e:
                raise DegenerateCCAError(f"layer {layer}: {e}") from e
            vals = np.array([r.pwcca for r in res])
            rows += [{"speaker": spk, "layer": layer, "lag_s": float(lag), "n_frames": codes.shape[1],
                      "n_gridlines": int(r.x_kept.sum()), "pwcca": r.pwcca} for lag, r in zip(lags, res)]  # fmt: skip
            i = int(np.argmax(vals))
            log.info("%s %s layer %d: pwcca %.3f at lag 0, best %.3f at %+.3f s", codec, spk, layer,
                     float(np.interp(0.0, lags, vals)), vals[i], lags[i])  # fmt: skip
        return rows

    out = _over_speakers(codec, vtd_files, utts, rate, tabs[0].shape[1], speaker_rows, lags)
    df = pd.DataFrame(out).assign(codec=codec, variates=variates, epsilon=epsilon,
                                  random_weights=bool(attrs.get("random_weights", False)))  # fmt: skip
    return df[LAG_COLUMNS]


# ----------------------------------------------------------------------------- regions
def speaker_regions(annot16: str, speaker: str, vtd_file: str, out: str, skip_tasks: list[str],
                    bad_frames: str = "skip", max_frames: int = 400, seed: int = 0,
                    bad_tracks: str = "skip", max_gap: int | None = None) -> pd.DataFrame:  # fmt: skip
    """The tract region of each gridline of a speaker's grid (the ``/grid`` of its VTD file),
    from its tracks (:func:`codecprobe.vtd.gridline_regions`): a table ``speaker, gridline
    (0-based), region`` (a name of :data:`codecprobe.vtd.REGIONS`, or ``none``) ``, share``.
    ``bad_tracks``, ``max_gap``: see :func:`speaker_tracks`."""
    from .vtd import REGIONS, gridline_regions

    with _vtd_file(vtd_file) as h:
        if str(h.attrs.get("speaker")) != speaker:
            raise CodecprobeError(f"{vtd_file}: VTD of speaker {h.attrs.get('speaker')!r}, not {speaker!r}")
        grid = h["grid"][:]
    tracks, _ = speaker_tracks(annot16, speaker, skip_tasks, bad_frames, bad_tracks, max_gap)
    region, share = gridline_regions(tracks, grid, max_frames, seed)
    names = np.array(list(REGIONS) + ["none"])[region]  # -1 -> "none"
    table = pd.DataFrame({"speaker": speaker, "gridline": np.arange(len(grid)), "region": names, "share": share})
    for name in [*REGIONS, "none"]:
        idx = np.flatnonzero(names == name)
        log.info("%s: %s: %d gridlines (%s)", speaker, name, len(idx), index_runs(idx))
    write_table(table, out)
    return table


REGION_COLUMNS = ["codec", "speaker", "region", "layer", "n_frames", "n_gridlines", "pwcca", "shuffled_mean",
                  "shuffled_sd", "variates", "epsilon", "random_weights"]  # fmt: skip


def codec_region_pwcca(codec: str, features: str, vtd_files: list[str], region_files: list[str], layers: list[int],
                       n_shuffles: int = 10, block_len: int = 25, seed: int = 0, variates: str = "canonical",
                       block_seconds: float | None = None, epsilon: float = EPSILON) -> pd.DataFrame:  # fmt: skip
    """PWCCA of each tract region's VTD (its gridlines, :func:`speaker_regions`) against the
    accumulated features of the chosen layers, beside a block-shuffled baseline: rows
    ``REGION_COLUMNS``, one per speaker, region and layer. Gridlines without a measurement in
    any utterance are left out as in :func:`codec_pwcca`; a region with no gridline left in a
    speaker is skipped for that speaker (logged). The baseline matters more here than in Fig.
    3: regions have different numbers of gridlines, and chance rises with them."""
    from .vtd import REGIONS

    attrs, tabs, utts = _codec_utterances(features, codec)
    rate = float(attrs["frame_rate"])
    block_len = shuffle_block_frames(rate, block_len, block_seconds)
    layers = pick_layers(layers, len(tabs), codec, "rtmri.regions.layers")
    labels = {}
    for f in region_files:
        t = read_table(f)
        if missing := {"speaker", "gridline", "region"} - set(t.columns):
            raise CodecprobeError(f"{f}: no column(s) {', '.join(sorted(missing))}: not a table of 'artstage regions'")
        if unknown := sorted(set(t["region"].astype(str)) - {*REGIONS, "none"}):
            raise CodecprobeError(f"{f}: unknown region(s) {', '.join(unknown)} (known: {', '.join(REGIONS)}, none)")
        for spk, g in t.groupby("speaker"):
            labels[str(spk)] = g.sort_values("gridline")["region"].astype(str).to_numpy()

    def speaker_rows(spk, xs, codes):
        if spk not in labels:
            raise CodecprobeError(f"{spk}: no gridline regions (give its table from 'artstage regions')")
        lab = labels[spk]
        if len(lab) != len(xs.cols):
            raise CodecprobeError(f"{spk}: {len(lab)} gridline regions for {len(xs.cols)} gridlines of its VTD: rebuild the regions")
        x, kept = xs[0], lab[xs.cols]  # x: the measured gridlines; kept: their regions
        present = [r for r in REGIONS if (kept == r).any()]
        for r in REGIONS:
            if r not in present:
                log.info("%s %s: no measured gridline in region %s, region skipped", codec, spk, r)
        rows = []
        for layer, acc in _accumulated(tabs, codes, 1, max(layers)):
            if layer not in layers:
                continue
            for r in present:
                try:
                    row = pwcca_with_baseline(x[:, kept == r], acc, n_shuffles, block_len, seed + layer - 1,
                                              variates=variates, epsilon=epsilon)  # fmt: skip
                except DegenerateCCAError as e:
                    raise DegenerateCCAError(f"{r} layer {layer}: {e}") from e
                rows.append(row | {"speaker": spk, "region": r, "layer": layer})
                log.info("%s %s %s layer %d: pwcca %.3f (shuffled %.3f), %d gridlines", codec, spk, r, layer,
                         row["pwcca"], row["shuffled_mean"], row["n_gridlines"])  # fmt: skip
        return rows

    out = _over_speakers(codec, vtd_files, utts, rate, tabs[0].shape[1], speaker_rows)
    df = pd.DataFrame(out).assign(codec=codec, variates=variates, epsilon=epsilon,
                                  random_weights=bool(attrs.get("random_weights", False)))  # fmt: skip
    return df[REGION_COLUMNS]


def _wrapped_suptitle(fig, title: str, note: str = "") -> None:
    """``title`` and, under it, ``note`` above the panels, each wrapped to the figure's width
    (13 characters per inch at 10 pt), never cut at its edges."""
    width = int(13 * fig.get_figwidth())
    text = textwrap.fill(title, width=width) + (f"\n{textwrap.fill(note, width=width)}" if note else "")
    fig.suptitle(text, fontsize=10)


def _codec_panels(summary: pd.DataFrame, draw, xlabel: str, ylabel: str, title: str, pdf: str, png: str, note: str = "") -> None:
    """One panel per codec of ``summary`` (sharing y; at most 3 side by side:
    :func:`codecprobe.figures.codec_grid`), each filled by ``draw(ax, rows of that codec)``,
    titled with the codec (RANDOM WEIGHTS in red for a codec whose rows have
    ``random_weights``, as in Fig. 2: :func:`codecprobe.figures.set_marked_title`); ``title`` and
    the wrapped ``note`` above them; saved as PDF and PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codecs = list(dict.fromkeys(summary["codec"]))
    fig, axes = codec_grid(plt, len(codecs), 1, 4.6, 3.4, 0.0, 0.8, 6.5, sharey=True)
    for ax, codec in zip(axes[0], codecs):
        rows = summary[summary["codec"] == codec]
        draw(ax, rows)
        ax.set_xlabel(xlabel)
        set_marked_title(ax, codec, rows)
        ax.legend(fontsize=8)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(ylabel)
    _wrapped_suptitle(fig, title, note)
    save_figure(fig, pdf, png)


def region_tick_labels(t: pd.DataFrame) -> list[str]:
    """The region names under one codec's panel; where the regions' means rest on different
    numbers of speakers (a region with no measured gridline in a speaker is skipped for it),
    each name gains its count on a second line (``3 spk``; none drawn: ``0 spk``), so that a region
    averaged over fewer speakers is not read as the others."""
    from .vtd import REGIONS

    n = t.groupby("region")["n_speakers"].min() if "n_speakers" in t else pd.Series(dtype=int)
    if n.nunique() <= 1 and len(n) in (0, len(REGIONS)):
        return list(REGIONS)
    return [f"{r}\n{int(n.get(r, 0))} spk" for r in REGIONS]


def fig3_regions(summary: pd.DataFrame, pdf: str, png: str, note: str = "") -> None:
    """PWCCA per tract region (x, lips -> pharynx), one panel per codec, one marker series per
    layer (mean over speakers, t-interval bars); hollow markers: the shuffled baseline.
    ``summary``: :func:`summarize_speakers` by codec, region and layer, with ``random_weights``."""
    from .vtd import REGIONS

    def draw(ax, t: pd.DataFrame) -> None:
        layers = sorted(set(t["layer"]))
        for j, layer in enumerate(layers):
            g = t[t["layer"] == layer].set_index("region").reindex([r for r in REGIONS if r in set(t["region"])])
            x = np.array([REGIONS.index(r) for r in g.index]) + 0.12 * (j - (len(layers) - 1) / 2)
            err = np.abs(np.vstack([g["pwcca"] - g["ci_low"], g["ci_high"] - g["pwcca"]]))
            line = ax.errorbar(x, g["pwcca"], yerr=err, fmt="o", ms=5, capsize=3, label=f"layer {layer}")
            ax.plot(x, g["shuffled_mean"], ls="none", marker="o", mfc="none", color=line[0].get_color(), ms=5)
        ax.set_xticks(range(len(REGIONS)), region_tick_labels(t))

    _codec_panels(summary, draw, "tract region (gridlines by the outer wall they cross)", "PWCCA (regional VTD vs codec features)",
                  "Articulatory probing per tract region (filled: mean over speakers, bars: 95% t-interval over speakers;"
                  " hollow: time-shuffled baseline)", pdf, png, note)  # fmt: skip


# ----------------------------------------------------------------------------- figures
FIG3_COLORS = {"accumulated": "#0072B2", "without_layer1": "#D55E00", "baseline": "0.45"}  # Okabe-Ito, as Fig. 2
FIG3_BANDS = "mean over speakers, 95% t-interval over speakers"


def _fig3_panel(ax, acc: pd.DataFrame) -> None:
    """One codec's Fig. 3 panel from its speaker summary ``acc``: PWCCA per layer with its
    band, the time-shuffled baseline dashed grey."""
    ax.plot(acc["layer"], acc["pwcca"], color=FIG3_COLORS["accumulated"], marker="o", ms=3, lw=1.6, label="layers 1..k (accumulated)")
    ax.fill_between(acc["layer"], acc["ci_low"], acc["ci_high"], color=FIG3_COLORS["accumulated"], alpha=0.2, lw=0)
    ax.plot(acc["layer"], acc["shuffled_mean"], ls="--", lw=1, color=FIG3_COLORS["baseline"], label="time-shuffled VTD baseline")


def _fig4_panel(ax, acc: pd.DataFrame, one: pd.DataFrame, rest: pd.DataFrame) -> None:
    """A split codec's Fig. 4 panel: layers 2..k without layer 1 (solid, band), layer 1 alone
    (open marker with its interval), all layers 1..k thin (Fig. 3's line), baselines grey."""
    c, base = FIG3_COLORS["without_layer1"], FIG3_COLORS["baseline"]
    ax.plot(acc["layer"], acc["pwcca"], color=FIG3_COLORS["accumulated"], lw=0.9, alpha=0.7, label="layers 1..k (accumulated)")
    ax.plot(rest["layer"], rest["pwcca"], color=c, marker="s", ms=3, lw=1.6, label="layers 2..k (without layer 1)")
    ax.fill_between(rest["layer"], rest["ci_low"], rest["ci_high"], color=c, alpha=0.2, lw=0)
    ax.plot(rest["layer"], rest["shuffled_mean"], ls="--", lw=1, color=base)
    if len(one):
        err = np.abs(np.vstack([one["pwcca"] - one["ci_low"], one["ci_high"] - one["pwcca"]]))
        ax.errorbar(one["layer"], one["pwcca"], yerr=err, color="k", marker="o", mfc="white", ms=7, capsize=3, lw=1,
                    ls="none", label="layer 1 alone")  # fmt: skip
        ax.plot(one["layer"], one["shuffled_mean"], ls="none", marker="o", mfc="none", color=base, ms=7,
                label="layer 1 alone: time-shuffled baseline")  # fmt: skip


def fig3(table: pd.DataFrame, pdf: str, png: str, note: str = "") -> None:
    """Fig. 3 as the paper's: one panel per codec (in the table's order), PWCCA of the
    accumulated features against codebook layer (1-based; mean over speakers, t-interval
    band), the time-shuffled baseline dashed grey. Fig. 4: for each codec with
    ``layer1_only``/``without_layer1`` rows (MIMI), one more panel beside them, on the same
    y scale, with layer 1 alone, layers 2..k and (thin) Fig. 3's line of that codec. Each
    panel is titled with its codec, RANDOM WEIGHTS in red when its rows have random weights
    (as Fig. 2's columns); one legend under the panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codecs = list(dict.fromkeys(table["codec"]))
    panels = [("fig3", c) for c in codecs]
    panels += [("fig4", c) for c in codecs if (table[table["codec"] == c]["variant"] == "without_layer1").any()]
    # up to 4 panels in one row, else two rows (blocks) of half as many
    fig, axes = codec_grid(plt, len(panels), 1, 3.6, 3.3, 0.6, 1.3, 6.5, sharey=True, max_cols=4)
    for ax, (kind, codec) in zip(axes[0], panels):
        rows = table[table["codec"] == codec]
        acc = summarize_speakers(rows[rows["variant"] == "accumulated"])
        if kind == "fig3":
            _fig3_panel(ax, acc)
            title = codec
        else:
            one = summarize_speakers(rows[rows["variant"] == "layer1_only"])
            rest = summarize_speakers(rows[rows["variant"] == "without_layer1"])
            _fig4_panel(ax, acc, one, rest)
            title = f"Fig. 4: {codec}, layer 1 vs layers 2..k"
        set_marked_title(ax, title, rows)
        ax.set_xlabel("codebook layer")
        ax.set_xticks(layer_ticks(int(rows["layer"].max())))
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("PWCCA (VTD vs codec features)")
    handles, labels = legend_entries(axes[0])
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=9)
    _wrapped_suptitle(fig, f"Fig. 3: articulatory probing per codebook layer ({FIG3_BANDS})", note)
    save_figure(fig, pdf, png)


def fig3_lag(summary: pd.DataFrame, best: pd.DataFrame, pdf: str, png: str, note: str = "") -> None:
    """PWCCA against time lag, one panel per codec, one line per layer (mean over speakers,
    t-interval band), the best lag of each marked; x in ms (``lag_s x 1000``). ``summary``:
    :func:`summarize_speakers` by codec, layer and lag, with ``random_weights``. Each
    line's label gives its number of speakers: the lag run keeps the codec frames inside
    the MRI span at every lag, slightly fewer than Fig. 3's, and may leave out a speaker
    Fig. 3 keeps."""

    def draw(ax, t: pd.DataFrame) -> None:
        for layer, g in t.groupby("layer", sort=True):
            g = g.sort_values("lag_s")
            ms = 1000 * g["lag_s"].to_numpy()
            n = int(g["n_speakers"].max())
            line = ax.plot(ms, g["pwcca"], marker="o", ms=3, label=f"layer {layer} ({n} speaker{'s' * (n != 1)})")[0]
            ax.fill_between(ms, g["ci_low"], g["ci_high"], color=line.get_color(), alpha=0.2, lw=0)
            b = best[(best["codec"] == g["codec"].iloc[0]) & (best["layer"] == layer)].iloc[0]
            ax.plot([1000 * b["best_lag_s"]], [b["best_pwcca"]], marker="*", ms=11, color=line.get_color(), ls="none")
        ax.axvline(0.0, color="0.5", lw=0.8, ls=":")

    _codec_panels(summary, draw, "lag (ms; > 0: features trail VTD)", "PWCCA (VTD vs codec features)",
                  "Articulatory probing against time lag (mean over speakers, band: 95% t-interval over speakers;"
                  " star: best lag)", pdf, png, note)  # fmt: skip


def _pwcca_cell(s: pd.DataFrame, layer: int, fmt: str) -> str:
    """The cell of ``layer`` in a speaker summary: PWCCA with its t-interval (``fmt``)."""
    r = s[s["layer"] == layer].iloc[0]
    return latex_interval(r["pwcca"], r["ci_low"], r["ci_high"], fmt)


def _pwcca_rows(codec: str, g: pd.DataFrame) -> list[str]:
    """One codec's rows of :func:`latex_table` from its per-speaker rows ``g``; every number
    with the decimals :func:`latex_decimals` picks from the numbers shown."""
    name = latex_codec_name(codec, has_random_weights(g))
    acc = summarize_speakers(g[g["variant"] == "accumulated"])
    last, best = int(acc["layer"].max()), int(acc.loc[acc["pwcca"].idxmax(), "layer"])
    base = acc.loc[acc["layer"] == last, "shuffled_mean"].iloc[0]
    n = int(acc["n_speakers"].max())
    cells = [(acc, 1), (acc, last), (acc, best)]
    split = g[g["variant"] == "without_layer1"]
    if len(split):
        cells += [(summarize_speakers(g[g["variant"] == "layer1_only"]), 1), (summarize_speakers(split), last)]
    shown = [base] + [v for s, k in cells for v in s.loc[s["layer"] == k, ["pwcca", "ci_low", "ci_high"]].to_numpy().ravel()]
    fmt = f".{latex_decimals(shown)}f"
    c = [_pwcca_cell(s, k, fmt) for s, k in cells]
    rows = [f"{name} (K = {last}) & {c[0]} & {c[1]} & {best}: {c[2]} & {base:{fmt}} & {n} \\\\"]
    if len(split):
        rows.append(f"\\quad layer 1 alone / 2..K & {c[3]} & {c[4]} & & & \\\\")
    return rows


def latex_table(table: pd.DataFrame) -> str:
    """Fig. 3 in numbers, as a LaTeX tabular: per codec (accumulated features), PWCCA with its
    95 % t-interval over speakers at layer 1, at the last layer and at the best layer, and the
    shuffled baseline's mean at the last layer; for a split codec (MIMI, Fig. 4) a second row
    with layer 1 alone and layers 2..K without layer 1. ``table``: per-speaker rows
    (:func:`codec_pwcca`). Decimals per codec as in Fig. 2's table (:func:`latex_decimals`:
    3 for values of 0.1 and above, more when a codec's largest value is smaller)."""
    lines = [
        "% codecprobe: PWCCA between VTD and codec features (paper Fig. 3, 4); generated, do not edit",
        r"\begin{tabular}{lccccc}",
        r"\toprule",
        r"Codec & Layer 1 & Last layer & Best layer & Shuffled (last) & Speakers \\",
        r"\midrule",
    ]
    for codec, g in table.groupby("codec", sort=False):
        lines += _pwcca_rows(str(codec), g)
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def _combined(tables: list[str], combined: str, note: str = "", by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every codec's table, concatenated and written to ``combined`` (with the columns of
    :func:`codecprobe.with_provenance`, which the returned table does not hold). ``by``: the
    columns the summary groups by; with ``speaker`` and ``pwcca`` each table needs them
    (a table of another step gave a KeyError after the combined table was written), and
    no speaker's row may come twice (one table given twice). ``pwcca`` must be a number in
    every row (the PWCCA jobs never write an empty one: an edited table's empty cell was
    counted as a speaker in the t-interval, and a lag empty for every speaker became the
    best lag)."""
    rows = [*by, "speaker"]  # one row each
    t = pd.concat([read_table(x, required=(*rows, "pwcca"), finite=("pwcca",)) for x in tables], ignore_index=True)
    if t.empty:
        raise CodecprobeError(f"{', '.join(tables)}: no rows")
    if (twice := t.duplicated(rows)).any():
        r = t[twice].iloc[0]
        raise CodecprobeError(f"{', '.join(tables)}: codec {r['codec']!r}, speaker {r['speaker']!r} twice with the same "
                              f"{', '.join(by[1:])}: each codec's table once")  # fmt: skip
    write_table(with_provenance(t, note), combined)
    return t


VARIATES = ["canonical", "svcca", "release"]


def check_pwcca_method(planned: int | None) -> None:
    """Raise :class:`CodecprobeError` when the workflow was planned with another
    :data:`codecprobe.pwcca.METHOD_VERSION` than this code's (None: not checked): the rule's
    recorded arguments would not describe what this job computes."""
    from .pwcca import METHOD_VERSION

    if planned is not None and planned != METHOD_VERSION:
        raise CodecprobeError(f"--pwcca-method {planned}: the workflow was planned with PWCCA method {planned}, but this "
                              f"code computes method {METHOD_VERSION}: run snakemake again")  # fmt: skip


LAYERS_HELP = "1-based; negative from the end (-1: last)"


def _epsilon(text: str) -> float:
    """``--epsilon``: a finite number >= 0 (argparse's message otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (np.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _codec_job_args(s: argparse.ArgumentParser) -> None:
    """One codec's PWCCA job: its feature file, the speakers' VTD files, the table it writes, the weighting."""
    s.add_argument("--codec", required=True)
    s.add_argument("--features", required=True)
    s.add_argument("--vtd", nargs="+", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--variates", default="canonical", choices=VARIATES)
    s.add_argument("--epsilon", type=_epsilon, default=EPSILON,
                   help=f"the CCA's ridge and drop threshold, relative (default {EPSILON:g}; rtmri.epsilon)")  # fmt: skip
    s.add_argument("--pwcca-method", type=int, default=None,
                   help="the codecprobe.pwcca.METHOD_VERSION the workflow was planned with (checked)")  # fmt: skip


def _baseline_args(s: argparse.ArgumentParser) -> None:
    """The block-shuffled VTD baseline."""
    s.add_argument("--n-shuffles", type=int, default=10)
    s.add_argument("--block-len", type=int, default=25, help="shuffle block in codec frames (without --block-seconds)")
    s.add_argument("--block-seconds", type=float, default=None, help="shuffle block in seconds, the same for every codec")
    s.add_argument("--seed", type=int, default=0)


def _figure_args(s: argparse.ArgumentParser) -> None:
    """All codecs' tables in; the combined table, the summary and the figure out."""
    s.add_argument("--tables", nargs="+", required=True)
    s.add_argument("--combined", required=True)
    s.add_argument("--summary", required=True)
    s.add_argument("--pdf", required=True)
    s.add_argument("--png", required=True)
    s.add_argument("--note", default="")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("vtd")
    a.add_argument("--annot16", required=True)
    a.add_argument("--speaker", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--figure", required=True)
    a.add_argument("--skip-tasks", nargs="*", default=["vcv", "bvt"])
    a.add_argument("--grid", default=None, help="precomputed grid file (.npy/.mat); default: built from the tracks")
    a.add_argument("--grid-digest", default=None, help="the grid file's codecprobe.io.file_digest when planned")
    a.add_argument("--n-gridlines", type=int, default=120)
    a.add_argument("--nan-policy", default="interpolate", choices=NAN_POLICIES)
    a.add_argument("--bad-frames", default="skip", choices=BAD_FRAME_POLICIES)
    a.add_argument("--bad-tracks", default="skip", choices=BAD_TRACK_POLICIES)
    a.add_argument("--max-gap-frames", type=int, default=10,
                   help="bridge at most this many unmeasured MRI frames over time; longer gaps are refilled across "
                        "gridlines; -1: bridge every gap")  # fmt: skip
    u = sub.add_parser("utterances")
    u.add_argument("--root", required=True)
    u.add_argument("--vtd", nargs="+", required=True)
    u.add_argument("--out", required=True)
    u.add_argument("--tolerance", type=float, default=0.2)
    p = sub.add_parser("pwcca")
    _codec_job_args(p)
    _baseline_args(p)
    p.add_argument("--variant", default="accumulated", choices=["accumulated", "without_first"])
    g = sub.add_parser("lag", help="PWCCA against the time lag between VTD and codec features")
    _codec_job_args(g)
    g.add_argument("--max-seconds", type=float, default=0.12, help="lags -max .. +max (s)")
    g.add_argument("--step-seconds", type=float, default=0.02)
    g.add_argument("--layers", type=int, nargs="+", default=[1, -1], help=LAYERS_HELP)
    gf = sub.add_parser("lag-figure")
    _figure_args(gf)
    gf.add_argument("--best", required=True)
    rg = sub.add_parser("regions", help="the tract region of each gridline of a speaker")
    rg.add_argument("--annot16", required=True)
    rg.add_argument("--speaker", required=True)
    rg.add_argument("--vtd", required=True, help="the speaker's VTD file (its /grid)")
    rg.add_argument("--out", required=True)
    rg.add_argument("--skip-tasks", nargs="*", default=["vcv", "bvt"])
    rg.add_argument("--bad-frames", default="skip", choices=BAD_FRAME_POLICIES)
    rg.add_argument("--bad-tracks", default="skip", choices=BAD_TRACK_POLICIES)
    rg.add_argument("--max-frames", type=_positive_int, default=400)
    rg.add_argument("--max-gap-frames", type=int, default=-1,
                    help="bad_frames interpolate: rebuild runs of at most this many bad frames; -1: every run")  # fmt: skip
    rp = sub.add_parser("region-pwcca", help="PWCCA per tract region and layer")
    _codec_job_args(rp)
    _baseline_args(rp)
    rp.add_argument("--regions", nargs="+", required=True)
    rp.add_argument("--layers", type=int, nargs="+", default=[1, -1], help=LAYERS_HELP)
    rf = sub.add_parser("region-figure")
    _figure_args(rf)
    f = sub.add_parser("figures")
    _figure_args(f)
    f.add_argument("--latex", default=None, help="output: Fig. 3's numbers (LaTeX)")
    for s in (a, u, p, g, gf, rg, rp, rf, f):
        s.add_argument("--log", default=None)
    args = ap.parse_args(argv)
    setup_logging(args.log)
    twice = repeated(args.vtd) if isinstance(getattr(args, "vtd", None), list) else []
    if twice:  # a speaker's frames would count twice in the CCA
        raise CodecprobeError(f"--vtd: {', '.join(twice)} given more than once")
    check_pwcca_method(getattr(args, "pwcca_method", None))
    if args.cmd == "vtd":
        if args.grid:
            check_file_digest(args.grid, args.grid_digest, "rtmri.grid")
        speaker_vtd(args.annot16, args.speaker, args.out, args.figure, args.skip_tasks, args.grid,
                    args.n_gridlines, args.nan_policy, args.bad_frames, args.bad_tracks,
                    None if args.max_gap_frames < 0 else args.max_gap_frames)  # fmt: skip
    elif args.cmd == "utterances":
        table, counts = utterance_table(args.root, args.vtd, args.tolerance)
        log.info("utterances: %d kept, %s", len(table), json.dumps(counts))
        write_table(table, args.out)
    elif args.cmd == "pwcca":
        t = pd.concat(
            [codec_pwcca(args.codec, args.features, args.vtd, v, args.n_shuffles, args.block_len, args.seed, args.variates,
                         args.block_seconds, args.epsilon)
             for v in (["accumulated", "without_first"] if args.variant == "without_first" else ["accumulated"])],
            ignore_index=True,
        )  # fmt: skip
        warn_unequal_speakers(t, args.codec)
        write_table(t, args.out)
    elif args.cmd == "regions":
        speaker_regions(args.annot16, args.speaker, args.vtd, args.out, args.skip_tasks, args.bad_frames, args.max_frames,
                        bad_tracks=args.bad_tracks, max_gap=None if args.max_gap_frames < 0 else args.max_gap_frames)  # fmt: skip
    elif args.cmd == "region-pwcca":
        write_table(codec_region_pwcca(args.codec, args.features, args.vtd, args.regions, args.layers, args.n_shuffles,
                                       args.block_len, args.seed, args.variates, args.block_seconds, args.epsilon),
                    args.out)  # fmt: skip
    elif args.cmd == "region-figure":
        t = _combined(args.tables, args.combined, args.note, by=("codec", "region", "layer"))
        summary = summarize_speakers(t, by=("codec", "region", "layer"))
        write_table(with_provenance(summary, args.note), args.summary)
        fig3_regions(summary, args.pdf, args.png, args.note)
    elif args.cmd == "lag":
        lags = lag_grid(args.max_seconds, args.step_seconds)
        write_table(codec_lag_pwcca(args.codec, args.features, args.vtd, lags, args.layers, args.variates, args.epsilon),
                    args.out)  # fmt: skip
    elif args.cmd == "lag-figure":
        t = _combined(args.tables, args.combined, args.note, by=("codec", "layer", "lag_s"))
        summary = summarize_speakers(t, by=("codec", "layer", "lag_s"))
        best = best_lags(summary)
        for r in best.itertuples():
            log.info("%s layer %d: best lag %+.3f s (pwcca %.3f; %.3f at lag 0)%s", r.codec, r.layer, r.best_lag_s,
                     r.best_pwcca, r.pwcca_lag0, "; AT THE EDGE of the lags: widen rtmri.lag.max_seconds" if r.at_edge else "")  # fmt: skip
        write_table(with_provenance(summary, args.note), args.summary)
        write_table(with_provenance(best, args.note), args.best)
        fig3_lag(summary, best, args.pdf, args.png, args.note)
    else:
        t = _combined(args.tables, args.combined, args.note, by=("codec", "variant", "layer"))
        # every variant: Fig. 3's accumulated rows and, for a split codec (MIMI), Fig. 4's
        summary = summarize_speakers(t, by=("codec", "variant", "layer"))
        write_table(with_provenance(summary, args.note), args.summary)
        if args.latex:
            write_text(latex_provenance(args.note) + latex_table(t), args.latex)
        fig3(t, args.pdf, args.png, args.note)


if __name__ == "__main__":
    run_cli(main)
