import json
import logging
import re

import h5py
import numpy as np
import pandas as pd
import pytest
from codecprobe.codecs import CodecSpec, load_codec
from codecprobe.codecs.melrvq import HOP, fit, log_mel, mel_filterbank
from codecprobe.encode import (
    EncodeConfig,
    encode_batch,
    encode_clips,
    make_batches,
    pooled_features,
    run,
)
from codecprobe.features import accumulated_features, pool
from codecprobe.io import CodecprobeError
from codecprobe.manifest import build_manifest
from codecprobe.words import WordFilter, build_word_table, index_textgrids


@pytest.fixture
def words(corpus):
    m, _ = build_manifest(corpus[0], ["dev-clean"])
    return build_word_table(m, index_textgrids(corpus[1]), WordFilter())[0]


@pytest.fixture
def melrvq(corpus, tmp_path):
    m, _ = build_manifest(corpus[0], ["dev-clean"])
    out = tmp_path / "melrvq.npz"
    fit(list(m["path"]), out, n_layers=4, codebook_size=16, seed=0)
    return load_codec(CodecSpec("mel", "melrvq", weights=str(out)))


def test_melrvq_weights_under_home(melrvq, tmp_path, monkeypatch):
    """``~`` in a melrvq model path is the home folder, as the start-up check reads it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    again = load_codec(CodecSpec("mel", "melrvq", weights="~/melrvq.npz"))
    assert np.array_equal(again.codebooks, melrvq.codebooks)


def test_attr_value_keeps_strings_plain():
    """A str subclass (torch.__version__ is one) is stored as a plain string, not as JSON text."""
    from codecprobe.encode import attr_value

    class Version(str):
        pass

    assert attr_value(Version("2.13.0+cpu")) == "2.13.0+cpu" and type(attr_value(Version("x"))) is str
    assert attr_value({"torch": Version("2.13.0")}) == '{"torch": "2.13.0"}'
    assert attr_value(3) == 3 and attr_value(True) is True


def test_random_melrvq_records_its_seed():
    meta = load_codec(CodecSpec("m", "melrvq", weights="random", seed=7)).metadata()
    assert meta["random_weights"] and meta["random_seed"] == 7


def test_make_batches():
    lengths = np.array([5, 3, 5, 9, 3, 5])
    # pad-invariant: sorted 3,3,5,5,5,9; budget 16 samples: [3,3,5]: 3*5=15 ok, +5 -> 20 > 16
    b = make_batches(lengths, True, 16, 10)
    assert [x.tolist() for x in b] == [[1, 4, 0], [2, 5], [3]]
    # not pad-invariant: identical lengths only
    b = make_batches(lengths, False, 100, 10)
    assert [sorted(lengths[x].tolist()) for x in b] == [[3, 3], [5, 5, 5], [9]]
    b = make_batches(lengths, False, 100, 2)
    assert [len(x) for x in b] == [2, 2, 1, 1]


def test_melrvq_front_end_independent():
    # one frame of a 1 kHz sine: energy must peak in the mel band containing 1 kHz
    sr = 16000
    t = np.arange(400) / sr
    lm = log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert lm.shape == (3, 80)  # ceil(400 / 160)
    fb = mel_filterbank()
    freqs = np.linspace(0, sr / 2, 201)
    assert fb[lm[0].argmax(), np.argmin(np.abs(freqs - 1000))] > 0.5
    assert (fb.max(axis=1) > 0.2).all() and fb.max() <= 1.0  # no empty band (80 bands over 201 bins)
    assert fb.shape == (80, 201)


def _htk_filterbank_reference(sr: int = 16000, n_fft: int = 400, n_mels: int = 80) -> np.ndarray:
    """Triangular HTK-mel filters written out band by band and bin by bin."""
    top = 2595.0 * np.log10(1.0 + (sr / 2) / 700.0)
    edges = [700.0 * (10.0 ** (top * i / (n_mels + 1) / 2595.0) - 1.0) for i in range(n_mels + 2)]
    fb = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for b in range(n_fft // 2 + 1):
            f = b * sr / n_fft
            if lo < f <= mid:
                fb[m, b] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                fb[m, b] = (hi - f) / (hi - mid)
    return fb


def test_melrvq_log_mel_against_a_frame_by_frame_reference():
    """HTK mel scale (1000 Hz is 1000 mel), then log-mel = log(power spectrum of each
    periodic-Hann-windowed 400-sample frame, hop 160, zero-padded at the end, through the
    triangular filters + 1e-6), with the DFT written out as a matrix product."""
    from codecprobe.codecs.melrvq import hz_to_mel, mel_to_hz

    assert float(hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.02)
    assert float(mel_to_hz(hz_to_mel(3210.0))) == pytest.approx(3210.0, rel=1e-12)
    fb = _htk_filterbank_reference()
    np.testing.assert_allclose(mel_filterbank(), fb, atol=1e-6)

    rng = np.random.default_rng(11)
    wav = (0.3 * rng.standard_normal(1000)).astype(np.float64)  # 7 frames, the last ones zero-padded
    n = np.arange(400)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / 400)
    dft = np.exp(-2j * np.pi * np.outer(np.arange(201), n) / 400)
    want = []
    for i in range(int(np.ceil(len(wav) / 160))):
        frame = np.zeros(400)
        chunk = wav[i * 160 : i * 160 + 400]
        frame[: len(chunk)] = chunk
        power = np.abs(dft @ (frame * window)) ** 2
        want.append(np.log(fb @ power + 1e-6))
    got = log_mel(wav.astype(np.float32))
    assert got.shape == (7, 80)
    np.testing.assert_allclose(got, np.array(want), atol=2e-3)


def test_melrvq_identities_and_pad_invariance(melrvq):
    rng = np.random.default_rng(1)
    wav = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    codes = melrvq.encode(wav[None])
    assert codes.shape == (1, 4, 100)
    acc = accumulated_features(melrvq.layer_vectors(codes)[0])
    np.testing.assert_allclose(acc[-1], melrvq.quantized(codes)[0], rtol=1e-6)
    np.testing.assert_array_equal(acc[0], melrvq.codebook_vectors(0)[codes[0, 0]])
    assert len(np.unique(codes[0, 0])) > 3
    # quantization error shrinks layer by layer
    lat = melrvq.latent(wav)
    err = [np.linalg.norm(lat - acc[k]) for k in range(4)]
    assert all(a > b for a, b in zip(err, err[1:]))
    # right-padding never changes a clip's own codes
    a, b = encode_batch(melrvq, [wav[:7001], wav])
    np.testing.assert_array_equal(a, melrvq.encode(wav[None, :7001])[0])
    assert a.shape[1] == int(np.ceil(7001 / HOP))


def test_melrvq_log_mel_frames_do_not_depend_on_padding():
    """A clip's log-mel frames are the same bits alone and padded with zeros, as it is in a
    batch: the float32 mel projection moved with the product's frame count (up to 1e-6)."""
    rng = np.random.default_rng(0)
    for n in range(3000, 60000, 977):
        wav = (0.1 * rng.standard_normal(n)).astype(np.float32)
        alone = log_mel(wav)
        padded = log_mel(np.concatenate([wav, np.zeros(16000, np.float32)]))[: len(alone)]
        assert np.array_equal(alone, padded), n


def test_melrvq_assign_finds_the_nearest_centroid_at_near_ties():
    """Rows placed between their two nearest centroids, 5e-6 nearer one (in squared distance,
    against about 200 for each): ``assign`` picks it, as an exact float64 reference does
    (float32 arithmetic picked the other one for a good share of such rows)."""
    from codecprobe.codecs.melrvq import assign

    rng = np.random.default_rng(4)
    c = rng.standard_normal((256, 80)).astype(np.float32)
    x0 = rng.standard_normal((400, 80))

    def ref(x: np.ndarray) -> np.ndarray:  # exact enough: float64 differences, no cancellation
        return ((x[:, None, :] - c.astype(np.float64)[None]) ** 2).sum(-1)

    order = np.argsort(ref(x0), axis=1)
    i, j = order[:, 0], order[:, 1]
    diff = c[i].astype(np.float64) - c[j]
    u = diff / np.linalg.norm(diff, axis=1, keepdims=True)
    t = 2.5e-6 / np.linalg.norm(diff, axis=1)  # |x - c_j|^2 - |x - c_i|^2 = 2 t |c_i - c_j| = 5e-6
    mid = (c[i].astype(np.float64) + c[j]) / 2
    x = (x0 - (((x0 - mid) * u).sum(1) - t)[:, None] * u).astype(np.float32)
    d = ref(x.astype(np.float64))
    keep = np.sort(d, axis=1)[:, 1] - np.sort(d, axis=1)[:, 0] < 1e-4  # still a near tie after float32 rounding
    assert keep.sum() > 300
    np.testing.assert_array_equal(assign(x[keep], c), d[keep].argmin(1))
    for rows in (slice(0, 1), slice(0, 7), slice(0, None)):  # and the same nearest in any batch
        np.testing.assert_array_equal(assign(x[keep][rows], c), d[keep][rows].argmin(1))


def test_melrvq_fit_and_codes_do_not_depend_on_blas_threads(tmp_path):
    """Log-mel frames, a residual k-means fit and the codes it gives are the same bits with
    one and with two OpenBLAS threads (they differed: the float32 mel projection)."""
    import hashlib
    import os
    import subprocess
    import sys

    from conftest import REPO

    script = (
        "import sys, hashlib, numpy as np\n"
        f"sys.path.insert(0, {str(REPO / 'workflow')!r})\n"
        "from codecprobe.codecs.melrvq import log_mel, fit_rvq, assign\n"
        "rng = np.random.default_rng(8)\n"
        "t = np.arange(60000) / 16000\n"
        "wavs = [(0.2 * np.sin(2 * np.pi * f * t[:n]) + 0.05 * rng.standard_normal(n)).astype(np.float32)\n"
        "        for f, n in zip((180, 440, 1250, 3100), (52333, 47111, 59999, 41001))]\n"
        "x = np.concatenate([log_mel(w) for w in wavs])\n"
        "x = (x - x.mean(0)) / (x.std(0) + 1e-5)\n"
        "books = fit_rvq(x, 2, 32, 0)\n"
        "codes = assign(x, books[0])\n"
        "print(hashlib.sha256(x.tobytes() + books.tobytes() + codes.tobytes()).hexdigest())\n"
    )
    digests = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
        assert r.returncode == 0, r.stderr[-2000:]
        digests.append(r.stdout.strip())
    assert len(digests[0]) == len(hashlib.sha256().hexdigest()) and digests[0] == digests[1]


