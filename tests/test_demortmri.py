"""The synthetic rt-MRI demo set (codecprobe.demortmri, resources/demo_rtmri)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecprobe import demortmri as D
from codecprobe import pwcca as P
from codecprobe import rtmri as R
from codecprobe import vtd as V

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "resources" / "demo_rtmri"
DEMO = REPO / "resources" / "demo"
SPEAKERS = sorted(D.SPEAKERS.values())
N_UTTS = 3

pytestmark = pytest.mark.skipif(not (ROOT / "annot16").is_dir(), reason="resources/demo_rtmri not generated")


@pytest.fixture(scope="module")
def speaker_vtd():
    """speaker -> list of (TrackFile, Track, VTDResult) on a grid built from that speaker's tracks."""
    out = {}
    for spk in SPEAKERS:
        tfs = R.list_tracks(ROOT / "annot16", spk)
        tracks = [R.load_track(t.track) for t in tfs]
        grid, _ = V.grid_from_tracks(tracks)
        out[spk] = [(tf, tr, V.vtd_track(tr, grid)) for tf, tr in zip(tfs, tracks)]
    return out


def _phone(label: str) -> str:
    return "".join(c for c in label if not c.isdigit())


def test_layout_and_frame_counts():
    assert (ROOT / "README.md").is_file()
    for spk in SPEAKERS:
        utts = R.list_utterances(ROOT / "75-speaker", spk)
        assert len(utts) == N_UTTS
        assert all(u.repetition is None and u.task.startswith("picture") and u.audio is not None for u in utts)
        tfs = R.list_tracks(ROOT / "annot16", spk)
        assert [t.name for t in tfs] == [u.name for u in utts]
        for tf, u in zip(tfs, utts):
            assert tf.alignment is not None and tf.alignment.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16
            tg = R.read_alignment(tf.alignment)
            assert tg.tiers[0].name == "words" and any(iv.text for iv in tg.tiers[0].intervals)
            info = sf.info(str(u.audio))
            assert info.samplerate == D.WAV_RATE and info.channels == 1
            tr = R.load_track(tf.track)
            assert tr.n_bad == 0 and tr.frame_no[0] == 1 and np.all(np.diff(tr.frame_no) == 1)
            assert abs(tr.n_frames - info.duration * R.FRAME_RATE) <= 1
            assert abs(tg.xmax - info.duration) < 1e-3


def test_vtd_is_sensible(speaker_vtd):
    for spk, items in speaker_vtd.items():
        for _, _, r in items:
            assert r.px.shape[1] == V.N_GRIDLINES
            assert np.all(np.isfinite(r.px)) and np.all(r.px >= 0)
            finite = np.isfinite(r.raw_px).mean(axis=0)
            assert np.mean(finite > 0.9) >= 0.85, f"{r.name}: {np.mean(finite > 0.9):.2f} of gridlines mostly finite"
            assert 1.0 < np.median(r.px) < 15.0


def test_lip_closure_for_bilabials(speaker_vtd):
    closed, open_ = [], []
    for items in speaker_vtd.values():
        for tf, _, r in items:
            # the lips end of the grid: the first 15 gridlines, those measured in most frames
            lips = np.nonzero(np.isfinite(r.raw_px[:, :15]).mean(axis=0) > 0.5)[0]
            assert len(lips) >= 8
            for iv in R.read_alignment(tf.alignment).tier("phones").intervals:
                p = _phone(iv.text)
                f = int(np.argmin(np.abs(r.times - (iv.xmin + iv.xmax) / 2)))
                lip = float(r.px[f, lips].min())
                if p in D.BILABIALS:
                    closed.append(lip)
                elif p in D.OPEN_VOWELS:
                    open_.append(lip)
    assert len(closed) >= 8 and len(open_) >= 20
    assert max(closed) < 0.5, closed
    assert min(open_) > 2.0, open_


