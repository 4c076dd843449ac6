"""``mimo``: the encoder path of Xiaomi's MiMo-Audio-Tokenizer (hub id ``XiaomiMiMo/MiMo-Audio-Tokenizer``).

A self-written PyTorch definition of the tokenizer's encoder + residual vector quantizer
(no decoder, no vocoder), loading the released safetensors by key name. It needs neither
``flash_attn`` nor ``torchaudio``: attention is :func:`torch.nn.functional.scaled_dot_product_attention`
(CPU or GPU) and the log-mel front-end is re-implemented on :func:`torch.stft`.

Architecture (every size read from the tokenizer's ``config.json``; the values below are
the released model's, see ``resources/mimo_tokenizer_config.json`` for the sources)

Sources (facts only, no code copied): the encoder and RVQ in XiaomiMiMo/MiMo-Audio
``src/mimo_audio_tokenizer/modeling_audio_tokenizer.py`` (read in the copy at
zkazuya/MiMo-Audio-Eval ``slm_eval/models/src_mimo_audio/mimo_audio_tokenizer/``), its
``quantization.py`` (read in sgl-project/sglang's port), the front-end in
``src/mimo_audio/mimo_audio.py`` (copy at rsxdalv/tts-webui.MiMo-Audio).

* Front-end (``src/mimo_audio/mimo_audio.py`` upstream): 24 kHz mono ->
  ``torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=nfft (960), hop_length (240),
  win_length=window_size (960), f_min=fmin (0), f_max=fmax (None: sr/2), n_mels (128),
  power=1.0, center=True)``, i.e. a periodic Hann window, reflect padding of n_fft/2 at both
  ends, |STFT| (magnitude, not power), HTK mel scale, unnormalized triangular filters;
  then ``log(clip(mel, min=1e-7))`` (natural log). A clip of T samples has
  ``1 + T // 240`` mel frames (100 Hz). Upstream splits the mel of a long clip into
  segments of 6000 frames (60 s) (option ``segment_frames``); this adapter encodes each
  alone. Xiaomi's inference path batches a clip's segments, zero-padded, and the padding
  reaches the shorter last segment (conv output past its end not zeroed, pooling padded
  with its last frame): for a last segment whose mel length is not a multiple of 4 its
  codes may differ from this adapter's (README, Codec features, "Chunks").
* ``conv1``: Conv1d(n_mels -> d_model, kernel 3, padding 1) + GELU; ``conv2``: Conv1d(d_model ->
  d_model, kernel 3, stride 2, padding 1) + GELU (50 Hz). No embedding scale (``scale_embedding``
  is read upstream but never applied), no absolute positions.
* 32 pre-LayerNorm transformer layers (d_model 1280, 20 heads of 64, FFN 5120, exact-erf GELU):
  ``x = x + out_proj(attn(self_attn_layer_norm(x)))``, ``x = x + fc2(gelu(fc1(final_layer_norm(x))))``.
  q/v/out projections have a bias, k_proj has none. Rotary positions (rotate-half / NeoX
  layout, ``inv_freq = theta^(-2i/64)``, theta 10000, positions restart at 0 for every clip)
  on q and k; bidirectional attention, scale 1/sqrt(64), over each clip's own frames only
  (upstream: ``flash_attn_varlen_func`` on packed clips).
* Skip connection: the output of layer ``encoder_skip_layer_id`` (3, 1-based) is added to the
  output of the last layer, then ``layer_norm``.
* Down-sampling: zero-pad to an even length, ``down_sample_layer`` = Conv1d(d_model -> d_model,
  kernel 2, stride 2, no bias) + GELU, then ``down_sample_norm`` (LayerNorm) -> 25 Hz latent.
* RVQ (``quantizer.vq.layers[j]._codebook.embed``, 20 layers of 1024, 1024, then 128 x 18
  codes, all 1280-d, ``codebook_dim`` = d_model so project_in/out are identities): greedy
  residual nearest neighbour in float32 with the upstream distance
  ``-(|x|^2 - 2 x.e + |e|^2)`` and argmax; the decoded vector of a code is its codebook row,
  and the quantizer's decode is the sum of the layers' rows (upstream ``quantizer.decode``).

Frame arithmetic: mel frames ``M = 1 + T // hop``; conv2 frames ``(M - 1) // 2 + 1``;
latent frames ``ceil(conv2 / 2)`` (per 6000-frame segment): ``n_frames(T) = ceil((1 + T // 240) / 4)``,
e.g. 26 frames for 1 s. The latent frame m is centred on mel frame ``4 m + 1``, i.e. at
``0.04 m + 0.01`` s (:meth:`MimoCodec.frame_times`).

Batching: :meth:`MimoCodec.encode` takes an optional ``lengths`` (samples per clip). With it,
clips of different lengths share a padded batch and each clip's codes equal those of the clip
encoded alone: each clip is reflect-padded at its own ends before one STFT over the batch
(:meth:`LogMel.padded`; mel frames past a clip's end are 0), conv1 outputs past a clip's end are
zeroed (conv2 then sees the zero padding it sees alone), attention is masked to the clip's own
frames, and the pooling input is zeroed past the clip's end. Without ``lengths`` every row is a
clip of the full length ``T`` (so right-padding changes codes: ``pad_invariant = False``).
The transformer's per-frame work (norms, projections, MLP) and the RVQ run on the clips' real
frames only (:class:`PackedRows`); only the attention scores and the convolutions see the
padding, so the arithmetic of a batch does not grow with its padding.
A batch of single-segment clips within the attention budget runs in one pass: front-end,
encoder and RVQ on the batch, a fixed number of kernels whatever the batch size (word
clips are short, so on a GPU the per-kernel launch cost, not the arithmetic, sets the pace).
Longer clips and larger batches take the general path: the front-end per clip, the segments
grouped within the attention budget.

Numerics: float32 by default (CUDA TF32 is switched off while encoding); on an H100 the codes
agree with the CPU's at 98.7-100 % of the frames (rounding flips between near-equidistant
codewords; measured before the one-pass batches and :class:`PackedRows`). Option
``dtype: bfloat16`` mirrors upstream inference (``tokenizer.bfloat16()``: bf16 weights,
activations and rotary frequencies, codebooks rounded to bf16 and then run in float32); it
changes 10-20 % of the codes against float32 (random weights) and makes them depend slightly
on the batch shape, as upstream's own bf16 runs do.

Weights: ``weights`` is a folder with the tokenizer's ``config.json`` and ``*.safetensors``
(or one ``.safetensors`` file beside its ``config.json``), or the hub id (downloaded with
``huggingface_hub.snapshot_download``), or ``random``: the real architecture from
``resources/mimo_tokenizer_config.json`` with weights drawn from ``torch.manual_seed(seed)`` and
codebooks filled with random residual frames of seeded test audio (layer j's codebook holds
frames of the residual that layer j quantizes, plus Gaussian noise of 1e-2 of its std, which
keeps repeated frames apart: 1024 rows come from about 200 frames; a fill frame's residual is
taken against the rows not copied from it), so codes are diverse and deeper layers see
residuals of realistic size. Random builds of one seed on different devices can differ in a
few fill choices (float rounding): :meth:`MimoCodec.save_pretrained` freezes one. Only
``encoder.*`` tensors are read (``audio_tokenizer.encoder.*`` in a MiMo-Audio bundle); a
missing one is an error naming it, a shape that config.json does not imply is an error; the
decoder's tensors and the RVQ's training buffers (``embed_avg``, ``cluster_size``, ``inited``)
are ignored and logged.

Options (``spec.options``): ``dtype`` (float32 | bfloat16), ``segment_frames`` (6000),
``fill_seconds`` (8.0, random weights), ``config`` (overrides of the resource config, random
weights only, e.g. a scaled-down model for tests), ``max_attention_elements`` (2**28:
batch x heads x frames^2 budget per encoder call).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import hub
from ..io import CodecprobeError, atomic_path, write_text
from ._torchutil import full_fp32, resolve_device, to_device
from .base import (
    RELEASES,
    Codec,
    CodecSpec,
    file_sha256,
    register,
    weights_sha256,
    whole_rate,
)

log = logging.getLogger("codecprobe.codecs.mimo")

HUB_ID = RELEASES["mimo"].hub_id
RESOURCE_CONFIG = Path(__file__).resolve().parents[3] / "resources" / "mimo_tokenizer_config.json"
HUB_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json"]
DEFAULT_LAYERS = 8  # the paper's 1.55 kbps: 25 x (10 + 10 + 6 x 7)
LOG_FLOOR = 1e-7
RVQ_TRAINING_BUFFERS = ("embed_avg", "cluster_size", "inited")
NOISE = 1e-2  # fill noise, relative to the residual's std (random weights)
OPTIONS = {"dtype", "segment_frames", "fill_seconds", "config", "max_attention_elements"}


# ----------------------------------------------------------------------------- config
@dataclass
class MimoConfig:
    """The encoder's share of the tokenizer config (key names as in ``config.json``)."""

    sampling_rate: int
    nfft: int
    hop_length: int
    window_size: int
    n_mels: int
    kernel_size: int
    stride_size: int
    avg_pooler: int
    d_model: int
    encoder_layers: int
    encoder_attention_heads: int
    encoder_ffn_dim: int
    num_quantizers: int
    codebook_size: Any
    # optional keys: upstream's config-class defaults when config.json omits them
    fmin: float = 0
    fmax: float | None = None
    encoder_skip_layer_id: int | None = None
    encoder_causal: bool = False
    encoder_attn_window_size: Any = (-1, -1)
    activation_function: str = "gelu"
    ln_type: str = "LayerNorm"
    position_embedding_type: str = "rope"
    rope_theta: float = 10000.0
    rope_type: str = "default"
    # not in MiMo-Audio-Tokenizer's config: the later MiMo audio tokenizers' per-layer
    # attention schedule (only some layers windowed), which this encoder does not implement
    hybrid_attention: bool = False

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "MimoConfig":
        names = [f.name for f in fields(cls)]
        required = [f.name for f in fields(cls) if f.default is dataclasses.MISSING]
        missing = [k for k in required if k not in d]
        if missing:
            raise CodecprobeError(f"{where}: missing key(s) {', '.join(missing)}")
        cfg = cls(**{k: d[k] for k in names if k in d})
        cfg.validate(where)
        return cfg

    def validate(self, where: str) -> None:
        def bad(msg: str) -> CodecprobeError:
            return CodecprobeError(f"{where}: {msg}")

        if self.hybrid_attention:
            raise bad(
                "hybrid_attention is true: a later MiMo audio tokenizer (per-layer sliding-window "
                "schedule), not MiMo-Audio-Tokenizer; codecprobe's encoder gives every layer the same "
                "attention and would compute other features"
            )
        if self.activation_function != "gelu":
            raise bad(f"activation_function {self.activation_function!r} is not supported (gelu)")
        if self.position_embedding_type != "rope" or self.rope_type != "default":
            raise bad(
                f"position_embedding_type {self.position_embedding_type!r} / rope_type {self.rope_type!r} "
                "not supported (rope / default)"
            )
        if self.ln_type not in ("LayerNorm", "RMSNorm"):
            raise bad(f"ln_type {self.ln_type!r} is not supported (LayerNorm, RMSNorm)")
        if self.avg_pooler < 1 or self.stride_size < 1:
            raise bad("avg_pooler and stride_size must be >= 1")
        if self.d_model % self.encoder_attention_heads or (self.d_model // self.encoder_attention_heads) % 2:
            raise bad("d_model / encoder_attention_heads must be an even integer")
        if self.num_quantizers < 1:
            raise bad("num_quantizers must be >= 1 (the encoder has no quantizer)")
        if len(tuple(self.encoder_attn_window_size)) != 2:
            raise bad("encoder_attn_window_size must be [left, right]")
        if self.encoder_skip_layer_id is not None and not 1 <= self.encoder_skip_layer_id <= self.encoder_layers:
            raise bad(f"encoder_skip_layer_id {self.encoder_skip_layer_id} outside 1..{self.encoder_layers}")
        self.codebook_sizes  # validates

    @property
    def codebook_sizes(self) -> list[int]:
        """Codes per layer for the ``num_quantizers`` layers (upstream: an int is repeated, a
        short list is extended with its last entry, a long one is cut)."""
        cs = self.codebook_size
        sizes = [int(cs)] * self.num_quantizers if isinstance(cs, (int, float)) else [int(c) for c in cs]
        if not sizes:
            raise CodecprobeError("codebook_size is empty")
        sizes = sizes + [sizes[-1]] * max(0, self.num_quantizers - len(sizes))
        return sizes[: self.num_quantizers]

    @property
    def fmax_hz(self) -> float:
        return float(self.fmax) if self.fmax is not None else float(self.sampling_rate // 2)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.encoder_attention_heads

    @property
    def samples_per_frame(self) -> int:
        return self.hop_length * self.stride_size * self.avg_pooler

    # frame arithmetic ------------------------------------------------------------------
    def mel_frames(self, n_samples: int) -> int:
        """torch.stft with center=True: reflect-pad n_fft // 2 on both sides."""
        return 1 + (n_samples + 2 * (self.nfft // 2) - self.nfft) // self.hop_length

    def conv_frames(self, mel_frames: int) -> int:
        """conv1 (padding 1) then conv2 (stride, padding 1); upstream ``get_output_length``."""
        l1 = mel_frames + 3 - self.kernel_size
        return (l1 + 2 - self.kernel_size) // self.stride_size + 1

    def pooled_frames(self, conv_frames: int) -> int:
        return -(-conv_frames // self.avg_pooler)

    def latent_frames(self, mel_frames: int) -> int:
        return self.pooled_frames(self.conv_frames(mel_frames))


def read_config(path: Path, where: str) -> tuple[MimoConfig, dict]:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CodecprobeError(f"{where}: no config.json at {path}") from None
    except json.JSONDecodeError as e:
        raise CodecprobeError(f"{where}: {path} is not valid JSON ({e})") from None
    return MimoConfig.from_dict(raw, f"{where}: {path}"), raw


# ----------------------------------------------------------------------------- front-end
def hz_to_mel_htk(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_filterbank(cfg: MimoConfig) -> torch.Tensor:
    """``[n_fft // 2 + 1, n_mels]`` triangular filters on the HTK mel scale, no area
    normalization (torchaudio's ``melscale_fbanks(..., norm=None, mel_scale="htk")``, which
    the tokenizer's front end uses): bin frequencies ``linspace(0, sr // 2, n_freqs)``,
    filter edges evenly spaced in mel between fmin and fmax, peak 1 at the centre edge.
    Computed in float32 torch arithmetic, step by step as torchaudio does (only the two
    mel ends in float64), so that the weights are torchaudio's to the bit: the same formula
    in float64 rounded once differs by up to 1.3e-5, which can flip a code at a near-tie."""
    n_freqs = cfg.nfft // 2 + 1
    freqs = torch.linspace(0.0, float(cfg.sampling_rate // 2), n_freqs, dtype=torch.float32)
    mels = torch.linspace(float(hz_to_mel_htk(cfg.fmin)), float(hz_to_mel_htk(cfg.fmax_hz)), cfg.n_mels + 2,
                          dtype=torch.float32)  # fmt: skip
    edges = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    width = edges[1:] - edges[:-1]
    rel = edges.unsqueeze(0) - freqs.unsqueeze(1)  # [n_freqs, n_mels + 2]
    rising = (-1.0 * rel[:, :-2]) / width[:-1]
    falling = rel[:, 2:] / width[1:]
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class LogMel:
    """MiMo's front-end: ``log(clip(|STFT| @ mel, 1e-7))`` -> ``[B, n_mels, 1 + T // hop]``."""

    def __init__(self, cfg: MimoConfig, device: str | torch.device = "cpu"):
        self.cfg = cfg
        self.window = torch.hann_window(cfg.window_size, periodic=True, dtype=torch.float32, device=device)
        self.fb = mel_filterbank(cfg).to(device)

    def __call__(self, wav: torch.Tensor) -> torch.Tensor:
        self._check_length(wav.shape[-1])
        return self._log_mel(self._magnitude(wav.float(), center=True))

    def _magnitude(self, x: torch.Tensor, center: bool) -> torch.Tensor:
        """``|STFT|`` (power 1.0) ``[B, n_fft // 2 + 1, frames]``; ``center``: reflect-pad
        ``n_fft // 2`` samples at both ends first."""
        cfg = self.cfg
        return torch.stft(
            x,
            n_fft=cfg.nfft,
            hop_length=cfg.hop_length,
            win_length=cfg.window_size,
            window=self.window,
            center=center,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        ).abs()

    def _check_length(self, n: int) -> None:
        half = self.cfg.nfft // 2
        if n <= half:
            raise CodecprobeError(
                f"a clip of {n} samples is too short for the MiMo front-end (reflect padding "
                f"needs more than {half} samples = {1000 * (half + 1) / self.cfg.sampling_rate:.0f} ms)"
            )

    def _log_mel(self, spec: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)
        return torch.log(torch.clamp(mel, min=LOG_FLOOR))

    def padded(self, wav: torch.Tensor, lens: list[int]) -> torch.Tensor:
        """Log-mel of a right-padded batch ``[B, T]`` whose clip b is ``wav[b, :lens[b]]``
        -> ``[B, n_mels, 1 + T // hop]``: frames ``0 .. lens[b] // hop`` equal those of the
        clip alone (:meth:`__call__`: each clip reflect-padded at its own two ends), later
        frames are 0. One STFT for the whole batch (a few kernels, not a few per clip)."""
        cfg = self.cfg
        half = cfg.nfft // 2
        t = wav.shape[1]
        self._check_length(min(lens))
        n = to_device(lens, wav.device)[:, None]  # [B, 1]
        # padded position j holds sample j - half of its clip, reflected at 0 and at len - 1
        p = (torch.arange(t + 2 * half, device=wav.device) - half).abs()[None, :]
        p = torch.where(p >= n, 2 * (n - 1) - p, p).clamp(0, t - 1)  # [B, T + nfft]; past a clip: unused
        mel = self._log_mel(self._magnitude(torch.gather(wav.float(), 1, p), center=False))  # [B, n_mels, 1 + T // hop]
        keep = torch.arange(mel.shape[-1], device=wav.device)[None, :] < 1 + n // cfg.hop_length
        return torch.where(keep[:, None, :], mel, 0.0)


# ----------------------------------------------------------------------------- modules
class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        var = x.float().pow(2).mean(-1, keepdim=True)
        y = x * torch.rsqrt(var + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            y = y.to(self.weight.dtype)
        return self.weight * y


def make_norm(cfg: MimoConfig) -> nn.Module:
    return nn.LayerNorm(cfg.d_model) if cfg.ln_type == "LayerNorm" else RMSNorm(cfg.d_model)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class PackedRows:
    """The real frames of a right-padded batch ``[B, n, ...]`` as rows ``[N, ...]`` of the
    flattened batch (``N = sum(lens)``), so that the encoder's per-frame work (norms,
    projections, MLP: nearly all of its arithmetic on word clips) skips the padding.

    The row indices are made on the host from ``lens`` and copied without a sync.
    """

    def __init__(self, lens: list[int], n: int, device):
        self.b, self.n = len(lens), n
        rows = np.concatenate([i * n + np.arange(int(v)) for i, v in enumerate(lens)])
        self.rows = to_device(rows, device, torch.int64)

    @classmethod
    def of(cls, lens: list[int], n: int, device) -> "PackedRows | None":
        """None when no clip is padded (nothing to skip)."""
        return None if all(int(v) == n for v in lens) else cls(lens, n, device)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, n, ...]`` -> ``[N, ...]``."""
        return x.reshape(self.b * self.n, *x.shape[2:]).index_select(0, self.rows)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, ...]`` -> ``[B, n, ...]``, zeros at the padded frames."""
        out = x.new_zeros(self.b * self.n, *x.shape[1:]).index_copy_(0, self.rows, x)
        return out.view(self.b, self.n, *x.shape[1:])


class SelfAttention(nn.Module):
    def __init__(self, cfg: MimoConfig):
        super().__init__()
        d = cfg.d_model
        self.heads, self.head_dim = cfg.encoder_attention_heads, cfg.head_dim
        self.q_proj = nn.Linear(d, d, bias=True)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=True)
        self.out_proj = nn.Linear(d, d, bias=True)

    def forward(self, x, cos, sin, mask, packed: "PackedRows | None" = None):
        """``x [B, n, D]``, or ``[N, D]`` (the real frames only) with ``packed``: the
        projections run on the rows given, attention on the padded ``[B, heads, n, n]``."""
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if packed is not None:
            q, k, v = packed.unpack(q), packed.unpack(k), packed.unpack(v)
        b, n, d = q.shape
        shape = (b, n, self.heads, self.head_dim)
        q, k, v = q.view(shape), k.view(shape), v.view(shape)
        q = q * cos + rotate_half(q) * sin  # cos/sin: [1, n, 1, head_dim]
        k = k * cos + rotate_half(k) * sin
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
        o = o.transpose(1, 2).reshape(b, n, d)
        return self.out_proj(o if packed is None else packed.pack(o))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: MimoConfig):
        super().__init__()
        self.self_attn = SelfAttention(cfg)
        self.self_attn_layer_norm = make_norm(cfg)
        self.fc1 = nn.Linear(cfg.d_model, cfg.encoder_ffn_dim)
        self.fc2 = nn.Linear(cfg.encoder_ffn_dim, cfg.d_model)
        self.final_layer_norm = make_norm(cfg)

    def forward(self, x, cos, sin, mask, packed: "PackedRows | None" = None):
        x = x + self.self_attn(self.self_attn_layer_norm(x), cos, sin, mask, packed)
        x = x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
        if x.dtype in (torch.float16, torch.bfloat16):  # upstream clamps +-inf in half precision
            lim = torch.finfo(x.dtype).max - 1000
            x = x.clamp(-lim, lim)
        return x


class Codebook(nn.Module):
    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("embed", torch.zeros(size, dim))


class VQLayer(nn.Module):
    def __init__(self, size: int, dim: int):
        super().__init__()
        self._codebook = Codebook(size, dim)

    @property
    def embed(self) -> torch.Tensor:
        return self._codebook.embed

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest codebook row of every ``x [N, D]`` (upstream's distance and argmax)."""
        e = self.embed.t()
        dist = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ e + e.pow(2).sum(0, keepdim=True))
        return dist.max(dim=-1).indices

    def decode(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.embed)


class VQStack(nn.Module):
    def __init__(self, sizes: list[int], dim: int):
        super().__init__()
        self.layers = nn.ModuleList([VQLayer(s, dim) for s in sizes])


class Quantizer(nn.Module):
    def __init__(self, cfg: MimoConfig):
        super().__init__()
        self.vq = VQStack(cfg.codebook_sizes, cfg.d_model)

    def encode(self, x: torch.Tensor, n_q: int) -> torch.Tensor:
        """``[N, D]`` float32 -> ``[n_q, N]`` codes (greedy residual)."""
        residual, out = x, []
        for layer in self.vq.layers[:n_q]:
            idx = layer.encode(residual)
            residual = residual - layer.decode(idx)
            out.append(idx)
        return torch.stack(out)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``[K, ...]`` codes -> ``[..., D]``: sum of the first K layers' rows."""
        out = self.vq.layers[0].decode(codes[0])
        for k in range(1, codes.shape[0]):
            out = out + self.vq.layers[k].decode(codes[k])
        return out


class MimoEncoder(nn.Module):
    """conv stem -> transformer (+ skip) -> LayerNorm -> pool -> LayerNorm -> RVQ.

    ``state_dict()`` keys are the checkpoint's keys without the ``encoder.`` prefix."""

    def __init__(self, cfg: MimoConfig):
        super().__init__()
        self.cfg = cfg
        d, k = cfg.d_model, cfg.kernel_size
        self.conv1 = nn.Conv1d(cfg.n_mels, d, kernel_size=k, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=k, stride=cfg.stride_size, padding=1)
        self.layers = nn.ModuleList([EncoderLayer(cfg) for _ in range(cfg.encoder_layers)])
        self.layer_norm = make_norm(cfg)
        self.down_sample_layer = (
            nn.Sequential(nn.Conv1d(d, d, cfg.avg_pooler, cfg.avg_pooler, bias=False), nn.GELU())
            if cfg.avg_pooler != 1
            else None
        )
        self.down_sample_norm = make_norm(cfg) if cfg.avg_pooler != 1 else None
        self.quantizer = Quantizer(cfg)

    @property
    def dtype(self) -> torch.dtype:
        return self.conv1.weight.dtype

    def rope(self, n: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin ``[1, n, 1, head_dim]``: positions 0..n-1 (every clip starts at 0)."""
        hd = self.cfg.head_dim
        inv_freq = 1.0 / (self.cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        inv_freq = to_device(inv_freq.to(dtype).float(), device)  # upstream's buffer follows the model dtype
        freqs = torch.arange(n, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype)[None, :, None, :], emb.sin().to(dtype)[None, :, None, :]

    def attention_mask(self, lens: list[int], n: int, device) -> torch.Tensor | None:
        """Boolean ``[B, 1, n|1, n]`` (True = attend) or None when nothing is masked."""
        left, right = (int(v) for v in self.cfg.encoder_attn_window_size)
        causal = bool(self.cfg.encoder_causal)
        if all(length == n for length in lens) and left < 0 and right < 0 and not causal:
            return None
        pos = torch.arange(n, device=device)
        keys = pos[None, :] < to_device(lens, device)[:, None]  # [B, n]
        if left < 0 and right < 0 and not causal:
            return keys[:, None, None, :]
        rel = pos[None, :] - pos[:, None]  # key - query
        band = torch.ones(n, n, dtype=torch.bool, device=device)
        if left >= 0:
            band &= rel >= -left
        if right >= 0:
            band &= rel <= right
        if causal:
            band &= rel <= 0
        mask = keys[:, None, :] & band[None]  # [B, n, n]
        # a padding row may see no key at all (window past the clip's end): let it see every
        # key so that it stays finite (its output is never used; a NaN would leak through 0 * NaN)
        mask |= ~keys[:, :, None]
        return mask[:, None]

    def features(self, mel: torch.Tensor, mel_lens: list[int]) -> tuple[torch.Tensor, list[int]]:
        """``[B, n_mels, M]`` log-mel (zeros past each clip's ``mel_lens``) -> continuous latent
        ``[B, F, D]`` (rows past a clip's frames are meaningless) and the frames per clip."""
        cfg = self.cfg
        b, _, m = mel.shape
        dev = mel.device
        x = F.gelu(self.conv1(mel.to(self.dtype)))
        if any(length != m for length in mel_lens):  # conv2 must see zeros past the clip's end
            keep = torch.arange(m, device=dev)[None, :] < to_device(mel_lens, dev)[:, None]
            x = x * keep[:, None, :].to(x.dtype)
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # [B, N, D]
        n = x.shape[1]
        lens = [cfg.conv_frames(length) for length in mel_lens]
        cos, sin = self.rope(n, dev, x.dtype)
        mask = self.attention_mask(lens, n, dev)
        packed = PackedRows.of(lens, n, dev)  # the transformer runs on the real frames only
        if packed is not None:
            x = packed.pack(x)  # [N, D]
        skip = None
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, packed)
            if cfg.encoder_skip_layer_id is not None and i == cfg.encoder_skip_layer_id - 1:
                skip = x.clone()
        if skip is not None:
            x = x + skip
        x = self.layer_norm(x)
        if packed is not None:
            x = packed.unpack(x)  # [B, n, D], each clip zero-padded at its own end
        if self.down_sample_layer is None:
            return x, lens
        p = cfg.avg_pooler
        if n % p:
            x = F.pad(x, (0, 0, 0, p - n % p))
        x = self.down_sample_layer(x.transpose(1, 2)).transpose(1, 2)
        x = self.down_sample_norm(x)
        return x, [cfg.pooled_frames(length) for length in lens]

    def encoder_keys(self) -> dict[str, torch.Size]:
        return {k: v.shape for k, v in self.state_dict().items()}


# ----------------------------------------------------------------------------- test audio
def fill_audio(seconds: float, sample_rate: int, seed: int, clip_seconds: float = 2.0) -> torch.Tensor:
    """Seeded test signals ``[n_clips, T]`` (clips of ``clip_seconds``), alternating two kinds at
    random levels: a linear chirp (random range, up or down) in white noise, and a speech-like
    harmonic complex (f0 90-280 Hz with vibrato, syllable-rate envelope, pauses) over a noise
    floor. With random weights a clip's latent frames sit close together and far from other
    kinds of clips, so the codebooks need frames of both kinds to give diverse codes."""
    rng = np.random.default_rng(seed)
    n = int(clip_seconds * sample_rate)
    n_clips = max(2, int(round(seconds / clip_seconds)))
    t = np.arange(n) / sample_rate
    clips = []
    for i in range(n_clips):
        if i % 2 == 0:
            fa, fb = rng.uniform(50, 1000), rng.uniform(1000, 0.45 * sample_rate)
            if rng.random() < 0.5:
                fa, fb = fb, fa
            x = rng.uniform(0.05, 0.6) * np.sin(2 * np.pi * (fa * t + (fb - fa) * t**2 / (2 * t[-1])))
            x = x + rng.uniform(0.005, 0.15) * rng.standard_normal(n)
        else:
            f0 = rng.uniform(90, 280) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
            phase = 2 * np.pi * np.cumsum(f0) / sample_rate
            tilt = rng.uniform(0.8, 1.6)
            x = sum(np.sin(h * phase) / h**tilt for h in range(1, 25))
            env = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 7) * t + rng.uniform(0, 2 * np.pi)))
            env *= np.sin(2 * np.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 2 * np.pi)) > -0.3  # pauses
            x = rng.uniform(0.05, 0.8) * x * env / np.abs(x).max() + rng.uniform(0.001, 0.05) * rng.standard_normal(n)
        clips.append(np.clip(x, -1, 1))
    return torch.from_numpy(np.stack(clips).astype(np.float32))


# ----------------------------------------------------------------------------- adapter
# read without importing this file: codecs.base.adapter_declarations (README, "Writing a codec adapter")
FAMILY = {"family": "mimo", "backend": "codecprobe", "default": True, "conda_env": "codec-mimo.yaml", "device": True, "hub_ids": "org_name"}


@register
class MimoCodec(Codec):
    """MiMo-Audio-Tokenizer encoder + RVQ (see the module docstring)."""

    family = "mimo"
    uses_torch = True
    pad_invariant = False  # bidirectional attention: right-padding changes a clip's codes
    accepts_lengths = True  # encode(wav, lengths=...) masks padding exactly
    # the transformer and the RVQ run on real frames only (PackedRows); what sees the padding
    # (convolutions, attention scores) is about 2 % of a frame's arithmetic at d_model 1280
    pays_for_padding = False
    min_samples = 481  # the mel front-end reflect-pads 480 samples
    segments_itself = True  # 6000-frame mel segments, each encoded alone (segment_frames)

    def __init__(self, spec: CodecSpec, device: str = "cpu"):
        self.spec = spec
        self.device = resolve_device(spec, device)  # a clear error for CUDA absent, or cuda:N past the count
        self.where = f"codec {spec.name!r}"
        opts = dict(spec.options or {})
        unknown = sorted(set(opts) - OPTIONS)
        if unknown:
            raise CodecprobeError(
                f"{self.where}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(OPTIONS))})"
            )
        dtype = opts.get("dtype", "float32")
        if dtype not in ("float32", "bfloat16"):
            raise CodecprobeError(f"{self.where}: option dtype {dtype!r} must be float32 or bfloat16")
        self.dtype = getattr(torch, dtype)
        self.fill_seconds = float(opts.get("fill_seconds", 8.0))
        self.max_attention = int(opts.get("max_attention_elements", 2**28))
        self.ignored_keys: list[str] = []

        if spec.random:
            self.config_path = RESOURCE_CONFIG
            raw = json.loads(RESOURCE_CONFIG.read_text()) if RESOURCE_CONFIG.exists() else None
            if raw is None:
                raise CodecprobeError(f"{self.where}: {RESOURCE_CONFIG} is missing (needed for weights: random)")
            overrides = opts.get("config", {}) or {}
            raw = {**raw, **overrides}
            self.cfg = MimoConfig.from_dict(raw, f"{self.where}: {RESOURCE_CONFIG}")
            self.config_sha256 = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
            files: list[Path] = []
        else:
            if opts.get("config"):
                raise CodecprobeError(f"{self.where}: option config is only for weights: random")
            folder, files = self._resolve_weights(spec.weights)
            self.config_path = folder / "config.json"
            self.cfg, _ = read_config(self.config_path, self.where)
            self.config_sha256 = file_sha256(self.config_path)

        cfg = self.cfg
        n = spec.n_layers if spec.n_layers is not None else DEFAULT_LAYERS
        if not 1 <= n <= cfg.num_quantizers:
            raise CodecprobeError(
                f"{self.where}: n_layers {n} outside 1..{cfg.num_quantizers} (the tokenizer's RVQ layers)"
            )
        self.segment_frames = int(opts.get("segment_frames", 6000))
        if self.segment_frames < 1 or self.segment_frames % (cfg.stride_size * cfg.avg_pooler):
            raise CodecprobeError(
                f"{self.where}: segment_frames {self.segment_frames} must be a positive multiple of "
                f"{cfg.stride_size * cfg.avg_pooler} mel frames"
            )
        self.n_layers = n
        self.sample_rate = whole_rate(spec, cfg.sampling_rate, "config.json sampling_rate")
        self.hop_length = cfg.samples_per_frame
        self.frame_rate = self.sample_rate / self.hop_length
        self.dim = cfg.d_model

        if spec.random:
            self.model = self._build_random(spec.seed)
        else:
            self.model = self._load(files)
        self.model.eval().requires_grad_(False)
        self.mel = LogMel(cfg, self.device)

    # ------------------------------------------------------------------ weights
    def _resolve_weights(self, weights: str) -> tuple[Path, list[Path]]:
        """The folder of the weights and their ``.safetensors`` files. Sets ``weights_path``
        (the file or folder whose sha256 the metadata records) and, for a hub id,
        ``weights_revision`` (the snapshot ``huggingface_hub`` resolved)."""
        p = Path(weights).expanduser()
        if p.is_file():
            if p.suffix != ".safetensors":
                raise CodecprobeError(f"{self.where}: weights {weights!r} is not a .safetensors file or a folder")
            folder, files = p.parent, [p]
        elif p.is_dir():
            folder, files = p, sorted(p.glob("*.safetensors"))
        elif hub.org_name_shaped(weights):  # org/name, as the LLM loader's hub ids
            try:
                from huggingface_hub import snapshot_download

                folder = Path(snapshot_download(repo_id=weights, allow_patterns=HUB_PATTERNS))
            except Exception as e:  # network, auth, missing repo, missing package
                raise CodecprobeError(
                    f"codec {self.spec.name!r}: cannot load weights {weights!r}: {hub.hub_failure(weights, e)}; "
                    f"download {HUB_ID} (config.json + *.safetensors) and set weights to that folder"
                ) from None
            files = sorted(folder.glob("*.safetensors"))
            self.weights_revision = folder.name  # .../snapshots/<commit>
        else:
            raise CodecprobeError(f"{self.where}: weights {weights!r}: no such file or folder (nor a hub id)")
        if not files:
            raise CodecprobeError(f"{self.where}: no *.safetensors file in {folder}")
        if not (folder / "config.json").is_file():
            raise CodecprobeError(f"{self.where}: no config.json beside the weights in {folder}")
        self.weights_path = p if p.is_file() else folder
        return folder, files

    def _load(self, files: list[Path]) -> MimoEncoder:
        from safetensors import safe_open

        with torch.device("meta"):
            model = MimoEncoder(self.cfg)
        expected = model.encoder_keys()
        handles, where = [], {}
        try:
            for f in files:
                h = safe_open(str(f), framework="pt", device="cpu")
                handles.append(h)
                for k in h.keys():
                    where.setdefault(k, h)
            prefix = next((p for p in ("encoder.", "audio_tokenizer.encoder.") if p + "conv1.weight" in where), None)
            if prefix is None:
                raise CodecprobeError(
                    f"{self.where}: {files[0].parent}: no MiMo encoder in the checkpoint "
                    f"(expected key encoder.conv1.weight; first keys: {', '.join(sorted(where)[:5])})"
                )
            missing = [prefix + k for k in expected if prefix + k not in where]
            if missing:
                raise CodecprobeError(
                    f"{self.where}: {files[0].parent}: {len(missing)} encoder/quantizer tensor(s) missing "
                    f"from the checkpoint: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}"
                )
            state, wrong = {}, []
            for k, shape in expected.items():
                t = where[prefix + k].get_tensor(prefix + k)
                if t.shape != shape:
                    wrong.append(f"{prefix + k} {tuple(t.shape)} (config.json implies {tuple(shape)})")
                state[k] = t
            if wrong:
                raise CodecprobeError(f"{self.where}: tensor shapes do not match config.json: {'; '.join(wrong[:4])}")
        finally:
            del handles
        self.ignored_keys = sorted(k for k in where if not (k.startswith(prefix) and k[len(prefix) :] in expected))
        dec = [k for k in self.ignored_keys if not k.startswith(prefix)]
        buf = [k for k in self.ignored_keys if k.startswith(prefix) and k.rsplit(".", 1)[-1] in RVQ_TRAINING_BUFFERS]
        other = [k for k in self.ignored_keys if k.startswith(prefix) and k not in buf]
        log.info(
            "%s: loaded %d encoder/quantizer tensors from %s; ignored %d: %d outside the encoder "
            "(decoder/vocoder, e.g. %s), %d RVQ training buffers (%s)",
            self.where,
            len(state),
            ", ".join(f.name for f in files),
            len(self.ignored_keys),
            len(dec),
            ", ".join(dec[:3]) or "-",
            len(buf),
            "/".join(RVQ_TRAINING_BUFFERS),
        )
        if other:
            log.warning("%s: ignored %d unknown encoder tensor(s): %s", self.where, len(other), ", ".join(other[:8]))
        model.load_state_dict(state, strict=True, assign=True)
        model.to(device=self.device, dtype=self.dtype)
        model.quantizer.float()  # upstream: the RVQ always runs in float32
        return model

    def _build_random(self, seed: int) -> MimoEncoder:
        torch.manual_seed(seed)
        model = MimoEncoder(self.cfg)  # PyTorch's default initialization, on CPU for reproducibility
        model.to(device=self.device, dtype=self.dtype)
        model.quantizer.float()
        self.model = model
        self.mel = LogMel(self.cfg, self.device)
        self._fill_codebooks(seed)
        return model

    @torch.inference_mode()
    def _fill_codebooks(self, seed: int) -> None:
        """Layer j's codebook = random frames of the residual layer j quantizes (+ noise).

        Every fill frame is used once before any is repeated; Gaussian noise of ``NOISE`` of
        the residual's std keeps the repeats apart. To pass a fill frame's residual on to
        the next layer it is quantized with the rows that were *not* copied from it: with
        1024 rows from about 200 frames every frame is in the first codebook, so its own
        copy would leave a residual of pure noise, while new audio leaves a residual the
        size of its distance to the nearest other frame, which is what the next layer's
        rows should look like."""
        wav = fill_audio(self.fill_seconds, self.sample_rate, seed).to(self.device)
        with full_fp32(self.device):
            lat, lens = self.model.features(self.mel(wav), [self._mel_frames(wav.shape[1])] * wav.shape[0])
        x = torch.cat([lat[b, :n] for b, n in enumerate(lens)]).float()
        n = len(x)
        g = torch.Generator().manual_seed(seed + 1)
        residual = x
        for layer in self.model.quantizer.vq.layers:
            size = layer.embed.shape[0]
            src = torch.randperm(n, generator=g)
            if size > n:
                src = torch.cat([src, torch.randint(n, (size - n,), generator=g)])
            src = src[:size].to(self.device)
            noise = torch.randn(size, x.shape[1], generator=g).to(self.device)
            layer.embed.copy_(residual[src] + NOISE * residual.std() * noise)
            e = layer.embed.t()
            dist = -(residual.pow(2).sum(1, keepdim=True) - 2 * residual @ e + e.pow(2).sum(0, keepdim=True))
            if n > 1:
                dist[src[None, :] == torch.arange(n, device=self.device)[:, None]] = -torch.inf
            residual = residual - layer.decode(dist.max(dim=-1).indices)
        log.info("%s: random weights (seed %d), codebooks filled from %d frames of test audio", self.where, seed, n)

    # ------------------------------------------------------------------ frames
    def _mel_frames(self, n_samples: int) -> int:
        return self.cfg.mel_frames(n_samples)

    def _segment_lengths(self, mel_frames: int) -> list[int]:
        s = self.segment_frames
        return [s] * (mel_frames // s) + ([mel_frames % s] if mel_frames % s else [])

    def n_frames(self, n_samples: int) -> int:
        """Latent frames for ``n_samples``: ``sum over 6000-frame mel segments of
        ceil(conv_frames(M) / pool)`` with ``M = 1 + T // hop`` (= ``ceil(M / 4)`` for MiMo)."""
        return sum(self.cfg.latent_frames(m) for m in self._segment_lengths(self._mel_frames(int(n_samples))))

    def frame_times(self, n_frames: int) -> np.ndarray:
        """Centre (s) of latent frame m: mel frame i is centred at ``i * hop / sr``; conv2 frame j
        at mel frame ``stride * j + kernel - 3`` (two convolutions with padding 1); latent frame m
        pools conv2 frames ``pool * m .. pool * m + pool - 1``. MiMo: ``0.04 m + 0.01``."""
        c = self.cfg
        m = np.arange(n_frames)
        conv_centre = c.avg_pooler * m + (c.avg_pooler - 1) / 2
        mel_centre = c.stride_size * conv_centre + c.kernel_size - 3
        return mel_centre * c.hop_length / c.sampling_rate

    # ------------------------------------------------------------------ encoding
    def _prepare(self, wav, lengths) -> tuple[torch.Tensor, list[int]]:
        wav = to_device(wav, self.device, torch.float32)
        if wav.dim() == 1:
            wav = wav[None]
        if wav.dim() != 2:
            raise CodecprobeError(f"{self.where}: encode expects [B, T] audio, got shape {tuple(wav.shape)}")
        b, t = wav.shape
        if lengths is None:
            lens = [t] * b
        else:
            lens = [int(v) for v in (lengths.tolist() if hasattr(lengths, "tolist") else lengths)]
            if len(lens) != b or any(not 0 < v <= t for v in lens):
                raise CodecprobeError(f"{self.where}: lengths {lens} do not fit a batch of shape {tuple(wav.shape)}")
        return wav, lens

    def _sequences(self, wav: torch.Tensor, lens: list[int]) -> list[tuple[int, torch.Tensor]]:
        """(clip index, ``[n_mels, M_s]`` mel segment) in order; the mel of a clip is computed
        over the whole clip, then cut into ``segment_frames`` segments (upstream)."""
        if all(v == wav.shape[1] for v in lens):
            mels = list(self.mel(wav))
        else:
            mels = [self.mel(wav[b, :v]) for b, v in enumerate(lens)]
        out = []
        for b, m in enumerate(mels):
            start = 0
            for n in self._segment_lengths(m.shape[1]):
                out.append((b, m[:, start : start + n]))
                start += n
        return out

    def _latents(self, mels: list[torch.Tensor]) -> list[torch.Tensor]:
        """Continuous latent ``[F_s, D]`` (float32) of every mel segment, batched within the
        attention budget; each segment is encoded as if alone."""
        heads = self.cfg.encoder_attention_heads
        out: list[torch.Tensor] = []
        i = 0
        while i < len(mels):
            j, longest = i + 1, self.cfg.conv_frames(mels[i].shape[1])
            while j < len(mels):
                nxt = max(longest, self.cfg.conv_frames(mels[j].shape[1]))
                if (j - i + 1) * heads * nxt * nxt > self.max_attention:
                    break
                longest, j = nxt, j + 1
            group = mels[i:j]
            lens = [m.shape[1] for m in group]
            batch = torch.zeros(len(group), self.cfg.n_mels, max(lens), device=self.device)
            for b, m in enumerate(group):
                batch[b, :, : m.shape[1]] = m
            lat, flens = self.model.features(batch, lens)
            out += [lat[b, :n].float() for b, n in enumerate(flens)]
            i = j
        return out

    def _one_pass(self, lens: list[int], t: int) -> bool:
        """Whether the batch (``[B, T]``, clip lengths ``lens``) runs as one padded batch:
        every clip is a single mel segment and the batch fits the attention budget (the
        grouping :meth:`_latents` would make anyway, without its per-clip steps)."""
        m = self._mel_frames(t)
        n = self.cfg.conv_frames(m)
        return m <= self.segment_frames and len(lens) * self.cfg.encoder_attention_heads * n * n <= self.max_attention

    def _padded_latents(self, wav: torch.Tensor, lens: list[int]) -> tuple[torch.Tensor, list[int]]:
        """One-pass path: float32 latent ``[B, F, D]`` of the whole batch (``F = n_frames(T)``;
        row b equals clip b encoded alone up to its ``n_frames(lens[b])`` frames, later rows
        are meaningless) and those frame counts. A fixed number of kernels per batch, whatever
        B is: the front-end and the convolutions run on the padded batch, the transformer on
        the real frames."""
        mel = self.mel.padded(wav, lens)
        mel_lens = [self._mel_frames(v) for v in lens]
        with full_fp32(self.device):
            lat, flens = self.model.features(mel, mel_lens)
        return lat.float(), flens

    def _per_clip(self, wav, lens, fn, dim: int) -> list[torch.Tensor]:
        """General path (clips over one mel segment, batches over the attention budget): run
        ``fn`` on the latents of every segment; join each clip's segments along ``dim``."""
        seqs = self._sequences(wav, lens)
        with full_fp32(self.device):
            parts = fn(self._latents([m for _, m in seqs]))
        per_clip: list[list[torch.Tensor]] = [[] for _ in lens]
        for (b, _), p in zip(seqs, parts):
            per_clip[b].append(p)
        return [torch.cat(p, dim=dim) for p in per_clip]

    @torch.inference_mode()
    def encode(self, wav, lengths=None) -> torch.Tensor:
        """``[B, T]`` audio at 24 kHz -> ``[B, K, n_frames(T)]`` int64 codes.

        ``lengths`` (optional, samples per clip): clip b is ``wav[b, :lengths[b]]``, encoded
        exactly as alone; its codes fill ``[:, :n_frames(lengths[b])]``, the rest is 0."""
        wav, lens = self._prepare(wav, lengths)
        b, t = wav.shape
        if self._one_pass(lens, t):
            lat, flens = self._padded_latents(wav, lens)  # [B, F, D]
            rows = PackedRows(flens, lat.shape[1], lat.device)  # the RVQ sees each clip's frames only
            with full_fp32(self.device):
                codes = self.model.quantizer.encode(rows.pack(lat), self.n_layers)  # [K, N]
            return rows.unpack(codes.t()).permute(0, 2, 1).contiguous()  # [B, K, F], 0 past each clip

        def quantize(latents: list[torch.Tensor]) -> list[torch.Tensor]:
            if not latents:
                return []
            codes = self.model.quantizer.encode(torch.cat(latents), self.n_layers)  # [K, sum F]
            return list(codes.split([len(x) for x in latents], dim=1))

        clips = self._per_clip(wav, lens, quantize, dim=1)
        out = torch.zeros(b, self.n_layers, self.n_frames(t), dtype=torch.int64, device=self.device)
        for i, c in enumerate(clips):
            out[i, :, : c.shape[1]] = c
        return out

    @torch.inference_mode()
    def latent(self, wav, lengths=None) -> torch.Tensor:
        """``[B, n_frames(T), D]`` float32: the continuous latent the RVQ quantizes (0 past a clip)."""
        wav, lens = self._prepare(wav, lengths)
        b, t = wav.shape
        if self._one_pass(lens, t):
            lat, flens = self._padded_latents(wav, lens)
            rows = PackedRows(flens, lat.shape[1], lat.device)
            return rows.unpack(rows.pack(lat))  # 0 past each clip, as encode's codes
        clips = self._per_clip(wav, lens, lambda latents: latents, dim=0)
        out = torch.zeros(b, self.n_frames(t), self.dim, device=self.device)
        for i, c in enumerate(clips):
            out[i, : len(c)] = c
        return out

    @torch.inference_mode()
    def codebook_vectors(self, layer: int) -> torch.Tensor:
        """``[C_k, 1280]`` float32: layer k's codebook rows (the decoded vectors; no projection)."""
        layers = self.model.quantizer.vq.layers
        if not 0 <= layer < len(layers):
            raise CodecprobeError(f"{self.where}: RVQ layer {layer} outside 0..{len(layers) - 1}")
        return layers[layer].embed.detach().float().clone()

    @torch.inference_mode()
    def quantized(self, codes) -> torch.Tensor:
        """``[B, K, F]`` codes -> ``[B, F, D]``: the quantizer's decode (sum of the K layers' rows)."""
        codes = torch.as_tensor(codes).to(device=self.device, dtype=torch.int64)
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.cfg.num_quantizers:
            raise CodecprobeError(
                f"{self.where}: quantized expects [B, K, F] codes with K <= {self.cfg.num_quantizers}"
            )
        return self.model.quantizer.decode(codes.transpose(0, 1))

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``config.json`` + ``model.safetensors`` in the released layout (``encoder.*``
        keys, codebooks in float32), e.g. to freeze a random-weight model: its codebooks are
        filled on the run's device, and float rounding there can change a few fill choices,
        so CPU and GPU builds of the same seed differ; loading the saved folder does not."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {"encoder." + k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(state, str(tmp), metadata={"format": "pt", "codecprobe": "mimo encoder+rvq"})
        raw = json.loads(Path(self.config_path).read_text()) if Path(self.config_path).exists() else {}
        raw.update({f.name: getattr(self.cfg, f.name) for f in fields(self.cfg)})
        raw["encoder_attn_window_size"] = list(raw["encoder_attn_window_size"])
        write_text(json.dumps(raw, indent=2), folder / "config.json")
        return folder

    weights_path: Path | None = None  # set by _resolve_weights
    weights_revision: str | None = None

    def weights_hash(self) -> str:
        """Of the files read (a hub id: its downloaded snapshot)."""
        return weights_sha256(str(self.weights_path)) if self.weights_path is not None else super().weights_hash()

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        if self.weights_revision:
            meta["weights_revision"] = self.weights_revision
        meta.update(
            {
                "config": str(self.config_path),
                "config_sha256": self.config_sha256,
                "encoder_dtype": str(self.dtype).replace("torch.", ""),
                "segment_frames": self.segment_frames,
                "codebook_sizes": self.cfg.codebook_sizes[: self.n_layers],
                "ignored_checkpoint_keys": len(self.ignored_keys),
            }
        )
        return meta


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["HUB_ID", "LogMel", "MimoCodec", "MimoConfig", "MimoEncoder", "fill_audio", "mel_filterbank", "n_parameters"]
