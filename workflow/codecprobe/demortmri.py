"""A small synthetic rt-MRI articulatory set in the USC 75-Speaker / Annot-16 layout.

For trying the articulatory stage (:mod:`codecprobe.rtmri`, :mod:`codecprobe.vtd`,
:mod:`codecprobe.pwcca`) without the real corpus. It is **synthetic**: the contours are
drawn by a parametric mid-sagittal tract driven by the demo corpus's phone alignments,
not tracked on MRI. Nothing measured on it says anything about speech or codecs.

Model
-----
* A fixed **outer wall** (upper lip -> alveolar ridge -> hard palate -> velum ->
  pharyngeal wall -> arytenoid region), a smooth curve in the 84 x 84 image (face to the
  left, y down), resampled every :data:`STEP` px by arc length ``s``.
* The **inner wall** (lower lip, tongue, epiglottis, larynx) is the outer wall moved
  along its inward normal by a cross distance ``d(s)``: a rest profile widened in the
  mouth by jaw opening, narrowed by a tongue-body constriction (location ``tb_loc`` along
  the tract, degree ``tb_deg``), a tongue-tip constriction at the alveolar ridge
  (``tt_deg``), set at the lips by the lip aperture ``la``, and at the pharynx by
  ``ph``. A negative degree makes the walls cross (closure: VTD 0).
* Every ARPAbet phone (stress removed) has a target vector (:data:`TARGETS`); silence is
  a rest shape. Parameter trajectories go piecewise-linearly between phone midpoints,
  are smoothed by a Gaussian (sigma 15 ms, about a 30 ms kernel) and sampled at the MRI
  frame centres, ``(frameNo - 0.5) / 83.2778`` (``rtmri.frame_time``).
* Per speaker: a scale about the image centre, an offset and a width factor; per frame
  a little Gaussian "tracking" noise on every point. All randomness is seeded from the
  speaker and utterance names (CRC-32), so regeneration is bit-identical.

Output layout (as the real releases)::

    <out>/75-speaker/subNNN/2drt/audio/subNNN_2drt_<NN>_<task>_audio.wav   (20 kHz, 16-bit)
    <out>/annot16/subNNN/track/subNNN_2drt_<NN>_<task>_track.mat           (trackdata)
    <out>/annot16/alignment/subNNN_2drt_<NN>_<task>_text.TextGrid         (UTF-16; words, phones)

CLI: ``python -m codecprobe.demortmri --out resources/demo_rtmri``.
"""

from __future__ import annotations

import argparse
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import CodecprobeError, atomic_path, run_cli, setup_logging, write_text
from .rtmri import CENTRE_PX, FRAME_RATE, frame_time

log = logging.getLogger("codecprobe.demortmri")

WAV_RATE = 20000
STEP = 3.0  # px between contour points along the walls
NOISE_PX = 0.12  # tracking noise (sd, px)
QUANT = 1.0 / 16.0  # coordinates are stored rounded to this (px): keeps the .mat files small
SMOOTH_S = 0.015  # Gaussian sigma of the trajectory smoothing (s)
SPEAKERS = {"9001": "sub901", "9002": "sub902", "9003": "sub903", "9004": "sub904"}
TASKS = ("12_picture1", "13_picture2", "14_picture3", "15_picture4", "16_picture5")
PARAMS = ("la", "jaw", "tb_loc", "tb_deg", "tt_deg", "ph")

# Outer wall control points (image px, y down), lips -> larynx, and where its sections end.
_OUTER_CTRL = np.array(
    [
        [10.0, 41.0], [14.0, 40.0], [18.0, 38.5], [21.5, 36.0], [25.0, 32.5], [30.0, 29.5],
        [36.0, 28.5], [42.0, 29.0], [47.0, 30.5], [51.0, 33.0], [54.0, 37.0], [56.0, 42.0],
        [57.0, 50.0], [57.2, 58.0], [57.0, 64.0], [56.0, 70.0], [55.0, 76.0], [54.5, 81.0],
    ]
)
# section boundaries by control-point index: upper lip to 2, hard palate to 7, velum to 10,
# pharyngeal wall to 14, arytenoid to 16, then segment 2 section 4 to the end.
_OUTER_SECTIONS = ((3, 5, 0, 2), (3, 1, 2, 7), (3, 2, 7, 10), (2, 2, 10, 14), (2, 1, 14, 16), (2, 4, 16, 17))
# inner wall sections by control-point index (the inner wall is the offset outer wall):
# lower lip, segment 1 section 3 (tongue tip underside), tongue, epiglottis, larynx (section 6).
_INNER_SECTIONS = ((1, 4, 0, 2), (1, 3, 2, 3), (1, 2, 3, 13), (1, 1, 13, 15), (1, 6, 15, 17))