def test_pooled_features_match_naive(melrvq):
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 16, size=(4, 7))
    naive = accumulated_features(melrvq.layer_vectors(codes[None])[0])
    got = pooled_features(melrvq, codes, None, ("mean", "center", "centroid"))
    for m in ("mean", "center", "centroid"):
        np.testing.assert_allclose(got[m], pool(naive, m), rtol=1e-5, atol=1e-6)
    frames = np.array([2, 3, 4])
    got = pooled_features(melrvq, codes, frames, ("mean",))
    np.testing.assert_allclose(got["mean"], naive[:, 2:5].mean(1), rtol=1e-5, atol=1e-6)


def test_batched_codes_equal_alone(melrvq, words):
    from codecprobe.audio import cut, load_audio

    clips = [cut(load_audio(r.path, 16000), 16000, r.start, r.end) for r in words.itertuples()]
    batched = encode_clips(melrvq, clips, EncodeConfig(batch_seconds=100))
    for c, b in zip(clips, batched):
        np.testing.assert_array_equal(b, melrvq.encode(c[None])[0])


def test_run_audio_slicing_hdf5(melrvq, words, tmp_path):
    pairs = pd.DataFrame({"token_a": [0, 2], "token_b": [3, 4]})
    out = tmp_path / "f" / "mel.h5"
    run(melrvq, words, pairs, str(out), EncodeConfig(pooling=("mean", "centroid")))
    with h5py.File(out) as h:
        assert h.attrs["family"] == "melrvq" and h.attrs["slicing"] == "audio"
        assert h.attrs["weights_sha256"] != "random" and not h.attrs["random_weights"]
        assert json.loads(h.attrs["pooling"]) == ["mean", "centroid"]
        versions = json.loads(h.attrs["versions"])  # the packages that made it, as installed
        from importlib import metadata

        assert {p: versions.get(p) for p in ("numpy", "soxr", "h5py")} == {p: metadata.version(p) for p in ("numpy", "soxr", "h5py")}
        assert versions["codecprobe"].startswith("0.1.0")
        assert h["tokens/token_id"][:].tolist() == [0, 2, 3, 4]
        codes, off, n = h["codes"][:], h["tokens/frame_offset"][:], h["tokens/n_frames"][:]
        tables = [h[f"codebooks/layer_{k:02d}"][:] for k in range(1, 5)]
        pooled = h["pooled/mean"][:]
        # rebuild the pooled mean feature of token 3 (row 2) from codes + codebooks
        c = codes[:, off[2] : off[2] + n[2]]
        lv = np.stack([tables[k][c[k]] for k in range(4)])
        np.testing.assert_allclose(pooled[2], accumulated_features(lv).mean(1), rtol=1e-5, atol=1e-6)
        dur = words.set_index("token_id").loc[3, "duration"]
        assert n[2] == int(np.ceil(round(dur * 16000) / HOP))
        assert pooled.shape == (4, 4, 80) and h["pooled/centroid"].shape == (4, 4, 80)
    assert not list(out.parent.glob(".*"))


def test_run_feature_slicing_and_short_words(melrvq, words, tmp_path):
    w = words.copy()
    # shorter than one 10 ms frame, between the window centres 0.2025 and 0.2125 s
    w.loc[0, "start"], w.loc[0, "end"] = 0.2035, 0.2075
    out = tmp_path / "feat.h5"
    run(melrvq, w, None, str(out), EncodeConfig(slicing="feature"))
    with h5py.File(out) as h:
        assert json.loads(h.attrs["counts"])["words shorter than one frame (nearest frame used)"] == 1
        assert h["tokens/nearest_frame"][:].tolist()[0] is True
        assert h["tokens/n_frames"][0] == 1
        assert len(h["utterances/utt_id"]) == 4
        assert h["tokens/utt_frame_start"][0] == 19  # the nearest centre, 0.2025 s
        # token 1 ('the', 0.50-0.60 s) has frames with window centres 0.5025 .. 0.5925 -> 10
        # frames from index 49 (centres at 0.0125 + i / 100)
        assert h["tokens/utt_frame_start"][1] == 49 and h["tokens/n_frames"][1] == 10


@pytest.mark.parametrize("slicing", ["audio", "feature"])
def test_words_outside_ascii_are_written_and_read_back(melrvq, words, tmp_path, slicing):
    """A word such as ``café`` (another corpus, another aligner) is stored as UTF-8 in
    /tokens/word; numpy's ASCII-only astype("S") made the encode job fail after encoding.
    The speech-text stage reads it back as written."""
    from codecprobe.speechtext import token_codes

    w = words.copy()
    w["utt_id"] = w["utt_id"].astype(str)
    w.loc[0, "word"] = "café"
    w.loc[w["utt_id"] == w.loc[1, "utt_id"], "utt_id"] = w.loc[1, "utt_id"] + "é"
    out = tmp_path / "f.h5"
    run(melrvq, w, None, str(out), EncodeConfig(slicing=slicing))
    with h5py.File(out) as h:
        assert h["tokens/word"][0] == "café".encode()
    tokens, _, _ = token_codes(str(out))
    assert tokens["word"].tolist() == w["word"].astype(str).tolist()
    assert tokens["utt_id"].tolist() == w["utt_id"].astype(str).tolist()


def test_feature_slicing_counts_words_after_the_last_frame_apart_from_short_ones(words, tmp_path):
    """A word may end up to 0.05 s after the audio: one lying after the last frame centre
    takes the nearest frame, but was counted "shorter than one frame" though 40 ms long."""
    codec = load_codec(CodecSpec("mel", "melrvq", weights="random", n_layers=3))
    w = words.copy()
    # the 1.4 s audio's 140 frames: window centres 0.0125 + i / 100, the last at 1.4025 s
    w.loc[0, "start"], w.loc[0, "end"] = 1.41, 1.45  # after it, 4 frames long
    w.loc[1, "start"], w.loc[1, "end"] = 0.2035, 0.2075  # 4 ms between two centres
    out = tmp_path / "feat.h5"
    run(codec, w, None, str(out), EncodeConfig(slicing="feature"))
    with h5py.File(out) as h:
        counts = json.loads(h.attrs["counts"])
        assert counts["words shorter than one frame (nearest frame used)"] == 1
        assert counts["words beyond the first or last frame centre (nearest frame used)"] == 1
        # both take the nearest frame, flagged as before
        assert h["tokens/nearest_frame"][:].tolist()[:3] == [True, True, False]
        assert h["tokens/utt_frame_start"][:2].tolist() == [139, 19] and h["tokens/n_frames"][:2].tolist() == [1, 1]


def test_random_weights_marked(words, tmp_path):
    codec = load_codec(CodecSpec("mel", "melrvq", weights="random", n_layers=3))
    out = tmp_path / "r.h5"
    run(codec, words, None, str(out), EncodeConfig())
    with h5py.File(out) as h:
        assert h.attrs["random_weights"] and h.attrs["weights_sha256"] == "random"
        assert "RANDOM WEIGHTS" in h.attrs["note"]


def test_errors(words, tmp_path):
    with pytest.raises(CodecprobeError, match="unknown family 'wav2vec'"):
        load_codec(CodecSpec("x", "wav2vec"))
    with pytest.raises(CodecprobeError, match="melrvq model /no/model.npz does not exist"):
        load_codec(CodecSpec("x", "melrvq", weights="/no/model.npz"))
    with pytest.raises(CodecprobeError, match=rf"melrvq model {tmp_path} is a folder, not a model file"):
        load_codec(CodecSpec("x", "melrvq", weights=str(tmp_path)))
    from codecprobe.config import check_codecs

    with pytest.raises(CodecprobeError, match=rf"config: codecs\[x\].weights: {tmp_path} is a folder; melrvq takes 'fit'"):
        check_codecs({"codecs": [{"name": "x", "family": "melrvq", "weights": str(tmp_path)}]}, tmp_path)
    with pytest.raises(CodecprobeError, match="n_layers=9 asked, but the melrvq model has only 8 quantizer layers"):
        load_codec(CodecSpec("x", "melrvq", weights="random", n_layers=None)).__class__(CodecSpec("x", "melrvq", weights=str(_model(tmp_path)), n_layers=9))
    # 0 was read as "every layer", -1 stopped with numpy's "negative dimensions are not allowed"
    for weights in ("random", str(_model(tmp_path))):
        for n in (0, -1):
            with pytest.raises(CodecprobeError, match=f"codec 'x': n_layers must be at least 1, got {n}"):
                load_codec(CodecSpec("x", "melrvq", weights=weights, n_layers=n))
    assert load_codec(CodecSpec("x", "melrvq", weights=str(_model(tmp_path)), n_layers=3)).n_layers == 3
    codec = load_codec(CodecSpec("x", "melrvq"))
    with pytest.raises(CodecprobeError, match="unknown pooling"):
        run(codec, words, None, str(tmp_path / "o.h5"), EncodeConfig(pooling=("max",)))
    with pytest.raises(CodecprobeError, match="absent from the word table"):
        run(codec, words, pd.DataFrame({"token_a": [0], "token_b": [999]}), str(tmp_path / "o.h5"), EncodeConfig())


