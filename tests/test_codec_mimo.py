"""MiMo-Audio-Tokenizer encoder + RVQ (codecprobe.codecs.mimo), random weights, fixed seeds.

The real-size model (638 M encoder parameters, 32 layers) is built once per module (about
20 s and 3 GB here); the error paths and the attention-mask variants use a scaled-down model
(option ``config``), which builds in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from codecprobe.codecs._torchutil import aten_calls
from codecprobe.codecs.base import CodecSpec, load_codec
from codecprobe.codecs.mimo import RESOURCE_CONFIG, LogMel, MimoConfig, PackedRows, n_parameters
from codecprobe.io import CodecprobeError

SR = 24000
SMALL = {
    "encoder_layers": 3,
    "d_model": 64,
    "encoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "encoder_skip_layer_id": 2,
}


def chirp_noise(seconds: float, seed: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * (200 * t + 2000 * t**2)) + 0.05 * np.random.default_rng(seed).standard_normal(len(t))
    return x.astype(np.float32)


def resource_config(**overrides) -> MimoConfig:
    """The bundled tokenizer config (resources/mimo_tokenizer_config.json), keys overridden."""
    return MimoConfig.from_dict({**json.loads(RESOURCE_CONFIG.read_text()), **overrides}, "test")


def small_codec(**options) -> object:
    opts = {"config": dict(SMALL), "fill_seconds": 4.0}
    opts.update(options)
    return load_codec(CodecSpec(name="mimo-small", family="mimo", options=opts))


@pytest.fixture(scope="module")
def codec():
    return load_codec(CodecSpec(name="mimo", family="mimo", weights="random", seed=0))


@pytest.fixture(scope="module")
def chirp(codec):
    wav = torch.from_numpy(chirp_noise(2.0))[None]
    return wav, codec.encode(wav)


def assert_same_codes_up_to_ties(codec, wav, a, b, rel=1e-4, max_frac=0.05):
    """``a``, ``b``: ``[K, F]`` codes of the clip ``wav`` from two runs whose float rounding
    differs (batch shapes, devices). Equal, except where the two codewords are equidistant
    from the residual to ``rel`` (a rounding tie); the frame's deeper codes then follow a
    different residual and are not compared. At most ``max_frac`` of the frames may tie."""
    if torch.equal(a, b):
        return
    x = codec.latent(wav)[0].double()
    diverged = torch.zeros(a.shape[1], dtype=torch.bool)
    for k in range(a.shape[0]):
        cb = codec.codebook_vectors(k).double()
        for i in ((a[k] != b[k]) & ~diverged).nonzero().flatten().tolist():
            da, db = (x[i] - cb[a[k, i]]).norm(), (x[i] - cb[b[k, i]]).norm()
            assert abs(da - db) <= rel * da, f"layer {k} frame {i}: {float(da)} vs {float(db)} is no tie"
            diverged[i] = True
        x = x - cb[a[k]]
    assert diverged.float().mean() <= max_frac


# ----------------------------------------------------------------------------- real size
def test_real_architecture(codec):
    cfg = codec.cfg
    assert (cfg.encoder_layers, cfg.d_model, cfg.encoder_attention_heads, cfg.encoder_ffn_dim) == (32, 1280, 20, 5120)
    assert (cfg.n_mels, cfg.nfft, cfg.window_size, cfg.hop_length, cfg.stride_size, cfg.avg_pooler) == (
        128,
        960,
        960,
        240,
        2,
        2,
    )
    assert cfg.encoder_skip_layer_id == 3
    assert cfg.codebook_sizes == [1024, 1024] + [128] * 18
    assert (codec.sample_rate, codec.frame_rate, codec.hop_length, codec.n_layers, codec.dim) == (
        24000,
        25.0,
        960,
        8,
        1280,
    )
    assert 638.0e6 < n_parameters(codec.model) < 638.7e6  # encoder without the codebooks (buffers)
    assert [tuple(codec.codebook_vectors(k).shape) for k in (0, 1, 2, 19)] == [
        (1024, 1280),
        (1024, 1280),
        (128, 1280),
        (128, 1280),
    ]
    meta = codec.metadata()
    assert meta["random_weights"] and meta["codebook_sizes"] == [1024, 1024] + [128] * 6
    from codecprobe.codectable import bitrate_bps

    assert bitrate_bps(codec.frame_rate, [len(codec.codebook_vectors(k)) for k in range(8)]) == 1550  # Table 1: 1.55 kbps


def test_accumulated_features_equal_quantizer_decode(codec, chirp):
    _, codes = chirp
    lv = codec.layer_vectors(codes)  # [B, K, F, D]
    acc = lv.cumsum(dim=1)
    q = codec.quantized(codes)
    assert q.shape == (1, codes.shape[2], 1280)
    rel = (acc[:, -1] - q).norm() / q.norm()
    assert rel < 1e-5
    assert torch.equal(lv[:, 0], codec.codebook_vectors(0)[codes[:, 0]])


def test_codes_diverse_and_in_range(codec, chirp):
    _, codes = chirp
    assert codes.dtype == torch.int64 and codes.shape == (1, 8, 51)
    assert len(set(codes[0, 0].tolist())) >= 10
    for k, size in enumerate(codec.cfg.codebook_sizes[:8]):
        assert 0 <= int(codes[:, k].min()) and int(codes[:, k].max()) < size


def test_n_frames(codec, chirp):
    wav, codes = chirp
    assert codes.shape[2] == codec.n_frames(wav.shape[1]) == 51
    codes = codec.encode(torch.from_numpy(chirp_noise(4801 / SR))[None])  # T not a multiple of 960
    assert codes.shape[2] == codec.n_frames(4801) == 6
    assert [codec.n_frames(t) for t in (481, 960, 24000, 24001, 28800)] == [1, 2, 26, 26, 31]
    # 6000-frame (60 s) mel segments are encoded independently: the frame count is additive
    assert codec.n_frames(90 * SR) == 1500 + -(-(1 + 90 * SR // 240 - 6000) // 4)
    np.testing.assert_allclose(codec.frame_times(3), [0.01, 0.05, 0.09])
    with pytest.raises(CodecprobeError, match="too short"):
        codec.encode(torch.zeros(1, 480))


def test_padding_batch_equals_alone(codec, chirp):
    """Clip A (mel frames and conv frames both odd) batched with the longer chirp B."""
    wav_b, codes_b = chirp
    a = chirp_noise(28800 / SR, seed=5)  # 121 mel frames -> 61 conv frames -> 31 latent frames
    alone = codec.encode(torch.from_numpy(a)[None])
    batch = torch.zeros(2, wav_b.shape[1])
    batch[0, : len(a)] = torch.from_numpy(a)
    batch[1] = wav_b[0]
    both = codec.encode(batch, lengths=[len(a), wav_b.shape[1]])
    fa = codec.n_frames(len(a))
    assert alone.shape[2] == fa == 31
    assert_same_codes_up_to_ties(codec, torch.from_numpy(a)[None], both[0, :, :fa], alone[0])
    assert torch.equal(both[0, :, fa:], torch.zeros_like(both[0, :, fa:]))
    assert_same_codes_up_to_ties(codec, wav_b, both[1], codes_b[0])


def test_load_by_key_name(codec, chirp, tmp_path):
    wav, codes = chirp
    state = {"encoder." + k: v.contiguous() for k, v in codec.model.state_dict().items()}
    state["decoder.layers.0.fc1.weight"] = torch.zeros(4, 4)  # ignored
    state["encoder.quantizer.vq.layers.0._codebook.embed_avg"] = torch.zeros(2, 2)  # RVQ training buffer, ignored
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(RESOURCE_CONFIG.read_text())
    loaded = load_codec(CodecSpec(name="mimo-file", family="mimo", weights=str(tmp_path)))
    assert torch.equal(loaded.encode(wav), codes)
    assert "decoder.layers.0.fc1.weight" in loaded.ignored_keys
    assert "encoder.quantizer.vq.layers.0._codebook.embed_avg" in loaded.ignored_keys
    assert len(loaded.ignored_keys) == 2
    assert loaded.metadata()["weights_sha256"] not in ("random", f"hub:{tmp_path}")


# ----------------------------------------------------------------------------- front-end
def numpy_log_mel(x: np.ndarray, sr=SR, n_fft=960, hop=240, n_mels=128) -> np.ndarray:
    """float64 reference: reflect-padded frames, periodic Hann, |rfft|, HTK triangles, ln."""
    xp = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    n = 1 + (len(xp) - n_fft) // hop
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    mag = np.abs(np.fft.rfft(np.stack([xp[i * hop : i * hop + n_fft] * win for i in range(n)]), axis=1))
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    pts = 700 * (10 ** (np.linspace(mel(0), mel(sr / 2), n_mels + 2) / 2595) - 1)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, c, hi = pts[i : i + 3]
        fb[i] = np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)))
    return np.log(np.maximum(fb @ mag.T, 1e-7))


def test_log_mel_matches_numpy_reference():
    cfg = resource_config()
    x = chirp_noise(1.0) + 0.2 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR).astype(np.float32)
    x[: SR // 4] *= 1e-4  # a quiet stretch: values near the 1e-7 floor too
    ours = LogMel(cfg)(torch.from_numpy(x)[None])[0].numpy()
    ref = numpy_log_mel(x)
    assert ours.shape == ref.shape == (128, 1 + len(x) // 240)
    err = np.abs(ours - ref)
    assert err.max() < 1e-4, err.max()  # ln units (measured 1.3e-5): float32 STFT vs float64 numpy
    assert np.median(err) < 5e-6  # (1.8e-6: the filterbank is torchaudio's float32 one, the reference float64)


def test_mel_filterbank_is_torchaudios_to_the_bit():
    """torchaudio's ``melscale_fbanks(481, 0, 12000, 128, 24000, None, "htk")`` (what the
    tokenizer's front end builds) as torchaudio computes it, in float32 torch steps, written
    out here (torchaudio is not installed): equal bit for bit. The same formula in float64
    rounded once (the adapter before session 30) differs by up to about 1e-5."""
    import math

    from codecprobe.codecs.mimo import mel_filterbank

    cfg = resource_config()
    all_freqs = torch.linspace(0, cfg.sampling_rate // 2, cfg.nfft // 2 + 1)
    def hz_to_mel(f: float) -> float:
        return 2595.0 * math.log10(1.0 + (f / 700.0))

    m_pts = torch.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax_hz), cfg.n_mels + 2)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down, up = (-1.0 * slopes[:, :-2]) / f_diff[:-1], slopes[:, 2:] / f_diff[1:]
    want = torch.max(torch.zeros(1), torch.min(down, up))
    got = mel_filterbank(cfg)
    assert got.dtype == torch.float32 and got.shape == (481, 128) and torch.equal(got, want)
    f64 = 700 * (10 ** (np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax_hz), 130) / 2595) - 1)
    freqs = np.linspace(0, cfg.sampling_rate // 2, 481)
    rel = f64[None] - freqs[:, None]
    once = np.maximum(0, np.minimum(-rel[:, :-2] / np.diff(f64)[:-1], rel[:, 2:] / np.diff(f64)[1:])).astype(np.float32)
    assert 1e-7 < np.abs(once - got.numpy()).max() < 1e-4


# ----------------------------------------------------------------------------- scaled-down model
@pytest.mark.parametrize("variant", [{}, {"encoder_attn_window_size": [4, 2]}, {"encoder_causal": True}])
def test_padding_masks_small(variant):
    cfg = dict(SMALL, **variant)
    c = small_codec(config=cfg)
    a, b = chirp_noise(0.43, seed=2), chirp_noise(1.1, seed=3)
    batch = torch.zeros(2, len(b))
    batch[0, : len(a)], batch[1] = torch.from_numpy(a), torch.from_numpy(b)
    lat = c.latent(batch, lengths=[len(a), len(b)])
    fa = c.n_frames(len(a))
    torch.testing.assert_close(lat[0, :fa], c.latent(torch.from_numpy(a)[None])[0], atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(lat[1], c.latent(torch.from_numpy(b)[None])[0], atol=2e-5, rtol=1e-5)
    codes = c.encode(batch, lengths=[len(a), len(b)])
    assert_same_codes_up_to_ties(c, torch.from_numpy(a)[None], codes[0, :, :fa], c.encode(torch.from_numpy(a)[None])[0])
    assert_same_codes_up_to_ties(c, torch.from_numpy(b)[None], codes[1], c.encode(torch.from_numpy(b)[None])[0])
    # control: without lengths the zero padding is part of the clip and changes its latent
    padded = c.latent(batch[:1])[0, :fa]
    assert (padded - lat[0, :fa]).abs().max() > 1e-3


def word_batch(lens, seed=0) -> torch.Tensor:
    """Right-padded ``[B, max(lens)]`` batch of distinct chirp-noise clips."""
    wav = torch.zeros(len(lens), max(lens))
    for i, n in enumerate(lens):
        wav[i, :n] = torch.from_numpy(chirp_noise(n / SR, seed=seed + i))
    return wav


# clip lengths at the front-end's edges: the minimum (481), hop multiples and their
# neighbours (a frame more or less), and one clip as long as the batch
EDGE_LENGTHS = [481, 482, 719, 720, 721, 959, 960, 961, 5000, 7211, 24000]


def test_log_mel_padded_batch_equals_each_clip_alone():
    """One STFT over the batch, each clip reflect-padded at its own end: the frames of
    clip b are those of :class:`LogMel` on the clip alone, later frames are 0."""
    cfg = resource_config()
    mel = LogMel(cfg)
    wav = word_batch(EDGE_LENGTHS)
    batch = mel.padded(wav, EDGE_LENGTHS)
    assert batch.shape == (len(EDGE_LENGTHS), 128, 1 + 24000 // 240)
    for b, n in enumerate(EDGE_LENGTHS):
        alone = mel(wav[b : b + 1, :n])[0]
        f = 1 + n // 240
        assert alone.shape[1] == f
        torch.testing.assert_close(batch[b, :, :f], alone, atol=1e-5, rtol=0)
        assert torch.equal(batch[b, :, f:], torch.zeros_like(batch[b, :, f:]))
    with pytest.raises(CodecprobeError, match="480 samples is too short"):
        mel.padded(word_batch([480, 960]), [480, 960])


def test_one_pass_equals_per_clip_path_small():
    """The one-pass batch (front-end, encoder and RVQ on the padded batch) against the
    general path, which runs the front-end per clip and, with an attention budget of one
    element, the encoder on each clip alone."""
    fast, general = small_codec(), small_codec(max_attention_elements=1)
    wav = word_batch(EDGE_LENGTHS, seed=10)
    t = wav.shape[1]
    assert fast._one_pass(EDGE_LENGTHS, t) and not general._one_pass(EDGE_LENGTHS, t)
    torch.testing.assert_close(
        fast.latent(wav, lengths=EDGE_LENGTHS), general.latent(wav, lengths=EDGE_LENGTHS), atol=2e-5, rtol=1e-5
    )
    a, b = fast.encode(wav, lengths=EDGE_LENGTHS), general.encode(wav, lengths=EDGE_LENGTHS)
    assert a.shape == b.shape == (len(EDGE_LENGTHS), fast.n_layers, fast.n_frames(t))
    for i, n in enumerate(EDGE_LENGTHS):
        f = fast.n_frames(n)
        assert_same_codes_up_to_ties(fast, wav[i : i + 1, :n], a[i, :, :f], b[i, :, :f])
        assert not a[i, :, f:].any()  # 0 past the clip's frames, as documented
    # a clip over one mel segment takes the general path
    seg = small_codec(segment_frames=40)
    assert not seg._one_pass([481, 100 * 240], 100 * 240) and seg._one_pass([481, 39 * 240], 39 * 240)


def test_one_pass_operator_count_does_not_grow_with_the_batch_small():
    """What keeps a GPU busy on short word clips: the host issues the same operators for a
    batch of 16 clips as for 4 (the per-clip path issues about a dozen more per clip)."""
    c, general = small_codec(), small_codec(max_attention_elements=1)
    lens4 = [4800, 4897, 5300, 6000]  # the same lengths four times over: the same masks and padding
    calls = {}
    for name, codec in (("fast", c), ("general", general)):
        for lens in (lens4, lens4 * 4):
            wav = word_batch(lens)
            calls[name, len(lens)] = aten_calls(lambda: codec.encode(wav, lengths=lens))
    assert calls["fast", 16] == calls["fast", 4], calls
    assert calls["general", 16] - calls["general", 4] >= 12 * 10, calls  # the control: per-clip steps


def test_packed_rows_known_answer():
    """Clips of 2 and 3 frames in a batch of n = 3: rows 0, 1 (clip 0) and 3, 4, 5 (clip 1)."""
    x = torch.arange(12, dtype=torch.float32).view(2, 3, 2)
    p = PackedRows([2, 3], 3, "cpu")
    assert p.rows.tolist() == [0, 1, 3, 4, 5]
    packed = p.pack(x)
    assert packed.tolist() == [[0, 1], [2, 3], [6, 7], [8, 9], [10, 11]]
    back = p.unpack(packed)
    assert back.shape == (2, 3, 2) and back[0, 2].tolist() == [0, 0] and torch.equal(back[1], x[1])
    assert PackedRows.of([3, 3], 3, "cpu") is None  # no padding, nothing to pack


def test_config_requires_the_encoder_keys_and_defaults_the_optional_ones():
    """A config.json without an optional key (upstream's config-class default applies) is
    read; one without a required key is refused, naming exactly the required keys missing."""
    raw = json.loads(RESOURCE_CONFIG.read_text())
    for key in ("fmin", "rope_theta", "ln_type", "encoder_skip_layer_id"):
        del raw[key]
    cfg = MimoConfig.from_dict(raw, "test")
    assert (cfg.fmin, cfg.rope_theta, cfg.ln_type, cfg.encoder_skip_layer_id) == (0, 10000.0, "LayerNorm", None)
    del raw["n_mels"], raw["codebook_size"]
    with pytest.raises(CodecprobeError, match=r"^test: missing key\(s\) n_mels, codebook_size$"):
        MimoConfig.from_dict(raw, "test")


def test_config_of_a_hybrid_attention_tokenizer_is_refused():
    """The later MiMo audio tokenizers' config.json (``hybrid_attention: true``, a causal
    window on only some layers) reads like MiMo-Audio-Tokenizer's; read as it is, every layer
    would get the window. It is refused; ``hybrid_attention: false`` is the v1 encoder."""
    raw = json.loads(RESOURCE_CONFIG.read_text())
    later = {**raw, "hybrid_attention": True, "swa_per_block": 2, "hybrid_block_size": 8,
             "encoder_causal": True, "encoder_attn_window_size": [128, 0]}  # fmt: skip
    with pytest.raises(CodecprobeError, match=r"^test: hybrid_attention is true: a later MiMo audio tokenizer"):
        MimoConfig.from_dict(later, "test")
    assert MimoConfig.from_dict({**raw, "hybrid_attention": False}, "test").hybrid_attention is False


def test_rms_norm_matches_torch():
    """``ln_type: RMSNorm``: x / sqrt(mean(x^2 over the feature axis) + 1e-6) * weight,
    against torch's own ``rms_norm``, on rows of very different sizes."""
    from codecprobe.codecs.mimo import RMSNorm, make_norm

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 8, generator=g) * torch.tensor([0.01, 1.0, 10.0, 100.0, 1.0])[None, :, None]
    norm = RMSNorm(8)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 8))
    want = torch.nn.functional.rms_norm(x, (8,), norm.weight, eps=1e-6)
    torch.testing.assert_close(norm(x), want, rtol=1e-6, atol=1e-7)
    cfg = resource_config(**SMALL, ln_type="RMSNorm")
    assert isinstance(make_norm(cfg), RMSNorm)
    assert isinstance(make_norm(resource_config()), torch.nn.LayerNorm)