@dataclass(frozen=True)
class Tract:
    """The fixed outer wall: points ``[P, 2]``, arc length ``s [P]``, inward normals ``[P, 2]``,
    the control-point arc positions ``s_ctrl`` and the landmarks (px of arc length)."""

    outer: np.ndarray
    s: np.ndarray
    normal: np.ndarray
    s_ctrl: np.ndarray

    @property
    def s_alv(self) -> float:
        return float(self.s_ctrl[3])

    @property
    def s_pal(self) -> float:
        return float(self.s_ctrl[5])

    @property
    def s_vel(self) -> float:
        return float(self.s_ctrl[8])

    @property
    def s_uvu(self) -> float:
        return float(self.s_ctrl[10])

    @property
    def s_phar(self) -> float:
        return float(self.s_ctrl[12])


def make_tract(step: float = STEP) -> Tract:
    """The outer wall as a smooth curve through :data:`_OUTER_CTRL`, every ``step`` px."""
    from scipy.interpolate import CubicSpline

    c = _OUTER_CTRL
    u = np.r_[0.0, np.cumsum(np.hypot(*np.diff(c, axis=0).T))]
    sp = CubicSpline(u, c, bc_type="natural")
    fine = np.linspace(0, u[-1], 4000)
    pts = sp(fine)
    s_fine = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    n = int(np.floor(s_fine[-1] / step)) + 1
    s = np.arange(n) * step
    uu = np.interp(s, s_fine, fine)
    outer = sp(uu)
    tan = sp(uu, 1)
    tan /= np.hypot(*tan.T)[:, None]
    normal = np.column_stack((-tan[:, 1], tan[:, 0]))  # towards the tongue (inside the bend)
    s_ctrl = np.interp(u, fine, s_fine)
    return Tract(outer, s, normal, s_ctrl)


# ----------------------------------------------------------------------------- phone targets
# la: lip aperture (px; < 0 = closed), jaw: 0..1, tb_loc: tongue-body constriction place
# (0 = alveolar ridge, 1 = hard palate, 2 = velum, 3 = uvula, 4 = pharynx), tb_deg: its
# degree (px; < 0 = closure), tt_deg: tongue tip at the alveolar ridge (px), ph: pharynx width.
REST = dict(la=2.5, jaw=0.2, tb_loc=1.8, tb_deg=5.0, tt_deg=6.0, ph=6.5)


def _t(**kw) -> dict:
    d = dict(REST, la=5.0, jaw=0.45)
    d.update(kw)
    return d


