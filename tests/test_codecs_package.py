"""EnCodec and DAC through their original packages (``backend: package``), random weights.

These need the packages' env (encodec 0.1.1 + descript-audio-codec 1.0.0 beside torch
2.13.0 and torchaudio's Python part; ``make test-packages`` builds it as .venv-pkg from
requirements-packages*.txt and runs this file there; CI does the same). In the main test
env, where the packages are absent, the module is skipped.

Besides the interface checks (last-layer feature = the package's own quantizer output,
layer 1 = first codebook vector, frames, batching, loading and bad weights), the same
random weights are copied into the transformers port (:mod:`codecprobe.codecs.encodec`,
:mod:`codecprobe.codecs.dac`) and both must give identical codes and features: the
default (transformers) backend is the package's model.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("encodec")
pytest.importorskip("dac")

from codecprobe.codecs import CodecSpec, load_codec  # noqa: E402
from codecprobe.codecs import _torchutil as tu  # noqa: E402
from codecprobe.codecs import dac_package, encodec_package  # noqa: E402
from codecprobe.io import CodecprobeError  # noqa: E402
from conftest import rel, torch_threads  # noqa: E402

# the packages build their convolutions with the deprecated torch.nn.utils.weight_norm
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.nn.utils.weight_norm.*:FutureWarning")

FAMILIES = ["encodec", "dac"]
EXPECTED = {  # sample_rate, frame_rate, hop_length, n_layers, dim
    "encodec": (24000, 75.0, 320, 16, 128),
    "dac": (24000, 75.0, 320, 32, 1024),
}
SR = 24000
_CACHE: dict = {}


def spec(family: str, weights: str = "random", **kw) -> CodecSpec:
    return CodecSpec(f"pkg-{family}", family, weights=weights, options={"backend": "package"}, **kw)


def get_codec(family: str):
    if family not in _CACHE:
        _CACHE[family] = load_codec(spec(family))
    return _CACHE[family]


@pytest.fixture(scope="module", autouse=True)
def _threads():
    with torch_threads(2):
        yield
    _CACHE.clear()


@pytest.fixture(scope="module")
def clips():
    """Two different seeded 1.5 s clips, ``[2, T]``."""
    return tu.probe_audio(int(1.5 * SR), SR, seed=7, batch=2)


@pytest.fixture(params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture
def codec(family):
    return get_codec(family)


def test_released_layer_count_is_the_package_model_s(codec, family):
    """RELEASES, which the start-up check reads (``pretrained``, and any EnCodec file: loaded
    strictly into this model), against the package's model."""
    from codecprobe.codecs.base import RELEASES

    layers = codec.vq_layers if family == "encodec" else codec.quantizers
    assert len(layers) == RELEASES[family].n_layers


def test_adapter_class_attributes_and_metadata(codec, family):
    sr, fr, hop, k, dim = EXPECTED[family]
    assert type(codec).__name__ == {"encodec": "EncodecPackageCodec", "dac": "DacPackageCodec"}[family]
    assert (codec.sample_rate, codec.frame_rate, codec.hop_length, codec.n_layers, codec.dim) == (sr, fr, hop, k, dim)
    meta = codec.metadata()
    assert meta["backend"] == "package" and meta["random_weights"] is True and meta["weights_sha256"] == "random"
    import torchaudio

    # the installed releases, as the modules name themselves (torchaudio without its "+cu130")
    assert meta["torch_version"] == torch.__version__
    assert meta["torchaudio_version"] == torchaudio.__version__.split("+")[0]
    dist = {"encodec": "encodec_version", "dac": "descript_audio_codec_version"}[family]
    assert meta[dist] == {"encodec": "0.1.1", "dac": "1.0.0"}[family]
    if family == "encodec":
        assert meta["bandwidth_kbps"] == 12.0  # 16 layers at 75 Hz x 10 bits