def test_backend_errors():
    with pytest.raises(CodecprobeError, match="family 'mimi' has no backend 'package' \\(known: transformers\\)"):
        load_codec(CodecSpec("x", "mimi", options={"backend": "package"}))
    with pytest.raises(CodecprobeError, match="family 'encodec' has no backend 'onnx' \\(known: transformers, package\\)"):
        load_codec(CodecSpec("x", "encodec", options={"backend": "onnx"}))


def test_package_backend_without_its_package_names_the_env():
    """In the main env the original packages are absent (their torchaudio needs another torch)."""
    import importlib.util

    for family, module, env in [("encodec", "encodec", "codec-encodec.yaml"), ("dac", "dac", "codec-dac.yaml")]:
        if importlib.util.find_spec(module) is not None:
            continue  # the package env: tests/test_codecs_package.py covers it
        pytest.importorskip("torch")
        with pytest.raises(CodecprobeError, match=f"backend 'package' needs the .* package \\(conda env envs/{env}"):
            load_codec(CodecSpec("x", family, options={"backend": "package"}))


def _model(tmp_path):
    p = tmp_path / "m.npz"
    np.savez(p, codebooks=np.zeros((8, 4, 80), np.float32), mean=np.zeros(80), std=np.ones(80))
    return p


def test_pooled_features_torch_codec_match_naive():
    """The on-device path (torch tables) gives the same pooled features as the naive one."""
    torch = pytest.importorskip("torch")
    codec = load_codec(CodecSpec("enc", "encodec", weights="random", n_layers=4))
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 1024, size=(4, 9))
    naive = accumulated_features(codec.layer_vectors(torch.as_tensor(codes)[None])[0].numpy())
    got = pooled_features(codec, codes, None, ("mean", "center", "centroid"))
    for m in ("mean", "center", "centroid"):
        np.testing.assert_allclose(got[m], pool(naive, m), rtol=1e-5, atol=1e-5)


def test_run_with_a_neural_codec_records_its_metadata(words, tmp_path):
    """A torch codec end to end: nested metadata (dicts, versions) is stored as JSON."""
    pytest.importorskip("torch")
    codec = load_codec(CodecSpec("enc", "encodec", weights="random", n_layers=2))
    out = tmp_path / "enc.h5"
    run(codec, words.iloc[:3], None, str(out), EncodeConfig())
    with h5py.File(out) as h:
        assert h.attrs["family"] == "encodec" and h.attrs["random_weights"]
        assert "residual_rms" in json.loads(h.attrs["codebook_fill"])
        assert h["pooled/mean"].shape == (3, 2, 128)


def test_parallel_audio_reading_keeps_order(corpus, melrvq, words, tmp_path):
    from codecprobe.audio import load_audio
    from codecprobe.encode import load_many

    paths = sorted(str(p) for p in corpus[0].rglob("*.flac")) * 3
    got = list(load_many(paths, 24000, workers=2))
    assert len(got) == len(paths)
    for p, x in zip(paths, got):
        np.testing.assert_array_equal(x, load_audio(p, 24000))
    # the stage gives identical files with 1 or 2 reader threads
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    run(melrvq, words, None, str(a), EncodeConfig())
    run(melrvq, words, None, str(b), EncodeConfig(io_workers=2))
    with h5py.File(a) as ha, h5py.File(b) as hb:
        np.testing.assert_array_equal(ha["codes"][:], hb["codes"][:])
        np.testing.assert_array_equal(ha["pooled/mean"][:], hb["pooled/mean"][:])