TARGETS: dict[str, dict] = {
    "": dict(REST),
    # vowels
    "IY": _t(la=3.5, jaw=0.15, tb_loc=1.0, tb_deg=1.2, tt_deg=3.5, ph=9.0),
    "IH": _t(la=4.0, jaw=0.3, tb_loc=1.1, tb_deg=2.2, tt_deg=4.0, ph=8.0),
    "EY": _t(la=4.5, jaw=0.35, tb_loc=1.1, tb_deg=2.6, tt_deg=4.5, ph=8.0),
    "EH": _t(la=5.5, jaw=0.55, tb_loc=1.3, tb_deg=3.8, ph=7.0),
    "AE": _t(la=7.0, jaw=0.85, tb_loc=1.5, tb_deg=5.0, ph=6.0),
    "AA": _t(la=7.5, jaw=1.0, tb_loc=3.8, tb_deg=2.2, ph=2.5),
    "AO": _t(la=5.0, jaw=0.8, tb_loc=3.5, tb_deg=2.4, ph=3.0),
    "AH": _t(la=6.0, jaw=0.7, tb_loc=2.8, tb_deg=4.0, ph=4.5),
    "AW": _t(la=5.5, jaw=0.8, tb_loc=3.2, tb_deg=2.8, ph=4.0),
    "AY": _t(la=6.0, jaw=0.75, tb_loc=2.5, tb_deg=3.2, ph=5.0),
    "OW": _t(la=3.0, jaw=0.5, tb_loc=2.8, tb_deg=2.4, ph=4.5),
    "OY": _t(la=3.5, jaw=0.5, tb_loc=2.5, tb_deg=2.6, ph=5.0),
    "UH": _t(la=3.0, jaw=0.35, tb_loc=2.3, tb_deg=2.2, ph=6.0),
    "UW": _t(la=2.0, jaw=0.25, tb_loc=2.2, tb_deg=1.6, ph=6.5),
    "ER": _t(la=3.5, jaw=0.4, tb_loc=2.5, tb_deg=2.4, tt_deg=2.8, ph=4.0),
    # bilabial / labiodental / labial-velar
    "P": _t(la=-2.5, jaw=0.3), "B": _t(la=-2.5, jaw=0.3), "M": _t(la=-2.5, jaw=0.3),
    "F": _t(la=0.7, jaw=0.25), "V": _t(la=0.9, jaw=0.25),
    "W": _t(la=1.4, jaw=0.25, tb_loc=2.2, tb_deg=2.0),
    # coronals
    "TH": _t(la=4.0, jaw=0.25, tt_deg=0.9), "DH": _t(la=4.0, jaw=0.25, tt_deg=1.0),
    "T": _t(la=4.0, jaw=0.2, tt_deg=-2.0), "D": _t(la=4.0, jaw=0.2, tt_deg=-2.0),
    "N": _t(la=4.0, jaw=0.2, tt_deg=-2.0), "L": _t(la=4.5, jaw=0.3, tt_deg=-1.5, ph=5.0),
    "S": _t(la=3.5, jaw=0.12, tt_deg=0.7), "Z": _t(la=3.5, jaw=0.12, tt_deg=0.8),
    "SH": _t(la=2.8, jaw=0.15, tb_loc=0.6, tb_deg=1.5, tt_deg=1.2),
    "ZH": _t(la=2.8, jaw=0.15, tb_loc=0.6, tb_deg=1.5, tt_deg=1.3),
    "CH": _t(la=2.8, jaw=0.15, tb_loc=0.6, tb_deg=1.5, tt_deg=-1.5),
    "JH": _t(la=2.8, jaw=0.15, tb_loc=0.6, tb_deg=1.5, tt_deg=-1.5),
    "R": _t(la=3.0, jaw=0.3, tb_loc=3.0, tb_deg=3.0, tt_deg=2.5, ph=4.0),
    "Y": _t(la=4.0, jaw=0.2, tb_loc=1.0, tb_deg=1.3, ph=8.5),
    # dorsals, glottal
    "K": _t(la=4.0, jaw=0.3, tb_loc=2.0, tb_deg=-2.0), "G": _t(la=4.0, jaw=0.3, tb_loc=2.0, tb_deg=-2.0),
    "NG": _t(la=4.0, jaw=0.3, tb_loc=2.0, tb_deg=-2.0),
    "HH": _t(la=5.0, jaw=0.5),
}
BILABIALS = ("P", "B", "M")
OPEN_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY")


def phone_key(label: str) -> str:
    """ARPAbet label -> :data:`TARGETS` key (stress digits dropped; silences/unknown -> ``""``)."""
    p = "".join(ch for ch in label.strip().upper() if not ch.isdigit())
    if p in ("SIL", "SP", "SPN", "<SIL>"):
        return ""
    return p if p in TARGETS else ""


def target_vector(label: str) -> np.ndarray:
    t = TARGETS[phone_key(label)]
    return np.array([t[k] for k in PARAMS], dtype=float)


