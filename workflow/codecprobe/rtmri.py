"""Loaders for the USC 75-Speaker rt-MRI corpus and the Annot-16 contour tracks.

Two layouts are read:

* **75-Speaker** (Lim et al. 2021): ``<root>/subNNN/2drt/{audio,video,raw,recon}/
  subNNN_2drt_<NN>_<task>[_rK]_{audio.wav|video.mp4|raw.h5|recon.h5}``.
  :func:`list_utterances` lists a speaker's utterances (task, repetition, files);
  :func:`read_audio` reads one audio file at the rate stored in the file.
* **Annot-16** (Shi et al. 2025): ``<annot16>/subNNN/track/<name>_track.mat`` (MATLAB
  ``trackdata`` struct array, one element per MRI frame) and
  ``alignment/<name>_text.TextGrid`` (UTF-16 Praat TextGrids).
  :func:`load_track` turns one track file into a :class:`Track`: per frame, the
  articulator contours in image pixel coordinates and the two vocal-tract walls
  used for the Vocal Tract Distance (:mod:`codecprobe.vtd`).

Coordinates and time
--------------------
The tracks store centred coordinates with y up; image pixels (84 x 84 image, origin
top-left, y down) are ``x = v[:, 0] + 42`` and ``y = -v[:, 1] + 42``. A frame lasts
2 TRs of 6.004 ms, so the frame rate is ``1 / (2 * 6.004 ms) = 83.2778`` frames/s.
Frame ``frameNo`` (1-based) is acquired over ``[(frameNo - 1) T, frameNo T]`` with
``T = 12.008 ms`` (0-based frame ``i`` sits at about ``(i + 0.5) T``) and is stamped at its
**centre**, ``t = (frameNo - 0.5) / 83.2778`` s (:func:`frame_time`), the same convention
as the codec frame times (``(i + 0.5) / rate``), so that resampling VTD to the codec frames
pairs each codec frame with the MRI frames nearest in time. (Annot-16's hand labels write
``t = (N - 1) / 83.28``, the frame's start; they are matched by frame number ``N``.)
A pixel is 200 mm / 84 = 2.381 mm (:data:`MM_PER_PIXEL`).

The two walls (after the seed paper's release, ``src/vtd/extraction.py``)
------------------------------------------------------------------------
* **inner** (lower, jaw side): segment 1, sections 6, 1, 2, 3, 4 concatenated in that
  order (larynx part -> epiglottis -> tongue -> section 3 -> lower lip).
* **outer** (upper): segment 3, sections 5, 1, 2 (upper lip -> hard palate -> velum),
  then segment 2, sections 4, 1, 2 concatenated and the whole run reversed
  (section 2 reversed, section 1 reversed = pharyngeal wall top -> bottom, section 4
  reversed).

:class:`Track` stores both walls running **lips -> larynx**: the outer one as above,
the inner one reversed (lower lip first). The point set and the polyline are the
release's; only the direction of travel differs, which no crossing test depends on.
On the real ``cs_aba_track.mat`` fixture (the lab's older template) segment 2,
section 1 is the whole posterior pharyngeal wall (larynx up to the nasopharynx) and
sections 2-4 run along the image border, so the outer wall there contains one long
straight jump from the velum tip to the top border; crossings are chosen on the
airway side (see :func:`codecprobe.vtd.vtd`), which keeps that jump out of the VTD.

Bad frames
----------
A frame whose ``contours`` are missing, empty or malformed, lack a section the walls
need, or hold NaN/inf in those sections is *bad*. ``bad_frames="skip"`` drops it;
``"interpolate"`` rebuilds its walls (and sections) by linear interpolation in time
between the nearest good frames (nearest good frame at the clip edges, or when the
neighbours' point layouts differ). Either way it is counted in ``Track.bad`` with the
reason. A file that is not in the schema at all (unreadable, no ``trackdata``, no
``frameNo``/``contours`` fields, no frames, no good frame) raises
:class:`~codecprobe.io.CodecprobeError` naming the file and what is missing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import read_audio  # noqa: F401  (re-exported: the corpus's audio reader)
from .io import CodecprobeError, first_few

log = logging.getLogger("codecprobe.rtmri")

TR_S = 0.006004
FRAME_RATE = 1.0 / (2.0 * TR_S)  # 83.2778 frames/s
IMAGE_SIZE = 84
FOV_MM = 200.0
MM_PER_PIXEL = FOV_MM / IMAGE_SIZE  # 2.381 mm
CENTRE_PX = 42.0

# (segment, [sections]) runs, 1-based as in the files.
INNER_RUNS: tuple[tuple[int, tuple[int, ...]], ...] = ((1, (6, 1, 2, 3, 4)),)
OUTER_RUNS: tuple[tuple[int, tuple[int, ...]], ...] = ((3, (5, 1, 2)),)
OUTER_REVERSED_RUNS: tuple[tuple[int, tuple[int, ...]], ...] = ((2, (4, 1, 2)),)
REQUIRED_SECTIONS: tuple[tuple[int, int], ...] = tuple(
    (seg, sec) for seg, secs in INNER_RUNS + OUTER_RUNS + OUTER_REVERSED_RUNS for sec in secs
)

# Section names in Annot-16's dense tracks (checked by others against its hand labels).
# The older template of the fixture differs for segment 2 (see the module docstring).
SECTION_NAMES: dict[tuple[int, int], str] = {
    (1, 1): "epiglottis",
    (1, 2): "tongue",
    (1, 4): "lower_lip",
    (1, 5): "chin",
    (2, 1): "arytenoid",
    (2, 2): "pharyngeal_wall",
    (3, 1): "hard_palate",
    (3, 2): "velum",
    (3, 5): "upper_lip",
}
LOWER_LIP = (1, 4)
UPPER_LIP = (3, 5)

BAD_FRAME_POLICIES = ("skip", "interpolate")


def frame_time(frame_no: np.ndarray | int) -> np.ndarray:
    """Time in seconds of the centre of 1-based MRI frame number(s): ``(frameNo - 0.5) / 83.2778``
    (frame 1 spans 0 - 12.008 ms and is stamped 6.004 ms)."""
    return (np.asarray(frame_no, dtype=float) - 0.5) / FRAME_RATE


def to_image(v: np.ndarray) -> np.ndarray:
    """Centred, y-up track coordinates ``[P, 2]`` -> image pixels (x right, y down)."""
    v = np.asarray(v, dtype=float)
    return np.column_stack((v[:, 0] + CENTRE_PX, -v[:, 1] + CENTRE_PX))


# ---------------------------------------------------------------------------------------
# 75-Speaker layout
# ---------------------------------------------------------------------------------------

_UTT_RE = re.compile(
    r"^(?P<spk>sub\d{3})_2drt_(?P<num>\d{2})_(?P<task>[A-Za-z0-9]+?)(?:_r(?P<rep>\d+))?"
    r"_(?P<kind>audio|video|raw|recon)\.(?P<ext>wav|mp4|h5)$"
)
MODALITIES = ("audio", "video", "raw", "recon")


@dataclass(frozen=True)
class Utterance:
    """One 2D rt-MRI utterance of the 75-Speaker corpus."""

    speaker: str  # "sub009"
    number: int  # the <NN> task number (1..21)
    task: str  # "vcv1", "grandfather1", "picture3", ...
    repetition: int | None  # K of "_rK", None for tasks recorded once
    name: str  # "sub009_2drt_07_grandfather1_r1" (the stem shared by all its files)
    files: dict[str, Path] = field(default_factory=dict, compare=False, hash=False)  # modality -> path

    @property
    def audio(self) -> Path | None:
        return self.files.get("audio")

    @property
    def video(self) -> Path | None:
        return self.files.get("video")


def parse_utterance_name(filename: str) -> dict | None:
    """Fields of a 75-Speaker file name (``None`` if it does not follow the layout)."""
    m = _UTT_RE.match(filename)
    if not m:
        return None
    d = m.groupdict()
    stem = filename[: filename.rindex(f"_{d['kind']}.")]
    return {
        "speaker": d["spk"],
        "number": int(d["num"]),
        "task": d["task"],
        "repetition": int(d["rep"]) if d["rep"] else None,
        "name": stem,
        "kind": d["kind"],
    }


def _speaker_subdir(root: str | Path, speaker: str, sub: str, corpus: str) -> Path:
    """``<root>/<speaker>/<sub>``; :class:`CodecprobeError` naming the missing folder otherwise."""
    root = Path(root)
    spk_dir = root / speaker
    if not spk_dir.is_dir():
        raise CodecprobeError(f"{spk_dir}: speaker folder not found ({corpus} root {root})")
    d = spk_dir / sub
    if not d.is_dir():
        raise CodecprobeError(f"{d}: no {sub} folder for speaker {speaker}")
    return d


def list_utterances(root: str | Path, speaker: str, modalities: tuple[str, ...] = MODALITIES) -> list[Utterance]:
    """Utterances of ``speaker`` under ``root`` (the folder holding ``subNNN/``), sorted by name.

    Files whose names do not follow the layout, or name another speaker, are ignored
    (logged). Raises :class:`CodecprobeError` when the speaker folder, its ``2drt``
    folder or every utterance file is missing.
    """
    drt = _speaker_subdir(root, speaker, "2drt", "75-Speaker")
    found: dict[str, dict] = {}
    ignored = 0
    for kind in modalities:
        d = drt / kind
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            info = parse_utterance_name(p.name)
            if info is None or info["kind"] != kind or info["speaker"] != speaker:
                ignored += 1
                continue
            rec = found.setdefault(info["name"], {**info, "files": {}})
            rec["files"][kind] = p
    if ignored:
        log.info("%s: ignored %d file(s) not named like %s_2drt_<NN>_<task>[_rK]_<kind>.<ext>", drt, ignored, speaker)
    if not found:
        raise CodecprobeError(f"{drt}: no utterance files ({'/'.join(modalities)}) for speaker {speaker}")
    return [
        Utterance(r["speaker"], r["number"], r["task"], r["repetition"], r["name"], dict(r["files"]))
        for _, r in sorted(found.items())
    ]


# ---------------------------------------------------------------------------------------
# Annot-16 layout
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackFile:
    """One Annot-16 track file and the alignment of the same utterance, when found."""

    speaker: str
    name: str  # file stem without "_track", e.g. "sub009_2drt_07_grandfather1_r1"
    track: Path
    alignment: Path | None


def _alignment_dirs(annot16: Path, speaker: str) -> list[Path]:
    return [annot16 / speaker / "alignment", annot16 / "alignment" / speaker, annot16 / "alignment"]


def list_tracks(annot16: str | Path, speaker: str, skip_tasks: Sequence[str] = ()) -> list[TrackFile]:
    """Track files of ``speaker`` under the Annot-16 root, sorted by name, each with its
    ``<name>_text.TextGrid`` (looked up in ``<root>/<spk>/alignment``, ``<root>/alignment/<spk>``
    and ``<root>/alignment``; ``None`` when absent). A file whose name contains any of
    ``skip_tasks`` (e.g. ``vcv``, ``bvt``: the config's ``rtmri.skip_tasks``) is left out.

    Raises :class:`CodecprobeError` when the speaker or its ``track`` folder is missing or
    empty, or when no file is left after skipping.
    """
    annot16 = Path(annot16)
    tdir = _speaker_subdir(annot16, speaker, "track", "Annot-16")
    tracks = sorted(tdir.glob("*_track.mat"))
    other_case = sorted(p.name for p in tdir.iterdir() if p.name.lower().endswith("_track.mat") and not p.name.endswith("_track.mat"))
    if other_case:
        log.warning("%s: %d file(s) ending in another case than _track.mat not read: %s", tdir, len(other_case),
                    first_few(other_case))  # fmt: skip
    foreign = [p.name for p in tracks if not p.name.startswith(f"{speaker}_")]
    if foreign:  # another speaker's file: its audio is that speaker's, its contours would enter this one's VTD
        log.warning("%s: %d track file(s) of another speaker left out (not named %s_*): %s", tdir, len(foreign), speaker,
                    first_few(foreign))  # fmt: skip
        tracks = [p for p in tracks if p.name.startswith(f"{speaker}_")]
    if not tracks:
        raise CodecprobeError(f"{tdir}: no *_track.mat files" + (f" of {speaker} (only other speakers')" if foreign else ""))
    tracks = [p for p in tracks if not any(s in p.name[: -len("_track.mat")] for s in skip_tasks)]
    if not tracks:
        raise CodecprobeError(f"{speaker}: no track left after skipping tasks {list(skip_tasks)} in {tdir}")
    dirs = [d for d in _alignment_dirs(annot16, speaker) if d.is_dir()]
    out = []
    for p in tracks:
        name = p.name[: -len("_track.mat")]
        tg = next((d / f"{name}_text.TextGrid" for d in dirs if (d / f"{name}_text.TextGrid").is_file()), None)
        out.append(TrackFile(speaker, name, p, tg))
    return out


def audio_path(root: str | Path, name: str) -> Path:
    """75-Speaker audio of an utterance stem: ``<root>/<subNNN>/2drt/audio/<name>_audio.wav``."""
    return Path(root) / name.split("_")[0] / "2drt" / "audio" / f"{name}_audio.wav"


@dataclass
class Track:
    """The contours of one track file, one entry per kept frame (lips -> larynx walls).

    ``inner``/``outer`` are ``[F, P, 2]`` / ``[F, Q, 2]`` float arrays in image pixels,
    NaN-padded at the end when point layouts differ between frames. ``sections[f]`` maps
    ``(segment, section)`` (1-based) to that frame's ``[n, 2]`` points. ``bad`` maps the
    frameNo of every bad frame to the reason; with ``policy == "interpolate"`` those
    frames are kept (rebuilt) and listed in ``interpolated``.
    """

    path: Path
    frame_no: np.ndarray
    times: np.ndarray
    inner: np.ndarray
    outer: np.ndarray
    sections: list[dict[tuple[int, int], np.ndarray]]
    layouts: list[tuple]
    n_frames_in_file: int
    bad: dict[int, str]
    policy: str
    interpolated: np.ndarray  # bool [F]: frame rebuilt by interpolation
    last_frame_no: int | None = None  # the file's last frameNo, kept or not: the clip ends at last_frame_no / FRAME_RATE

    @property
    def name(self) -> str:
        n = self.path.name
        return n[: -len("_track.mat")] if n.endswith("_track.mat") else self.path.stem

    @property
    def n_frames(self) -> int:
        return len(self.frame_no)

    @property
    def n_bad(self) -> int:
        return len(self.bad)

    def articulator(self, key: str | tuple[int, int]) -> list[np.ndarray]:
        """Per-frame points of one section, by ``(segment, section)`` or Annot-16 name."""
        if isinstance(key, str):
            inv = {v: k for k, v in SECTION_NAMES.items()}
            if key not in inv:
                raise KeyError(f"unknown articulator {key!r} (known: {', '.join(sorted(inv))})")
            key = inv[key]
        return [s.get(key, np.empty((0, 2))) for s in self.sections]

    def frame_contours(self, f: int) -> dict[str, np.ndarray]:
        """Frame ``f``'s sections keyed ``"seg.sec name"`` (for :func:`codecprobe.vtd.debug_figure`)."""
        return {
            f"{seg}.{sec}" + (f" {SECTION_NAMES[(seg, sec)]}" if (seg, sec) in SECTION_NAMES else ""): v
            for (seg, sec), v in sorted(self.sections[f].items())
        }


class _BadFrame(Exception):
    pass


def _as_list(x) -> list:
    """MATLAB struct arrays come back as a list, or as a bare dict when they hold one element."""
    if isinstance(x, dict):
        return [x]
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    if isinstance(x, (list, tuple)):
        return list(x)
    return []


def _segment_sections(seg, k: int) -> dict[int, np.ndarray]:
    if not isinstance(seg, dict) or "v" not in seg or "i" not in seg:
        raise _BadFrame(f"segment {k} has no 'v'/'i' fields")
    try:
        v = np.asarray(seg["v"], dtype=float)
        raw_ids = np.atleast_1d(np.asarray(seg["i"], dtype=float)).ravel()
    except (TypeError, ValueError) as e:
        raise _BadFrame(f"segment {k}: non-numeric 'v' or 'i' ({e})") from e
    if not np.all(np.isfinite(raw_ids) & (raw_ids == np.round(raw_ids))):
        raise _BadFrame(f"segment {k}: section ids 'i' not all whole numbers (NaN or fractional)")
    ids = raw_ids.astype(int)
    if v.size == 0:
        raise _BadFrame(f"segment {k} is empty")
    if v.ndim == 1 and v.size == 2:
        v = v.reshape(1, 2)
    if v.ndim != 2 or v.shape[1] != 2:
        raise _BadFrame(f"segment {k}: 'v' has shape {v.shape}, not points x 2")
    if len(ids) != len(v):
        raise _BadFrame(f"segment {k}: {len(ids)} section ids for {len(v)} points")
    pts = to_image(v)
    return {int(s): pts[ids == s] for s in np.unique(ids)}


def _frame_sections(frame) -> dict[tuple[int, int], np.ndarray]:
    contours = frame.get("contours")
    if not isinstance(contours, dict) or "segment" not in contours:
        raise _BadFrame("no contours")
    segs = _as_list(contours["segment"])
    if not segs:
        raise _BadFrame("contours hold no segments")
    out: dict[tuple[int, int], np.ndarray] = {}
    needed_segs = {seg for seg, _ in REQUIRED_SECTIONS}
    for k, seg in enumerate(segs, start=1):
        try:
            secs = _segment_sections(seg, k)
        except _BadFrame:
            if k in needed_segs:
                raise
            continue  # a malformed segment the walls do not use
        out.update({(k, s): v for s, v in secs.items()})
    for key in REQUIRED_SECTIONS:
        v = out.get(key)
        if v is None or len(v) == 0:
            raise _BadFrame(f"segment {key[0]} section {key[1]} missing")
        if not np.all(np.isfinite(v)):
            raise _BadFrame(f"segment {key[0]} section {key[1]} has NaN/inf")
    return out


def _walls(sections: dict[tuple[int, int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    inner = np.concatenate([sections[(seg, s)] for seg, secs in INNER_RUNS for s in secs])
    outer_a = [sections[(seg, s)] for seg, secs in OUTER_RUNS for s in secs]
    outer_b = np.concatenate([sections[(seg, s)] for seg, secs in OUTER_REVERSED_RUNS for s in secs])[::-1]
    return inner[::-1], np.concatenate(outer_a + [outer_b])  # both lips -> larynx


def _pad(arrs: list[np.ndarray]) -> np.ndarray:
    n = max(len(a) for a in arrs)
    out = np.full((len(arrs), n, 2), np.nan)
    for k, a in enumerate(arrs):
        out[k, : len(a)] = a
    return out


def load_track(path: str | Path, bad_frames: str = "skip", max_gap: int | None = None) -> Track:
    """Read one ``*_track.mat`` file (``trackdata`` schema) into a :class:`Track`.

    ``bad_frames``: ``"skip"`` (drop bad frames) or ``"interpolate"`` (rebuild them from
    the neighbouring good frames); both count them in ``Track.bad``. With
    ``"interpolate"``, ``max_gap`` (frames; ``None``: no limit) caps the runs of
    consecutive bad frames that are rebuilt: a longer run is skipped as with ``"skip"``
    (the walls are not made up over it; VTD is not bridged over such a gap either, see
    :func:`codecprobe.vtd.postprocess` and ``rtmri.max_gap_frames``).
    """
    import scipy.io

    path = Path(path)
    if bad_frames not in BAD_FRAME_POLICIES:
        raise ValueError(f"bad_frames must be one of {BAD_FRAME_POLICIES}, got {bad_frames!r}")
    if not path.is_file():
        raise CodecprobeError(f"{path}: track file not found")
    try:
        mat = scipy.io.loadmat(str(path), simplify_cells=True)
    except NotImplementedError as e:  # scipy's answer to a v7.3 (HDF5) MAT file
        raise CodecprobeError(
            f"{path}: a MATLAB v7.3 (HDF5) file, which cannot be read here (scipy reads MAT v4-v7): "
            "re-save it in MATLAB with save(file, 'trackdata', '-v7')"
        ) from e
    except Exception as e:  # scipy raises several types for non-MAT input
        raise CodecprobeError(f"{path}: cannot read as a MATLAB file ({type(e).__name__}: {e})") from e
    if "trackdata" not in mat:
        names = ", ".join(k for k in mat if not k.startswith("__")) or "none"
        raise CodecprobeError(f"{path}: no 'trackdata' variable (variables: {names})")
    frames = _as_list(mat["trackdata"])
    if not frames:
        raise CodecprobeError(f"{path}: 'trackdata' holds no frames")
    if not all(isinstance(f, dict) for f in frames):
        raise CodecprobeError(f"{path}: 'trackdata' is not a struct array of frames")
    for fld in ("frameNo", "contours"):
        if not any(fld in f for f in frames):
            raise CodecprobeError(f"{path}: 'trackdata' frames have no '{fld}' field")

    n = len(frames)
    numbers: list[int | None] = []
    for f in frames:
        try:
            fn = np.asarray(f.get("frameNo"), dtype=float).ravel()
            whole = fn.size == 1 and np.isfinite(fn[0]) and fn[0] == np.floor(fn[0])  # 12.5 is no frame number
            numbers.append(int(fn[0]) if whole else None)
        except (TypeError, ValueError):
            numbers.append(None)
    known = [k for k, v in enumerate(numbers) if v is not None]
    if not known:
        raise CodecprobeError(f"{path}: no frame has a usable 'frameNo'")
    inferred = {k for k in range(n) if numbers[k] is None}
    for k in inferred:  # number frames without frameNo from the nearest known one
        j = min(known, key=lambda j: abs(j - k))
        numbers[k] = numbers[j] + (k - j)
    fno = np.asarray(numbers, dtype=int)
    if fno.min() < 1:  # frameNo counts from 1: frame k is centred at (k - 0.5) / FRAME_RATE
        k = int(np.argmin(fno))
        raise CodecprobeError(f"{path}: frameNo {fno[k]} at frame {k + 1}{' (inferred)' if k in inferred else ''}: "
                              "frame numbers count from 1")  # fmt: skip
    if np.any(np.diff(fno) <= 0):
        k = int(np.argmax(np.diff(fno) <= 0))
        guessed = [j + 1 for j in (k, k + 1) if j in inferred]
        why = f" (frame {guessed[0]} has no frameNo; its number was inferred from its neighbours')" if guessed else ""
        raise CodecprobeError(f"{path}: frameNo not increasing (frame {k + 1}: {fno[k]} then {fno[k + 1]}){why}")

    sections: list[dict | None] = []
    bad: dict[int, str] = {}
    for k, f in enumerate(frames):
        try:
            if k in inferred:
                raise _BadFrame("frameNo missing or not a whole number")
            sections.append(_frame_sections(f))
        except _BadFrame as e:
            sections.append(None)
            bad[int(fno[k])] = str(e)
        except (TypeError, ValueError) as e:
            sections.append(None)
            bad[int(fno[k])] = f"malformed ({e})"
    good = [k for k, s in enumerate(sections) if s is not None]
    if not good:
        first = next(iter(bad.items()))
        raise CodecprobeError(f"{path}: no frame has valid contours ({n} frames; frame {first[0]}: {first[1]})")
    if bad:
        first = first_few((f"frameNo {k}: {why}" for k, why in bad.items()), sep="; ", more="; ...")
        log.warning("%s: %d of %d frames bad (%s; %s)", path.name, len(bad), n, bad_frames, first)

    walls = {k: _walls(sections[k]) for k in good}
    layouts = {k: tuple(sorted((key, len(v)) for key, v in sections[k].items())) for k in good}
    if bad_frames == "skip":
        keep = good
        inner = [walls[k][0] for k in keep]
        outer = [walls[k][1] for k in keep]
        secs = [sections[k] for k in keep]
        lay = [layouts[k] for k in keep]
        interp = np.zeros(len(keep), bool)
    else:
        run = _bad_run_lengths(np.array([s is None for s in sections]))
        keep = [k for k in range(n) if max_gap is None or run[k] <= max_gap]
        if len(keep) < n:
            log.info("%s: %d bad frames in runs of more than %d skipped, not interpolated", path.name, n - len(keep),
                     max_gap)  # fmt: skip
        inner, outer, secs, lay = [], [], [], []
        interp = np.array([sections[k] is None for k in keep])
        good_arr = np.asarray(good)
        for k in keep:
            if sections[k] is not None:
                inner.append(walls[k][0]), outer.append(walls[k][1]), secs.append(sections[k]), lay.append(layouts[k])
                continue
            pos = np.searchsorted(good_arr, k)
            a = good_arr[pos - 1] if pos > 0 else None
            b = good_arr[pos] if pos < len(good_arr) else None
            if a is None or b is None or layouts[a] != layouts[b]:
                j = b if a is None else a if b is None else (a if k - a <= b - k else b)
                inner.append(walls[j][0].copy()), outer.append(walls[j][1].copy())
                secs.append({kk: v.copy() for kk, v in sections[j].items()}), lay.append(layouts[j])
                continue
            w = (fno[k] - fno[a]) / (fno[b] - fno[a])
            inner.append((1 - w) * walls[a][0] + w * walls[b][0])
            outer.append((1 - w) * walls[a][1] + w * walls[b][1])
            secs.append({kk: (1 - w) * v + w * sections[b][kk] for kk, v in sections[a].items()})
            lay.append(layouts[a])
    frame_no = fno[keep]
    return Track(
        path=path,
        frame_no=frame_no,
        times=frame_time(frame_no),
        inner=_pad(inner),
        outer=_pad(outer),
        sections=secs,
        layouts=lay,
        n_frames_in_file=n,
        bad=bad,
        policy=bad_frames,
        interpolated=interp,
        last_frame_no=int(fno[-1]),
    )


def _bad_run_lengths(bad: np.ndarray) -> np.ndarray:
    """Per frame (``bad`` ``bool [n]``), the length of the run of consecutive bad frames it
    belongs to; 0 for a good frame."""
    out = np.zeros(len(bad), int)
    k = 0
    while k < len(bad):
        if not bad[k]:
            k += 1
            continue
        j = k
        while j < len(bad) and bad[j]:
            j += 1
        out[k:j] = j - k
        k = j
    return out


def stack_walls(tracks: list[Track], max_frames: int | None = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Walls of many tracks (e.g. all of a speaker's) stacked as ``[F, P, 2]``, ``[F, Q, 2]``.

    Only frames with the most common point layout of the walls' sections are kept, so
    that point ``p`` is the same place on the walls in every frame (needed to average
    them; the point counts of sections the walls do not use, such as the chin's, play no
    part); at most ``max_frames`` of them, drawn evenly at random (``seed``).
    """
    if not tracks:
        raise CodecprobeError("stack_walls: no tracks given")
    from collections import Counter

    def wall_layout(layout: tuple) -> tuple:
        return tuple((key, n) for key, n in layout if key in REQUIRED_SECTIONS)

    lay = Counter(wall_layout(l) for t in tracks for l in t.layouts).most_common(1)[0][0]
    counts = dict(lay)
    p = sum(counts[(seg, s)] for seg, secs in INNER_RUNS for s in secs)
    q = sum(counts[(seg, s)] for seg, secs in OUTER_RUNS + OUTER_REVERSED_RUNS for s in secs)
    inner, outer = [], []
    for t in tracks:
        idx = [k for k, l in enumerate(t.layouts) if wall_layout(l) == lay]
        if idx:
            inner.append(t.inner[idx, :p])
            outer.append(t.outer[idx, :q])
    inner_a = np.concatenate(inner)
    outer_a = np.concatenate(outer)
    if max_frames is not None and len(inner_a) > max_frames:
        sel = np.sort(np.random.default_rng(seed).choice(len(inner_a), max_frames, replace=False))
        inner_a, outer_a = inner_a[sel], outer_a[sel]
    return inner_a, outer_a


def read_alignment(path: str | Path):
    """An Annot-16 ``*_text.TextGrid`` (UTF-16; tier 1 = words) as a :class:`codecprobe.textgrid.TextGrid`."""
    from .textgrid import read_textgrid

    return read_textgrid(path)