@pytest.mark.parametrize("family", ["melrvq", "encodec"])
def test_pool_words_equals_word_by_word(family, melrvq):
    """Batched pooling (chunks sorted by length, padded) equals pooling each word alone,
    for words of 1..30 frames, frame subsets, and chunks forced small."""
    from codecprobe.encode import pool_words

    if family == "melrvq":
        codec, n_codes = melrvq, 16
    else:
        pytest.importorskip("torch")
        codec, n_codes = load_codec(CodecSpec("enc", "encodec", weights="random", n_layers=3)), 1024
    rng = np.random.default_rng(7)
    codes = [rng.integers(0, n_codes, size=(codec.n_layers, int(f))) for f in rng.integers(1, 31, size=25)]
    frames = [None if i % 3 else np.arange(c.shape[1] // 2, c.shape[1]) for i, c in enumerate(codes)]
    methods = ("mean", "center", "centroid")
    for max_frames in (1, 64, 1 << 15):
        got = pool_words(codec, codes, frames, methods, max_frames=max_frames)
        for i, (c, f) in enumerate(zip(codes, frames)):
            want = pooled_features(codec, c, f, methods)
            for m in methods:
                np.testing.assert_allclose(got[m][i], want[m], rtol=1e-5, atol=1e-5, err_msg=f"{m} word {i}")


def test_code_counts_known_answer():
    """Counts per row over the valid frames only; padded frames (any value) never counted."""
    from codecprobe.encode import code_counts

    codes = np.array([[2, 0, 2, 99], [1, -5, 7, 7]])
    valid = np.array([[True, True, True, False], [True, False, False, False]])
    np.testing.assert_array_equal(code_counts(codes, valid, 3), [[1, 0, 2], [0, 1, 0]])


def test_code_counts_are_exact_for_words_of_thousands_of_frames():
    """Counts stay exact integers past 2048 (where float16 would round 3001 to an even number),
    and the mean pooled from them is the plain average."""
    from codecprobe.encode import code_counts

    codes = np.ones((1, 3002), np.int64)
    codes[0, 0] = 0
    valid = np.ones_like(codes, bool)
    valid[0, -1] = False  # 3001 valid frames: one of code 0, 3000 of code 1
    got = code_counts(codes, valid, 2)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [[1.0, 3000.0]])
    codes[0, 1] = 0  # 2 of code 0, 2999 of code 1
    np.testing.assert_array_equal(code_counts(codes, valid, 2), [[2.0, 2999.0]])
    from codecprobe.encode import counted_means

    table = np.array([[3.0], [0.0]], np.float32)
    got = counted_means(code_counts(codes, valid, 2), table, np.array([3001]))
    assert got.dtype == np.float32 and got[0, 0] == np.float32(6.0 / 3001)  # the exact mean, rounded once


def test_pooled_means_do_not_depend_on_the_batch_or_blas_threads():
    """A word's mean is the same bits alone, in batches of any size and with one or two BLAS
    threads, and is the exact mean rounded once to float32: the float32 ``counts @ table``
    of before rounded differently with the batch's row count and OpenBLAS's threads (by up
    to 2e-7 relative), so --cores and encode.max_batch moved melrvq's pooled features."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    script = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(REPO / 'workflow')!r})\n"
        "from codecprobe.encode import code_counts, counted_means\n"
        "rng = np.random.default_rng(5)\n"
        "table = rng.standard_normal((256, 80)).astype(np.float32)\n"
        "n = rng.integers(1, 90, 64)\n"
        "codes = rng.integers(0, 256, (64, 90))\n"
        "valid = np.arange(90)[None, :] < n[:, None]\n"
        "exact = np.stack([table.astype(np.float64)[codes[i, :n[i]]].sum(0) / n[i] for i in range(64)]).astype(np.float32)\n"
        "for size in (1, 7, 32, 64):\n"
        "    for a in range(0, 64, size):\n"
        "        b = slice(a, a + size)\n"
        "        got = counted_means(code_counts(codes[b], valid[b], 256), table, n[b])\n"
        "        assert got.dtype == np.float32 and np.array_equal(got, exact[b]), (size, a)\n"
        "print('ok')\n"
    )
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
        assert r.stdout.strip() == "ok", (threads, r.stderr[-2000:])


def test_pool_padded_numpy_ignores_padding_and_matches_gather():
    """Mean pooling from code counts equals the plain gather-and-average over each word's
    frames (float64 reference), with out-of-range garbage in the padded frames; centre
    pooling takes frame n // 2; layers of different codebook sizes."""
    from codecprobe.encode import _pool_padded

    rng = np.random.default_rng(3)
    sizes, dim = (16, 16, 4), 5
    tables = [rng.standard_normal((c, dim)).astype(np.float32) for c in sizes]
    n_frames = np.array([1, 4, 7])
    pad = np.full((3, 3, 7), 10**6)
    for i, f in enumerate(n_frames):
        pad[i, :, :f] = np.stack([rng.integers(0, c, f) for c in sizes])
    got = _pool_padded(tables, pad, n_frames, ("mean", "center"))
    for i, f in enumerate(n_frames):
        layer_means = np.stack([tables[k][pad[i, k, :f]].astype(np.float64).mean(0) for k in range(3)])
        np.testing.assert_allclose(got["mean"][i], np.cumsum(layer_means, 0), rtol=1e-6, atol=1e-6)
        centre = np.stack([tables[k][pad[i, k, f // 2]] for k in range(3)])
        np.testing.assert_allclose(got["center"][i], np.cumsum(centre, 0), rtol=1e-6)


def clips_held(caplog) -> int:
    """Clip waits for a later shard, from the stage's batching log line (exactly one)."""
    (msg,) = [r.getMessage() for r in caplog.records if "waits for a later shard" in r.getMessage()]
    return int(re.search(r"(\d+) clip waits", msg).group(1))


@pytest.mark.parametrize("family", ["melrvq", "mimo"])
def test_shards_do_not_change_the_output(family, melrvq, words, tmp_path, caplog):
    """Audio slicing in shards of 1 or 3 words (reading overlapped with encoding, a shard
    collected after the next is queued, batches held over for a later shard) writes the
    same tokens, codes and pooled features as one shard of everything (NumPy codec, and a
    torch codec with lengths)."""
    if family == "mimo":
        pytest.importorskip("torch")
        small = {"encoder_layers": 2, "d_model": 64, "encoder_attention_heads": 4, "encoder_ffn_dim": 128, "encoder_skip_layer_id": 1}
        codec = load_codec(CodecSpec("mimo", "mimo", weights="random", n_layers=3, options={"config": small, "fill_seconds": 2.0}))
    else:
        codec = melrvq
    assert codec.pad_invariant or codec.accepts_lengths  # batches shared across lengths: holding applies
    out, held = {}, {}
    for shard, max_batch in ((1, 64), (3, 2), (3, 64), (100000, 64)):
        path = tmp_path / f"s{shard}-{max_batch}.h5"
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="codecprobe.encode"):
            cfg = EncodeConfig(pooling=("mean", "center"), shard_words=shard, max_batch=max_batch, io_workers=2)
            run(codec, words, None, str(path), cfg)
        held[shard, max_batch] = clips_held(caplog)
        with h5py.File(path) as h:
            out[shard, max_batch] = {k: h[k][:] for k in ("tokens/token_id", "tokens/frame_offset", "codes", "pooled/mean", "pooled/center")}
    assert len(words) > 6 and len(set(words["utt_id"])) > 2
    assert held[3, 2] > 0 and held[100000, 64] == 0  # the check below covers clips held over
    ref = out[100000, 64]
    for key, got in out.items():
        for k, v in ref.items():
            if k.startswith("pooled"):  # pooled per batch: float sums over differently padded frames
                np.testing.assert_allclose(got[k], v, rtol=1e-6, atol=1e-6, err_msg=f"{key}: {k}")
            else:
                np.testing.assert_array_equal(got[k], v, err_msg=f"{key}: {k}")


def test_codecs_that_skip_padding_hold_only_partial_batches(melrvq, words, tmp_path, monkeypatch, caplog):
    """A codec whose padding costs no work (``pays_for_padding = False``: MiMo, and the codecs
    that encode each clip alone) holds no batch for its padding, only batches that are not
    full; the output is the same either way."""
    assert melrvq.pays_for_padding  # NumPy melrvq quantizes every padded frame
    held, out = {}, {}
    for pays in (True, False):
        monkeypatch.setattr(type(melrvq), "pays_for_padding", pays)
        path = tmp_path / f"pays-{pays}.h5"
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="codecprobe.encode"):
            run(melrvq, words, None, str(path), EncodeConfig(shard_words=4, max_batch=2, hold_padding=0.0))
        held[pays] = clips_held(caplog)
        with h5py.File(path) as h:
            out[pays] = (h["codes"][:], h["pooled/mean"][:])
    # padded full batches are held only when the padding costs work; partial batches still are
    assert held[True] > held[False] > 0, held
    np.testing.assert_array_equal(out[True][0], out[False][0])
    np.testing.assert_allclose(out[True][1], out[False][1], rtol=1e-6, atol=1e-6)


def test_adapters_say_whether_they_pay_for_padding():
    """Per family, as the adapters encode: one clip at a time (EnCodec, DAC, MIMI), real
    frames only (MiMo), every padded frame (melrvq)."""
    pytest.importorskip("torch")
    from codecprobe.codecs import (
        dac,
        dac_package,
        encodec,
        encodec_package,
        melrvq,
        mimi,
        mimo,
    )

    adapters = [
        melrvq.MelRVQ, encodec.EncodecCodec, encodec_package.EncodecPackageCodec, dac.DacCodec,
        dac_package.DacPackageCodec, mimi.MimiCodec, mimo.MimoCodec,
    ]  # fmt: skip
    assert [cls.__name__ for cls in adapters if cls.pays_for_padding] == ["MelRVQ"]


def test_to_device_copies_values_and_dtype():
    torch = pytest.importorskip("torch")
    from codecprobe.codecs._torchutil import to_device

    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = to_device(a, "cpu", torch.float32)
    assert t.dtype == torch.float32 and t.device.type == "cpu" and t.tolist() == a.tolist()
    assert to_device([3, 1, 2], "cpu").tolist() == [3, 1, 2]
    if torch.cuda.is_available():  # the pinned, non-blocking path
        g = to_device(a, "cuda", torch.float32)
        assert g.device.type == "cuda" and g.cpu().tolist() == a.tolist()


def test_encode_batch_hands_lengths_over_on_the_host():
    """Adapters read lengths as Python ints: from a device tensor that would wait for the
    device (a synchronisation per batch on a GPU)."""
    torch = pytest.importorskip("torch")
    from codecprobe.codecs.base import Codec

    class Recorder(Codec):
        family, accepts_lengths, hop_length, n_layers, dim = "rec", True, 4, 1, 1

        def __init__(self):  # a device other than the host's ("meta": shapes only)
            self.device, self.seen = "meta", []

        def encode(self, wav, lengths=None):
            self.seen.append((wav.device.type, lengths.device.type, lengths.tolist()))
            return torch.zeros(wav.shape[0], 1, -(-wav.shape[1] // 4), dtype=torch.long)

        def codebook_vectors(self, layer):  # pragma: no cover
            raise NotImplementedError

        def quantized(self, codes):  # pragma: no cover
            raise NotImplementedError

    rec = Recorder()
    out = encode_batch(rec, [np.ones(8, np.float32), np.ones(5, np.float32)])
    assert rec.seen == [("meta", "cpu", [8, 5])] and [c.shape for c in out] == [(1, 2), (1, 2)]


def test_plan_batches_holds_padded_and_partial_batches():
    from codecprobe.encode import plan_batches

    lengths = np.array([10, 10, 10, 10, 11, 30])
    now, held = plan_batches(lengths, True, 1000, 2, final=False)
    # [4, 5] is full (2 clips) but pads 2 x 30 = 60 samples for 41 (> 5 %): held over
    assert [b.tolist() for b in now] == [[0, 1], [2, 3]] and held.tolist() == [4, 5]
    now, held = plan_batches(lengths, True, 1000, 2, final=True)  # the last shard: all
    assert [b.tolist() for b in now] == [[0, 1], [2, 3], [4, 5]] and held.size == 0
    now, held = plan_batches(lengths, True, 1000, 2, final=False, tolerance=1.0)  # 60 <= 2 x 41
    assert len(now) == 3 and held.size == 0
    # identical lengths only (codes depend on padding): nothing is held
    now, held = plan_batches(lengths, False, 1000, 2, final=False)
    assert [b.tolist() for b in now] == [[0, 1], [2, 3], [4], [5]] and held.size == 0
    # three clips with room for a fourth: not full, held
    now, held = plan_batches(np.array([10, 10, 10]), True, 1000, 4, final=False)
    assert now == [] and held.tolist() == [0, 1, 2]
    # full by samples: 3 x 10 > 25; [2] alone has room for another 12-sample clip
    now, held = plan_batches(np.array([10, 10, 12]), True, 25, 64, final=False)
    assert [b.tolist() for b in now] == [[0, 1]] and held.tolist() == [2]


def test_shard_sizes_double_up_to_the_cap():
    from itertools import islice

    from codecprobe.encode import shard_sizes

    assert list(islice(shard_sizes(1024), 7)) == [64, 128, 256, 512, 1024, 1024, 1024]
    assert list(islice(shard_sizes(100), 3)) == [64, 100, 100]
    assert list(islice(shard_sizes(3), 3)) == [3, 3, 3]


def test_pooled_writer_writes_rows_in_any_order(tmp_path):
    from codecprobe.encode import PooledWriter

    rng = np.random.default_rng(3)
    want = rng.standard_normal((5, 2, 3)).astype(np.float32)
    with h5py.File(tmp_path / "p.h5", "w") as h:
        w = PooledWriter(h, ("mean",), 7, 2, 3, "float16")  # room for 7: two tokens skipped
        w.add(np.array([3, 1]), {"mean": want[[3, 1]]})  # scattered, not increasing
        np.testing.assert_array_equal(h["pooled/mean"][[1, 3]], want[[1, 3]].astype(np.float16))
        w.add(np.array([0]), {"mean": want[[0]]})
        with pytest.raises(RuntimeError, match="3 rows written, expected rows 0..4"):
            w.close(5)
        w.add(np.array([4, 2]), {"mean": want[[4, 2]]})
        w.close(5)
        assert h["pooled/mean"].shape == (5, 2, 3) and h["pooled/mean"].dtype == np.float16
        np.testing.assert_array_equal(h["pooled/mean"][:], want.astype(np.float16))
    with h5py.File(tmp_path / "q.h5", "w") as h:
        w = PooledWriter(h, ("mean", "center"), 2, 2, 3)
        w.add(np.array([0, 1]), {"mean": want[:2], "center": want[2:4]})
        w.close(2)
        np.testing.assert_array_equal(h["pooled/center"][:], want[2:4])
        with pytest.raises(RuntimeError, match="2 rows written, expected rows 0..2"):
            w.close(3)


def test_zero_sample_tokens_are_skipped_and_counted(melrvq, words, tmp_path):
    """A token with no samples is left out (counted); the other tokens' rows are those of a
    run without it (the pooled datasets, allocated for every token, are cut to size)."""
    w = words.copy()
    w.loc[1, "end"] = w.loc[1, "start"]  # zero samples
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    run(melrvq, w, None, str(a), EncodeConfig(pooling=("mean", "center", "centroid")))
    run(melrvq, w.drop(index=1), None, str(b), EncodeConfig(pooling=("mean", "center", "centroid")))
    with h5py.File(a) as ha, h5py.File(b) as hb:
        assert json.loads(ha.attrs["counts"])["skipped: zero samples"] == 1
        assert ha.attrs["n_tokens"] == len(words) - 1
        assert w.loc[1, "token_id"] not in ha["tokens/token_id"][:]
        np.testing.assert_array_equal(ha["tokens/token_id"][:], hb["tokens/token_id"][:])
        np.testing.assert_array_equal(ha["codes"][:], hb["codes"][:])
        for m in ("mean", "center", "centroid"):
            assert ha[f"pooled/{m}"].shape == (len(words) - 1, 4, 80)
            np.testing.assert_allclose(ha[f"pooled/{m}"][:], hb[f"pooled/{m}"][:], rtol=1e-6, atol=1e-6)


def test_centroid_pooling_alone(melrvq, words, tmp_path):
    """Only centroid pooling (nothing pooled per batch): the file holds just that."""
    out = tmp_path / "c.h5"
    run(melrvq, words, None, str(out), EncodeConfig(pooling=("centroid",)))
    with h5py.File(out) as h:
        assert list(h["pooled"]) == ["centroid"] and h["pooled/centroid"].shape == (len(words), 4, 80)
        codes, off, n = h["codes"][:], h["tokens/frame_offset"][:], h["tokens/n_frames"][:]
        tables = [h[f"codebooks/layer_{k:02d}"][:] for k in range(1, 5)]
        c = codes[:, off[0] : off[0] + n[0]]
        acc = accumulated_features(np.stack([tables[k][c[k]] for k in range(4)]))
        np.testing.assert_allclose(h["pooled/centroid"][0], pool(acc, "centroid"), rtol=1e-5, atol=1e-6)


def test_batches_to_run_releases_held_clips_only_to_an_idle_device_with_nothing_ready():
    """Known answers (budget 12 samples, at most 3 clips, padding tolerance 0.03): a full
    batch runs and a partial one waits, idle device or not (``idle`` is not even asked); with
    no batch ready, the clips go only to an idle device; at the end everything goes."""
    from codecprobe.encode import batches_to_run

    def never():
        raise AssertionError("idle() asked with a batch ready")

    full_and_partial = np.array([4, 4, 4, 4])  # [4, 4, 4] full (no room for a 4th), [4] partial
    now, held = batches_to_run(full_and_partial, True, 12, 3, 0.03, False, never)
    assert [b.tolist() for b in now] == [[0, 1, 2]] and held.tolist() == [3]
    partial = np.array([4, 3])  # one batch of 2 clips: room for a third, and 1 sample of padding
    for idle, expect in ((False, ([], [1, 0])), (True, ([[1, 0]], []))):  # sorted by length
        now, held = batches_to_run(partial, True, 12, 3, 0.03, False, lambda idle=idle: idle)
        assert ([b.tolist() for b in now], held.tolist()) == expect
    now, held = batches_to_run(full_and_partial, True, 12, 3, 0.03, True, never)
    assert [b.tolist() for b in now] == [[0, 1, 2], [3]] and held.size == 0


def test_device_idle_releases_held_batches(melrvq, words, tmp_path, monkeypatch, caplog):
    """On an asynchronous device, clips are held over only while the device has work: when
    it has finished everything queued (and here no batch is ever ready: melrvq's batches of
    two words pad more than 3 %), the waiting clips are encoded, padded or not."""
    import types

    import codecprobe.encode as enc

    class Ev:
        def __init__(self, done):
            self.done = done

        def query(self):
            return self.done

    from codecprobe.codecs.base import Codec

    def stand_in(device):  # a torch codec on ``device``, as far as device_idle looks
        c = types.SimpleNamespace(uses_torch=True, device=device)
        c.on_cuda = Codec.on_cuda.fget(c)
        return c

    gpu = stand_in("cuda:0")
    busy = enc.QueuedClips([(None, None, None, None, Ev(True)), (None, None, None, None, Ev(False))])
    done = enc.QueuedClips([(None, None, None, None, Ev(True))])
    assert enc.device_idle(gpu, None) and enc.device_idle(gpu, done) and not enc.device_idle(gpu, busy)
    assert enc.device_idle(gpu, enc.QueuedClips([]))  # a shard that queued nothing
    assert not enc.device_idle(melrvq, None)  # on the host: hold as planned
    assert not enc.device_idle(stand_in("cpu"), None)

    cfg = dict(pooling=("mean",), shard_words=3, max_batch=2)
    out = {}
    for idle in (False, True):
        monkeypatch.setattr(enc, "device_idle", lambda codec, pending, idle=idle: idle)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="codecprobe.encode"):
            run(melrvq, words, None, str(tmp_path / f"{idle}.h5"), EncodeConfig(**cfg))
        n_held = clips_held(caplog)
        with h5py.File(tmp_path / f"{idle}.h5") as h:
            out[idle] = (n_held, h["codes"][:], h["pooled/mean"][:])
    assert out[False][0] > 0 and out[True][0] == 0
    np.testing.assert_array_equal(out[True][1], out[False][1])
    np.testing.assert_allclose(out[True][2], out[False][2], rtol=1e-6, atol=1e-6)


def test_provenance_is_computed_while_the_codec_encodes(melrvq, words, tmp_path, monkeypatch):
    """The weights' sha256 (seconds for a GB checkpoint) runs beside the encoding, not in the
    tail after the last batch: here metadata() returns only once encode() has been called,
    which would time out if the stage computed it first, and it runs off the main thread,
    as does the codebooks' writing (134 MB for MIMI and DAC)."""
    import threading

    import codecprobe.encode as enc

    encoding, seen = threading.Event(), {}
    metadata, encode = melrvq.metadata, melrvq.encode
    write_codebooks = enc.write_codebooks

    def spy_codebooks(*a, **k):
        seen["codebooks"] = threading.current_thread().name
        return write_codebooks(*a, **k)

    monkeypatch.setattr(enc, "write_codebooks", spy_codebooks)

    def slow_metadata():
        seen["thread"] = threading.current_thread().name
        seen["overlapped"] = encoding.wait(timeout=30)
        return metadata()

    def flag_encode(*a, **k):
        encoding.set()
        return encode(*a, **k)

    monkeypatch.setattr(melrvq, "metadata", slow_metadata)
    monkeypatch.setattr(melrvq, "encode", flag_encode)
    out = tmp_path / "p.h5"
    run(melrvq, words, None, str(out), EncodeConfig())
    assert seen == {"thread": seen["thread"], "overlapped": True, "codebooks": seen["codebooks"]}
    assert "MainThread" not in (seen["thread"], seen["codebooks"])
    with h5py.File(out) as h:
        assert h.attrs["weights_sha256"] == metadata()["weights_sha256"] != "random"
        from codecprobe import source_version

        assert json.loads(h.attrs["versions"])["codecprobe"] == source_version()

    # an error in it surfaces, and no output is left behind
    def broken():
        raise CodecprobeError("cannot hash the weights")

    monkeypatch.setattr(melrvq, "metadata", broken)
    with pytest.raises(CodecprobeError, match="cannot hash"):
        run(melrvq, words, None, str(tmp_path / "q.h5"), EncodeConfig())
    assert not list(tmp_path.glob("*q.h5*"))

    # so does one in writing the codebooks
    def full(*a, **k):
        raise OSError("No space left on device")

    monkeypatch.setattr(melrvq, "metadata", metadata)
    monkeypatch.setattr(enc, "write_codebooks", full)
    with pytest.raises(OSError, match="No space"):
        run(melrvq, words, None, str(tmp_path / "r.h5"), EncodeConfig())
    assert not list(tmp_path.glob("*r.h5*"))


def test_host_work_that_the_device_need_not_wait_for_is_out_of_the_head_and_tail(melrvq, words, tmp_path, monkeypatch):
    """On a GPU the device waits for the host until the first batch is queued (the head) and
    after the last one is done (the tail). The codebook tables' copies are queued before the
    first batch, but their writing and the provenance (weights' sha256) start once it is
    queued, with batches still to come; ``/tokens`` and the attributes are written once every
    clip is cut and before the last batch is collected. The file is the same as ever (other
    tests). (Threads run their work at once here, so that the order is where the stage
    starts it; that it runs in threads is tested below.)"""
    from concurrent.futures import Future

    import codecprobe.encode as enc

    class Inline:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, *a, **k):
            f = Future()
            f.set_result(fn(*a, **k))
            return f

        def shutdown(self, wait=True, cancel_futures=False):
            pass

    monkeypatch.setattr(enc, "ThreadPoolExecutor", Inline)
    events: list[str] = []

    def spy(name, fn):
        def wrapped(*a, **k):
            events.append(name)
            return fn(*a, **k)

        return wrapped

    for name in ("write_codebooks", "write_tokens", "write_attrs", "provenance"):
        monkeypatch.setattr(enc, name, spy(name, getattr(enc, name)))
    monkeypatch.setattr(melrvq, "encode", spy("encode", melrvq.encode))
    monkeypatch.setattr(melrvq, "tables", spy("tables", melrvq.tables))
    collect = enc.collect_batches

    def spy_collect(*a, **k):
        for item in collect(*a, **k):
            events.append("collect")
            yield item

    monkeypatch.setattr(enc, "collect_batches", spy_collect)
    run(melrvq, words, None, str(tmp_path / "o.h5"), EncodeConfig(shard_words=3, max_batch=2, io_workers=1))
    first, last = events.index("encode"), len(events) - 1 - events[::-1].index("encode")
    last_collect = len(events) - 1 - events[::-1].index("collect")
    assert events.index("tables") < first  # the copies are queued before any batch
    assert first < events.index("write_codebooks") < last and first < events.index("provenance") < last
    assert last < events.index("write_tokens") < events.index("write_attrs") < last_collect
    assert all(events.count(n) == 1 for n in ("write_codebooks", "provenance", "write_tokens", "write_attrs"))


def test_a_codec_that_returns_other_frame_counts_than_it_claims_is_an_error(melrvq, words, tmp_path, monkeypatch):
    """``/tokens/n_frames`` is written from ``Codec.n_frames`` before the codes are back; codes
    of another length are an error, and no output is left."""
    n_frames = melrvq.n_frames
    monkeypatch.setattr(melrvq, "n_frames", lambda n: n_frames(n) + 1)
    with pytest.raises(RuntimeError, match="frame counts other than its n_frames"):
        run(melrvq, words, None, str(tmp_path / "o.h5"), EncodeConfig())
    assert not list(tmp_path.glob("*o.h5*"))


def test_utterance_rows_group_tokens_as_groupby_does():
    """Known answer, then the same paths and rows as ``groupby("path", sort=False)`` on
    interleaved paths."""
    from codecprobe.encode import utterance_rows

    paths, rows = utterance_rows(np.array(["b", "a", "b", "c", "a"]))
    assert paths == ["b", "a", "c"] and [r.tolist() for r in rows] == [[0, 2], [1, 4], [3]]
    p = np.array([f"/c/{i}.flac" for i in np.random.default_rng(0).integers(0, 40, 500)])
    paths, rows = utterance_rows(p)
    groups = list(pd.DataFrame({"path": p}).groupby("path", sort=False))
    assert paths == [g for g, _ in groups]
    assert all(r.tolist() == d.index.tolist() for r, (_, d) in zip(rows, groups))
    assert utterance_rows(np.array([], dtype=str)) == ([], [])


def test_every_token_skipped_stops_with_the_counts_and_writes_nothing(melrvq, words, tmp_path):
    """Every token without samples: nothing to encode is an error naming the output and the
    counts, and leaves no file (an empty features file was written and the job succeeded);
    one token left is encoded as usual."""
    w = words.assign(end=words["start"])
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "e.h5"
    with pytest.raises(CodecprobeError) as e:
        run(melrvq, w, None, str(out), EncodeConfig(pooling=("mean", "centroid")))
    assert str(e.value) == (f"{out}: every one of the {len(words)} word tokens was skipped "
                            f"(skipped: zero samples: {len(words)}): nothing to encode")  # fmt: skip
    assert list((tmp_path / "out").iterdir()) == []
    w.loc[2, "end"] = words.loc[2, "end"]
    run(melrvq, w, None, str(out), EncodeConfig(pooling=("mean", "centroid")))
    with h5py.File(out) as h:
        assert h.attrs["n_tokens"] == 1 and json.loads(h.attrs["counts"]) == {"skipped: zero samples": len(words) - 1}
        assert h["tokens/token_id"][:].tolist() == [words.loc[2, "token_id"]] and h["pooled/mean"].shape == (1, 4, 80)


def test_random_melrvq_takes_the_configured_codebook_size():
    """weights: random builds codebook_size codes per layer (the entry's option; 256 by default)."""
    c = load_codec(CodecSpec("m", "melrvq", weights="random", n_layers=3, options={"codebook_size": 16}))
    assert c.codebooks.shape == (3, 16, 80) and c.codebook_vectors(2).shape == (16, 80)
    assert load_codec(CodecSpec("m", "melrvq", weights="random")).codebooks.shape == (8, 256, 80)
    with pytest.raises(CodecprobeError, match="codebook_size must be at least 2"):
        load_codec(CodecSpec("m", "melrvq", weights="random", options={"codebook_size": 1}))


def test_chunked_codes_stay_on_the_utterance_clock():
    """Long utterances are encoded in chunks (1 s of left context each). A stand-in codec
    whose code is the absolute frame index it sees, and which, like MiMo, gives one frame
    more than ``T // hop`` (a frame past the end): the chunked codes must be the frame
    indices 0..n-1 in order. Before the fix each chunk kept its extra frame, and every
    chunk after the first was one frame late."""
    from codecprobe.codecs.base import Codec
    from codecprobe.encode import chunked_codes

    class Clock(Codec):
        family, uses_torch, pad_invariant, hop_length, sample_rate, n_layers, dim = "clock", False, True, 10, 100, 1, 1

        def __init__(self):
            self.device = "cpu"

        def n_frames(self, n_samples):
            return n_samples // self.hop_length + 1

        def encode(self, wav):
            wav = np.atleast_2d(np.asarray(wav))
            t = np.minimum(np.arange(self.n_frames(wav.shape[1])) * self.hop_length, wav.shape[1] - 1)
            return np.rint(wav[:, t])[:, None, :].astype(np.int64)

        def codebook_vectors(self, layer):  # pragma: no cover
            raise NotImplementedError

        def quantized(self, codes):  # pragma: no cover
            raise NotImplementedError

    codec = Clock()
    for n_samples in (1000, 1234, 2000):  # 2.5 s chunks: 4 to 8 of them, the last partial or not
        wav = (np.arange(n_samples) // 10).astype(np.float32)  # sample t holds its frame index
        cfg = EncodeConfig(chunk_seconds=2.5)
        got = chunked_codes(codec, wav, cfg)[0]
        want = np.minimum(np.arange(codec.n_frames(n_samples)), (n_samples - 1) // 10)
        np.testing.assert_array_equal(got, want)
        assert cfg.counts["utterances encoded in chunks"] == 1


def test_chunk_context_on_both_sides_gives_the_whole_utterance_codes():
    """A non-causal stand-in codec whose frame i sums the samples within 25 samples (2.5
    frames) on either side of its centre: with a chunk context of at least that (here 3
    frames) on both sides the chunked codes equal the whole utterance's; without context
    the frames next to every chunk edge differ (what a left context alone also gets wrong
    at each chunk's right edge)."""
    from codecprobe.codecs.base import Codec
    from codecprobe.encode import chunked_codes

    class Window(Codec):
        family, uses_torch, pad_invariant, hop_length, sample_rate, n_layers, dim = "window", False, False, 10, 100, 1, 1

        def __init__(self):
            self.device = "cpu"

        def n_frames(self, n_samples):
            return n_samples // self.hop_length

        def encode(self, wav):
            wav = np.atleast_2d(np.asarray(wav, np.float64))
            c = np.concatenate([np.zeros((len(wav), 1)), np.cumsum(wav, axis=1)], axis=1)
            centre = np.arange(self.n_frames(wav.shape[1])) * 10 + 5
            lo, hi = np.clip(centre - 25, 0, wav.shape[1]), np.clip(centre + 25, 0, wav.shape[1])
            return np.rint(c[:, hi] - c[:, lo])[:, None, :].astype(np.int64)

        def codebook_vectors(self, layer):  # pragma: no cover
            raise NotImplementedError

        def quantized(self, codes):  # pragma: no cover
            raise NotImplementedError

    codec = Window()
    wav = np.random.default_rng(0).integers(0, 9, 1234).astype(np.float32)
    whole = codec.encode(wav)[0]
    for ctx in (0.3, 1.0):
        np.testing.assert_array_equal(chunked_codes(codec, wav, EncodeConfig(chunk_seconds=2.5, chunk_context_seconds=ctx)), whole)
    bare = chunked_codes(codec, wav, EncodeConfig(chunk_seconds=2.5, chunk_context_seconds=0.0))
    assert bare.shape == whole.shape
    wrong = np.flatnonzero(bare[0] != whole[0])
    assert set(wrong) <= {f for edge in (25, 50, 75, 100) for f in range(edge - 3, edge + 3)} and len(wrong) >= 8
    with pytest.raises(CodecprobeError, match="chunk_context_seconds must be >= 0"):
        chunked_codes(codec, wav, EncodeConfig(chunk_seconds=2.5, chunk_context_seconds=-1.0))


def test_melrvq_frame_times_are_window_centres(melrvq):
    """An impulse lands in the frame whose window is centred nearest to it: the frame
    stamped within half a hop (5 ms) of the impulse. The base class's (i + 0.5) / 100
    stamps melrvq's frames 7.5 ms early and fails this."""
    for pos in (1603, 2500, 4081, 7777):
        wav = np.zeros(16000, np.float32)
        wav[pos] = 1.0
        energy = np.exp(log_mel(wav)).sum(axis=1)
        t = melrvq.frame_times(len(energy))
        assert abs(t[int(energy.argmax())] - pos / 16000) <= 0.005 + 1e-9, pos
    np.testing.assert_allclose(melrvq.frame_times(3), [0.0125, 0.0225, 0.0325])


def test_cli_encodes_the_union_of_pairs_tables(words, tmp_path):
    """--pairs takes several tables (Fig. 2's and the by-speaker one): their tokens' union is encoded."""
    from codecprobe.encode import main

    ids = words["token_id"].to_numpy()
    p1 = pd.DataFrame({"token_a": [ids[0]], "token_b": [ids[1]], "pair_type": ["random"]})
    p2 = pd.DataFrame({"token_a": [ids[1], ids[3]], "token_b": [ids[3], ids[1]], "pair_type": ["synonym"] * 2})
    words.to_csv(tmp_path / "w.csv", index=False)
    p1.to_csv(tmp_path / "p1.csv", index=False)
    p2.to_parquet(tmp_path / "p2.parquet")
    spec = json.dumps({"name": "m", "family": "melrvq", "weights": "random", "n_layers": 2})
    out = tmp_path / "f.h5"
    args = ["--codec", spec, "--words", str(tmp_path / "w.csv"), "--out", str(out), "--device", "cpu"]
    main([*args, "--pairs", str(tmp_path / "p1.csv"), str(tmp_path / "p2.parquet")])
    with h5py.File(out) as h:
        assert sorted(h["tokens/token_id"][:].tolist()) == sorted([ids[0], ids[1], ids[3]])


def test_a_clip_shorter_than_the_codec_minimum_is_zero_padded_at_its_end(melrvq, words, tmp_path, monkeypatch):
    """A codec that needs ``min_samples`` (MiMo: 481) gets short word clips zero-padded after
    their last sample; the padding is counted in the file's counts."""
    from codecprobe.audio import cut, load_audio

    w = words.iloc[[0, 1]].copy()
    w.loc[w.index[0], "end"] = w.iloc[0]["start"] + 0.05  # 800 samples at 16 kHz
    monkeypatch.setattr(type(melrvq), "min_samples", 1500)
    out = tmp_path / "short.h5"
    run(melrvq, w, None, str(out), EncodeConfig())
    r = w.iloc[0]
    clip = cut(load_audio(r.path, 16000), 16000, r.start, r.end)
    assert len(clip) == 800
    want = melrvq.encode(np.pad(clip, (0, 700))[None])[0]
    with h5py.File(out) as h:
        counts = json.loads(h.attrs["counts"])
        n, off = h["tokens/n_frames"][:], h["tokens/frame_offset"][:]
        got = h["codes"][:, off[0] : off[0] + n[0]]
    assert counts["clips zero-padded to the codec's minimum of 1500 samples"] == 1
    np.testing.assert_array_equal(got, want)


def test_base_codec_frame_times_are_frame_centres():
    """EnCodec, DAC and MIMI use the base class: frame i covers samples [i hop, (i + 1) hop),
    so its centre is (i + 0.5) / frame_rate (75 Hz: 6.67, 20, 33.3 ms)."""
    from codecprobe.codecs.base import Codec

    stub = type("Stub", (Codec,), {"encode": None, "codebook_vectors": None, "quantized": None, "frame_rate": 75.0})
    np.testing.assert_allclose(Codec.frame_times(stub.__new__(stub), 3), [0.5 / 75, 1.5 / 75, 2.5 / 75])


def test_melrvq_assigns_each_frame_its_nearest_centroid():
    from codecprobe.codecs.melrvq import assign

    rng = np.random.default_rng(7)
    x, c = rng.standard_normal((300, 6)), rng.standard_normal((20, 6)) * rng.uniform(0.2, 3.0, (20, 1))
    want = np.linalg.norm(x[:, None] - c[None], axis=2).argmin(1)
    np.testing.assert_array_equal(assign(x, c), want)


def test_melrvq_latent_is_standardized_on_the_fitting_audio(corpus, melrvq):
    """The latent is the log-mel standardized per band with the fitting corpus's statistics:
    over the frames of the audio it was fitted on (all of them: fewer than max_frames),
    every band has mean 0 and standard deviation 1 (up to the fit's 1e-5 added to the sd)."""
    from codecprobe.audio import load_audio

    m, _ = build_manifest(corpus[0], ["dev-clean"])
    lat = np.concatenate([melrvq.latent(load_audio(p, 16000)) for p in m["path"]]).astype(np.float64)
    assert lat.shape[1] == 80
    np.testing.assert_allclose(lat.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(lat.std(0), 1.0, atol=1e-3)


def test_melrvq_kmeans_converges_to_the_cluster_means():
    """Three tight, well separated clusters: the centroids are the clusters' means."""
    from codecprobe.codecs.melrvq import kmeans

    rng = np.random.default_rng(12)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + rng.uniform(-1, 1, (40, 2)) for c in centres])
    want = x.reshape(3, 40, 2).mean(1)
    for seed in range(3):
        c = kmeans(x, 3, np.random.default_rng(seed))
        got = c[np.argsort(c[:, 0] + 2 * c[:, 1])]  # order (0, 0), (10, 0), (0, 10)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_melrvq_fit_rvq_fits_each_layer_on_the_residual():
    """1-d frames 0, 1, 10, 11 (each 5 times), two layers of 2 codes: layer 1 splits them
    into {0, 1} and {10, 11} (centroids 0.5 and 10.5), layer 2 quantizes the residual
    +-0.5 (centroids -0.5 and 0.5), after which nothing is left."""
    from codecprobe.codecs.melrvq import fit_rvq

    frames = np.repeat([0.0, 1.0, 10.0, 11.0], 5)[:, None]
    for seed in range(3):
        books = fit_rvq(frames, 2, 2, seed)
        assert books.shape == (2, 2, 1)
        np.testing.assert_allclose(np.sort(books[0, :, 0]), [0.5, 10.5], atol=1e-6)
        np.testing.assert_allclose(np.sort(books[1, :, 0]), [-0.5, 0.5], atol=1e-6)


def test_weights_sha256_of_a_folder_covers_its_weight_files_in_name_order(tmp_path):
    import hashlib

    from codecprobe.codecs.base import weights_sha256

    (tmp_path / "sub").mkdir()
    (tmp_path / "b.safetensors").write_bytes(b"bbb")
    (tmp_path / "config.json").write_bytes(b"{}")
    (tmp_path / "sub" / "a.bin").write_bytes(b"aa")
    (tmp_path / "README.md").write_text("not weights")
    (tmp_path / "sub" / "notes.txt").write_text("nor this")
    want = hashlib.sha256(b"bbb" + b"{}" + b"aa").hexdigest()  # b.safetensors, config.json, sub/a.bin
    assert weights_sha256(str(tmp_path)) == want
    assert weights_sha256(str(tmp_path / "b.safetensors")) == hashlib.sha256(b"bbb").hexdigest()
    assert weights_sha256("random") == "random" and weights_sha256("kyutai/mimi") == "hub:kyutai/mimi"


def test_clip_past_the_audio_end_is_counted(melrvq, words, tmp_path):
    """A word may end up to 0.05 s after its audio (words.AUDIO_END_TOLERANCE): audio slicing
    cuts its clip at the end and counts it (before session 22 nothing said so), with the
    codes of the clip cut at the end by hand."""
    from codecprobe.audio import load_audio

    w = words.copy()
    path = w.loc[0, "path"]
    dur = len(load_audio(path, 16000)) / 16000
    last = w.index[w["path"] == path][-1]
    w.loc[last, ["start", "end"]] = [dur - 0.1, dur + 0.04]
    out = tmp_path / "a.h5"
    run(melrvq, w, None, str(out), EncodeConfig())
    with h5py.File(out) as h:
        assert json.loads(h.attrs["counts"])["clips cut short at the audio's end (the word ends after it)"] == 1
        row = int(np.flatnonzero(h["tokens/token_id"][:] == w.loc[last, "token_id"])[0])
        n, off = int(h["tokens/n_frames"][row]), int(h["tokens/frame_offset"][row])
        assert n == melrvq.n_frames(1600)  # the 0.1 s before the end, not 0.14 s
        clip = load_audio(path, 16000)[-1600:]
        np.testing.assert_array_equal(h["codes"][:, off : off + n], melrvq.encode(clip[None])[0])


def test_feature_slicing_refuses_one_audio_file_for_two_utterances(melrvq, words, tmp_path):
    """The codes are kept by utterance id, one per audio file: two ids on one file were a
    bare KeyError after encoding."""
    w = words.copy()
    first = w["utt_id"] == w.loc[0, "utt_id"]
    w.loc[first & (w.index > 0), "utt_id"] = "other-utterance"
    with pytest.raises(CodecprobeError, match=r"\.flac: the audio of 2 utterances .*feature slicing encodes each"):
        run(melrvq, w, None, str(tmp_path / "f.h5"), EncodeConfig(slicing="feature"))
    assert not list(tmp_path.glob("*.h5"))


def test_an_abandoned_reader_does_not_wait_for_its_running_reads(monkeypatch):
    """Closing a load_many generator whose consumer stopped (an error mid-stage) waited for
    the reads in flight: the garbage collector closed one inside a new thread's start, and
    the join there deadlocked a test run. Now the queued reads are cancelled and running
    ones are not waited for."""
    import threading

    from codecprobe import encode

    release, started = threading.Event(), []

    def slow_load(path, sample_rate):
        started.append(path)
        if path != "a":
            release.wait(10)  # a read that does not finish before the test lets it
        return np.zeros(4, np.float32)

    monkeypatch.setattr(encode, "load_audio", slow_load)
    gen = encode.load_many(["a", "b", "c", "d", "e"], 16000, workers=2, ahead=2)
    assert next(gen).shape == (4,)
    closer = threading.Thread(target=gen.close)
    closer.start()
    closer.join(2.0)
    try:
        assert not closer.is_alive(), "closing the reader waited for the reads in flight"
        assert "e" not in started  # never queued: the reads behind the running ones are not made
    finally:
        release.set()
        closer.join(10)


def test_cuda_events_are_recorded_on_the_codecs_own_device(monkeypatch):
    """With encode.device: cuda:1, the ready events were recorded on the current device's
    stream (cuda:0, idle): they fired at once and the host read copies still in flight.
    Mocked (no GPU here): the event must be recorded on cuda:1's current stream."""
    import types

    import torch
    from codecprobe.encode import _record_event

    seen = {}

    class Event:
        def record(self, stream=None):
            seen["stream"] = stream

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: ("stream of", str(device)))
    codec = types.SimpleNamespace(on_cuda=True, device="cuda:1")
    assert isinstance(_record_event(codec), Event)
    assert seen["stream"] == ("stream of", "cuda:1")
    assert _record_event(types.SimpleNamespace(on_cuda=False, device="cpu")) is None


def test_cuda_out_of_memory_names_the_batch_and_the_settings():
    """A CUDA OOM ended the job with a raw traceback naming neither the batch nor the keys
    to lower; now a CodecprobeError (one line in the log) does."""
    import types

    import torch
    from codecprobe.codecs.base import CodecSpec
    from codecprobe.encode import encode_batch

    def encode(x, lengths=None):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    for family, extra in (("dac", None), ("mimo", "codecs[m].max_attention_elements (default 2^28)")):
        codec = types.SimpleNamespace(uses_torch=True, device="cpu", accepts_lengths=family == "mimo", encode=encode,
                                      sample_rate=24000, spec=CodecSpec("m", family))  # fmt: skip
        with pytest.raises(CodecprobeError) as e:
            encode_batch(codec, [np.zeros(48000, np.float32), np.zeros(24000, np.float32)])
        msg = str(e.value)
        assert msg.startswith("codec 'm': CUDA out of memory on cpu encoding a batch of 2 clip(s), 2.0 s each when padded "
                              "(3.0 s of audio): lower encode.batch_seconds or encode.max_batch")  # fmt: skip
        assert (extra in msg) if extra else "max_attention" not in msg
        assert isinstance(e.value.__cause__, torch.cuda.OutOfMemoryError)


def test_collected_codes_do_not_hold_the_batch_buffer():
    """Each clip's codes were views into its batch's padded read-back buffer (pinned host
    memory on CUDA), kept alive until the file was written: about 0.25-0.5 GB for DAC at
    paper scale. Now copies, int32 as written."""
    import types

    import torch
    from codecprobe.encode import QueuedClips, collect_batches

    codes = torch.arange(2 * 3 * 5, dtype=torch.int64).reshape(2, 3, 5)  # [B, K, F], padded to 5 frames
    codec = types.SimpleNamespace(n_frames=lambda n: n // 10)
    ((idx, got, pooled),) = list(collect_batches(codec, QueuedClips([(np.array([7, 8]), codes, [50, 30], {}, None)])))
    assert idx.tolist() == [7, 8] and pooled == {}
    assert [g.shape for g in got] == [(3, 5), (3, 3)] and all(g.dtype == np.int32 for g in got)
    np.testing.assert_array_equal(got[1], codes[1, :, :3].numpy())
    assert not any(np.shares_memory(g, codes.numpy()) for g in got)


def test_melrvq_lloyd_update_reseeds_several_empty_clusters_with_distinct_points():
    """Two clusters empty at once were both reseeded with the one farthest point (duplicate
    centroids); now with the two farthest, a point each."""
    from codecprobe.codecs.melrvq import assign, lloyd_update

    x = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [9.0, 0.0]])
    c = np.array([[0.0, 0.0], [100.0, 100.0], [200.0, 200.0]])
    a = assign(x, c)
    assert a.tolist() == [0, 0, 0, 0]  # clusters 1 and 2 empty
    new = lloyd_update(x, c, a)
    np.testing.assert_allclose(new, [[3.75, 0.0], [9.0, 0.0], [5.0, 0.0]])  # the mean; the farthest, the next


def test_melrvq_model_checks(tmp_path, corpus):
    """A model file with NaN centroids (fitted on NaN audio before that was refused), other
    front-end sizes or a silent corpus: clear errors naming the file, not codes from it."""
    from codecprobe.codecs.melrvq import N_MELS

    good = dict(codebooks=np.zeros((2, 4, N_MELS), np.float32), mean=np.zeros(N_MELS, np.float32), std=np.ones(N_MELS, np.float32))
    for name, change, msg in [
        ("nan", {"codebooks": np.full((2, 4, N_MELS), np.nan, np.float32)}, "codebooks not finite"),
        ("dims", {"mean": np.zeros(64, np.float32)}, r"codebooks \(2, 4, 80\), mean \(64,\), std \(80,\); expected \[layers"),
        ("std", {"std": np.zeros(N_MELS, np.float32)}, "std not finite \\(or std not positive\\)"),
    ]:
        p = tmp_path / f"{name}.npz"
        np.savez(p, **(good | change))
        with pytest.raises(CodecprobeError, match=f"codec 'mel': melrvq model {p}: {msg}"):
            load_codec(CodecSpec("mel", "melrvq", weights=str(p)))
    np.savez(tmp_path / "ok.npz", **good)
    assert load_codec(CodecSpec("mel", "melrvq", weights=str(tmp_path / "ok.npz"))).n_layers == 2
    text = tmp_path / "notes.npz"  # np.load took it for a pickle and advised allow_pickle=True
    text.write_text("not a model\n")
    with pytest.raises(CodecprobeError) as err:
        load_codec(CodecSpec("mel", "melrvq", weights=str(text)))
    assert str(err.value) == (
        f"codec 'mel': cannot read melrvq model {text}: not an .npz archive (a model is the one rule fit_melrvq writes)"
    )
    objects = tmp_path / "objects.npz"  # an .npz, but of object arrays: np.load's own reason
    np.savez(objects, codebooks=np.array([None], dtype=object), mean=good["mean"], std=good["std"])
    with pytest.raises(CodecprobeError, match=f"cannot read melrvq model {objects}: Object arrays cannot be loaded"):
        load_codec(CodecSpec("mel", "melrvq", weights=str(objects)))
    import soundfile as sf

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    with pytest.raises(CodecprobeError, match="melrvq fit: the 1 audio file\\(s\\) are silent or constant"):
        fit([str(silent)], tmp_path / "m.npz", n_layers=2, codebook_size=4)


def test_cuda_runs_record_the_gpu_model_and_library_versions(monkeypatch):
    """Codes can differ between GPUs and CUDA/cuDNN releases (near-ties): the feature file
    recorded only "device: cuda". Mocked (no GPU here)."""
    import types

    import torch
    from codecprobe.encode import cuda_provenance

    seen = []
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: seen.append(str(d)) or "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    got = cuda_provenance(types.SimpleNamespace(on_cuda=True, device="cuda:1"))
    assert got == {"device_name": "NVIDIA H100 80GB HBM3", "cuda_version": "12.8", "cudnn_version": "91002"}
    assert seen == ["cuda:1"]
    assert cuda_provenance(types.SimpleNamespace(on_cuda=False, device="cpu")) == {}


def test_cuda_out_of_memory_in_device_pooling_is_named_too():
    """The pooled features [B, K, D] are made on the device after the encoder call: an OOM
    there is the same clear error."""
    import types

    import torch
    from codecprobe.codecs.base import CodecSpec
    from codecprobe.encode import queue_batches

    def tables():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    codec = types.SimpleNamespace(uses_torch=True, device="cpu", accepts_lengths=False, sample_rate=1000, on_cuda=False,
                                  spec=CodecSpec("d", "dac"), encode=lambda x: torch.zeros(len(x), 2, 3, dtype=torch.int64),
                                  n_frames=lambda n: 3, tables=tables)  # fmt: skip
    clips = [np.zeros(1000, np.float32), np.zeros(500, np.float32)]
    with pytest.raises(CodecprobeError, match=r"codec 'd': CUDA out of memory on cpu encoding a batch of 2 clip\(s\), 1\.0 s"):
        queue_batches(codec, clips, [np.array([0, 1])], ("mean",))


def test_collected_int32_codes_are_copies_too():
    """A codec whose codes are already int32 (the padded read-back buffer's own dtype): each
    clip's codes are still copied out of the buffer (``astype`` without ``copy=False``), not
    views that keep the whole padded batch alive."""
    import types

    from codecprobe.encode import QueuedClips, collect_batches

    codes = np.arange(2 * 3 * 5, dtype=np.int32).reshape(2, 3, 5)  # [B, K, F], padded to 5 frames
    codec = types.SimpleNamespace(n_frames=lambda n: n // 10)
    ((_, got, _),) = list(collect_batches(codec, QueuedClips([(np.array([7, 8]), codes, [50, 30], {}, None)])))
    assert [g.shape for g in got] == [(3, 5), (3, 3)] and all(g.dtype == np.int32 for g in got)
    np.testing.assert_array_equal(got[0], codes[0])
    np.testing.assert_array_equal(got[1], codes[1, :, :3])
    assert not any(np.shares_memory(g, codes) for g in got)


def test_a_word_ending_at_the_audio_end_is_not_counted_cut_short(melrvq, words, tmp_path):
    """A word whose end falls exactly on the audio's last sample boundary (end * sr ==
    len(audio)) is whole: no "clips cut short" count, and its clip is the last 0.1 s."""
    from codecprobe.audio import load_audio

    w = words.copy()
    path = w.loc[0, "path"]
    wav = load_audio(path, 16000)
    dur = len(wav) / 16000
    assert round(dur * 16000) == len(wav)
    last = w.index[w["path"] == path][-1]
    w.loc[last, ["start", "end"]] = [dur - 0.1, dur]
    out = tmp_path / "a.h5"
    run(melrvq, w, None, str(out), EncodeConfig())
    with h5py.File(out) as h:
        assert not any(k.startswith("clips cut short") for k in json.loads(h.attrs["counts"]))
        row = int(np.flatnonzero(h["tokens/token_id"][:] == w.loc[last, "token_id"])[0])
        assert int(h["tokens/n_frames"][row]) == melrvq.n_frames(1600)


def test_resolve_device_uses_the_gpu_when_visible_and_logs_the_choice(monkeypatch, caplog):
    """``encode.device: auto``: CUDA when torch sees a GPU, else the CPU, each said in the log;
    a device named in the config is taken as it is."""
    import logging

    torch = pytest.importorskip("torch")
    from codecprobe.encode import resolve_device

    with caplog.at_level(logging.INFO, logger="codecprobe"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        assert resolve_device("auto") == "cpu"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA H200")
        assert resolve_device("auto") == "cuda"
        assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    assert [r.getMessage() for r in caplog.records] == ["device: cpu (no CUDA GPU visible)", "device: cuda (NVIDIA H200)"]


def test_cli_names_a_word_table_it_cannot_use(words, tmp_path):
    """A hand-edited words.csv: an empty start gave a traceback in audio slicing and, with
    feature slicing, a silent 'nearest frame' feature; a repeated token id wrote two rows
    for one id (the distances then failed on it)."""
    from codecprobe.encode import main

    spec = json.dumps({"name": "m", "family": "melrvq", "weights": "random", "n_layers": 2})
    args = ["--codec", spec, "--words", str(tmp_path / "w.csv"), "--out", str(tmp_path / "f.h5"), "--device", "cpu"]
    w = words.copy()
    w["start"] = w["start"].astype(float)
    w.loc[w.index[1], "start"] = float("nan")
    w.to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"w.csv: column start has an empty or non-finite value \(row 2\)"):
        main([*args, "--slicing", "feature"])
    pd.concat([words, words.iloc[:1]]).to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"w.csv: token_id .* occurs more than once"):
        main(args)
    words.drop(columns="path").to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"w.csv: no column\(s\) path"):
        main(args)
    assert not (tmp_path / "f.h5").exists()


def test_a_codec_whose_packages_are_missing_says_where_they_are(monkeypatch):
    """The demo's venv has no torch: a neural codec added to its config stopped its encode
    job with a bare ModuleNotFoundError, naming neither the env nor make setup-codecs."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch: ModuleNotFoundError, as without torch
    with pytest.raises(CodecprobeError) as e:
        load_codec(CodecSpec("enc", "encodec", weights="random"))
    assert str(e.value) == (
        "codec 'enc' (family encodec): needs the Python package 'torch', which this environment lacks: run the "
        "workflow with --use-conda (its env: envs/codec-hf.yaml), or install the codecs' packages into this one "
        "(make setup-codecs: requirements-codecs.txt)"
    )
    assert load_codec(CodecSpec("m", "melrvq", weights="random")).n_layers == 8  # NumPy only: unaffected