# ----------------------------------------------------------------------------- trajectories
def trajectories(phones, times: np.ndarray, end: float, smooth_s: float = SMOOTH_S, dt: float = 0.001) -> np.ndarray:
    """Parameter trajectories ``[len(times), len(PARAMS)]`` from ``phones`` (``(xmin, xmax, label)``).

    Piecewise linear between the phone midpoints' targets (constant before the first and
    after the last; uncovered stretches are silence), Gaussian-smoothed (sigma ``smooth_s``)
    on a ``dt`` grid, then sampled at ``times``.
    """
    from scipy.ndimage import gaussian_filter1d

    ivs = sorted((float(a), float(b), str(lab)) for a, b, lab in phones if b > a)
    filled, t = [], 0.0
    for a, b, lab in ivs:
        if a > t + 1e-6:
            filled.append((t, a, ""))
        filled.append((a, b, lab))
        t = max(t, b)
    if end > t + 1e-6:
        filled.append((t, end, ""))
    if not filled:
        filled = [(0.0, max(end, dt), "")]
    mids = np.array([(a + b) / 2 for a, b, _ in filled])
    tg = np.array([target_vector(lab) for _, _, lab in filled])
    grid = np.arange(0.0, max(end, float(np.max(times)) if len(times) else 0.0) + 5 * smooth_s, dt)
    raw = np.column_stack([np.interp(grid, mids, tg[:, k]) for k in range(tg.shape[1])])
    sm = gaussian_filter1d(raw, smooth_s / dt, axis=0, mode="nearest") if smooth_s > 0 else raw
    return np.column_stack([np.interp(times, grid, sm[:, k]) for k in range(sm.shape[1])])


# ----------------------------------------------------------------------------- geometry
def _tb_s(tract: Tract, loc: np.ndarray) -> np.ndarray:
    marks = np.array([tract.s_alv, tract.s_pal, tract.s_vel, tract.s_uvu, tract.s_phar])
    return np.interp(loc, np.arange(5.0), marks)


def cross_distance(tract: Tract, params: np.ndarray) -> np.ndarray:
    """``d [F, P]``: inner-wall offset from the outer wall for parameter rows ``[F, len(PARAMS)]``."""
    p = np.atleast_2d(params)
    la, jaw, tb_loc, tb_deg, tt_deg, ph = (p[:, [k]] for k in range(len(PARAMS)))
    s = tract.s[None, :]
    s_lip, s_alv, s_vel, s_phar = tract.s_ctrl[2], tract.s_alv, tract.s_vel, tract.s_phar
    marks = np.array([0.0, s_alv, tract.s_pal, s_vel, tract.s_uvu, s_phar, tract.s[-1]])
    rest = np.interp(s, marks, [4.0, 4.5, 5.5, 6.0, 6.5, 6.5, 4.5])
    oral = np.clip((s_vel + 6 - s) / (s_vel + 6), 0, 1)  # 1 at the lips -> 0 behind the velum
    d = rest + 5.0 * jaw * oral
    g_ph = np.exp(-0.5 * ((s - s_phar) / 7.0) ** 2)  # pharynx width (both ways)
    d = d + (ph - d) * g_ph
    g_tb = np.exp(-0.5 * ((s - _tb_s(tract, tb_loc)) / 6.5) ** 2)  # tongue body: narrowing only
    d = d - np.maximum(d - tb_deg, 0) * g_tb
    g_tt = np.exp(-0.5 * ((s - s_alv) / 2.5) ** 2)  # tongue tip
    d = d - np.maximum(d - tt_deg, 0) * g_tt
    g_la = np.clip((s_lip + 1.0 - s) / (s_lip + 1.0), 0, 1) ** 0.7  # lips: set the aperture
    d = d + (la - d) * g_la
    return d


def inner_wall(tract: Tract, d: np.ndarray) -> np.ndarray:
    """``[F, P, 2]`` inner walls for cross distances ``d [F, P]``."""
    return tract.outer[None] + d[..., None] * tract.normal[None]


# front faces of the lips (offsets from the lip tips, image px): the lip contours wrap
# round the tips as real ones do, so gridlines just beyond the tips still cross both lips.
_UPPER_LIP_FACE = np.array([[0.5, -11.0], [-0.8, -8.0], [-1.8, -5.0], [-1.6, -2.0]])  # top -> tip
_LOWER_LIP_FACE = np.array([[-1.6, 2.0], [-1.8, 5.0], [-0.8, 8.0], [0.5, 11.0]])  # tip -> bottom


@dataclass(frozen=True)
class SpeakerShape:
    scale: float
    dx: float
    dy: float
    width: float


