"""Loaders for the 75-Speaker layout and Annot-16 track files (codecprobe.rtmri)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import soundfile as sf

from codecprobe import rtmri as R
from codecprobe.io import CodecprobeError

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "fixtures" / "rtmri" / "cs_aba_track.mat"

# section sizes of the synthetic template: segment -> {section: points}
LAYOUT = {
    1: {1: 4, 2: 6, 3: 3, 4: 4, 5: 4, 6: 4},
    2: {1: 8, 2: 3, 3: 3, 4: 2},
    3: {1: 5, 2: 4, 3: 3, 4: 3, 5: 4},
    4: {1: 4},
}


def synth_frame(frame_no: int, shift: float = 0.0) -> dict:
    """A frame in the trackdata schema with simple geometry (centred coordinates, y up)."""
    rng = np.random.default_rng(frame_no)
    segs = []
    for seg, secs in LAYOUT.items():
        v, ids = [], []
        for sec, n in secs.items():
            base = np.column_stack((np.linspace(-30, 30, n), np.full(n, 10.0 * seg - 20 + sec)))
            v.append(base + shift + rng.normal(0, 0.1, (n, 2)))
            ids += [sec] * n
        segs.append({"v": np.concatenate(v), "i": np.asarray(ids, np.uint8), "mu": 1.0 + 0j})
    return {"frameNo": frame_no, "template": 1, "contours": {"segment": segs}}


def write_track(path: Path, frames) -> Path:
    scipy.io.savemat(path, {"trackdata": frames})
    return path


# ------------------------------------------------------------------ the real fixture


@pytest.fixture(scope="module")
def fixture_track():
    if not FIXTURE.exists():
        pytest.skip(f"fixture {FIXTURE} not present")
    return R.load_track(FIXTURE)


def test_fixture_loads(fixture_track):
    t = fixture_track
    assert t.n_frames == 117 == t.n_frames_in_file and t.n_bad == 0 and t.name == "cs_aba"
    assert t.frame_no[0] == 1540 and t.frame_no[-1] == 1656 and np.all(np.diff(t.frame_no) == 1)
    np.testing.assert_allclose(t.times, (t.frame_no - 0.5) / 83.2778, rtol=1e-6)  # frame centres
    assert R.FRAME_RATE == pytest.approx(83.2778, abs=1e-4)
    assert t.inner.shape == (117, 60, 2) and t.outer.shape == (117, 90, 2)
    assert np.all(np.isfinite(t.inner)) and np.all(np.isfinite(t.outer))
    # image pixel coordinates: x = v[:,0] + 42, y = -v[:,1] + 42
    raw = scipy.io.loadmat(FIXTURE, simplify_cells=True)["trackdata"][0]["contours"]["segment"][0]
    np.testing.assert_allclose(t.sections[0][(1, 1)][0], [raw["v"][0, 0] + 42, -raw["v"][0, 1] + 42])
    for w in (t.inner, t.outer):  # inside the 84 x 84 image (one pixel of slack)
        assert w.min() > -1 and w.max() < 86


def test_fixture_wall_section_order(fixture_track):
    t = fixture_track
    s = t.sections[0]
    inner_file_order = np.concatenate([s[(1, k)] for k in (6, 1, 2, 3, 4)])
    np.testing.assert_array_equal(t.inner[0], inner_file_order[::-1])  # stored lips -> larynx
    back = np.concatenate([s[(2, k)] for k in (4, 1, 2)])[::-1]
    np.testing.assert_array_equal(t.outer[0], np.concatenate([s[(3, 5)], s[(3, 1)], s[(3, 2)], back]))
    # a sensible tract, averaged over frames: walls start at the lips (front = small x),
    # tongue below the palate, lower lip below the upper lip, both walls reach the larynx (bottom)
    mi, mo = t.inner.mean(axis=0), t.outer.mean(axis=0)
    assert mi[0, 0] < 20 and mo[0, 0] < 20
    assert mi[:, 1].max() > 75 and mo[:, 1].max() > 80
    tongue = np.mean([a.mean(axis=0) for a in t.articulator("tongue")], axis=0)
    palate = np.mean([a.mean(axis=0) for a in t.articulator("hard_palate")], axis=0)
    assert tongue[1] > palate[1]
    lo = np.mean([a.mean(axis=0) for a in t.articulator("lower_lip")], axis=0)
    up = np.mean([a.mean(axis=0) for a in t.articulator("upper_lip")], axis=0)
    assert lo[1] > up[1] and lo[0] < 30 and up[0] < 30
    assert len(t.articulator((1, 2))[5]) == 15
    assert "1.2 tongue" in t.frame_contours(0)


# ------------------------------------------------------------------ synthetic files, bad input


def test_synthetic_roundtrip_and_transform(tmp_path):
    p = write_track(tmp_path / "sub001_2drt_01_vcv1_r1_track.mat", [synth_frame(k) for k in range(1, 6)])
    t = R.load_track(p)
    assert t.n_frames == 5 and t.name == "sub001_2drt_01_vcv1_r1"
    n_in = sum(LAYOUT[1][k] for k in (6, 1, 2, 3, 4))
    n_out = sum(LAYOUT[3][k] for k in (5, 1, 2)) + sum(LAYOUT[2][k] for k in (4, 1, 2))
    assert t.inner.shape == (5, n_in, 2) and t.outer.shape == (5, n_out, 2)
    v = synth_frame(1)["contours"]["segment"][2]["v"]
    np.testing.assert_allclose(t.sections[0][(3, 1)][0], [v[0, 0] + 42, 42 - v[0, 1]])
    inner, outer = R.stack_walls([t, t])
    assert inner.shape == (10, n_in, 2) and outer.shape == (10, n_out, 2)


def test_nan_frame_skipped_or_interpolated(tmp_path):
    frames = [synth_frame(k, shift=float(k)) for k in range(10, 15)]
    frames[2]["contours"]["segment"][0]["v"][7, 1] = np.nan  # tongue point of frameNo 12
    p = write_track(tmp_path / "nan_track.mat", frames)
    t = R.load_track(p, bad_frames="skip")
    assert t.n_frames == 4 and t.n_bad == 1 and 12 in t.bad and "NaN" in t.bad[12]
    assert t.frame_no.tolist() == [10, 11, 13, 14]
    ti = R.load_track(p, bad_frames="interpolate")
    assert ti.n_frames == 5 and ti.n_bad == 1 and ti.interpolated.tolist() == [False, False, True, False, False]
    np.testing.assert_allclose(ti.inner[2], (ti.inner[1] + ti.inner[3]) / 2)
    np.testing.assert_allclose(ti.outer[2], (ti.outer[1] + ti.outer[3]) / 2)
    np.testing.assert_allclose(ti.sections[2][(1, 2)], (ti.sections[1][(1, 2)] + ti.sections[3][(1, 2)]) / 2)
    np.testing.assert_allclose(ti.times[2], 11.5 / R.FRAME_RATE)  # centre of frameNo 12
    with pytest.raises(ValueError):
        R.load_track(p, bad_frames="drop")


def test_frame_without_frame_number_is_numbered_from_its_nearest_neighbour(tmp_path):
    frames = [synth_frame(k) for k in range(20, 26)]
    frames[0]["frameNo"] = np.zeros((0, 0))  # first frame: from frame 21 after it
    frames[3]["frameNo"] = 23.5  # between 22 and 24: not a whole number (was rounded down to 23, as if known)
    frames[5]["frameNo"] = np.zeros((0, 0))  # last frame: from frame 24 before it
    p = write_track(tmp_path / "frameno.mat", frames)
    t = R.load_track(p)  # such a frame is bad (its time is a guess): skipped, named by its number
    assert t.frame_no.tolist() == [21, 22, 24]
    assert t.bad == dict.fromkeys([20, 23, 25], "frameNo missing or not a whole number")
    assert R.load_track(p, bad_frames="interpolate").frame_no.tolist() == [20, 21, 22, 23, 24, 25]
    # across a jump in the numbering (frames not tracked), from the nearest numbered frame
    jump = [synth_frame(k) for k in (20, 21, 30, 31, 32)]
    jump[3]["frameNo"] = np.nan
    t = R.load_track(write_track(tmp_path / "jump.mat", jump), bad_frames="interpolate")
    assert t.frame_no.tolist() == [20, 21, 30, 31, 32] and list(t.bad) == [31]
    frames[1]["frameNo"] = frames[2]["frameNo"] = frames[4]["frameNo"] = np.nan
    with pytest.raises(CodecprobeError, match="no frame has a usable 'frameNo'"):
        R.load_track(write_track(tmp_path / "no_frameno.mat", frames))


def test_malformed_frames_are_counted(tmp_path):
    frames = [synth_frame(k) for k in range(1, 7)]
    frames[0]["contours"] = np.zeros((0, 0))  # empty contours
    seg1 = frames[2]["contours"]["segment"][0]
    keep = seg1["i"] != 6
    seg1["v"], seg1["i"] = seg1["v"][keep], seg1["i"][keep]  # section 6 missing
    frames[3]["contours"]["segment"][2]["v"] = np.zeros((4, 3))  # wrong shape
    frames[4]["contours"]["segment"][3]["v"] = np.zeros((0, 2))  # unused segment 4 empty: fine
    p = write_track(tmp_path / "bad_track.mat", frames)
    t = R.load_track(p)
    assert sorted(t.bad) == [1, 3, 4]
    assert "contours" in t.bad[1] and "section 6" in t.bad[3] and "shape" in t.bad[4]
    assert t.frame_no.tolist() == [2, 5, 6]
    ti = R.load_track(p, bad_frames="interpolate")  # edge frame 1 copies frame 2
    assert ti.n_frames == 6
    np.testing.assert_allclose(ti.inner[0], ti.inner[1])


@pytest.mark.parametrize(
    "content, match",
    [
        (b"this is not a MAT file at all" * 10, "cannot read"),
        ({"something_else": np.zeros(3)}, "no 'trackdata'"),
        ({"trackdata": []}, "no frames"),
        ({"trackdata": np.arange(4.0)}, "not a struct array"),
        ({"trackdata": [{"frameNo": 1, "template": 1}]}, "no 'contours' field"),
        ({"trackdata": [{"contours": {"segment": []}}]}, "no 'frameNo' field"),
        ({"trackdata": [{"frameNo": k, "contours": np.zeros((0, 0))} for k in (1, 2)]}, "no frame has valid contours"),
        ({"trackdata": [synth_frame(3), synth_frame(2)]}, "not increasing"),
    ],
)
def test_not_in_schema_raises_naming_file(tmp_path, content, match):
    p = tmp_path / "broken_track.mat"
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        scipy.io.savemat(p, content)
    with pytest.raises(CodecprobeError, match=match) as e:
        R.load_track(p)
    assert "broken_track.mat" in str(e.value)


def test_v73_mat_file_says_how_to_resave_it(tmp_path):
    # MATLAB's save -v7.3 writes HDF5 behind a 512-byte MAT header; scipy reads v4-v7 only
    import h5py

    p = tmp_path / "sub009_2drt_07_grandfather1_r1_track.mat"
    with h5py.File(p, "w", userblock_size=512) as h:
        h["trackdata"] = np.zeros((3, 3))
    with open(p, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116) + bytes(8) + b"\x00\x02IM")
    with pytest.raises(CodecprobeError, match=r"_track.mat: a MATLAB v7.3 \(HDF5\) file.*save\(file, 'trackdata', '-v7'\)"):
        R.load_track(p)


def test_empty_file_and_missing_file(tmp_path):
    (tmp_path / "empty_track.mat").write_bytes(b"")
    with pytest.raises(CodecprobeError, match="empty_track.mat"):
        R.load_track(tmp_path / "empty_track.mat")
    with pytest.raises(CodecprobeError, match="not found"):
        R.load_track(tmp_path / "nope_track.mat")


# ------------------------------------------------------------------ corpus layouts


def make_75speaker(root: Path) -> Path:
    d = root / "sub001" / "2drt"
    for kind in ("audio", "video"):
        (d / kind).mkdir(parents=True)
    x = (0.1 * np.sin(np.arange(20000) / 10)).astype(np.float32)
    sf.write(d / "audio" / "sub001_2drt_01_vcv1_r1_audio.wav", x, 20000)
    sf.write(d / "audio" / "sub001_2drt_01_vcv1_r2_audio.wav", x, 20000)
    sf.write(d / "audio" / "sub001_2drt_12_picture1_audio.wav", np.stack([x, x], 1), 22050)
    (d / "video" / "sub001_2drt_01_vcv1_r1_video.mp4").write_bytes(b"\0")
    (d / "video" / "sub001_2drt_16_picture5_video.mp4").write_bytes(b"\0")  # video only
    (d / "audio" / "notes.txt").write_text("x")
    (d / "audio" / "sub002_2drt_01_vcv1_r1_audio.wav").write_bytes(b"")  # another speaker
    return root


def test_list_utterances_and_read_audio(tmp_path):
    root = make_75speaker(tmp_path)
    utts = R.list_utterances(root, "sub001")
    assert [u.name for u in utts] == [
        "sub001_2drt_01_vcv1_r1", "sub001_2drt_01_vcv1_r2", "sub001_2drt_12_picture1", "sub001_2drt_16_picture5",
    ]  # fmt: skip
    u = utts[0]
    assert (u.speaker, u.number, u.task, u.repetition) == ("sub001", 1, "vcv1", 1)
    assert u.audio.name == "sub001_2drt_01_vcv1_r1_audio.wav" and u.video is not None
    assert (utts[2].task, utts[2].repetition, utts[2].number) == ("picture1", None, 12)
    assert utts[3].audio is None
    x, sr = R.read_audio(u.audio)
    assert sr == 20000 and x.shape == (20000,) and x.dtype == np.float32
    x2, sr2 = R.read_audio(utts[2].audio)
    assert sr2 == 22050 and x2.ndim == 1
    assert R.read_audio(utts[2].audio, mono=False)[0].shape == (20000, 2)
    assert R.audio_path(root, u.name) == u.audio
    info = R.parse_utterance_name("sub009_2drt_07_grandfather1_r2_audio.wav")
    assert (
        info["task"] == "grandfather1" and info["repetition"] == 2 and info["name"] == "sub009_2drt_07_grandfather1_r2"
    )
    assert R.parse_utterance_name("sub009_2drt_07_grandfather1_r2.wav") is None


def test_layout_errors(tmp_path):
    root = make_75speaker(tmp_path)
    with pytest.raises(CodecprobeError, match="sub003"):
        R.list_utterances(root, "sub003")
    (root / "sub004").mkdir()
    with pytest.raises(CodecprobeError, match="2drt"):
        R.list_utterances(root, "sub004")
    (root / "sub005" / "2drt" / "audio").mkdir(parents=True)
    with pytest.raises(CodecprobeError, match="no utterance files"):
        R.list_utterances(root, "sub005")
    with pytest.raises(CodecprobeError, match="not found"):
        R.read_audio(root / "missing.wav")
    bad = root / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(CodecprobeError, match="bad.wav"):
        R.read_audio(bad)


def test_list_tracks(tmp_path):
    a16 = tmp_path / "annot16"
    (a16 / "sub009" / "track").mkdir(parents=True)
    (a16 / "sub009" / "alignment").mkdir()
    for n in ("sub009_2drt_07_grandfather1_r1", "sub009_2drt_12_picture1"):
        write_track(a16 / "sub009" / "track" / f"{n}_track.mat", [synth_frame(1)])
    tg = a16 / "sub009" / "alignment" / "sub009_2drt_12_picture1_text.TextGrid"
    text = 'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = 1\ntiers? <exists>\nsize = 1\nitem []:\n'
    text += (
        '    item [1]:\n        class = "IntervalTier"\n        name = "words"\n        xmin = 0\n        xmax = 1\n'
    )
    text += '        intervals: size = 1\n        intervals [1]:\n            xmin = 0\n            xmax = 1\n            text = "hi"\n'
    tg.write_bytes(text.encode("utf-16"))
    tracks = R.list_tracks(a16, "sub009")
    assert [t.name for t in tracks] == ["sub009_2drt_07_grandfather1_r1", "sub009_2drt_12_picture1"]
    assert tracks[0].alignment is None and tracks[1].alignment == tg
    assert R.read_alignment(tg).tiers[0].intervals[0].text == "hi"
    assert R.load_track(tracks[0].track).n_frames == 1  # one-frame file (a bare struct, not a list)
    with pytest.raises(CodecprobeError, match="sub010"):
        R.list_tracks(a16, "sub010")
    # the config's skip_tasks: a file whose name holds any of them is left out
    write_track(a16 / "sub009" / "track" / "sub009_2drt_01_vcv1_r1_track.mat", [synth_frame(1)])
    assert len(R.list_tracks(a16, "sub009")) == 3
    kept = R.list_tracks(a16, "sub009", skip_tasks=["vcv", "bvt"])
    assert [t.name for t in kept] == ["sub009_2drt_07_grandfather1_r1", "sub009_2drt_12_picture1"]
    assert [t.name for t in R.list_tracks(a16, "sub009", ["grandfather", "vcv"])] == ["sub009_2drt_12_picture1"]
    with pytest.raises(CodecprobeError, match=r"sub009: no track left after skipping tasks \['2drt'\]"):
        R.list_tracks(a16, "sub009", ["2drt"])


def test_frame_time_is_the_frame_centre():
    """Frame N (1-based) is acquired over [(N - 1) T, N T], T = 2 x 6.004 ms, and stamped at
    its centre, like the codec frames ((i + 0.5) / rate)."""
    assert R.frame_time(1) == pytest.approx(0.006004, abs=1e-12)
    expected = np.array([0.5, 1.5, 1539.5, 1655.5]) * 0.012008
    np.testing.assert_allclose(R.frame_time([1, 2, 1540, 1656]), expected, atol=1e-12)
    assert R.frame_time(84) - R.frame_time(1) == pytest.approx(83 * 0.012008)


def test_interpolate_rebuilds_only_runs_up_to_max_gap(tmp_path):
    """bad_frames: interpolate made up the walls over a run of bad frames of any length
    (0.72 s of the fixture), which VTD then used as measurements; with max_gap a longer run
    is skipped, as with 'skip', and a shorter one still rebuilt."""
    frames = [synth_frame(k, shift=float(k)) for k in range(1, 13)]
    for k in (2, 5, 6, 7, 8):  # frameNo 3 alone; frameNos 6-9, a run of 4
        frames[k]["contours"]["segment"][0]["v"][0, 0] = np.nan
    p = write_track(tmp_path / "runs_track.mat", frames)
    t = R.load_track(p, bad_frames="interpolate", max_gap=3)
    assert t.frame_no.tolist() == [1, 2, 3, 4, 5, 10, 11, 12]
    assert t.interpolated.tolist() == [False, False, True] + [False] * 5
    assert sorted(t.bad) == [3, 6, 7, 8, 9]  # all counted bad
    np.testing.assert_allclose(t.inner[2], (t.inner[1] + t.inner[3]) / 2)
    assert R.load_track(p, bad_frames="interpolate", max_gap=4).n_frames == 12
    assert R.load_track(p, bad_frames="interpolate").n_frames == 12  # no limit given: as before
    assert R.load_track(p, bad_frames="skip", max_gap=3).frame_no.tolist() == [1, 2, 4, 5, 10, 11, 12]
    # runs at the clip's edges count the same
    edge = [synth_frame(k) for k in range(1, 8)]
    for k in (0, 1, 6):
        edge[k]["contours"]["segment"][0]["v"][0, 0] = np.nan
    t = R.load_track(write_track(tmp_path / "edge_track.mat", edge), bad_frames="interpolate", max_gap=1)
    assert t.frame_no.tolist() == [3, 4, 5, 6, 7] and t.interpolated.tolist() == [False] * 4 + [True]


def test_track_records_its_last_frame_number_also_when_that_frame_is_bad(tmp_path):
    frames = [synth_frame(k) for k in range(1, 8)]
    for k in (5, 6):
        frames[k]["contours"]["segment"][0]["v"][0, 0] = np.nan
    t = R.load_track(write_track(tmp_path / "tail_track.mat", frames))
    assert t.frame_no.tolist() == [1, 2, 3, 4, 5] and t.last_frame_no == 7


def test_section_ids_that_are_not_whole_numbers_make_the_frame_bad(tmp_path):
    """A NaN section id was cast to -2**63: the point left its section silently."""
    frames = [synth_frame(k) for k in range(1, 5)]
    ids = frames[1]["contours"]["segment"][0]["i"].astype(float)
    ids[3] = np.nan
    frames[1]["contours"]["segment"][0]["i"] = ids
    ids = frames[2]["contours"]["segment"][2]["i"].astype(float)
    ids[0] = 1.5
    frames[2]["contours"]["segment"][2]["i"] = ids
    t = R.load_track(write_track(tmp_path / "ids_track.mat", frames))
    assert t.frame_no.tolist() == [1, 4] and sorted(t.bad) == [2, 3]
    assert all("section ids" in t.bad[k] and "whole numbers" in t.bad[k] for k in (2, 3))


def test_frame_numbers_count_from_one(tmp_path):
    frames = [synth_frame(k) for k in range(4)]  # a 0-based file: times would start at -0.006 s
    with pytest.raises(CodecprobeError, match=r"zero_track.mat: frameNo 0 at frame 1: frame numbers count from 1"):
        R.load_track(write_track(tmp_path / "zero_track.mat", frames))


def test_an_inferred_frame_number_that_collides_says_so(tmp_path):
    """Frames 10, [none], 11: the second is numbered 11 from its first neighbour; the file has
    no repeated number, so the error says the number was inferred."""
    frames = [synth_frame(k) for k in (10, 0, 11, 12)]
    frames[1]["frameNo"] = np.zeros((0, 0))
    with pytest.raises(CodecprobeError, match=r"frame 2: 11 then 11\) \(frame 2 has no frameNo; its number was inferred"):
        R.load_track(write_track(tmp_path / "collide_track.mat", frames))


def test_stack_walls_ignores_point_counts_of_sections_the_walls_do_not_use(tmp_path):
    """The chin's (segment 4) point count varying frame to frame split the frames into
    'layouts', and only the most common was averaged into the grid's walls."""
    frames = []
    for k in range(1, 9):
        f = synth_frame(k)
        seg4 = f["contours"]["segment"][3]
        n = 3 + k % 4  # 3..6 chin points
        seg4["v"], seg4["i"] = np.zeros((n, 2)), np.ones(n, np.uint8)
        frames.append(f)
    t = R.load_track(write_track(tmp_path / "chin_track.mat", frames))
    inner, outer = R.stack_walls([t])
    assert inner.shape[0] == 8 and outer.shape[0] == 8
    np.testing.assert_allclose(inner, t.inner)