def test_vtd_carries_signal_for_melrvq(speaker_vtd, tmp_path):
    """The key check: PWCCA(VTD, melrvq last-layer features) far above a block-shuffled baseline."""
    from codecprobe.audio import load_audio
    from codecprobe.codecs.base import CodecSpec, load_codec
    from codecprobe.codecs.melrvq import SAMPLE_RATE, fit
    from codecprobe.features import accumulated_features

    wavs = [str(R.audio_path(ROOT / "75-speaker", tf.name)) for items in speaker_vtd.values() for tf, _, _ in items]
    model = tmp_path / "melrvq.npz"
    fit(wavs, model, n_layers=4, codebook_size=32, seed=0)  # fit() resamples the 20 kHz WAVs to 16 kHz
    codec = load_codec(CodecSpec("mel", "melrvq", weights=str(model)))
    xs, ys = [], []
    for items in speaker_vtd.values():
        for tf, _, r in items:
            wav = load_audio(R.audio_path(ROOT / "75-speaker", tf.name), SAMPLE_RATE)
            feats = accumulated_features(codec.layer_vectors(codec.encode(wav[None]))[0])[-1]  # [F, 80], layer K
            t = codec.frame_times(len(feats))
            xs.append(np.column_stack([np.interp(t, r.times, r.px[:, g]) for g in range(r.px.shape[1])]))
            ys.append(feats)
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape[0] > 3000 and x.shape[1] == V.N_GRIDLINES
    observed = P.pwcca(x, y).pwcca
    base = P.pwcca_shuffled(x, y, np.random.default_rng(0), n=8, block_len=20)
    print(f"PWCCA(VTD, melrvq layer 4) = {observed:.4f}; shuffled {base.mean:.4f} +- {base.sd:.4f} (n=8, block 20)")
    assert observed > base.mean + 5 * base.sd
    assert observed > base.mean + 0.1  # and a large absolute margin, not only many sds


def test_regeneration_is_deterministic(tmp_path):
    sub, task, flac, tg = D.demo_sources(DEMO, 1)[0]
    if not flac.is_file():
        pytest.skip("demo speech corpus not present")
    D.generate_one(sub, task, flac, tg, tmp_path)
    D.generate_one(sub, task, flac, tg, tmp_path / "again")
    name = D.utterance_name(sub, task)
    rel = Path("annot16") / sub / "track" / f"{name}_track.mat"
    a, b, c = (R.load_track(p / rel) for p in (tmp_path, tmp_path / "again", ROOT))
    for other in (b, c):  # a second run, and the bundled file
        assert np.array_equal(a.frame_no, other.frame_no)
        assert np.array_equal(a.inner, other.inner, equal_nan=True)
        assert np.array_equal(a.outer, other.outer, equal_nan=True)
    # byte for byte (savemat wrote the time of writing into the header: 9 bytes differed)
    data = (tmp_path / rel).read_bytes()
    assert data == (tmp_path / "again" / rel).read_bytes() == (ROOT / rel).read_bytes()
    assert data[:116] == D.MAT_HEADER.ljust(116) and data[124:128] == b"\x00\x01IM"  # version 0x0100, little-endian
    # the audio is the source utterance at the corpus's 20 kHz, to 16-bit precision
    from codecprobe.audio import load_audio

    wav_rel = Path("75-speaker") / sub / "2drt" / "audio" / f"{name}_audio.wav"
    written, rate = sf.read(str(tmp_path / wav_rel), dtype="float32")
    source = load_audio(flac, D.WAV_RATE)
    assert rate == D.WAV_RATE and written.shape == source.shape and np.abs(source).max() > 0.1
    np.testing.assert_allclose(written, source, rtol=0, atol=1 / 32768 + 1e-6)


def test_targets_cover_arpabet():
    arpabet = (
        "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
    ).split()
    assert all(p in D.TARGETS for p in arpabet)
    assert D.phone_key("AA1") == "AA" and D.phone_key("") == "" and D.phone_key("spn") == ""
    tract = D.make_tract()
    d = D.cross_distance(tract, np.stack([D.target_vector(p) for p in ("P", "AA", "K", "T", "")]))
    assert d[0, 0] < 0 < d[1, 0]  # lips closed for P, open for AA
    assert d[2].min() < 0 and d[3].min() < 0 and d[4].min() > 0  # velar / alveolar closures, none at rest


def test_an_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    # regenerating the bundled set writes over it: a write that fails half-way must leave
    # neither a partial file at the final path nor its temporary file
    import scipy.io

    def half_then_fail(name, *args, **kwargs):
        Path(name).write_bytes(b"MATLAB 5.0 MAT-file, half written")
        raise OSError("disk full")

    monkeypatch.setattr(scipy.io, "savemat", half_then_fail)
    path = tmp_path / "annot16" / "sub901" / "track" / "x_track.mat"
    frame_no, _, frames = D.synth_frames([(0.0, 0.5, "AA1")], 0.5, "sub901", "x")
    with pytest.raises(OSError, match="disk full"):
        D.write_track(path, frame_no, frames)
    assert list(path.parent.iterdir()) == []