def speaker_shape(speaker: str) -> SpeakerShape:
    """Small, fixed per-speaker differences (seeded by the speaker name)."""
    r = np.random.default_rng(zlib.crc32(speaker.encode()))
    return SpeakerShape(scale=float(r.uniform(0.94, 1.06)), dx=float(r.uniform(-1.5, 1.5)), dy=float(r.uniform(-1.5, 1.5)), width=float(r.uniform(0.9, 1.1)))


def _place(pts: np.ndarray, sh: SpeakerShape) -> np.ndarray:
    c = np.array([CENTRE_PX, CENTRE_PX])
    return (pts - c) * sh.scale + c + np.array([sh.dx, sh.dy])


def _ranges(tract: Tract, sections) -> list[tuple[int, int, np.ndarray]]:
    """``(segment, section, point indices)`` of each section, by control-point arc positions."""
    out = []
    for seg, sec, a, b in sections:
        lo, hi = tract.s_ctrl[a], tract.s_ctrl[b]
        last = b == len(tract.s_ctrl) - 1
        idx = np.nonzero((tract.s >= lo - 1e-9) & ((tract.s <= hi + 1e-9) if last else (tract.s < hi - 1e-9)))[0]
        out.append((seg, sec, idx))
    return out


def frame_segments(tract: Tract, inner: np.ndarray, outer: np.ndarray, jaw: float) -> list[dict[int, np.ndarray]]:
    """One frame's 4 segments as ``{section: [n, 2] image px}`` in the Annot-16 section layout
    and point order that :func:`codecprobe.rtmri.load_track` expects (see the module docstring
    of :mod:`codecprobe.rtmri`): inner sections stored larynx -> lips, the segment 2 sections
    stored bottom -> top."""
    seg1: dict[int, np.ndarray] = {}
    lip_tip = inner[0]
    for _, sec, idx in _ranges(tract, _INNER_SECTIONS):
        seg1[sec] = inner[idx][::-1]
    seg1[4] = np.concatenate([seg1[4], lip_tip + _LOWER_LIP_FACE])  # ... tip, then the front face down
    chin_top = seg1[4][-1]
    chin_drop = 4.0 + 6.0 * jaw
    seg1[5] = np.array([chin_top + [1.0, 1.5], chin_top + [3.0, 1.0 + chin_drop], chin_top + [9.0, 3.0 + chin_drop], chin_top + [17.0, 5.0 + chin_drop]])
    seg2: dict[int, np.ndarray] = {}
    seg3: dict[int, np.ndarray] = {}
    for seg, sec, idx in _ranges(tract, _OUTER_SECTIONS):
        if seg == 3:
            seg3[sec] = outer[idx] if sec != 5 else np.concatenate([outer[0] + _UPPER_LIP_FACE, outer[idx]])
        else:
            seg2[sec] = outer[idx][::-1]
    top = outer[np.argmin(outer[:, 1])]
    seg2[3] = np.array([[outer[-1, 0] + 6, 83.0], [outer[-1, 0] + 8, 60.0], [outer[-1, 0] + 8, 30.0]])  # neck outline
    seg3[3] = np.array([top + [2.0, -6.0], top + [-8.0, -9.0], top + [-18.0, -6.0]])  # nasal cavity floor
    seg3[4] = np.array([outer[0] + [1.0, -8.0], outer[0] + [-1.0, -5.0], outer[0] + [-1.0, -2.0]])  # nose
    seg4 = {1: np.array([[84.0, 0.0], [84.0, 84.0], [0.0, 84.0], [0.0, 0.0]])}
    return [seg1, seg2, seg3, seg4]


def synth_frames(phones, duration: float, speaker: str, name: str, tract: Tract | None = None):
    """Frame numbers ``[F]`` (1-based), parameters ``[F, 6]`` and per-frame segments (image px)
    for one utterance of ``duration`` seconds: one frame per MRI frame,
    ``F = round(duration * 83.2778)``."""
    tract = make_tract() if tract is None else tract
    n = max(1, int(round(duration * FRAME_RATE)))
    frame_no = np.arange(1, n + 1)
    times = frame_time(frame_no)
    params = trajectories(phones, times, duration)
    sh = speaker_shape(speaker)
    d = cross_distance(tract, params) * sh.width
    inner = inner_wall(tract, d)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    frames = []
    for f in range(n):
        segs = frame_segments(tract, inner[f], tract.outer, float(params[f, 1]))
        out = []
        for seg in segs[:3]:
            out.append({k: _place(v, sh) + rng.normal(0.0, NOISE_PX, v.shape) for k, v in seg.items()})
        out.append(segs[3])  # segment 4: the image frame, fixed
        frames.append(out)
    return frame_no, params, frames