def test_rope_known_answer_small():
    """Rotary angles: position p, frequency i of a head of d dims is p * theta^(-2i / d)
    (theta 10000, d = 64 / 4 = 16: i = 1 is 10^(-1/2), i = 7 is 10^(-7/2)); cos and sin of
    each angle fill both halves of the head."""
    c = small_codec()
    cos, sin = c.model.rope(4, "cpu", torch.float32)
    assert cos.shape == sin.shape == (1, 4, 1, 16)
    inv = 10000.0 ** (-np.arange(0, 16, 2) / 16)
    assert inv[1] == pytest.approx(10**-0.5) and inv[7] == pytest.approx(10**-3.5)
    angle = np.arange(4)[:, None] * np.concatenate([inv, inv])[None, :]  # [4, 16]
    np.testing.assert_allclose(cos[0, :, 0].numpy(), np.cos(angle), atol=1e-6)
    np.testing.assert_allclose(sin[0, :, 0].numpy(), np.sin(angle), atol=1e-6)


def test_attention_mask_known_answer_small():
    """``encoder_attn_window_size [left, right]``: query i sees keys i - left .. i + right of
    its own clip; a padding row sees every key (kept finite, never used). Causal: keys <= i.
    No window, no padding: no mask."""
    model = small_codec(config=dict(SMALL, encoder_attn_window_size=[1, 2])).model
    mask = model.attention_mask([5, 3], 5, "cpu")
    assert mask.shape == (2, 1, 5, 5)
    full = [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [0, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 1, 1]]
    short = [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [0, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]]
    assert mask[0, 0].int().tolist() == full
    assert mask[1, 0].int().tolist() == short
    causal = small_codec(config=dict(SMALL, encoder_causal=True)).model.attention_mask([3], 3, "cpu")
    assert causal[0, 0].int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    plain = small_codec().model
    assert plain.attention_mask([4, 4], 4, "cpu") is None
    assert plain.attention_mask([4, 2], 4, "cpu")[:, 0, 0].int().tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_full_fp32_turns_tf32_off_on_cuda_only():
    """The codecs' encode calls (MiMo's too) turn TF32 off inside on a CUDA device and restore
    it after; on the CPU they touch nothing. Flags only: no GPU needed."""
    from codecprobe.codecs._torchutil import full_fp32

    def flags():
        return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32

    saved = flags()
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        with full_fp32("cpu"):
            assert flags() == (True, True)
        with full_fp32("cuda:0"):
            assert flags() == (False, False)
        assert flags() == (True, True)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("lengths", [[960], [960, 960, 960], [0, 960], [960, 961]])
