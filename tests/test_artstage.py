"""The articulatory stage end to end on the real contour fixture, laid out like the corpus."""

import logging
import re
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from codecprobe.artstage import codec_pwcca, main, read_vtd, speaker_vtd, utterance_table
from codecprobe.codecs import CodecSpec, load_codec
from codecprobe.encode import EncodeConfig, run
from codecprobe.io import CodecprobeError, read_table
from codecprobe.rtmri import frame_time
from conftest import SHARED

FIXTURE = SHARED / "fixtures" / "rtmri" / "cs_aba_track.mat"
pytestmark = pytest.mark.skipif(not FIXTURE.is_file(), reason="shared rt-MRI fixture not present")
NAME = "sub901_2drt_12_picture1"


@pytest.fixture
def layout(tmp_path):
    annot = tmp_path / "annot16" / "sub901" / "track"
    annot.mkdir(parents=True)
    shutil.copyfile(FIXTURE, annot / f"{NAME}_track.mat")  # not copy(): the fixture is read-only, tests edit copies
    audio = tmp_path / "75-speaker" / "sub901" / "2drt" / "audio"
    audio.mkdir(parents=True)
    # frames 1540..1656 end at 1656 / 83.2778 = 19.89 s
    rng = np.random.default_rng(0)
    sf.write(audio / f"{NAME}_audio.wav", (0.05 * rng.standard_normal(int(19.9 * 20000))).astype(np.float32), 20000)
    return tmp_path


def test_vtd_utterances_encode_pwcca(layout, tmp_path):
    out = tmp_path / "vtd" / "sub901.h5"
    counts = speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "grid.png"), ["vcv"], None)
    assert counts["tracks"] == 1
    spk, utts = read_vtd(str(out))
    t, v = utts[NAME]
    assert spk == "sub901" and v.shape == (117, 120) and np.isfinite(v).all() and (v >= 0).all()
    assert t[0] == pytest.approx(1539.5 * 0.012008, abs=1e-9)  # centre of frameNo 1540 (frame period 2 x 6.004 ms)
    with h5py.File(out) as h:  # gridlines beyond the lips / larynx in every frame: flagged as refilled
        assert np.nonzero(h["utterances/dropped"][0])[0].tolist() == [0, 1, 116, 117, 118, 119]
    assert counts["gridlines with no measurement in any track"] == 6
    assert (tmp_path / "grid.png").stat().st_size > 1000
    table, c = utterance_table(str(layout / "75-speaker"), [str(out)])
    assert len(table) == 1 and c == {"missing audio": 0, "unreadable audio": 0, "length mismatch": 0}
    assert table.start[0] == 0.0 and table.end[0] == pytest.approx(19.9, abs=0.05)  # the whole utterance
    codec = load_codec(CodecSpec("mel", "melrvq", weights="random", n_layers=3))
    feats = tmp_path / "mel.h5"
    run(codec, table, None, str(feats), EncodeConfig(slicing="feature"))
    with h5py.File(feats) as h:
        ft = h["utterances/frame_times"][:]
        assert len(ft) == h["utterances/n_frames"][0] and ft[1] - ft[0] == pytest.approx(0.01)
        assert h.attrs["chunk_seconds"] == 60.0 and h.attrs["chunk_context_seconds"] == 1.0  # provenance of the chunking
    _narrow_codebooks(feats, 16)  # 139 frames: CCA needs more than 16 dims + 114 gridlines (80 mel dims are too many)
    res = codec_pwcca("mel", str(feats), [str(out)], "without_first", n_shuffles=3)
    assert set(res.variant) == {"layer1_only", "without_layer1"}
    acc = codec_pwcca("mel", str(feats), [str(out)], n_shuffles=3)
    assert list(acc.layer) == [1, 2, 3] and acc.pwcca.between(0, 1).all() and acc.random_weights.all()
    assert (acc.n_gridlines == 114).all()  # the 6 refilled gridlines are not given to CCA
    # the track's frame centres run 18.49-19.88 s of the 19.9 s audio: only the codec frames
    # (100 Hz, window centres at 0.0125 + i / 100) inside that span are used
    t0, t1 = 1539.5 / 83.2778, 1655.5 / 83.2778
    centres = 0.0125 + np.arange(1990) / 100
    assert (acc.n_frames == ((centres >= t0) & (centres <= t1)).sum()).all()
    assert (acc.block_len == 25).all()  # frames, without block_seconds
    timed = codec_pwcca("mel", str(feats), [str(out)], n_shuffles=3, block_seconds=0.3)
    assert (timed.block_len == 30).all()  # 0.3 s at 100 Hz
    np.testing.assert_allclose(timed.pwcca, acc.pwcca)  # only the baseline depends on the blocks
    # rtmri.epsilon: the ridge of the value and of its baseline, recorded in the table
    assert (acc.epsilon == 1e-10).all()
    ridged = codec_pwcca("mel", str(feats), [str(out)], n_shuffles=3, epsilon=1e-3)
    assert (ridged.epsilon == 1e-3).all() and (ridged.pwcca < acc.pwcca - 1e-3).all()


def test_pwcca_with_baseline_uses_its_epsilon_for_the_value_and_the_baseline():
    from codecprobe.articulatory import pwcca_with_baseline
    from codecprobe.pwcca import pwcca, pwcca_shuffled

    rng = np.random.default_rng(3)
    z = rng.standard_normal((600, 4))
    x = z @ rng.standard_normal((4, 12)) + 1e-3 * rng.standard_normal((600, 12))  # near-singular, as the demo's VTD
    y = z @ rng.standard_normal((4, 6)) + rng.standard_normal((600, 6))
    for eps in (1e-10, 1e-3):
        row = pwcca_with_baseline(x, y, n_shuffles=4, block_len=20, seed=7, epsilon=eps)
        assert row["pwcca"] == pytest.approx(pwcca(x, y, epsilon=eps, weight_side="x").pwcca, abs=1e-12)
        sh = pwcca_shuffled(x, y, np.random.default_rng(7), n=4, block_len=20, epsilon=eps, weight_side="x")
        assert row["shuffled_mean"] == pytest.approx(sh.mean, abs=1e-12)
    assert pwcca_with_baseline(x, y, n_shuffles=4, epsilon=1e-3)["pwcca"] != pytest.approx(
        pwcca_with_baseline(x, y, n_shuffles=4)["pwcca"], abs=1e-3)  # fmt: skip


def test_shuffle_block_frames_is_the_same_duration_for_every_codec():
    from codecprobe.artstage import shuffle_block_frames

    assert [shuffle_block_frames(r, block_seconds=0.5) for r in (75.0, 12.5, 25.0, 100.0)] == [38, 6, 12, 50]
    assert shuffle_block_frames(12.5, block_seconds=0.05) == 2  # at least 2 frames
    assert shuffle_block_frames(75.0, block_len=25) == 25  # frames when no duration is given
    for bad in ({"block_seconds": 0.0}, {"block_seconds": -1.0}, {"block_len": 0}):
        with pytest.raises(CodecprobeError, match="rtmri.block_"):
            shuffle_block_frames(75.0, **bad)