# ----------------------------------------------------------------------------- writing
def _mat_struct(fields: dict) -> np.ndarray:
    arr = np.empty((1, 1), dtype=[(k, object) for k in fields])
    for k, v in fields.items():
        arr[0, 0][k] = v
    return arr


def trackdata_array(frame_no: np.ndarray, frames) -> np.ndarray:
    """The MATLAB ``trackdata`` struct array (1 x F) for :func:`scipy.io.savemat`."""
    td = np.empty((1, len(frames)), dtype=[("contours", object), ("frameNo", object), ("template", object)])
    for j, (fn, segs) in enumerate(zip(frame_no, frames)):
        seg_arr = np.empty((1, len(segs)), dtype=[("v", object), ("i", object), ("mu", object)])
        for k, seg in enumerate(segs):
            keys = sorted(seg)
            pts = np.concatenate([seg[s] for s in keys])
            v = np.column_stack((pts[:, 0] - CENTRE_PX, -(pts[:, 1] - CENTRE_PX)))  # centred, y up
            v = (np.round(v / QUANT) * QUANT).astype(np.float32)
            ids = np.concatenate([np.full(len(seg[s]), s, np.uint8) for s in keys])[:, None]
            mu = complex(float(np.mean(v[:, 0])), float(np.mean(v[:, 1])))
            seg_arr[0, k] = (v, ids, mu)
        td[0, j] = (_mat_struct({"segment": seg_arr}), float(fn), 1.0)
    return td


MAT_HEADER = b"MATLAB 5.0 MAT-file, synthetic demo track written by codecprobe.demortmri"  # no creation date


def write_track(path: Path, frame_no: np.ndarray, frames) -> None:
    """Write a track file as the real ones (MATLAB 5 ``trackdata``). The header's text,
    which ``scipy.io.savemat`` fills with the time of writing, is fixed, so that the same
    tracks give the same bytes on every run."""
    import scipy.io

    with atomic_path(path) as tmp:  # keeps the .mat suffix: savemat adds none
        scipy.io.savemat(str(tmp), {"trackdata": trackdata_array(frame_no, frames)}, do_compression=True, oned_as="column")
        with open(tmp, "r+b") as f:  # the first 116 bytes: descriptive text (the MAT-file format's header)
            f.write(MAT_HEADER.ljust(116))


def read_phones(textgrid_path: Path):
    """``(words, phones)``: lists of ``(xmin, xmax, text)`` from a demo alignment TextGrid."""
    from .textgrid import read_textgrid

    tg = read_textgrid(textgrid_path)
    words = [(iv.xmin, iv.xmax, iv.text) for iv in tg.tier("words").intervals]
    phones = [(iv.xmin, iv.xmax, iv.text) for iv in tg.tier("phones").intervals]
    return words, phones, tg.xmax


def write_alignment(path: Path, words, phones, xmax: float) -> None:
    """UTF-16 (with BOM) Praat TextGrid, tier 1 = words, tier 2 = phones, as Annot-16's."""
    from .textgrid import Interval, TextGrid, Tier, fill_gaps, format_textgrid

    tiers = []
    for name, ivs in (("words", words), ("phones", phones)):
        items = [Interval(min(a, xmax), min(b, xmax), t) for a, b, t in ivs if t and min(b, xmax) > a]
        tiers.append(Tier(name, 0.0, xmax, fill_gaps(items, 0.0, xmax)))
    with atomic_path(path) as tmp:
        tmp.write_bytes(format_textgrid(TextGrid(0.0, xmax, tiers)).encode("utf-16"))


def utterance_name(sub: str, task: str) -> str:
    return f"{sub}_2drt_{task}"


