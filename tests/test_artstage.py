"""The articulatory stage end to end on the real contour fixture, laid out like the corpus."""

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
from conftest import SHARED

FIXTURE = SHARED / "fixtures" / "rtmri" / "cs_aba_track.mat"
pytestmark = pytest.mark.skipif(not FIXTURE.is_file(), reason="shared rt-MRI fixture not present")
NAME = "sub901_2drt_12_picture1"


@pytest.fixture
def layout(tmp_path):
    annot = tmp_path / "annot16" / "sub901" / "track"
    annot.mkdir(parents=True)
    shutil.copy(FIXTURE, annot / f"{NAME}_track.mat")
    audio = tmp_path / "75-speaker" / "sub901" / "2drt" / "audio"
    audio.mkdir(parents=True)
    # frames 1540..1656 end at 1655 / 83.2778 = 19.87 s
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
    assert t[0] == pytest.approx(1539 / 83.2778, abs=1e-3)
    assert (tmp_path / "grid.png").stat().st_size > 1000
    table, c = utterance_table(str(layout / "75-speaker"), [str(out)])
    assert len(table) == 1 and c == {"missing audio": 0, "length mismatch": 0}
    codec = load_codec(CodecSpec("mel", "melrvq", weights="random", n_layers=3))
    feats = tmp_path / "mel.h5"
    run(codec, table, None, str(feats), EncodeConfig(slicing="feature"))
    with h5py.File(feats) as h:
        ft = h["utterances/frame_times"][:]
        assert len(ft) == h["utterances/n_frames"][0] and ft[1] - ft[0] == pytest.approx(0.01)
    res = codec_pwcca("mel", str(feats), [str(out)], "without_first", n_shuffles=3)
    assert set(res.variant) == {"layer1_only", "without_layer1"}
    acc = codec_pwcca("mel", str(feats), [str(out)], n_shuffles=3)
    assert list(acc.layer) == [1, 2, 3] and acc.pwcca.between(0, 1).all() and acc.random_weights.all()
    # the track covers 18.49-19.87 s of the 19.9 s audio: only the codec frames (100 Hz,
    # centres at 0.005 + i / 100) inside that span are used
    t0, t1 = 1539 / 83.2778, 1655 / 83.2778
    centres = 0.005 + np.arange(1990) / 100
    assert (acc.n_frames == ((centres >= t0) & (centres <= t1)).sum()).all()


def test_length_mismatch_and_missing_audio_are_counted(layout, tmp_path):
    out = tmp_path / "v.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    wav = layout / "75-speaker/sub901/2drt/audio" / f"{NAME}_audio.wav"
    sf.write(wav, np.zeros(20000 * 5, np.float32), 20000)  # 5 s of audio, track ends at 19.9 s
    with pytest.raises(CodecprobeError, match="no rt-MRI utterance"):
        utterance_table(str(layout / "75-speaker"), [str(out)])
    wav.unlink()
    with pytest.raises(CodecprobeError, match="no rt-MRI utterance"):
        utterance_table(str(layout / "75-speaker"), [str(out)])


def test_cli_figures(layout, tmp_path):
    out = tmp_path / "v.h5"
    main(["vtd", "--annot16", str(layout / "annot16"), "--speaker", "sub901", "--out", str(out), "--figure", str(tmp_path / "g.png")])
    tab = pd.DataFrame({"codec": "c", "speaker": ["a", "b"] * 2, "variant": "accumulated", "layer": [1, 1, 2, 2],
                        "n_frames": 100, "pwcca": [0.5, 0.6, 0.55, 0.65], "shuffled_mean": 0.3, "shuffled_sd": 0.01,
                        "random_weights": False})  # fmt: skip
    tab.to_csv(tmp_path / "p.csv", index=False)
    main(["figures", "--tables", str(tmp_path / "p.csv"), "--combined", str(tmp_path / "all.csv"), "--summary",
          str(tmp_path / "s.csv"), "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")])  # fmt: skip
    s = read_table(tmp_path / "s.csv")
    assert list(s.pwcca.round(3)) == [0.55, 0.6]
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_too_few_frames_for_the_dimension(layout, tmp_path):
    """A speaker with fewer codec frames than feature dims is skipped; none left -> clear error."""
    out = tmp_path / "v.h5"
    speaker_vtd(str(layout / "annot16"), "sub901", str(out), str(tmp_path / "g.png"), [], None)
    table, _ = utterance_table(str(layout / "75-speaker"), [str(out)])
    codec = load_codec(CodecSpec("mel", "melrvq", weights="random", n_layers=2))
    feats = tmp_path / "mel.h5"
    run(codec, table, None, str(feats), EncodeConfig(slicing="feature"))
    with h5py.File(feats, "a") as h:  # pretend the codec has 100 Hz frames of 4096 dims
        for k in ("layer_01", "layer_02"):
            tab = h[f"codebooks/{k}"][:]
            del h[f"codebooks/{k}"]
            h[f"codebooks/{k}"] = np.tile(tab, (1, 52))[:, :4096]
    with pytest.raises(CodecprobeError, match="1 speaker\\(s\\) with fewer frames than feature dimensions"):
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
    assert img.shape[1] > 1.8 * img.shape[0]  # two panels side by side (Fig. 3 and Fig. 4)