def test_lengths_that_do_not_fit_the_batch_are_refused_small(lengths):
    """One length per clip, each in 1..T: too few, too many, an empty clip, a clip longer
    than the batch (each alone is enough)."""
    with pytest.raises(CodecprobeError, match=r"lengths \[.*\] do not fit a batch of shape \(2, 960\)"):
        small_codec().encode(word_batch([960, 960]), lengths=lengths)


def _rows_seen(c, wav, lens) -> dict[str, int]:
    """Rows that the first MLP layer and the first RVQ layer receive while ``c`` encodes."""
    seen = {}
    model = c.model
    vq0 = model.quantizer.vq.layers[0]
    enc = vq0.encode

    def fc1_rows(module, args, out) -> None:
        seen.setdefault("fc1", args[0].numel() // args[0].shape[-1])  # rows of [..., D]

    def rvq_rows(x):
        seen.setdefault("rvq", x.shape[0])
        return enc(x)

    hook = model.layers[0].fc1.register_forward_hook(fc1_rows)
    vq0.encode = rvq_rows
    try:
        c.encode(wav, lengths=lens)
    finally:
        hook.remove()
        del vq0.encode
    return seen


def test_encoder_and_rvq_work_on_real_frames_only_small():
    """The transformer's MLP and the RVQ see each clip's own frames, not the padding: the
    rows they receive are the sum over clips of the conv frames (MLP) and latent frames (RVQ),
    whatever the padding. Control: a batch of equal clips, where the two coincide."""
    c = small_codec()
    cfg = c.cfg
    lens = [481, 960, 5000, 24000]
    seen = _rows_seen(c, word_batch(lens), lens)
    conv = [cfg.conv_frames(c._mel_frames(n)) for n in lens]
    assert seen["fc1"] == sum(conv) == 2 + 3 + 11 + 51  # mel frames 3, 5, 21, 101; padded: 4 x 51
    assert seen["rvq"] == sum(c.n_frames(n) for n in lens) == 1 + 2 + 6 + 26  # padded: 4 x 26
    same = [5000] * 4
    seen = _rows_seen(c, word_batch(same), same)
    assert seen == {"fc1": 4 * 11, "rvq": 4 * 6}


def test_codes_are_greedy_rvq_of_the_latent_small():
    """Independent float64 residual nearest-neighbour search on the encoder's latent."""
    c = small_codec()
    wav = torch.from_numpy(chirp_noise(2.0))[None]
    codes = c.encode(wav)
    x = c.latent(wav)[0].double()
    for k in range(c.n_layers):
        cb = c.codebook_vectors(k).double()
        d = torch.cdist(x, cb)
        ref = d.argmin(dim=1)
        got = codes[0, k]
        for i in (ref != got).nonzero().flatten().tolist():  # only a genuine near-tie may differ
            assert abs(d[i, got[i]] - d[i, ref[i]]) < 1e-3 * d[i, ref[i]], (k, i)
        x = x - cb[got]
    assert len(set(codes[0, 0].tolist())) >= 3  # not a degenerate check


def test_n_frames_matches_encoder_small():
    """Same frame arithmetic as the real model (kernel 3, stride 2, pool 2, hop 240)."""
    c = small_codec()
    for t in (481, 960, 1000, 4799, 4800, 4801, 24001, 28800, 36123):
        codes = c.encode(torch.from_numpy(chirp_noise(t / SR, seed=t))[None])
        assert codes.shape[2] == c.n_frames(t) == -(-(1 + t // 240) // 4), t


def test_long_clip_segments_small():
    c = small_codec(segment_frames=40)
    t = 100 * 240 + 17  # 101 mel frames -> segments of 40, 40, 21
    codes = c.encode(torch.from_numpy(chirp_noise(t / SR))[None])
    assert codes.shape[2] == c.n_frames(t) == 10 + 10 + 6


def test_bfloat16_option_small():
    c32, c16 = small_codec(), small_codec(dtype="bfloat16")
    wav = torch.from_numpy(chirp_noise(1.0))[None]
    a, b = c32.encode(wav), c16.encode(wav)
    assert a.shape == b.shape and b.dtype == torch.int64
    assert c16.codebook_vectors(0).dtype == torch.float32  # the RVQ stays in float32
    assert c16.metadata()["encoder_dtype"] == "bfloat16"


def _save_small(c, folder, drop=(), config=None):
    folder.mkdir(parents=True, exist_ok=True)
    state = {"encoder." + k: v.contiguous() for k, v in c.model.state_dict().items() if "encoder." + k not in drop}
    save_file(state, str(folder / "model.safetensors"))
    raw = json.loads(RESOURCE_CONFIG.read_text())
    raw.update(config or SMALL)
    (folder / "config.json").write_text(json.dumps(raw))


def test_load_errors_small(tmp_path):
    c = small_codec()
    wav = torch.from_numpy(chirp_noise(0.5))[None]
    _save_small(c, tmp_path / "ok")
    assert torch.equal(
        load_codec(CodecSpec(name="m", family="mimo", weights=str(tmp_path / "ok"))).encode(wav), c.encode(wav)
    )
    # a missing encoder tensor is named
    gone = "encoder.layers.1.self_attn.k_proj.weight"
    _save_small(c, tmp_path / "missing", drop=(gone,))
    with pytest.raises(CodecprobeError, match=gone.replace(".", r"\.")):
        load_codec(CodecSpec(name="m", family="mimo", weights=str(tmp_path / "missing")))
    # a missing codebook too
    gone = "encoder.quantizer.vq.layers.19._codebook.embed"
    _save_small(c, tmp_path / "missing_cb", drop=(gone,))
    with pytest.raises(CodecprobeError, match=r"layers\.19\._codebook\.embed"):
        load_codec(CodecSpec(name="m", family="mimo", weights=str(tmp_path / "missing_cb")))
    # config.json that does not match the tensors
    _save_small(c, tmp_path / "shape", config=dict(SMALL, encoder_ffn_dim=256))
    with pytest.raises(CodecprobeError, match=r"fc1\.weight"):
        load_codec(CodecSpec(name="m", family="mimo", weights=str(tmp_path / "shape")))
    # a config.json without a required key
    (tmp_path / "shape" / "config.json").write_text(json.dumps({"d_model": 64}))
    with pytest.raises(CodecprobeError, match="missing key"):
        load_codec(CodecSpec(name="m", family="mimo", weights=str(tmp_path / "shape")))
    with pytest.raises(CodecprobeError, match="no such file"):
        load_codec(CodecSpec(name="m", family="mimo", weights=str(tmp_path / "nowhere")))


def test_save_pretrained_round_trip_small(tmp_path):
    c = small_codec()
    c.save_pretrained(tmp_path / "frozen")
    again = load_codec(CodecSpec(name="m", family="mimo", weights=str(tmp_path / "frozen")))
    wav = torch.from_numpy(chirp_noise(0.7))[None]
    assert torch.equal(again.encode(wav), c.encode(wav))
    assert json.loads((tmp_path / "frozen" / "config.json").read_text())["d_model"] == 64
    meta = again.metadata()  # provenance: the files' own hashes
    assert meta["config_sha256"] == hashlib.sha256((tmp_path / "frozen" / "config.json").read_bytes()).hexdigest()
    assert meta["weights_sha256"] != c.metadata()["weights_sha256"] == "random"


def test_hub_weights_record_the_snapshot_read(monkeypatch, tmp_path):
    """Weights given as a hub id: the metadata hashes the snapshot folder that
    snapshot_download resolved (not the id string) and names its revision; random weights
    record their seed."""
    import huggingface_hub
    from codecprobe.codecs.base import weights_sha256

    c = small_codec()
    assert c.metadata()["random_seed"] == c.spec.seed
    snap = tmp_path / "models--org--tok" / "snapshots" / "0123abcd"
    c.save_pretrained(snap)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, allow_patterns: str(snap))
    monkeypatch.chdir(tmp_path)
    meta = load_codec(CodecSpec(name="m", family="mimo", weights="org/tok")).metadata()
    assert meta["weights_sha256"] == weights_sha256(str(snap)) != "hub:org/tok"
    assert meta["weights_revision"] == "0123abcd" and "random_seed" not in meta
    one = load_codec(CodecSpec(name="m", family="mimo", weights=str(snap / "model.safetensors"))).metadata()
    assert one["weights_sha256"] == weights_sha256(str(snap / "model.safetensors")) and "weights_revision" not in one


def test_metadata_hashes_each_weights_file_once(monkeypatch, tmp_path):
    from codecprobe.codecs import base

    small_codec().save_pretrained(tmp_path / "w")  # model.safetensors + config.json
    c = load_codec(CodecSpec(name="m", family="mimo", weights=str(tmp_path / "w")))
    calls = []
    real = base._hash_file
    monkeypatch.setattr(base, "_hash_file", lambda h, path: calls.append(path) or real(h, path))
    c.metadata()
    assert sorted(p.name for p in calls) == ["config.json", "model.safetensors"]


def test_hub_failure_is_a_codecprobe_error(monkeypatch, tmp_path):
    """The error says both readings of an org/name string: no such local folder, the hub's error."""
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CodecprobeError, match="cannot load weights 'XiaomiMiMo/MiMo-Audio-Tokenizer'"):
        load_codec(CodecSpec(name="mimo", family="mimo", weights="XiaomiMiMo/MiMo-Audio-Tokenizer"))
    local = re.escape(str(tmp_path.resolve() / "weights" / "mimo"))
    with pytest.raises(CodecprobeError, match=rf"'weights/mimo': not a local path \(no {local}\), and as a Hugging Face hub id.*OSError: no network"):
        load_codec(CodecSpec(name="mimo", family="mimo", weights="weights/mimo"))


@pytest.mark.parametrize(
    "spec, message",
    [
        (dict(n_layers=21), "n_layers 21 outside 1..20"),
        (dict(n_layers=0), "n_layers 0"),
        (dict(options={"bogus": 1}), "unknown option"),
        (dict(options={"dtype": "float16"}), "dtype"),
        (dict(options={"segment_frames": 6001}), "segment_frames"),
        (dict(options={"config": {"ln_type": "BatchNorm"}}), "ln_type"),
        ({"options": {"config": {"encoder_skip_layer_id": 33}}}, "encoder_skip_layer_id 33 outside 1..32"),
        ({"options": {"config": {"encoder_skip_layer_id": 0}}}, "encoder_skip_layer_id 0 outside 1..32"),
        ({"options": {"config": {"num_quantizers": 0}}}, "num_quantizers must be >= 1"),
        ({"options": {"config": {"encoder_attention_heads": 3}}}, "must be an even integer"),
        ({"options": {"config": {"encoder_attn_window_size": [-1]}}}, r"\[left, right\]"),
        ({"options": {"config": {"avg_pooler": 0}}}, "avg_pooler and stride_size must be >= 1"),
        ({"options": {"config": {"stride_size": 0}}}, "avg_pooler and stride_size must be >= 1"),
    ],
)
def test_spec_errors(spec, message):
    with pytest.raises(CodecprobeError, match=message):
        load_codec(CodecSpec(name="mimo", family="mimo", **spec))


def test_codebook_layer_bounds_small():
    c = small_codec()
    assert c.codebook_vectors(19).shape == (128, 64)
    with pytest.raises(CodecprobeError):
        c.codebook_vectors(20)


def test_feature_slicing_gives_mimo_whole_utterances_as_upstream_segments_them():
    """MiMo cuts the mel into independent segments itself (segment_frames; 60 s as
    released): the encode stage's chunks moved those boundaries and added short segments
    at each chunk's context, so frames after the first segment differed from upstream's
    whole-utterance encoding (at 1/30 scale here: 2 s segments, 2 s chunks)."""
    from codecprobe.encode import EncodeConfig, chunked_codes

    c = small_codec(segment_frames=200)
    wav = chirp_noise(7.0)
    whole = c.encode(torch.from_numpy(wav)[None])[0].numpy()
    cfg = EncodeConfig(slicing="feature", chunk_seconds=2.0, chunk_context_seconds=1 / 30)
    np.testing.assert_array_equal(chunked_codes(c, wav, cfg), whole)
    assert "utterances encoded in chunks" not in cfg.counts
    # the old chunking, for the record: it does differ after the first segment
    saved = type(c).segments_itself
    try:
        type(c).segments_itself = False
        chunked = chunked_codes(c, wav, EncodeConfig(slicing="feature", chunk_seconds=2.0, chunk_context_seconds=1 / 30))
    finally:
        type(c).segments_itself = saved
    differ = (chunked != whole).any(axis=0)  # 25 Hz: the first 2 s segment is frames 0-49
    assert not differ[:50].any() and differ[50:].any()


def test_an_utterance_shorter_than_the_mel_window_is_padded_and_counted():
    """In feature slicing a 15.6 ms utterance stopped the job with 'a clip of 375 samples
    is too short' naming no file; word clips were already padded to min_samples."""
    from codecprobe.encode import EncodeConfig, chunked_codes

    c = small_codec()
    cfg = EncodeConfig(slicing="feature")
    short = chirp_noise(375 / SR)
    got = chunked_codes(c, short, cfg)
    want = c.encode(torch.from_numpy(np.pad(short, (0, c.min_samples - len(short))))[None])[0].numpy()
    np.testing.assert_array_equal(got, want)
    assert cfg.counts == {"utterances zero-padded to the codec's minimum of 481 samples": 1}


def test_a_missing_cuda_device_is_a_clear_error(monkeypatch):
    """MiMo resolved its device by hand: "cuda" without CUDA raised torch's bare
    AssertionError, and cuda:N past the device count was not checked (the other adapters
    name the codec and the problem)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CodecprobeError, match="codec 'm': device 'cuda' requested but CUDA is not available"):
        load_codec(CodecSpec(name="m", family="mimo", weights="random"), device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(CodecprobeError, match=r"device 'cuda:1' requested but only 1 CUDA device\(s\)"):
        load_codec(CodecSpec(name="m", family="mimo", weights="random"), device="cuda:1")


@pytest.mark.parametrize("rate", [24000.5, 0, "24 kHz"])
def test_a_sample_rate_that_cannot_be_met_is_a_clear_error(rate):
    """A config.json whose sample rate the audio cannot be resampled to (not a positive whole
    number of Hz) stops at load, naming the codec and the value (int() truncated 24000.5)."""
    small = {**SMALL, "sampling_rate": rate}
    with pytest.raises(CodecprobeError, match=rf"codec 'odd': weights 'random' give the sample rate {re.escape(repr(rate))} "
                       r"\(config.json sampling_rate\), which the audio cannot be resampled to: it must be a positive whole"):  # fmt: skip
        load_codec(CodecSpec("odd", "mimo", weights="random", n_layers=3, options={"config": small, "fill_seconds": 2.0}))