def test_last_layer_feature_is_the_package_quantizer_output(codec, clips):
    codes = codec.encode(clips)
    assert codes.shape == (2, codec.n_layers, codec.n_frames(clips.shape[1])) and codes.dtype == torch.int64
    acc = torch.cumsum(codec.layer_vectors(codes), dim=1)  # [B, K, F, D]
    assert rel(acc[:, -1], codec.quantized(codes)) < 1e-5
    first = codec.tables()[0][codes[:, 0]]
    assert torch.equal(acc[:, 0], first)
    # the package's own encode -> decode path agrees with quantized() (not a tautology:
    # quantized() calls quantizer.decode / from_codes, acc sums the adapter's tables)
    assert len(torch.unique(codes[:, 0])) > 10 and len(torch.unique(codes[:, -1])) > 10


@pytest.mark.parametrize("seconds", [0.01, 0.3337, 1.0])
def test_frame_count_matches_n_frames(codec, seconds):
    n = int(seconds * SR)
    codes = codec.encode(tu.probe_audio(n, SR, seed=3))
    assert codes.shape[-1] == codec.n_frames(n) == -(-n // 320)


def test_lengths_undo_the_padding(codec, clips):
    short = clips[1, : int(0.7 * SR)]
    padded = torch.zeros(2, clips.shape[1])
    padded[0] = clips[0]
    padded[1, : short.numel()] = short
    batch = codec.encode(padded, lengths=torch.tensor([clips.shape[1], short.numel()]))
    alone = codec.encode(short[None])
    f = alone.shape[-1]
    assert torch.equal(batch[1, :, :f], alone[0]) and torch.equal(batch[0], codec.encode(clips[:1])[0])
    assert not batch[1, :, f:].any()


def test_encodec_16_layers_are_the_first_codes_of_32():
    c16 = get_codec("encodec")
    c32 = load_codec(spec("encodec", n_layers=32))
    wav = tu.probe_audio(SR, SR, seed=11)
    a, b = c16.encode(wav), c32.encode(wav)
    assert c32.metadata()["bandwidth_kbps"] == 24.0
    assert torch.equal(a, b[:, :16])


# -- the package and the transformers port are the same model ------------------------------
LEAF = {"weight_g": "original0", "weight_v": "original1"}


def _by_module(state: dict, top: str) -> list[tuple[str, dict[str, str]]]:
    """``[(module path, {leaf: key})]`` of the tensors under ``top``, modules in registration
    order; a parametrized weight norm's ``<m>.parametrizations.weight.original0`` counts as
    leaf ``original0`` of module ``<m>``."""
    out: dict[str, dict[str, str]] = {}
    for k in state:
        if k.split(".")[0] != top:
            continue
        path, leaf = k.rsplit(".", 1)
        path = path.removesuffix(".parametrizations.weight")
        out.setdefault(path, {})[leaf] = k
    return list(out.items())


def copy_into_transformers(package_model, hf_model) -> int:
    """Copy the package's tensors into the transformers port. Within each top-level module
    (encoder, quantizer, decoder) the submodules holding tensors are matched in
    registration order; a matched pair must hold the same leaves (``weight_g``/``weight_v``
    = the parametrized weight norm's ``original0``/``original1``) of the same shapes.
    Returns the number of tensors copied (all of the port's)."""
    src, dst = package_model.state_dict(), hf_model.state_dict()
    copied = 0
    for top in ("encoder", "quantizer", "decoder"):
        a, b = _by_module(src, top), _by_module(dst, top)
        assert len(a) == len(b), (top, len(a), len(b))
        for (pa, leaves_a), (pb, leaves_b) in zip(a, b):
            assert {LEAF.get(x, x) for x in leaves_a} == set(leaves_b), (pa, pb)
            for leaf, ka in leaves_a.items():
                kb = leaves_b[LEAF.get(leaf, leaf)]
                assert src[ka].shape == dst[kb].shape, (ka, kb)
                dst[kb] = src[ka]
                copied += 1
    assert copied == len(dst)
    hf_model.load_state_dict(dst, strict=True)
    return copied


def test_transformers_port_gives_the_same_codes_and_features(family, clips):
    pytest.importorskip("transformers")
    pkg = get_codec(family)
    hf = load_codec(CodecSpec(f"hf-{family}", family, weights="random", seed=5))  # other weights
    model = pkg.model
    if family == "dac":  # the transformers port stores the weight-normed weight itself
        import dac

        model = dac.DAC(**dac_package.DAC_24KHZ)  # a copy (deepcopy fails on weight_norm)
        model.load_state_dict(pkg.model.state_dict())
        for m in model.modules():
            if hasattr(m, "weight_g"):
                torch.nn.utils.remove_weight_norm(m)
    n = copy_into_transformers(model, hf.model)
    assert n > 100
    hf.__dict__.pop("_tables", None)
    wav = clips
    a, b = pkg.encode(wav), hf.encode(wav)
    assert torch.equal(a, b)
    fa = torch.cumsum(pkg.layer_vectors(a), 1)
    fb = torch.cumsum(hf.layer_vectors(b), 1)
    assert rel(fb, fa) < 1e-6


# -- loading ---------------------------------------------------------------------------------
def test_encodec_local_file_roundtrip_and_hash(tmp_path, clips):
    pkg = get_codec("encodec")
    path = tmp_path / "mine.th"
    torch.save(pkg.model.state_dict(), path)
    loaded = load_codec(spec("encodec", str(path)))
    assert torch.equal(loaded.encode(clips[:1]), pkg.encode(clips[:1]))
    meta = loaded.metadata()
    assert meta["random_weights"] is False and meta["weights_sha256"] == encodec_package.pk.file_sha256(path)


def test_encodec_pretrained_is_read_from_the_torch_hub_cache(tmp_path, monkeypatch, clips):
    """``weights: pretrained`` loads what the package loads (the torch hub cache, where a
    cached file is not downloaded again) and records that file's sha256 and path."""
    pkg = get_codec("encodec")
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    cached = tmp_path / "checkpoints" / encodec_package.CHECKPOINT
    cached.parent.mkdir()
    torch.save(pkg.model.state_dict(), cached)
    loaded = load_codec(spec("encodec", "pretrained"))
    assert torch.equal(loaded.encode(clips[:1]), pkg.encode(clips[:1]))
    meta = loaded.metadata()
    assert meta["weights_file"] == str(cached)
    assert meta["weights_sha256"] == encodec_package.pk.file_sha256(cached)


def test_checkpoint_that_is_not_a_state_dict_is_refused(tmp_path):
    """A list of tensors, or a DAC checkpoint (state dict nested under ``state_dict``) given
    as EnCodec weights: named as not a state dict."""
    torch.save([torch.zeros(1)], tmp_path / "list.th")
    nested = {"state_dict": get_codec("encodec").model.state_dict(), "metadata": {"kwargs": {}}}
    torch.save(nested, tmp_path / "nested.th")
    for name in ("list.th", "nested.th"):
        with pytest.raises(CodecprobeError, match=f"weights '.*{name}' do not fit .*expected a dict of tensors"):
            load_codec(spec("encodec", str(tmp_path / name)))


def test_encodec_folder_needs_the_package_file_name_and_checksum(tmp_path):
    with pytest.raises(CodecprobeError, match="encodec_24khz-d7cc33bc.th"):
        load_codec(spec("encodec", str(tmp_path)))
    torch.save({"x": torch.zeros(1)}, tmp_path / encodec_package.CHECKPOINT)  # wrong content
    with pytest.raises(CodecprobeError, match="sha256 prefix d7cc33bc"):
        load_codec(spec("encodec", str(tmp_path)))


def test_encodec_missing_and_misshapen_tensors_are_refused(tmp_path):
    state = get_codec("encodec").model.state_dict()
    drop = dict(state)
    del drop["quantizer.vq.layers.3._codebook.embed"]
    torch.save(drop, tmp_path / "drop.th")
    with pytest.raises(CodecprobeError, match=r"1 missing tensor\(s\).*layers\.3\._codebook\.embed"):
        load_codec(spec("encodec", str(tmp_path / "drop.th")))
    bad = dict(state)
    bad["quantizer.vq.layers.0._codebook.embed"] = torch.zeros(10, 128)
    torch.save(bad, tmp_path / "bad.th")
    with pytest.raises(CodecprobeError, match=r"wrong shape.*\(10, 128\) != \(1024, 128\)"):
        load_codec(spec("encodec", str(tmp_path / "bad.th")))


def test_corrupt_or_missing_weights_file(tmp_path, family):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(CodecprobeError, match="not a readable torch checkpoint"):
        load_codec(spec(family, str(corrupt)))
    with pytest.raises(CodecprobeError, match="no such file"):
        load_codec(spec(family, str(tmp_path / "absent.pth")))


def _save_dac(path, model, kwargs):
    torch.save({"state_dict": model.state_dict(), "metadata": {"kwargs": kwargs}}, path)


def test_dac_checkpoint_roundtrip_in_the_package_format(tmp_path, clips):
    pkg = get_codec("dac")
    path = tmp_path / "weights_24khz.pth"
    _save_dac(path, pkg.model, {**dac_package.DAC_24KHZ, "unknown_training_arg": 1})  # filtered, as DAC.load does
    loaded = load_codec(spec("dac", str(path)))
    assert torch.equal(loaded.encode(clips[:1]), pkg.encode(clips[:1]))
    # the package's own loader reads the same file to the same model
    import dac

    ref = dac.DAC.load(str(path)).eval()
    assert torch.equal(ref.quantizer.quantizers[5].codebook.weight, loaded.quantizers[5].codebook.weight)


def test_dac_checkpoint_with_a_missing_tensor_is_refused(tmp_path):
    # DAC.load (strict=False) would keep a random out_proj here; the adapter refuses
    pkg = get_codec("dac")
    state = dict(pkg.model.state_dict())
    del state["quantizer.quantizers.7.out_proj.bias"]
    torch.save({"state_dict": state, "metadata": {"kwargs": dac_package.DAC_24KHZ}}, tmp_path / "w.pth")
    with pytest.raises(CodecprobeError, match=r"missing tensor\(s\).*quantizers\.7\.out_proj\.bias"):
        load_codec(spec("dac", str(tmp_path / "w.pth")))


def test_dac_checkpoint_without_metadata_is_refused(tmp_path):
    torch.save(get_codec("dac").model.state_dict(), tmp_path / "plain.pth")
    with pytest.raises(CodecprobeError, match="not a descript-audio-codec checkpoint"):
        load_codec(spec("dac", str(tmp_path / "plain.pth")))


def test_dac_44khz_checkpoint_loads_as_its_own_model(tmp_path):
    """kwargs come from the file: a 44.1 kHz checkpoint is a 44.1 kHz codec (the encode
    stage resamples to it), not silently the 24 kHz shape."""
    import dac

    small = dict(dac_package.DAC_24KHZ, encoder_rates=[2, 4, 8, 8], decoder_rates=[8, 8, 4, 2], n_codebooks=9, sample_rate=44100)
    model = dac.DAC(**small)
    _save_dac(tmp_path / "w44.pth", model, small)
    c = load_codec(spec("dac", str(tmp_path / "w44.pth"), n_layers=9))
    assert (c.sample_rate, c.hop_length, c.n_layers) == (44100, 512, 9)
    with pytest.raises(CodecprobeError, match="has only 9 quantizer layers"):
        load_codec(spec("dac", str(tmp_path / "w44.pth")))


def test_pretrained_offline_is_a_clear_error(monkeypatch, family):
    def offline(*a, **k):
        raise ConnectionError("no network")

    if family == "encodec":
        monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
        match = "cannot load the encodec package's pretrained 24 kHz model.*ConnectionError"
    else:
        import dac

        monkeypatch.setattr(dac.utils, "download", offline)
        match = "cannot fetch the descript-audio-codec 24 kHz weights.*no network"
    with pytest.raises(CodecprobeError, match=match):
        load_codec(spec(family, "pretrained"))


def test_encode_stage_runs_with_the_package_backend(corpus, tmp_path):
    """The encode stage (audio slicing, HDF5 out) with a codec entry as the rule passes it."""
    import json

    import h5py
    import numpy as np

    from codecprobe.encode import EncodeConfig, run, spec_from_json
    from codecprobe.manifest import build_manifest
    from codecprobe.words import WordFilter, build_word_table, index_textgrids

    m, _ = build_manifest(corpus[0], ["dev-clean"])
    words = build_word_table(m, index_textgrids(corpus[1]), WordFilter())[0].iloc[:4]
    entry = {"name": "pkg-dac", "family": "dac", "weights": "random", "n_layers": 4, "backend": "package"}
    codec = load_codec(spec_from_json(json.dumps(entry)))
    assert type(codec).__name__ == "DacPackageCodec"
    out = tmp_path / "dac.h5"
    run(codec, words, None, str(out), EncodeConfig())
    with h5py.File(out) as h:
        assert h.attrs["backend"] == "package" and h.attrs["random_weights"]
        assert h.attrs["descript_audio_codec_version"] == "1.0.0"
        pooled = h["pooled/mean"][:]
        codes, off, n = h["codes"][:], h["tokens/frame_offset"][:], h["tokens/n_frames"][:]
        tables = [h[f"codebooks/layer_{k:02d}"][:] for k in range(1, 5)]
    assert pooled.shape == (4, 4, 1024)
    c = codes[:, off[1] : off[1] + n[1]]
    rebuilt = np.cumsum(np.stack([tables[k][c[k]] for k in range(4)]), axis=0).mean(1)
    np.testing.assert_allclose(pooled[1], rebuilt, rtol=1e-5, atol=1e-5)


def test_dac_release_8d_vectors_with_the_package_backend(clips):
    """``vectors: release_8d``: the raw 8-d codebook rows (the package's from_codes z_p, as the
    seed release accumulated them); quantized() stays the package's z_q; bad values refused."""
    default = get_codec("dac")
    opts = {"backend": "package", "vectors": "release_8d"}
    rel_codec = load_codec(CodecSpec("pkg-dac", "dac", weights="random", n_layers=4, options=opts))
    assert rel_codec.dim == 8 and rel_codec.metadata()["vectors"] == "release_8d"
    assert default.metadata()["vectors"] == "decoded" and default.dim == 1024
    for k in range(4):
        raw = rel_codec.quantizers[k].codebook.weight.detach()
        assert torch.equal(rel_codec.codebook_vectors(k), raw)
        assert torch.equal(raw, default.quantizers[k].codebook.weight.detach())  # same seed
        q = default.quantizers[k]
        hand = raw @ q.out_proj.weight[:, :, 0].T + q.out_proj.bias
        torch.testing.assert_close(default.codebook_vectors(k), hand.detach(), rtol=1e-5, atol=1e-7)
    codes = rel_codec.encode(clips[:1])
    acc = torch.cumsum(rel_codec.layer_vectors(codes), dim=1)  # [1, 4, F, 8]
    with torch.no_grad():
        _, z_p, _ = rel_codec.model.quantizer.from_codes(codes)  # the release's source: [1, 4 * 8, F]
    release = torch.cumsum(z_p[0].view(4, 8, -1), dim=0).transpose(1, 2)  # its accumulation
    torch.testing.assert_close(acc[0], release, rtol=0, atol=1e-7)
    assert torch.equal(rel_codec.quantized(codes), default.quantized(codes))
    with pytest.raises(CodecprobeError, match=r"codec 'pkg-dac': vectors '8d' is not one of decoded, release_8d"):
        load_codec(CodecSpec("pkg-dac", "dac", options={"backend": "package", "vectors": "8d"}))