def test_length_mismatch_and_missing_audio_are_counted(layout, tmp_path):
    out = tmp_path / "v.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    wav = layout / "75-speaker/sub901/2drt/audio" / f"{NAME}_audio.wav"
    sf.write(wav, np.zeros(20000 * 5, np.float32), 20000)  # 5 s of audio, track ends at 19.9 s
    with pytest.raises(CodecprobeError, match="speaker sub901 .*: none of its 1 utterances with VTD has usable audio "
                       r"\(length mismatch 1;.*drop sub901 from rtmri.speakers"):  # fmt: skip
        utterance_table(str(layout / "75-speaker"), [str(out)])
    wav.unlink()
    with pytest.raises(CodecprobeError, match=r"speaker sub901 .*\(missing audio 1;"):
        utterance_table(str(layout / "75-speaker"), [str(out)])


def test_a_speaker_left_without_utterances_is_a_clear_error(layout, tmp_path):
    """Two configured speakers, one of whose audio files are all missing (e.g. named otherwise
    than its tracks): the job passed with a warning per file and Fig. 3 over one speaker."""
    other = "sub902_2drt_12_picture1"
    (layout / "annot16/sub902/track").mkdir(parents=True)
    shutil.copyfile(FIXTURE, layout / "annot16/sub902/track" / f"{other}_track.mat")
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(a), str(tmp_path / "ga.png"), [], None)
    speaker_vtd(str(layout / "annot16"), "sub902", str(b), str(tmp_path / "gb.png"), [], None)
    with pytest.raises(CodecprobeError, match=r"rt-MRI speaker sub902 \(.*b\.h5\): none of its 1 utterances"):
        utterance_table(str(layout / "75-speaker"), [str(a), str(b)])
    audio = layout / "75-speaker/sub902/2drt/audio"
    audio.mkdir(parents=True)
    shutil.copyfile(layout / "75-speaker/sub901/2drt/audio" / f"{NAME}_audio.wav", audio / f"{other}_audio.wav")
    table, _ = utterance_table(str(layout / "75-speaker"), [str(a), str(b)])
    assert list(table.speaker) == ["sub901", "sub902"]


@pytest.mark.parametrize("bad", ["empty", "not audio", "truncated", "nan"])
def test_unreadable_audio_is_skipped_named_and_counted(layout, tmp_path, caplog, bad):
    # a second utterance of the same track: the good one is kept, the bad one counted
    other = "sub901_2drt_13_picture2"
    track = layout / "annot16/sub901/track"
    shutil.copyfile(track / f"{NAME}_track.mat", track / f"{other}_track.mat")
    audio = layout / "75-speaker/sub901/2drt/audio"
    shutil.copyfile(audio / f"{NAME}_audio.wav", audio / f"{other}_audio.wav")
    out = tmp_path / "v.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    wav = audio / f"{other}_audio.wav"
    if bad == "empty":
        wav.write_bytes(b"")
    elif bad == "not audio":
        wav.write_text("not audio at all\n" * 100)
    elif bad == "truncated":  # the header still promises 19.9 s
        wav.write_bytes(wav.read_bytes()[: 20000 * 4 * 5])
    else:
        x, sr = sf.read(wav, dtype="float32")
        x[1000] = np.nan
        sf.write(wav, x, sr, subtype="FLOAT")
    table, c = utterance_table(str(layout / "75-speaker"), [str(out)])
    assert list(table.utt_id) == [NAME]
    if bad == "truncated":  # decodes to the end of its data: shorter than the track
        assert c == {"missing audio": 0, "unreadable audio": 0, "length mismatch": 1}
    else:
        assert c == {"missing audio": 0, "unreadable audio": 1, "length mismatch": 0}
        assert f"{other}: {wav}: " in caplog.text


def test_cli_figures(layout, tmp_path):
    out = tmp_path / "v.h5"
    main(["vtd", "--annot16", str(layout / "annot16"), "--speaker", "sub901", "--out", str(out), "--figure", str(tmp_path / "g.png")])
    import h5py
    from codecprobe import source_version

    with h5py.File(out) as h:  # provenance: the code that wrote the VTD
        assert h.attrs["codecprobe"] == source_version() and h.attrs["speaker"] == "sub901"
    tab = pd.DataFrame({"codec": "c", "speaker": ["a", "b"] * 2, "variant": "accumulated", "layer": [1, 1, 2, 2],
                        "n_frames": 100, "pwcca": [0.5, 0.6, 0.55, 0.65], "shuffled_mean": 0.3, "shuffled_sd": 0.01,
                        "random_weights": False})  # fmt: skip
    split = pd.DataFrame({"codec": "m", "speaker": ["a", "b"] * 3, "variant": ["accumulated"] * 2 + ["layer1_only"] * 2
                          + ["without_layer1"] * 2, "layer": [1, 1, 1, 1, 2, 2], "n_frames": 100,
                          "pwcca": [0.5, 0.6, 0.4, 0.5, 0.3, 0.2], "shuffled_mean": 0.3, "shuffled_sd": 0.01,
                          "random_weights": False})  # fmt: skip
    tab.to_csv(tmp_path / "p.csv", index=False)
    split.to_csv(tmp_path / "m.csv", index=False)
    main(["figures", "--tables", str(tmp_path / "p.csv"), str(tmp_path / "m.csv"), "--combined", str(tmp_path / "all.csv"),
          "--summary", str(tmp_path / "s.csv"), "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")])  # fmt: skip
    s = read_table(tmp_path / "s.csv")
    # Fig. 3's rows and, for the split codec, Fig. 4's (before, the summary held the accumulated rows only)
    got = {(r.codec, r.variant, r.layer): round(r.pwcca, 3) for r in s.itertuples()}
    assert got == {("c", "accumulated", 1): 0.55, ("c", "accumulated", 2): 0.6, ("m", "accumulated", 1): 0.55,
                   ("m", "layer1_only", 1): 0.45, ("m", "without_layer1", 2): 0.25}  # fmt: skip
    assert (s.n_speakers == 2).all()
    assert (s.shuffled_sd == 0.01).all()  # the speakers' mean shuffle sd (the summary lacked it)
    assert (tmp_path / "f.png").stat().st_size > 1000
    # by hand: one codec's table twice, or a table of another step (a lag table has no variant)
    out = ["--combined", str(tmp_path / "all2.csv"), "--summary", str(tmp_path / "s2.csv"), "--pdf", str(tmp_path / "f2.pdf"),
           "--png", str(tmp_path / "f2.png")]  # fmt: skip
    with pytest.raises(CodecprobeError, match=r"codec 'm', speaker 'a' twice with the same variant, layer: each codec's table once"):
        main(["figures", "--tables", str(tmp_path / "m.csv"), str(tmp_path / "m.csv"), *out])
    split.drop(columns="variant").to_csv(tmp_path / "lag.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"lag.csv: no column\(s\) variant"):
        main(["figures", "--tables", str(tmp_path / "lag.csv"), *out])
    # an empty PWCCA cell (an edited table) was counted as a speaker: n 2, t-interval over 1 value
    tab.assign(pwcca=[0.5, None, 0.55, 0.65]).to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"gap.csv: column pwcca has an empty or non-finite value \(row 2\)"):
        main(["figures", "--tables", str(tmp_path / "gap.csv"), *out])
    assert not (tmp_path / "all2.csv").exists()