def demo_sources(demo: Path, n_utts: int) -> list[tuple[str, str, Path, Path]]:
    """``(subNNN, task, flac, TextGrid)`` for the first ``n_utts`` utterances of each demo speaker."""
    out = []
    for spk, sub in SPEAKERS.items():
        flacs = sorted((demo / "LibriSpeech" / "dev-clean" / spk).glob("*/*.flac"))
        if len(flacs) < n_utts:
            raise CodecprobeError(f"{demo}: speaker {spk} has {len(flacs)} utterances, need {n_utts}")
        for task, flac in zip(TASKS[:n_utts], flacs):
            chapter = flac.parent.name
            tg = demo / "alignments" / "dev-clean" / spk / chapter / f"{flac.stem}.TextGrid"
            if not tg.is_file():
                raise CodecprobeError(f"{tg}: alignment not found")
            out.append((sub, task, flac, tg))
    return out


def generate_one(sub: str, task: str, flac: Path, tg: Path, out: Path, tract: Tract | None = None) -> dict:
    """Write one utterance's audio, track and alignment; returns a summary row."""
    import soundfile as sf

    from .audio import load_audio

    name = utterance_name(sub, task)
    wav = load_audio(flac, WAV_RATE)
    duration = len(wav) / WAV_RATE
    words, phones, _ = read_phones(tg)
    wav_path = out / "75-speaker" / sub / "2drt" / "audio" / f"{name}_audio.wav"
    with atomic_path(wav_path) as tmp:
        sf.write(str(tmp), np.clip(wav, -1, 1), WAV_RATE, subtype="PCM_16")
    frame_no, _, frames = synth_frames(phones, duration, sub, name, tract)
    write_track(out / "annot16" / sub / "track" / f"{name}_track.mat", frame_no, frames)
    write_alignment(out / "annot16" / "alignment" / f"{name}_text.TextGrid", words, phones, duration)
    return {"name": name, "source": flac.stem, "duration": duration, "frames": len(frame_no), "words": sum(1 for w in words if w[2])}


README = """# Synthetic rt-MRI articulatory demo (codecprobe)

**Synthetic. For trying the articulatory stage of codecprobe (track loading, gridlines,
VTD, PWCCA against codec features), not for conclusions.** The contours are drawn by a
simple parametric vocal tract driven by the phone alignments of the synthetic demo speech
(`resources/demo`, espeak-ng); no MRI was recorded or tracked. Nothing computed here says
anything about speech, articulation or codecs.

Made by `python -m codecprobe.demortmri --out resources/demo_rtmri` (deterministic; see
`workflow/codecprobe/demortmri.py` for the model).

## Layout (the same as the real releases)

* `75-speaker/subNNN/2drt/audio/subNNN_2drt_<NN>_<task>_audio.wav`: the demo utterance,
  resampled 16 -> 20 kHz with soxr (16-bit PCM), like the 75-Speaker corpus's audio.
* `annot16/subNNN/track/<name>_track.mat`: MATLAB `trackdata` struct array as in Annot-16,
  one element per MRI frame at 83.2778 frames/s covering the audio (frame count
  `round(duration x 83.2778)`; `frameNo` 1-based, frame N at its centre, `(N - 0.5) / 83.2778` s); 4
  segments with `v` (centred coordinates, y up), `i` (section ids) and `mu`. Sections:
  segment 1: 1 epiglottis, 2 tongue, 3 tongue-tip underside, 4 lower lip, 5 chin,
  6 larynx; segment 2: 1 arytenoid, 2 pharyngeal wall, 3 neck outline, 4 lower posterior
  wall; segment 3: 1 hard palate, 2 velum, 3 nasal floor, 4 nose, 5 upper lip;
  segment 4: the image frame. Coordinates are rounded to 1/16 px and stored as single.
* `annot16/alignment/<name>_text.TextGrid`: UTF-16 Praat TextGrids, tier 1 `words`,
  tier 2 `phones` (ARPAbet with stress, from the demo's alignments).
* `debug_vtd.png`: one frame of one track with the speaker's midline and gridlines.

With `vtd.grid_from_tracks` per speaker, the first 2-3 of the 120 gridlines lie beyond the
lip tips and the last 4 beyond the walls' larynx ends; they are dropped (NaN in every
frame, refilled), as on real contours (6 of 120 on the fixture); about 113 are finite in
more than 90 % of frames. Bilabials give VTD 0 at the lips; with the melrvq
baseline (4 x 32 codes, fitted on this audio) PWCCA(VTD, last layer) is about 0.41 against
a block-shuffled baseline of about 0.22 (`tests/test_demortmri.py`).

Demo speakers 9001-9004 are `sub901`-`sub904`; their first {n_utts} utterances are the tasks
{tasks} (recorded once, no `_rK`).

## How the contours are made

* Outer wall (upper lip, hard palate, velum, pharyngeal wall, arytenoid region): fixed.
* Inner wall (lower lip, tongue, epiglottis, larynx): the outer wall moved along its inward
  normal by a cross distance d(s) set by six articulatory parameters: lip aperture, jaw
  opening, tongue-body constriction location and degree, tongue-tip constriction degree
  (alveolar), pharynx width. Negative degrees make the walls cross: a closure (VTD 0).
* Each ARPAbet phone (stress removed) has a target vector (bilabials close the lips,
  K G NG close at the velum, T D N L CH JH at the alveolar ridge, front vowels raise the
  tongue front, AA AO narrow the pharynx, open vowels open jaw and lips); silence is a
  rest shape. Trajectories are piecewise linear between phone midpoints, smoothed with a
  Gaussian (sigma 15 ms), sampled at the MRI frame times.
* Per speaker a scale (0.94-1.06 about the image centre), an offset (up to 1.5 px) and a
  width factor (0.9-1.1); per point Gaussian noise of {noise} px ("tracking noise").

## Counts

| | |
|---|---|
| speakers | {n_spk} |
| utterances | {n_utt} |
| MRI frames | {n_frames} |
| audio | {minutes:.2f} minutes |
| size | {size_mb:.2f} MB |
"""


