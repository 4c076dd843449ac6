"""EnCodec, DAC and MIMI adapters (transformers implementations), random weights at real size.

Each model is built once per module (seeded), with its codebooks filled from the residual
they quantize; the clips are seeded speech-like audio (gliding harmonics + noise bursts),
independent of the audio used for the fill.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from codecprobe.codecs import CodecSpec, load_codec  # noqa: E402
from codecprobe.codecs import _torchutil as tu  # noqa: E402
from codecprobe.io import CodecprobeError  # noqa: E402
from conftest import rel, torch_threads  # noqa: E402

FAMILIES = ["encodec", "dac", "mimi"]
EXPECTED = {  # sample_rate, frame_rate, hop_length, n_layers, dim
    "encodec": (24000, 75.0, 320, 16, 128),
    "dac": (24000, 75.0, 320, 32, 1024),
    "mimi": (24000, 12.5, 1920, 32, 512),
}
SR = 24000
CLIP_SECONDS = 2.0
_CACHE: dict[str, object] = {}


def accumulated(codec, codes):
    """Feature at layer k = sum of the decoded vectors of layers 1..k: ``[B, K, F, D]``."""
    return torch.cumsum(codec.layer_vectors(codes), dim=1)


@pytest.fixture(scope="module", autouse=True)
def _threads():
    with torch_threads(2):
        yield
    _CACHE.clear()


@pytest.fixture(scope="module")
def clips():
    """Two different seeded 2 s clips, ``[2, T]``."""
    return tu.probe_audio(int(CLIP_SECONDS * SR), SR, seed=2024, batch=2)


def get_codec(family: str):
    if family not in _CACHE:
        _CACHE[family] = load_codec(CodecSpec(f"test-{family}", family, weights="random", seed=0))
    return _CACHE[family]


@pytest.fixture(params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture
def codec(family):
    return get_codec(family)


@pytest.fixture
def coded(codec, clips):
    """Codes of clip 0 alone, ``[1, K, F]`` (computed once per family)."""
    key = (codec.family, "codes")
    if key not in _CACHE:
        _CACHE[key] = codec.encode(clips[:1])
    return _CACHE[key]


def test_attributes_and_metadata(codec, family):
    sr, fr, hop, k, dim = EXPECTED[family]
    assert (codec.sample_rate, codec.frame_rate, codec.hop_length, codec.n_layers, codec.dim) == (sr, fr, hop, k, dim)
    meta = codec.metadata()
    assert meta["family"] == family and meta["random_weights"] is True
    assert meta["weights_sha256"] == "random"
    assert meta["torch_version"] == torch.__version__
    import transformers

    assert meta["transformers_version"] == transformers.__version__
    for k_ in range(codec.n_layers):
        assert codec.tables()[k_].shape[1] == dim
    # the real architecture's size (README *Codecs*: EnCodec 14.9 M, DAC 74.7 M, MIMI 79.3 M parameters)
    n_params = sum(p.numel() for p in codec.model.parameters())
    assert round(n_params / 1e6, 1) == {"encodec": 14.9, "dac": 74.7, "mimi": 79.3}[family], n_params


def test_table_1_rates_of_the_real_architectures(codec, family):
    """Random weights at the real size: the input rate and the codes' bitrate over the layers
    used are the paper's Table 1 (24 kHz; 12, 24 and 4.4 kbps)."""
    from codecprobe.codectable import bitrate_bps

    sizes = [len(t) for t in codec.tables()]
    assert codec.sample_rate == 24000
    assert bitrate_bps(codec.frame_rate, sizes) == {"encodec": 12000, "dac": 24000, "mimi": 4400}[family]


def test_codes_shape_dtype(codec, coded, clips):
    assert coded.dtype == torch.int64
    assert tuple(coded.shape) == (1, codec.n_layers, codec.n_frames(clips.shape[1]))


def test_last_layer_feature_is_codec_quantized_output(codec, coded):
    acc = accumulated(codec, coded)
    q = codec.quantized(coded)
    assert q.shape == (1, coded.shape[2], codec.dim)
    err = rel(acc[:, -1], q)
    assert err < 1e-5, err


def test_first_layer_feature_is_first_codebook_vector(codec, coded):
    acc = accumulated(codec, coded)
    assert torch.equal(acc[:, 0], codec.codebook_vectors(0)[coded[:, 0]])