def _narrow_codebooks(feats, dim: int) -> None:
    """Cut (or tile) every codebook table of a features file to ``dim`` dims in place."""
    with h5py.File(feats, "a") as h:
        for k in list(h["codebooks"]):
            tab = h[f"codebooks/{k}"][:]
            del h[f"codebooks/{k}"]
            h[f"codebooks/{k}"] = np.tile(tab, (1, -(-dim // tab.shape[1])))[:, :dim]


@pytest.mark.parametrize("dim, used", [(24, True), (25, False), (4096, False)])
def test_too_few_frames_for_the_dimension(layout, tmp_path, dim, used, caplog):
    """CCA needs more frames than features and gridlines together: with fewer, the two
    sides share dimensions and canonical correlations of 1 whatever the data. The fixture
    speaker has 139 codec frames (100 Hz) and 114 gridlines: 24 feature dims are used (with
    a warning that the value is biased), 25 skip it; none left -> a clear error. (Before,
    any dims under 139 were used: at 25..138, PWCCA near 1 by construction.)"""
    out = tmp_path / "v.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    table, _ = utterance_table(str(layout / "75-speaker"), [str(out)])
    codec = load_codec(CodecSpec("mel", "melrvq", weights="random", n_layers=2))
    feats = tmp_path / "mel.h5"
    run(codec, table, None, str(feats), EncodeConfig(slicing="feature"))
    _narrow_codebooks(feats, dim)
    if used:
        with caplog.at_level(logging.WARNING, logger="codecprobe"):
            res = codec_pwcca("mel", str(feats), [str(out)], n_shuffles=2)
        assert (res.n_frames == 139).all() and (res.n_gridlines == 114).all()
        assert "139 frames for 138 dimensions (features + gridlines), fewer than 10 per dimension" in caplog.text
    else:
        with pytest.raises(CodecprobeError, match="1 speaker\\(s\\) with too few frames for CCA"):
            codec_pwcca("mel", str(feats), [str(out)], n_shuffles=2)


def test_fig4_panel_from_split_rows(tmp_path):
    from codecprobe.artstage import fig3

    rows = []
    for variant, layers in (("accumulated", [1, 2, 3]), ("layer1_only", [1]), ("without_layer1", [2, 3])):
        for layer in layers:
            for spk, v in (("a", 0.5), ("b", 0.6)):
                rows.append({"codec": "mimi", "speaker": spk, "variant": variant, "layer": layer, "n_frames": 900,
                             "pwcca": v + 0.01 * layer, "shuffled_mean": 0.3, "shuffled_sd": 0.01, "random_weights": True})  # fmt: skip
    fig3(pd.DataFrame(rows), str(tmp_path / "f.pdf"), str(tmp_path / "f.png"), "note")
    import matplotlib.image as mpimg

    img = mpimg.imread(tmp_path / "f.png")
    assert img.shape[1] > 1.3 * img.shape[0]  # two panels side by side (Fig. 3 and Fig. 4)


# ----------------------------------------------------------------- PWCCA input from hand-made files
def _write_vtd(path, speaker, clips):
    """A ``vtd`` HDF5 as ``artstage vtd`` writes it. ``clips``: ``(name, px [F, G], dropped [G])``;
    frames numbered 1..F, stamped at their centres."""
    from codecprobe.rtmri import frame_time

    n = np.array([len(px) for _, px, _ in clips])
    with h5py.File(path, "w") as h:
        h["vtd"] = np.concatenate([px for _, px, _ in clips]).astype(np.float32)
        h["times"] = np.concatenate([frame_time(np.arange(1, k + 1)) for k in n])
        h["frame_no"] = np.concatenate([np.arange(1, k + 1) for k in n])
        h["utterances/name"] = np.array([nm for nm, _, _ in clips], dtype="S")
        h["utterances/n_frames"] = n
        h["utterances/offset"] = np.concatenate([[0], np.cumsum(n)[:-1]])
        h["utterances/dropped"] = np.stack([d for _, _, d in clips])
        h.attrs["speaker"] = speaker
    return str(path)


def _write_features(path, utts, rate):
    """A feature-sliced codec file whose layer-k increments are given per frame:
    ``utts``: ``{name: (frame times [F], increments [K, F, D])}``; codebook k holds one row
    per frame and code ``i`` of layer k is frame ``i``, so layer k's accumulated feature is
    the sum of the first k increments."""
    names = list(utts)
    n = np.array([len(utts[u][0]) for u in names])
    inc = np.concatenate([utts[u][1] for u in names], axis=1)  # [K, F_total, D]
    with h5py.File(path, "w") as h:
        h.attrs.update(slicing="feature", frame_rate=rate, random_weights=False)
        h["codes"] = np.tile(np.arange(n.sum()), (inc.shape[0], 1))
        for k in range(inc.shape[0]):
            h[f"codebooks/layer_{k + 1:02d}"] = inc[k]
        h["utterances/utt_id"] = np.array(names, dtype="S")
        h["utterances/frame_offset"] = np.concatenate([[0], np.cumsum(n)[:-1]])
        h["utterances/n_frames"] = n
        h["utterances/frame_times"] = np.concatenate([utts[u][0] for u in names])
    return str(path)


def _speaker_with_refilled_ends(rng, spk, n_clips=30, n_frames=120, n_grid=40, ends=(0, 1, 37, 38, 39)):
    """Synthetic VTD clips post-processed like real ones: the `ends` gridlines are NaN in every
    frame of every clip (beyond the lips / larynx) and refilled from their neighbours."""
    from codecprobe.vtd import postprocess

    mix = rng.standard_normal((4, n_grid))
    clips = []
    for c in range(n_clips):
        motion = np.cumsum(rng.standard_normal((n_frames, 4)), axis=0)
        raw = np.abs(motion @ mix + 0.3 * rng.standard_normal((n_frames, n_grid))) + 1
        raw[:, list(ends)] = np.nan
        raw[rng.random(raw.shape) < 0.02] = np.nan  # a wall missed now and then
        px, info = postprocess(raw)
        clips.append((f"{spk}_2drt_{c + 10:02d}_topic", px, info["dropped"]))
    return clips


def _features_for(clips, rng, dim=32, n_layers=2):
    """Codec features at the MRI frame centres (rate 83.2778 Hz, so VTD is read unchanged):
    layer 1 carries gridlines 5-29, layer 2 adds noise."""
    from codecprobe.rtmri import FRAME_RATE, frame_time

    w = rng.standard_normal((25, dim))
    out = {}
    for name, px, _ in clips:
        x = px.astype(np.float32).astype(float)
        y1 = x[:, 5:30] @ w + 3 * rng.standard_normal((len(x), dim))
        more = [rng.standard_normal((len(x), dim)) for _ in range(n_layers - 1)]
        out[name] = (frame_time(np.arange(1, len(x) + 1)), np.stack([y1] + more))
    return out, FRAME_RATE


def test_gridlines_refilled_in_every_clip_are_dropped_before_cca(tmp_path, caplog):
    """Gridlines NaN in every frame of every clip of a speaker are refilled by postprocess as
    copies of their neighbours: they carry no data and make the VTD covariance singular
    (before the fix PWCCA either aborted or weighted rounding noise). They are dropped, and
    the value equals PWCCA with those columns removed by hand."""
    import logging

    from codecprobe.articulatory import pwcca_with_baseline

    rng = np.random.default_rng(3)
    clips = _speaker_with_refilled_ends(rng, "sub801")
    vtd = _write_vtd(tmp_path / "sub801.h5", "sub801", clips)
    utts, rate = _features_for(clips, rng)
    feats = _write_features(tmp_path / "f.h5", utts, rate)
    _, vt = read_vtd(vtd)
    x = np.concatenate([vt[n][1] for n, _, _ in clips]).astype(float)
    assert np.linalg.matrix_rank(x - x.mean(0)) == 35  # the 5 refilled columns add nothing
    y = np.concatenate([utts[n][1][0] for n, _, _ in clips])
    by_hand = pwcca_with_baseline(x[:, 2:37], y, 3)  # without gridlines 0, 1, 37, 38, 39
    with caplog.at_level(logging.INFO, logger="codecprobe.artstage"):
        res = codec_pwcca("syn", feats, [vtd], n_shuffles=3)
    assert res.pwcca[0] == pytest.approx(by_hand["pwcca"], abs=1e-9)
    assert res.pwcca_release[0] == pytest.approx(by_hand["pwcca_release"], abs=1e-9)
    assert list(res.layer) == [1, 2] and (res.n_gridlines == 35).all() and np.isfinite(res.pwcca).all()
    assert "5 of 40 gridlines hold no measurement" in caplog.text and "0-1, 37-39" in caplog.text
    assert res.pwcca[0] > res.shuffled_mean[0] + 0.3
    try:  # with the refilled columns kept the value is wrong, or there is none
        assert abs(pwcca_with_baseline(x, y, 3)["pwcca"] - by_hand["pwcca"]) > 1e-3
    except CodecprobeError as e:
        assert "linearly dependent" in str(e)


def test_fig4_split_sums_layers_by_hand(tmp_path):
    """``--variant without_first`` (Fig. 4, MIMI): ``layer1_only`` is layer 1's decoded vector
    alone, ``without_layer1`` at layer k the sum of layers 2..k (layer 1 left out), each
    equal to PWCCA of that sum computed by hand."""
    from codecprobe.articulatory import pwcca_with_baseline

    rng = np.random.default_rng(5)
    clips = _speaker_with_refilled_ends(rng, "sub802", n_clips=12)
    vtd = _write_vtd(tmp_path / "sub802.h5", "sub802", clips)
    utts, rate = _features_for(clips, rng, n_layers=3)
    feats = _write_features(tmp_path / "f.h5", utts, rate)
    res = codec_pwcca("syn", feats, [vtd], "without_first", n_shuffles=2)
    assert list(zip(res.variant, res.layer)) == [("layer1_only", 1), ("without_layer1", 2), ("without_layer1", 3)]
    _, vt = read_vtd(vtd)
    x = np.concatenate([vt[n][1] for n, _, _ in clips]).astype(float)[:, 2:37]  # refilled ends dropped
    inc = np.concatenate([utts[n][1] for n, _, _ in clips], axis=1)  # [3, F, D]
    for (variant, layer), y in ((("layer1_only", 1), inc[0]), (("without_layer1", 2), inc[1]),
                                (("without_layer1", 3), inc[1] + inc[2])):  # fmt: skip
        row = res[(res.variant == variant) & (res.layer == layer)].iloc[0]
        assert row.pwcca == pytest.approx(pwcca_with_baseline(x, y, 2)["pwcca"], abs=1e-9), (variant, layer)


def test_feature_file_without_utterances_is_refused(tmp_path):
    """The PWCCA stage reads whole utterances: a file sliced by words, or a feature-sliced
    file without its ``utterances`` group (truncated), is named and refused."""
    rng = np.random.default_rng(6)
    clips = _speaker_with_refilled_ends(rng, "sub803", n_clips=2)
    vtd = _write_vtd(tmp_path / "sub803.h5", "sub803", clips)
    utts, rate = _features_for(clips, rng)
    feats = _write_features(tmp_path / "f.h5", utts, rate)
    with h5py.File(feats, "a") as h:
        del h["utterances"]
    with pytest.raises(CodecprobeError, match=r"f\.h5: not a feature-sliced \(whole-utterance\) codec file"):
        codec_pwcca("syn", feats, [vtd], n_shuffles=2)
    words = _write_features(tmp_path / "w.h5", utts, rate)
    with h5py.File(words, "a") as h:
        h.attrs["slicing"] = "audio"
    with pytest.raises(CodecprobeError, match=r"w\.h5: not a feature-sliced"):
        codec_pwcca("syn", words, [vtd], n_shuffles=2)


def test_reviewer_case_fixture_vtd_in_30_clips(tmp_path):
    """The reviewer's case: the real fixture's VTD (gridlines 0, 1, 116-119 beyond the lips and
    larynx in all 117 frames) as 30 jittered clips of one speaker. Before the fix PWCCA
    aborted ("canonical directions are linearly dependent"); now it matches PWCCA with the 6
    refilled columns removed by hand (reviewer: 0.791)."""
    from codecprobe.articulatory import pwcca_with_baseline
    from codecprobe.rtmri import FRAME_RATE, frame_time, load_track
    from codecprobe.vtd import grid_from_tracks, postprocess, vtd_track

    track = load_track(FIXTURE)
    grid, _ = grid_from_tracks([track])
    res0 = vtd_track(track, grid)
    assert np.nonzero(res0.dropped)[0].tolist() == [0, 1, 116, 117, 118, 119]
    rng = np.random.default_rng(0)
    clips = []
    for c in range(30):
        raw = res0.px[rng.permutation(len(res0.px))] + 0.3 * rng.standard_normal(res0.px.shape)
        raw[:, [0, 1, 116, 117, 118, 119]] = np.nan
        px, info = postprocess(raw)
        clips.append((f"sub802_2drt_{c + 10:02d}_topic", px, info["dropped"]))
    x64 = np.concatenate([px for _, px, _ in clips])
    y = x64[:, 10:80] @ rng.standard_normal((70, 128)) + rng.standard_normal((len(x64), 128))
    vtd = _write_vtd(tmp_path / "sub802.h5", "sub802", clips)
    t = frame_time(np.arange(1, 118))
    off = np.arange(0, len(y) + 1, 117)
    per_clip = {n: (t, y[None, off[i] : off[i + 1]]) for i, (n, _, _) in enumerate(clips)}
    feats = _write_features(tmp_path / "f.h5", per_clip, FRAME_RATE)
    res = codec_pwcca("syn", feats, [vtd], n_shuffles=3)
    assert len(res) == 1 and res.n_gridlines[0] == 114 and res.n_frames[0] == 30 * 117
    assert res.pwcca[0] == pytest.approx(0.791, abs=2e-3)
    x = np.concatenate([read_vtd(vtd)[1][n][1] for n, _, _ in clips]).astype(float)
    assert res.pwcca[0] == pytest.approx(pwcca_with_baseline(x[:, 2:116], y, 3)["pwcca"], abs=1e-9)


def test_degenerate_speaker_is_skipped_and_counted(tmp_path, caplog):
    """A speaker whose CCA is degenerate is skipped with a warning naming it and the reason;
    the others are kept; when every speaker fails the error says why."""
    import logging

    rng = np.random.default_rng(5)
    good = _speaker_with_refilled_ends(rng, "sub803", n_clips=10)
    bad = [(n.replace("sub803", "sub804"), np.full_like(px, 4.0), d) for n, px, d in good]  # VTD never moves
    files = [_write_vtd(tmp_path / "sub803.h5", "sub803", good), _write_vtd(tmp_path / "sub804.h5", "sub804", bad)]
    u_good, rate = _features_for(good, rng)
    u_bad, _ = _features_for(bad, rng)
    feats = _write_features(tmp_path / "f.h5", {**u_good, **u_bad}, rate)
    with caplog.at_level(logging.INFO, logger="codecprobe.artstage"):
        res = codec_pwcca("syn", feats, files, n_shuffles=3)
    assert set(res.speaker) == {"sub803"} and list(res.layer) == [1, 2]
    warn = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sub804" in m and "layer 1" in m and "constant" in m and "skipped" in m for m in warn)
    assert "1 speaker(s) used, 1 skipped; degenerate CCA: 1 (sub804)" in caplog.text
    with pytest.raises(CodecprobeError, match="no speaker gave a PWCCA value.*degenerate: sub804"):
        codec_pwcca("syn", feats, files[1:], n_shuffles=3)


def test_vtd_file_from_before_the_masks_is_refused(tmp_path):
    """A VTD file without /utterances/dropped (written before session 8, with frame-start
    times) is not silently used half a frame off: a clear error says to rebuild it."""
    rng = np.random.default_rng(3)
    clips = _speaker_with_refilled_ends(rng, "sub801")
    vtd = _write_vtd(tmp_path / "sub801.h5", "sub801", clips)
    with h5py.File(vtd, "a") as h:
        del h["utterances/dropped"]
    utts, rate = _features_for(clips, rng)
    feats = _write_features(tmp_path / "f.h5", utts, rate)
    with pytest.raises(CodecprobeError, match=r"sub801\.h5: VTD file written by codecprobe before session 8.*--forcerun rtmri_vtd"):
        codec_pwcca("syn", feats, [vtd], n_shuffles=3)


def test_utterances_left_out_are_counted(tmp_path, caplog):
    """An utterance with VTD but no codec features, and one whose codec frames lie outside
    the MRI span, are left out, counted in the log, and the value is that of the others."""
    import logging

    rng = np.random.default_rng(7)
    clips = _speaker_with_refilled_ends(rng, "sub805", n_clips=12)
    vtd = _write_vtd(tmp_path / "sub805.h5", "sub805", clips)
    utts, rate = _features_for(clips, rng)
    kept = {k: v for k, v in utts.items() if k not in (clips[0][0], clips[1][0])}
    t, inc = utts[clips[1][0]]
    moved = {**kept, clips[1][0]: (t + 100.0, inc)}  # clip 1: every frame after the MRI ends
    with caplog.at_level(logging.INFO, logger="codecprobe.artstage"):
        res = codec_pwcca("syn", _write_features(tmp_path / "f.h5", moved, rate), [vtd], n_shuffles=2)
    assert ("sub805: 10 of 12 utterances used (1 without codec features, 1 with at most one codec frame "
            "inside the MRI span)") in caplog.text
    ref = codec_pwcca("syn", _write_features(tmp_path / "g.h5", kept, rate), [_write_vtd(
        tmp_path / "ref.h5", "sub805", clips[2:])], n_shuffles=2)
    assert res.pwcca.tolist() == pytest.approx(ref.pwcca.tolist(), abs=1e-12)


def test_speaker_without_codec_features_is_counted_as_skipped(tmp_path, caplog):
    """A speaker none of whose utterances has codec features (its audio all missing) is left
    out and counted among the skipped speakers (before session 22: "1 used, 0 skipped"); with
    no speaker left, the error says why."""
    import logging

    rng = np.random.default_rng(8)
    clips = _speaker_with_refilled_ends(rng, "sub805", n_clips=12)
    other = _speaker_with_refilled_ends(rng, "sub806", n_clips=3)  # its clips' names are not in the feature file
    utts, rate = _features_for(clips, rng)
    feats = _write_features(tmp_path / "f.h5", utts, rate)
    vtds = [_write_vtd(tmp_path / "sub805.h5", "sub805", clips), _write_vtd(tmp_path / "sub806.h5", "sub806", other)]
    with caplog.at_level(logging.INFO, logger="codecprobe.artstage"):
        res = codec_pwcca("syn", feats, vtds, n_shuffles=2)
    assert set(res.speaker) == {"sub805"}
    assert "syn: 1 speaker(s) used, 1 skipped; no codec features: 1 (sub806)" in caplog.text
    with pytest.raises(CodecprobeError, match=r"1 speaker\(s\) without any utterance in the feature file: sub806"):
        codec_pwcca("syn", feats, vtds[1:], n_shuffles=2)


def test_unusable_track_file_is_left_out_and_counted(layout, tmp_path, caplog):
    """A track file that cannot be read is left out of the speaker's VTD and regions with a
    warning naming it (rtmri.bad_tracks: skip), or stops the job (error); the good tracks
    give the same VTD as without the bad file."""
    import logging

    from codecprobe.artstage import speaker_regions

    annot = layout / "annot16"
    ref = tmp_path / "ref.h5"
    speaker_vtd(str(annot), "sub901", str(ref), str(tmp_path / "ref.png"), ["vcv"], None)
    bad = annot / "sub901" / "track" / "sub901_2drt_13_picture2_track.mat"
    bad.write_bytes(b"")  # 0 bytes, as an interrupted download
    out = tmp_path / "v.h5"
    with caplog.at_level(logging.INFO, logger="codecprobe.artstage"):
        counts = speaker_vtd(str(annot), "sub901", str(out), str(tmp_path / "g.png"), ["vcv"], None)
    assert counts["tracks"] == 1 and counts["unusable track files"] == 1
    assert any(r.levelno == logging.WARNING and bad.name in r.getMessage() and "cannot read as a MATLAB file"
               in r.getMessage() for r in caplog.records)  # fmt: skip
    with h5py.File(out) as a, h5py.File(ref) as b:
        assert np.array_equal(a["vtd"][:], b["vtd"][:])
    regions = speaker_regions(str(annot), "sub901", str(out), str(tmp_path / "r.csv"), ["vcv"])
    assert len(regions) == 120
    with pytest.raises(CodecprobeError, match=f"{bad.name}.*cannot read as a MATLAB file"):
        speaker_vtd(str(annot), "sub901", str(out), str(tmp_path / "g.png"), ["vcv"], None, bad_tracks="error")
    with pytest.raises(CodecprobeError, match=f"{bad.name}.*cannot read"):
        speaker_regions(str(annot), "sub901", str(out), str(tmp_path / "r.csv"), ["vcv"], bad_tracks="error")
    (annot / "sub901" / "track" / f"{NAME}_track.mat").write_bytes(b"not a mat file")
    with pytest.raises(CodecprobeError, match="none of its track files .* is usable \\(2 left out\\)"):
        speaker_vtd(str(annot), "sub901", str(out), str(tmp_path / "g.png"), ["vcv"], None)


@pytest.mark.parametrize("option, value", [("--nan-policy", "interp"), ("--bad-frames", "drop")])
def test_cli_policy_typo_is_refused_before_any_work(layout, tmp_path, capsys, option, value):
    # the config's schema refuses these; a direct CLI call gets argparse's one line, not a
    # ValueError traceback after the tracks are read
    with pytest.raises(SystemExit) as e:
        main(["vtd", "--annot16", str(layout / "annot16"), "--speaker", "sub901", "--out", str(tmp_path / "v.h5"),
              "--figure", str(tmp_path / "g.png"), option, value])  # fmt: skip
    assert e.value.code == 2 and f"argument {option}: invalid choice: '{value}'" in capsys.readouterr().err
    assert not list(tmp_path.glob("v.h5*"))


@pytest.mark.parametrize("cmd", ["pwcca", "utterances"])
def test_cli_refuses_a_vtd_file_given_twice(tmp_path, cmd):
    # the workflow's config check refuses a repeated rt-MRI speaker; called directly, the same
    # VTD file twice would put that speaker's frames into the CCA twice
    v = str(tmp_path / "sub901.h5")
    extra = ["--codec", "c", "--features", str(tmp_path / "f.h5")] if cmd == "pwcca" else ["--root", str(tmp_path)]
    with pytest.raises(CodecprobeError, match=r"^--vtd: .*sub901\.h5 given more than once"):
        main([cmd, *extra, "--vtd", v, str(tmp_path / "sub902.h5"), v, "--out", str(tmp_path / "o.csv")])
    assert not (tmp_path / "o.csv").exists()


def test_track_no_gridline_crosses_is_left_out_and_counted(layout, tmp_path, caplog):
    """A track whose contours lie away from the speaker's grid (tracking lost, the subject
    moved) has no VTD in any frame: with rtmri.bad_tracks skip it is left out, named and
    counted, and the other tracks give the VTD they give alone; with error the job stops
    naming the file (before session 22 both stopped the job with a message naming no file)."""
    import logging

    import scipy.io

    annot = layout / "annot16"
    ref = tmp_path / "ref.h5"
    grid_file = tmp_path / "grid.npy"
    speaker_vtd(str(annot), "sub901", str(ref), str(tmp_path / "ref.png"), [], None)
    with h5py.File(ref) as h:
        np.save(grid_file, h["grid"][:])
    td = scipy.io.loadmat(FIXTURE, simplify_cells=True)["trackdata"]
    for frame in td[:5]:
        for seg in frame["contours"]["segment"]:
            seg["v"] = np.asarray(seg["v"]) + 200.0  # 200 px off an 84 px image
    moved = annot / "sub901" / "track" / "sub901_2drt_13_picture2_track.mat"
    scipy.io.savemat(moved, {"trackdata": np.array(list(td[:5]), dtype=object)})
    out = tmp_path / "v.h5"
    with caplog.at_level(logging.INFO, logger="codecprobe.artstage"):
        counts = speaker_vtd(str(annot), "sub901", str(out), str(tmp_path / "g.png"), [], str(grid_file))
    assert counts["tracks"] == 2 and counts["tracks no gridline crosses"] == 1
    assert any(r.levelno == logging.WARNING and moved.name in r.getMessage() and "no gridline crosses" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    with h5py.File(out) as a, h5py.File(ref) as b:
        assert np.array_equal(a["vtd"][:], b["vtd"][:]) and a["utterances/name"][:].tolist() == [NAME.encode()]
    with pytest.raises(CodecprobeError, match=f"{moved.name}: no gridline crosses both walls"):
        speaker_vtd(str(annot), "sub901", str(out), str(tmp_path / "g.png"), [], str(grid_file), bad_tracks="error")


def test_vtd_file_records_what_was_filled(layout, tmp_path):
    """The speaker's HDF5 holds, per utterance and gridline, the share of frames not measured
    and of those refilled across gridlines (gaps over rtmri.max_gap_frames); the fixture's
    gridline 2 is measured in few frames, far apart."""
    out = tmp_path / "v.h5"
    counts = speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    again = tmp_path / "all.h5"
    bridged = speaker_vtd(str(layout / "annot16"), "sub901", str(again), str(tmp_path / "g2.png"), [], None, max_gap=None)
    with h5py.File(out) as h, h5py.File(again) as b:
        nan_share, across = h["utterances/nan_share"][0], h["utterances/across_share"][0]
        dropped = h["utterances/dropped"][0]
        assert np.all(nan_share[dropped] == 1) and np.all(across[dropped] == 0)
        assert np.all(across <= nan_share) and across[2] > 0.5  # gridline 2: mostly refilled across
        assert b["utterances/across_share"][:].max() == 0
        v, w = h["vtd"][:], b["vtd"][:]
        same = (across == 0) & ~dropped  # dropped gridlines are refilled from their neighbours, which moved
        assert np.array_equal(v[:, same], w[:, same]) and not np.array_equal(v[:, 2], w[:, 2])
        assert h.attrs["max_gap"] == 10 and b.attrs["max_gap"] == -1
    n_across = round(float((across * 117).sum()))
    assert counts["values refilled across gridlines (gaps over max_gap frames)"] == n_across > 0
    assert bridged["values refilled across gridlines (gaps over max_gap frames)"] == 0
    # the fixture has no run of frames without any gridline measured
    assert counts["frames left out: no gridline measured for over max_gap frames"] == 0
    with h5py.File(out) as h:
        assert len(h["frame_no"]) == 117


def test_a_speaker_too_short_for_the_shuffled_baseline_is_skipped_not_fatal(monkeypatch, caplog):
    """One speaker with too few frames for the block shuffle (two unequal blocks) is skipped
    and counted; the other speakers' rows are kept (it used to stop the codec's job)."""
    import codecprobe.artstage as A
    from codecprobe.pwcca import block_shuffle

    def inputs(codec, vtd_files, utts, rate, dim, skipped, lags=None):
        yield "long", None, np.zeros((1, 3000))
        yield "short", None, np.zeros((1, 60))  # blocks of 42: 42 + 18 frames

    monkeypatch.setattr(A, "_speaker_inputs", inputs)
    rng = np.random.default_rng(0)
    rows = lambda spk, xs, codes: [{"speaker": spk, "moved": int(block_shuffle(codes.shape[1], 42, rng)[0])}]
    with caplog.at_level(logging.INFO, logger="codecprobe"):
        out = A._over_speakers("c", [], {}, 50.0, 8, rows)
    assert [r["speaker"] for r in out] == ["long"]
    assert "c short: 60 frames, too few for the shuffled baseline" in caplog.text
    assert "1 speaker(s) used, 1 skipped; too few frames: 1 (short)" in caplog.text


def test_no_codec_frame_inside_the_mri_span_is_its_own_reason(monkeypatch, tmp_path):
    """A speaker whose codec frames all lie outside its MRI span is not blamed on feature
    dimensions in the final error."""
    vtd = _write_vtd(tmp_path / "v.h5", "sub1", [("sub1_2drt_01_x", np.ones((50, 4)), np.zeros(4, bool))])
    t = np.arange(10) / 50.0 + 100.0  # long after the 50 MRI frames (0.6 s)
    feats = _write_features(tmp_path / "f.h5", {"sub1_2drt_01_x": (t, np.ones((2, 10, 3)))}, 50.0)
    with pytest.raises(CodecprobeError, match=r"1 speaker\(s\) with no codec frame inside the MRI span of any utterance: sub1"):
        codec_pwcca("c", feats, [vtd], n_shuffles=2)


def test_lag_table_counts_the_gridlines_cca_used(tmp_path):
    """A gridline constant in every frame is left out by CCA: the lag table's n_gridlines
    says so, as Fig. 3's table does (it counted the gridlines given, not those used)."""
    from codecprobe.artstage import codec_lag_pwcca

    rng = np.random.default_rng(1)
    t_mri = frame_time(np.arange(1, 501))
    px = 10 + rng.standard_normal((500, 10))
    px[:, 3] = 7.0  # constant
    vtd = _write_vtd(tmp_path / "v.h5", "sub1", [("sub1_2drt_01_x", px, np.zeros(10, bool))])
    t = (np.arange(290) + 0.5) / 50.0
    y = np.stack([np.stack([np.interp(t, t_mri, px[:, g]) for g in range(6)], 1) + rng.standard_normal((290, 6))
                  for _ in range(2)])  # fmt: skip
    feats = _write_features(tmp_path / "f.h5", {"sub1_2drt_01_x": (t, y)}, 50.0)
    fig3 = codec_pwcca("c", feats, [vtd], n_shuffles=2)
    lag = codec_lag_pwcca("c", feats, [vtd], np.array([-0.02, 0.0, 0.02]), [1, 2])
    assert set(fig3.n_gridlines) == {9} and set(lag.n_gridlines) == {9}


def test_variants_over_different_speakers_are_warned(caplog):
    from codecprobe.artstage import warn_unequal_speakers

    t = pd.DataFrame({"variant": ["accumulated"] * 3 + ["layer1_only"] * 3 + ["without_layer1"] * 2,
                      "speaker": ["a", "b", "c", "a", "b", "c", "a", "c"]})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="codecprobe"):
        assert warn_unequal_speakers(t, "mimi") == {"without_layer1": ["b"]}
    assert "mimi: variant without_layer1 lacks speaker(s) b that another variant has" in caplog.text
    assert warn_unequal_speakers(t[t.speaker != "b"], "mimi") == {}


def test_a_clip_whose_last_frames_are_bad_keeps_its_audio(layout, tmp_path):
    """The fixture with its last 30 frames (0.36 s) bad and skipped: its track ends where its
    file ends (frame 1656, 19.89 s), not at its last kept frame (19.53 s); the utterance was
    thrown away as a length mismatch against its 19.9 s of audio."""
    import scipy.io

    annot = layout / "annot16" / "sub901" / "track" / f"{NAME}_track.mat"
    td = scipy.io.loadmat(FIXTURE, simplify_cells=True)["trackdata"]
    for frame in td[-30:]:
        frame["contours"] = np.zeros((0, 0))
    scipy.io.savemat(annot, {"trackdata": np.array(list(td), dtype=object)})
    out = tmp_path / "v.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    with h5py.File(out) as h:
        assert h["frame_no"][-1] == 1626 and h["utterances/last_frame_no"][:].tolist() == [1656]
    table, counts = utterance_table(str(layout / "75-speaker"), [str(out)])
    assert table["utt_id"].tolist() == [NAME] and counts["length mismatch"] == 0


def test_a_precomputed_grid_of_another_gridline_count_is_refused(layout, tmp_path):
    """rtmri.grid with 100 lines while n_gridlines is 120 was used silently ([F, 100] VTD)."""
    ref = tmp_path / "ref.h5"
    annot = str(layout / "annot16")
    speaker_vtd(annot, "sub901", str(ref), str(tmp_path / "ref.png"), [], None, n_gridlines=100)
    grid_file = tmp_path / "grid100.npy"
    with h5py.File(ref) as h:
        np.save(grid_file, h["grid"][:])
    with pytest.raises(CodecprobeError, match=r"grid100.npy: 100 gridlines, but rtmri.n_gridlines is 120: set n_gridlines to 100"):
        speaker_vtd(annot, "sub901", str(tmp_path / "v.h5"), str(tmp_path / "g.png"), [], str(grid_file))
    speaker_vtd(annot, "sub901", str(tmp_path / "v.h5"), str(tmp_path / "g.png"), [], str(grid_file), n_gridlines=100)
    with h5py.File(tmp_path / "v.h5") as a, h5py.File(ref) as b:
        assert a["vtd"].shape[1] == 100 and np.array_equal(a["vtd"][:], b["vtd"][:])
    # a grid in other units (mm, not the contours' pixels): most gridlines meet no wall; the
    # VTD of the few left was written without a word above INFO
    with h5py.File(ref) as h:
        np.save(grid_file, h["grid"][:] * 200 / 84)
    with pytest.raises(CodecprobeError, match=r"sub901: \d+ of 100 gridlines cross the two walls in no frame of any track with "
                       r"the grid .*grid100.npy: is it in the contours' image pixels"):  # fmt: skip
        speaker_vtd(annot, "sub901", str(tmp_path / "mm.h5"), str(tmp_path / "g.png"), [], str(grid_file), n_gridlines=100)
    assert not (tmp_path / "mm.h5").exists()


def test_a_truncated_vtd_file_is_named(layout, tmp_path):
    """A VTD file cut short (a full disk before session 25's checks, a copy interrupted)
    gave h5py's raw OSError without the path."""
    from codecprobe.artstage import read_vtd

    out = tmp_path / "v.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(out.read_bytes()[:2000])
    with pytest.raises(CodecprobeError, match=f"{cut}: not a readable VTD file .*rule rtmri_vtd"):
        read_vtd(str(cut))
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h:
        h["x"] = [1]
    with pytest.raises(CodecprobeError, match=f"{other}: not a readable VTD file"):
        read_vtd(str(other))


def test_an_utterance_with_one_codec_frame_inside_the_mri_span_is_left_out(tmp_path, caplog):
    """An utterance needs at least two codec frames inside its MRI span to be pooled: one
    shifted so that only its first codec frame (0.1 ms before the last MRI frame centre)
    lies inside is left out, counted, and the frames used are those of the other two
    utterances (2 x 120)."""
    rng = np.random.default_rng(9)
    clips = _speaker_with_refilled_ends(rng, "sub807", n_clips=3)
    vtd = _write_vtd(tmp_path / "sub807.h5", "sub807", clips)
    utts, rate = _features_for(clips, rng)
    t, inc = utts[clips[1][0]]
    shifted = t[-1] - 1e-4 + (t - t[0])  # frame 0 inside the span, frame 1 one frame period after it ends
    assert ((shifted >= t[0]) & (shifted <= t[-1])).sum() == 1
    moved = {**utts, clips[1][0]: (shifted, inc)}
    with caplog.at_level(logging.INFO, logger="codecprobe.artstage"):
        res = codec_pwcca("syn", _write_features(tmp_path / "f.h5", moved, rate), [vtd], n_shuffles=2)
    used = "sub807: 2 of 3 utterances used (0 without codec features, 1 with at most one codec frame inside"
    used += " the MRI span)"
    assert used in caplog.text
    assert (res.n_frames == 2 * 120).all()


def test_bad_frames_are_skipped_and_counted_in_the_log(layout, tmp_path, caplog):
    """A frame with a NaN contour point (rtmri.bad_frames: skip) leaves the VTD, is named in
    the track's warning and counted in the speaker's counts (and its log)."""
    import scipy.io

    track = layout / "annot16" / "sub901" / "track" / f"{NAME}_track.mat"
    frames = scipy.io.loadmat(track, simplify_cells=True)["trackdata"]
    bad_no = int(frames[5]["frameNo"])
    frames[5]["contours"]["segment"][0]["v"][3, 1] = np.nan
    scipy.io.savemat(track, {"trackdata": frames})
    out = tmp_path / "v.h5"
    with caplog.at_level(logging.INFO, logger="codecprobe"):
        counts = speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    assert counts["bad frames"] == 1
    assert any(r.levelno == logging.WARNING and f"{NAME}_track.mat: 1 of 117 frames bad" in r.getMessage()
               and str(bad_no) in r.getMessage() for r in caplog.records), caplog.text  # fmt: skip
    assert "sub901: bad frames = 1" in caplog.text
    t, v = read_vtd(str(out))[1][NAME]
    assert v.shape == (116, 120) and not np.isclose(t, (bad_no - 0.5) * 0.012008, atol=1e-6).any()


def test_a_truncated_or_foreign_feature_file_is_named(layout, tmp_path):
    """The PWCCA stages read the rt-MRI feature file of the codec they are asked for: a
    truncated file or another codec's features stop with one line naming the file (a
    truncated file gave h5py's traceback; another codec's features were labelled with the
    codec asked for)."""
    out = tmp_path / "vtd" / "sub901.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "grid.png"), [], None)
    table, _ = utterance_table(str(layout / "75-speaker"), [str(out)])
    feats = tmp_path / "mel.h5"
    run(load_codec(CodecSpec("mel", "melrvq", weights="random", n_layers=3)), table, None, str(feats), EncodeConfig(slicing="feature"))
    with pytest.raises(CodecprobeError, match=rf"{feats}: features of codec 'mel', not 'other'"):
        codec_pwcca("other", str(feats), [str(out)], "accumulated", n_shuffles=2)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(feats.read_bytes()[:4000])
    with pytest.raises(CodecprobeError, match=rf"{cut}: not a readable rt-MRI feature file .*rule encode_rtmri"):
        codec_pwcca("mel", str(cut), [str(out)], "accumulated", n_shuffles=2)
    again = f"{tmp_path}/vtd/./sub901.h5"  # the same file by another path
    with pytest.raises(CodecprobeError, match=rf"{re.escape(again)}: VTD of speaker sub901 again \(first: {out}\): its frames"):
        codec_pwcca("mel", str(feats), [str(out), again], "accumulated", n_shuffles=2)
    nan_vtd = tmp_path / "nan_vtd.h5"  # a VTD file not as rtmri_vtd writes it: the error names it and the speaker
    nan_vtd.write_bytes(out.read_bytes())
    with h5py.File(nan_vtd, "r+") as h:
        h["vtd"][5, 40] = np.nan
    with pytest.raises(CodecprobeError, match=rf"{nan_vtd} \(speaker sub901\): VTD holds 1 non-finite values"):
        codec_pwcca("mel", str(feats), [str(nan_vtd)], "accumulated", n_shuffles=2)
    from codecprobe.artstage import speaker_regions

    bad_vtd = tmp_path / "bad_vtd.h5"
    bad_vtd.write_bytes(out.read_bytes()[:2000])
    with pytest.raises(CodecprobeError, match=rf"{bad_vtd}: not a readable VTD file"):
        speaker_regions(str(layout / "annot16"), "sub901", str(bad_vtd), str(tmp_path / "r.csv"), [])