def generate(out: str | Path, demo: str | Path = "resources/demo", n_utts: int = 3, figure: bool = True) -> list[dict]:
    """Generate the whole set under ``out`` (see the module docstring); returns summary rows."""
    out, demo = Path(out), Path(demo)
    tract = make_tract()
    rows = [generate_one(sub, task, flac, tg, out, tract) for sub, task, flac, tg in demo_sources(demo, n_utts)]
    for r in rows:
        log.info("%s: %.2f s, %d frames", r["name"], r["duration"], r["frames"])
    if figure:
        debug_png(out, rows[0]["name"].split("_")[0], out / "debug_vtd.png")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p.name != "README.md")
    text = README.format(
        n_utts=n_utts,
        tasks=", ".join(f"`{t}`" for t in TASKS[:n_utts]),
        noise=NOISE_PX,
        n_spk=len({r["name"].split("_")[0] for r in rows}),
        n_utt=len(rows),
        n_frames=sum(r["frames"] for r in rows),
        minutes=sum(r["duration"] for r in rows) / 60,
        size_mb=size / 1e6,
    )
    write_text(text, out / "README.md")
    return rows


def debug_png(out: Path, speaker: str, path: Path, frame: int | None = None) -> Path:
    """VTD debug figure (:func:`codecprobe.vtd.debug_figure`) of one frame of the speaker's first track."""
    from . import rtmri, vtd

    tfs = rtmri.list_tracks(out / "annot16", speaker)
    tracks = [rtmri.load_track(t.track) for t in tfs]
    grid, mid = vtd.grid_from_tracks(tracks)
    tr = tracks[0]
    f = tr.n_frames // 3 if frame is None else frame
    _, pin, pout = vtd.vtd(tr.inner[f], tr.outer[f], grid, return_points=True)
    return vtd.debug_figure(tr.frame_contours(f), mid, grid, path, crossings=(pin, pout), title=f"{tr.name} frame {tr.frame_no[f]} (synthetic)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Generate the synthetic rt-MRI articulatory demo set.")
    ap.add_argument("--out", required=True)
    ap.add_argument("--demo", default="resources/demo", help="the demo speech corpus (LibriSpeech layout + alignments)")
    ap.add_argument("--n-utts", type=int, default=3, help="utterances per speaker (at most %d)" % len(TASKS))
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    if not 1 <= a.n_utts <= len(TASKS):
        raise CodecprobeError(f"--n-utts must be 1..{len(TASKS)}, got {a.n_utts}")
    rows = generate(a.out, a.demo, a.n_utts)
    print(f"wrote {len(rows)} utterances ({sum(r['frames'] for r in rows)} frames) under {a.out}")


if __name__ == "__main__":
    run_cli(main)