@pytest.mark.parametrize("family", ["encodec", "dac"])
def test_every_layer_feature_is_the_codecs_own_output_of_its_first_codebooks(codec, coded):
    """Layer k's accumulated feature equals the codec's own quantizer decoding of codebooks
    1..k alone (its RVQ decodes any prefix), at layer 1 and deeper: an adapter that took
    a layer's vectors from the wrong codebook would pass the last-layer identity when the
    errors cancel and layer 1's check when layer 1 is right. (MIMI's split RVQ: test_mimi_split_rvq.)"""
    acc = accumulated(codec, coded)
    for k in (1, 2, 5, codec.n_layers // 2):
        err = rel(acc[:, k - 1], codec.quantized(coded[:, :k]))
        assert err < 1e-6, (k, err)


def test_codes_are_diverse(codec, coded):
    first, last = coded[0, 0], coded[0, -1]
    assert first.unique().numel() >= 10, first
    assert last.unique().numel() > 1, last
    # the deepest layer still contributes something above float rounding
    lv = codec.layer_vectors(coded)
    assert float(lv[:, -1].norm()) > 1e-6 * float(lv[:, 0].norm())


def test_frame_count_matches_n_frames(codec):
    hop = codec.hop_length
    wav = tu.probe_audio(8 * hop + 1, SR, seed=7, batch=1)
    for n in (8 * hop, 8 * hop + 1, 8 * hop - 7, 5 * hop + hop // 3, hop - 1):
        codes = codec.encode(wav[:, :n])
        assert codes.shape[2] == codec.n_frames(n), (n, codes.shape)


def test_mimi_frame_counts_are_remembered_per_length(monkeypatch):
    """MIMI's ``n_frames`` is ``get_encoded_length`` (a few dozen host torch operations), asked
    once per clip length: a second call for a length does not run the model's arithmetic,
    and every answer is the model's own."""
    codec = get_codec("mimi")
    lengths = [1, 1919, 1920, 1921, 7 * 1920 + 5, 24000]
    want = {n: int(codec.model.get_encoded_length(torch.tensor(n)).item()) for n in lengths}
    monkeypatch.setattr(codec, "_n_frames", {})
    calls = []
    real = codec.model.get_encoded_length
    monkeypatch.setattr(codec.model, "get_encoded_length", lambda x: calls.append(int(x)) or real(x))
    assert [codec.n_frames(n) for n in lengths + lengths] == [want[n] for n in lengths + lengths]
    assert sorted(calls) == sorted(lengths)
    assert want[1920] == 1 and want[1921] == 2 and want[24000] == 13


def test_batch_of_equal_length_clips_gives_the_same_codes(codec, coded, clips):
    both = codec.encode(clips)
    assert torch.equal(both[:1], coded)
    assert not torch.equal(both[1], both[0])


def test_padding_a_shorter_clip_changes_few_frames(codec, clips):
    """Measured, not asserted: how many frames change when a shorter clip is zero-padded
    to a longer one's length in a batch (the codec only sees a longer signal)."""
    n = int(1.3 * SR)
    alone = codec.encode(clips[:1, :n])
    padded = torch.zeros_like(clips)
    padded[0, :n] = clips[0, :n]
    padded[1] = clips[1]
    batch = codec.encode(padded)[:1, :, : alone.shape[2]]
    changed = torch.nonzero((batch != alone).any(dim=1)[0]).flatten().tolist()
    print(f"\n{codec.family}: frames {changed} of {alone.shape[2]} differ after zero-padding 1.3 s -> 2 s")
    assert alone.shape[2] == codec.n_frames(n)


def test_lengths_undo_the_padding(codec, clips):
    """``encode(wav, lengths=...)`` (``accepts_lengths``): each clip's codes are its codes alone."""
    assert codec.accepts_lengths and not codec.pad_invariant
    n = int(1.3 * SR)
    padded = torch.zeros_like(clips)
    padded[0, :n] = clips[0, :n]
    padded[1] = clips[1]
    codes = codec.encode(padded, lengths=torch.tensor([n, clips.shape[1]]))
    f = codec.n_frames(n)
    assert codes.shape == (2, codec.n_layers, codec.n_frames(clips.shape[1]))
    assert torch.equal(codes[:1, :, :f], codec.encode(clips[:1, :n]))
    assert torch.equal(codes[1:], codec.encode(clips[1:]))
    assert not codes[0, :, f:].any()
    with pytest.raises(CodecprobeError, match="lengths"):
        codec.encode(padded, lengths=torch.tensor([n, clips.shape[1] + 1]))


def test_mimi_split_rvq():
    codec = get_codec("mimi")
    codes = codec.encode(tu.probe_audio(int(CLIP_SECONDS * SR), SR, seed=2024, batch=1))
    acc = accumulated(codec, codes)
    q = codec.model.quantizer
    sem, ac = q.semantic_residual_vector_quantizer, q.acoustic_residual_vector_quantizer
    assert codec.n_semantic == 1
    with torch.no_grad():
        sem_vec = sem.layers[0].codebook.embed[codes[:, 0]]  # [B, F, 256]
        f1 = sem.output_proj(sem_vec.transpose(1, 2)).transpose(1, 2)
        assert rel(acc[:, 0], f1) < 1e-6
        total = torch.zeros_like(sem_vec)
        for k in range(1, codec.n_layers):
            total = total + ac.layers[k - 1].codebook.embed[codes[:, k]]
            direct = ac.output_proj(total.transpose(1, 2)).transpose(1, 2)
            err = rel(acc[:, k] - acc[:, 0], direct)
            assert err < 1e-5, (k, err)


def test_encodec_first_codes_equal_smaller_bandwidth(clips):
    codec = get_codec("encodec")
    x = clips[:1, : SR // 2]
    codes = codec.encode(x)
    assert codec.bandwidth == 12.0
    with torch.inference_mode():
        small = codec.model.encode(x[:, None], bandwidth=1.5).audio_codes[0]
        full = codec.model.encode(x[:, None], bandwidth=24.0).audio_codes[0]
    assert small.shape[1] == 2 and full.shape[1] == 32
    assert torch.equal(codes[:, :2], small)
    assert torch.equal(codes, full[:, :16])


def test_missing_weights_folder_is_a_clear_error():
    with pytest.raises(CodecprobeError, match="/no/such/dir"):
        load_codec(CodecSpec("x", "encodec", weights="/no/such/dir"))


def test_empty_weights_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CodecprobeError, match=r"cannot load weights .*no file named"):
        load_codec(CodecSpec("x", "dac", weights=str(tmp_path)))


@pytest.mark.parametrize("fam", FAMILIES)
def test_too_many_layers_is_a_clear_error(fam):
    with pytest.raises(CodecprobeError, match="n_layers=99"):
        load_codec(CodecSpec("x", fam, n_layers=99))


def test_local_folder_roundtrip(tmp_path, clips, monkeypatch):
    """save_pretrained of the random EnCodec, loaded back by path: same codes, hashed weights;
    named as ``~/...`` too (before session 22 that folder was recorded as ``hub:~/...``,
    without a hash, though it loaded from disk)."""
    codec = get_codec("encodec")
    codec.model.save_pretrained(tmp_path / "enc")
    again = load_codec(CodecSpec("local", "encodec", weights=str(tmp_path / "enc")))
    x = clips[:1, : SR // 2]
    assert torch.equal(again.encode(x), codec.encode(x))
    meta = again.metadata()
    assert meta["random_weights"] is False and len(meta["weights_sha256"]) == 64
    monkeypatch.setenv("HOME", str(tmp_path))
    home = load_codec(CodecSpec("local", "encodec", weights="~/enc")).metadata()
    assert home["weights_sha256"] == meta["weights_sha256"] and home["weights"] == "~/enc"


def test_folder_with_other_architecture_is_refused(tmp_path):
    get_codec("encodec").model.save_pretrained(tmp_path)
    with pytest.raises(CodecprobeError, match="cannot load weights .*'encodec' checkpoint, not 'dac'"):
        load_codec(CodecSpec("x", "dac", weights=str(tmp_path)))
    (tmp_path / "config.json").unlink()  # no name to go by: the tensors do not fit
    with pytest.raises(CodecprobeError, match="cannot load weights"):
        load_codec(CodecSpec("x", "dac", weights=str(tmp_path)))


# -- DAC's vectors option: decoded (default, 1024-d z_q) or release_8d (raw 8-d rows) -------
def get_dac_release():
    """Random DAC of seed 0 (the same weights as get_codec("dac")) with ``vectors: release_8d``,
    4 layers."""
    if "dac-release" not in _CACHE:
        _CACHE["dac-release"] = load_codec(
            CodecSpec(
                "test-dac-release", "dac", weights="random", seed=0, n_layers=4, options={"vectors": "release_8d"}
            )
        )
    return _CACHE["dac-release"]


def test_dac_release_8d_vectors_are_the_raw_codebook_rows():
    rel_codec = get_dac_release()
    assert rel_codec.dim == 8 and rel_codec.n_layers == 4
    meta = rel_codec.metadata()
    assert meta["vectors"] == "release_8d" and meta["dim"] == 8 and "release" in meta["vectors_note"]
    for k in range(4):
        raw = rel_codec.model.quantizer.quantizers[k].codebook.weight
        got = rel_codec.codebook_vectors(k)
        assert got.shape == (1024, 8)
        assert torch.equal(got, raw.detach())  # raw rows: not L2-normalized, not projected
    # the layer-k feature is the hand sum of the raw rows of layers 1..k
    codes = torch.randint(0, 1024, (2, 4, 7), generator=torch.Generator().manual_seed(1))
    acc = accumulated(rel_codec, codes)
    assert acc.shape == (2, 4, 7, 8)
    books = [rel_codec.model.quantizer.quantizers[j].codebook.weight.detach() for j in range(4)]
    for k in range(4):
        hand = sum(books[j][codes[:, j]] for j in range(k + 1))
        torch.testing.assert_close(acc[:, k], hand, rtol=0, atol=1e-7)
    # quantized() is still the codec's own 1024-d z_q (= the default's accumulated layer 4)
    default = get_codec("dac")  # same seed: same weights
    q = rel_codec.quantized(codes)
    assert q.shape == (2, 7, 1024)
    assert torch.equal(q, default.quantized(codes))
    assert rel(accumulated(default, codes)[:, 3], q) < 1e-5


def test_dac_default_vectors_are_the_projected_codebook_rows():
    codec = get_codec("dac")
    meta = codec.metadata()
    assert meta["vectors"] == "decoded" and "vectors_note" not in meta and codec.dim == 1024
    for k in (0, 31):
        q = codec.model.quantizer.quantizers[k]
        hand = q.codebook.weight @ q.out_proj.weight[:, :, 0].T + q.out_proj.bias  # out_proj(row) + bias
        torch.testing.assert_close(codec.codebook_vectors(k), hand.detach(), rtol=1e-5, atol=1e-7)


def test_dac_unknown_vectors_is_a_clear_error():
    with pytest.raises(CodecprobeError, match=r"codec 'x': vectors '8d' is not one of decoded, release_8d"):
        load_codec(CodecSpec("x", "dac", options={"vectors": "8d"}))


def test_encode_stage_with_dac_release_8d(corpus, tmp_path):
    """The encode stage, given the entry as the rule passes it: pooled [N, K, 8], 8-d
    codebooks, ``vectors`` in the HDF5 attributes, features rebuilt from codes + codebooks."""
    import json

    import h5py
    import numpy as np

    from codecprobe.encode import EncodeConfig, run, spec_from_json
    from codecprobe.manifest import build_manifest
    from codecprobe.words import WordFilter, build_word_table, index_textgrids

    spec = spec_from_json(json.dumps({"name": "dac8", "family": "dac", "n_layers": 4, "vectors": "release_8d"}))
    assert spec.options == {"vectors": "release_8d"}
    m, _ = build_manifest(corpus[0], ["dev-clean"])
    words = build_word_table(m, index_textgrids(corpus[1]), WordFilter())[0].iloc[:3]
    out = tmp_path / "dac8.h5"
    run(get_dac_release(), words, None, str(out), EncodeConfig(pooling=("mean", "centroid")))
    with h5py.File(out) as h:
        assert h.attrs["vectors"] == "release_8d" and h.attrs["dim"] == 8
        pooled = h["pooled/mean"][:]
        assert h["pooled/centroid"].shape == (3, 4, 8)
        codes, off, n = h["codes"][:], h["tokens/frame_offset"][:], h["tokens/n_frames"][:]
        tables = [h[f"codebooks/layer_{k:02d}"][:] for k in range(1, 5)]
    assert pooled.shape == (3, 4, 8) and all(t.shape == (1024, 8) for t in tables)
    books = [get_dac_release().model.quantizer.quantizers[k].codebook.weight.detach().numpy() for k in range(4)]
    for t, b in zip(tables, books):
        np.testing.assert_array_equal(t, b)
    for i in range(3):
        c = codes[:, off[i] : off[i] + n[i]]
        rebuilt = np.cumsum(np.stack([books[k][c[k]] for k in range(4)]), axis=0).mean(1)
        np.testing.assert_allclose(pooled[i], rebuilt, rtol=1e-5, atol=1e-6)


def test_dac_chunks_with_context_give_the_whole_utterance_codes():
    """DAC's encoder is non-causal: a chunk's last frames see the audio after it. With
    0.25 s of context on both sides every code of a chunked 4 s utterance (1.5 s chunks)
    equals the whole utterance's. A left context alone (before session 10) left up to 6
    frames before each chunk's right edge wrong (7 s in 2 s chunks: 14 of 525 frames)."""
    import numpy as np
    from codecprobe.encode import EncodeConfig, chunked_codes, encode_batch

    codec = get_codec("dac")
    wav = np.asarray(tu.probe_audio(4 * SR, SR, seed=1, batch=1)[0], np.float32)
    whole = encode_batch(codec, [wav])[0]
    cfg = EncodeConfig(chunk_seconds=1.5, chunk_context_seconds=0.25)
    np.testing.assert_array_equal(chunked_codes(codec, wav, cfg), whole)
    assert cfg.counts["utterances encoded in chunks"] == 1


def test_dac_pads_the_end_with_zeros_to_a_multiple_of_the_hop(clips):
    """Like the package's ``DAC.preprocess``: a clip 100 samples short of 48 hops is encoded
    as the clip followed by 100 zeros (48 frames), nothing added before it."""
    codec = get_codec("dac")
    x = clips[:1, : 48 * 320 - 100]
    padded = torch.nn.functional.pad(x, (0, 100))
    with torch.inference_mode():
        want = codec.model.encode(padded[:, None], n_quantizers=codec.n_layers).audio_codes
    got = codec.encode(x)
    assert got.shape == (1, 32, 48)
    assert torch.equal(got, want)


@pytest.mark.parametrize(
    "changes",
    [{"chunk_length_s": 1.0, "overlap": 0.01}, {"audio_channels": 2}],
    ids=["chunked", "stereo"],
)
def test_encodec_chunked_or_stereo_weights_are_refused(tmp_path, changes):
    """Only the 24 kHz mono, unchunked EnCodec is supported (the 48 kHz model is both
    chunked and stereo; either alone is refused)."""
    from transformers import EncodecConfig, EncodecModel

    small = {"num_filters": 4, "hidden_size": 16, "codebook_size": 8, "num_lstm_layers": 1}
    EncodecModel(EncodecConfig(**small, **changes)).save_pretrained(tmp_path)
    with pytest.raises(CodecprobeError, match="chunked or multi-channel EnCodec .*only the 24 kHz mono"):
        load_codec(CodecSpec("x", "encodec", weights=str(tmp_path)))


@pytest.mark.parametrize(("fam", "audio_s"), [("encodec", 8.0), ("mimi", 16.0)])
def test_codebook_fill_is_the_codebook_the_model_quantizes_with(monkeypatch, fam, audio_s):
    """``weights: random``: every layer's codebook, as the model reads it when it encodes
    (MIMI divides ``embed_sum`` by ``cluster_usage``), is exactly the rows the fill drew for
    it, and the fill is recorded in the metadata (2 clips of 4 s / 8 s, 32 layers)."""
    drawn = []
    original = tu.fill_rvq_codebooks

    def recording(frames, sizes, set_codebook, *args, **kwargs):
        def record(j, vectors):
            drawn.append(vectors.detach().clone())
            set_codebook(j, vectors)

        return original(frames, sizes, record, *args, **kwargs)

    monkeypatch.setattr(tu, "fill_rvq_codebooks", recording)
    codec = load_codec(CodecSpec(f"fill-{fam}", fam, weights="random", seed=0))
    q = codec.model.quantizer
    if fam == "encodec":
        layers = list(q.layers)
    else:  # the semantic layer, then the acoustic ones (the global layer order)
        layers = [*q.semantic_residual_vector_quantizer.layers, *q.acoustic_residual_vector_quantizer.layers]
    assert len(drawn) == len(layers) == 32
    for vectors, layer in zip(drawn, layers):
        assert torch.equal(layer.codebook.embed, vectors)
    fill = codec.metadata()["codebook_fill"]
    assert fill["audio_s"] == audio_s and fill["jitter"] == 0.5 and len(fill["residual_rms"]) == 32


def test_hub_weights_sha256_reads_the_hub_cache(tmp_path, monkeypatch):
    """The hash and snapshot revision of the weights file the Hugging Face cache holds
    (``model.safetensors``, else ``pytorch_model.bin``), asked at the given revision first;
    None when the cache has neither."""
    import hashlib

    import huggingface_hub

    snap = tmp_path / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    (snap / "pytorch_model.bin").write_bytes(b"weights")
    asked = []

    def cache(repo_id, filename, revision=None):
        asked.append((filename, revision))
        p = snap / filename
        return str(p) if p.is_file() else None

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", cache)
    want = (hashlib.sha256(b"weights").hexdigest(), "0123abc")
    assert tu.hub_weights_sha256("org/model", "0123abc") == want
    assert asked == [("model.safetensors", "0123abc"), ("model.safetensors", None), ("pytorch_model.bin", "0123abc")]
    (snap / "model.safetensors").write_bytes(b"other")
    assert tu.hub_weights_sha256("org/model") == (hashlib.sha256(b"other").hexdigest(), "0123abc")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    assert tu.hub_weights_sha256("org/model") is None


def test_is_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert tu.is_hub_id("kyutai/mimi") and tu.is_hub_id("facebook/encodec_24khz")
    for local in ("random", "/abs/model", "./model", "../model", "~/model", "a/b/c", ".hidden/model", "org/w.safetensors"):
        assert not tu.is_hub_id(local), local
    (tmp_path / "org" / "model").mkdir(parents=True)  # an existing folder of the hub-id shape
    assert not tu.is_hub_id("org/model")


def test_hub_id_that_fails_to_load_says_it_is_no_local_path_either(tmp_path, monkeypatch):
    """``weights/encodec_24khz`` (no such folder) is a valid hub id: when the hub fails, the
    error names the local path that does not exist, the hub's error and offline mode."""
    monkeypatch.chdir(tmp_path)

    class Model:
        @staticmethod
        def from_pretrained(*a, **k):
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files\nmore")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(CodecprobeError) as err:
        tu.load_pretrained(Model, CodecSpec("e", "encodec", weights="weights/encodec_24khz"))
    assert str(err.value) == (
        f"codec 'e': cannot load weights 'weights/encodec_24khz': not a local path (no "
        f"{tmp_path.resolve() / 'weights' / 'encodec_24khz'}), and as a Hugging Face hub id (HF_HUB_OFFLINE is set: "
        f"only the cache {tmp_path / 'hf'} is read): OSError: We couldn't connect to 'https://huggingface.co' to load the files"
    )
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with pytest.raises(CodecprobeError, match=r"no .*encodec_24khz\), and as a Hugging Face hub id: OSError"):
        tu.load_pretrained(Model, CodecSpec("e", "encodec", weights="weights/encodec_24khz"))
    with pytest.raises(CodecprobeError, match=r"^codec 'e': cannot load weights 'w/e.safetensors': no such file or folder"):
        tu.load_pretrained(Model, CodecSpec("e", "encodec", weights="w/e.safetensors"))  # a path: the hub is not asked


def test_released_layer_counts_are_the_random_builds_architectures():
    """RELEASES, which the start-up check reads, against the architectures the adapters build."""
    from codecprobe.codecs.base import RELEASES
    from codecprobe.codecs.dac import DAC_24KHZ
    from transformers import DacConfig, EncodecConfig, MimiConfig

    assert EncodecConfig().num_quantizers == RELEASES["encodec"].n_layers
    assert DacConfig(**DAC_24KHZ).n_codebooks == RELEASES["dac"].n_layers
    assert MimiConfig().num_quantizers == RELEASES["mimi"].n_layers


def test_resolve_device(monkeypatch):
    """auto picks CUDA when present; a CUDA or MPS device that is absent, a CUDA index past
    the devices, or a device torch does not know is a clear error naming the codec."""
    spec = CodecSpec("x", "dac")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert tu.resolve_device(spec, None) == tu.resolve_device(spec, "auto") == "cpu"
    assert tu.resolve_device(spec, "cpu") == "cpu"
    with pytest.raises(CodecprobeError, match="codec 'x': device 'cuda' requested but CUDA is not available"):
        tu.resolve_device(spec, "cuda")
    with pytest.raises(CodecprobeError, match="codec 'x': invalid device 'gpu'"):
        tu.resolve_device(spec, "gpu")
    if not torch.backends.mps.is_available():
        with pytest.raises(CodecprobeError, match="device 'mps' requested but MPS is not available"):
            tu.resolve_device(spec, "mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert tu.resolve_device(spec, "auto") == "cuda"
    assert tu.resolve_device(spec, "cuda:1") == "cuda:1"
    with pytest.raises(CodecprobeError, match=r"device 'cuda:2' requested but only 2 CUDA device\(s\)"):
        tu.resolve_device(spec, "cuda:2")