def test_list_tracks_leaves_out_other_speakers_files_and_names_other_cases(tmp_path, caplog):
    """A track file of another speaker in a speaker's folder (a copy gone astray) is left
    out with a warning naming it: its audio is that speaker's, and its contours would have
    entered this speaker's grid and VTD. A ``_track.MAT`` is not read, and said so."""
    import logging

    tdir = tmp_path / "annot16" / "sub009" / "track"
    tdir.mkdir(parents=True)
    for n in ("sub009_2drt_12_picture1", "sub010_2drt_12_picture1"):
        write_track(tdir / f"{n}_track.mat", [synth_frame(1)])
    write_track(tdir / "sub009_2drt_13_picture2_track.MAT", [synth_frame(1)])
    with caplog.at_level(logging.WARNING, logger="codecprobe"):
        tracks = R.list_tracks(tmp_path / "annot16", "sub009")
    assert [t.name for t in tracks] == ["sub009_2drt_12_picture1"]
    assert "1 track file(s) of another speaker left out (not named sub009_*): sub010_2drt_12_picture1_track.mat" in caplog.text
    assert "another case than _track.mat not read: sub009_2drt_13_picture2_track.MAT" in caplog.text
    (tdir / "sub009_2drt_12_picture1_track.mat").unlink()
    with pytest.raises(CodecprobeError, match=r"no \*_track.mat files of sub009 \(only other speakers'\)"):
        R.list_tracks(tmp_path / "annot16", "sub009")
