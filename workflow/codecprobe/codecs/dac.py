"""DAC 24 kHz (``descript/dac_24khz``) through ``transformers.DacModel``.

Latent: the encoder's 1024-d output at 75 Hz (hop 320). Each of the 32 RVQ layers projects
the residual in (``in_proj``, 1024 -> 8), finds the nearest code by cosine similarity
(L2-normalized input and codebook, for the search only), and adds ``out_proj(codebook[c])``
(8 -> 1024, with bias) to the quantized latent. The decode path (``quantizer.from_codes``)
uses the *raw* codebook rows, so the decoded vector of code c at layer k is
``out_proj_k(codebook_k.weight[c])`` including out_proj's bias, once per layer.

Option ``vectors`` (config ``codecs[].vectors``, :func:`vectors_option`): ``decoded`` (the
default, above: the layer-k feature is the accumulated 1024-d z_q, the paper's definition)
or ``release_8d``, the seed release's variant, kept only to reproduce its numbers: the
decoded vector is the raw 8-d row ``codebook_k.weight[c]`` (what ``quantizer.from_codes``
returns as ``z_p``, before ``out_proj``; not L2-normalized), so ``dim`` = 8 and the layer-k
feature is the sum of the 8-d rows of layers 1..k. Each layer has its own ``in_proj``, so
the 8-d spaces differ per layer and that sum has no meaning as a representation.
:meth:`DacCodec.quantized` is the codec's own z_q (1024-d) either way.

Like the original package's ``DAC.preprocess``, the audio is right-padded with zeros to a
multiple of the hop, so F = ceil(T / 320).

``DacConfig()`` defaults (transformers 5.24) describe a 16 kHz model: ratios (2, 4, 8, 8) =
hop 512, 9 codebooks, 16 kHz. The 24 kHz model differs in ``downsampling_ratios``
(2, 4, 5, 8) = hop 320, ``n_codebooks`` 32 and ``sampling_rate`` 24000; the rest (encoder
width 64, decoder width 1536, 1024 codes of dim 8, latent 64 * 2**4 = 1024) is the same.
The random build sets all of these explicitly (74.7 M parameters, as the real model).
"""

from __future__ import annotations

from typing import Any

from ..io import CodecprobeError
from . import _torchutil as tu
from .base import RELEASES, Codec, CodecSpec, register, whole_rate

PAPER_LAYERS = 32  # 24 kbps
DAC_24KHZ = dict(
    encoder_hidden_size=64,
    downsampling_ratios=[2, 4, 5, 8],
    decoder_hidden_size=1536,
    n_codebooks=RELEASES["dac"].n_layers,
    codebook_size=1024,
    codebook_dim=8,
    sampling_rate=24000,
)
# codecs[].vectors: what codebook_vectors() returns (see the module docstring)
VECTORS = ("decoded", "release_8d")
RELEASE_8D_NOTE = (
    "release_8d: layer-k feature = sum of the raw 8-d codebook rows of layers 1..k (the seed "
    "release's DAC variant; the 8-d spaces differ per layer: for reproducing its numbers only)"
)


def vectors_option(spec: CodecSpec) -> str:
    """``spec.options["vectors"]`` (default ``"decoded"``), checked; shared by both DAC backends."""
    v = spec.options.get("vectors", "decoded")
    if v not in VECTORS:
        raise CodecprobeError(f"codec {spec.name!r}: vectors {v!r} is not one of {', '.join(VECTORS)}")
    return v


def raw_codebook(quantizer):
    """``[C, 8]`` copy of a DAC quantizer's raw codebook rows (``release_8d``'s decoded vectors)."""
    return quantizer.codebook.weight.detach().float().clone().contiguous()


# read without importing this file: codecs.base.adapter_declarations (README, "Writing a codec adapter")
FAMILY = {"family": "dac", "backend": "transformers", "default": True, "conda_env": "codec-hf.yaml", "device": True, "hub_ids": "hf"}


@register
class DacCodec(tu.EncodesEachClip, tu.HFCodecMixin, Codec):
    family = "dac"  # non-causal convolutions: right-padding changes the last ~6 frames

    def __init__(self, spec: CodecSpec, device: str = "cpu"):
        from transformers import DacConfig, DacModel

        self.spec = spec
        self.vectors = vectors_option(spec)
        self.device = tu.resolve_device(spec, device)
        if spec.random:
            config = DacConfig(**DAC_24KHZ)
            tu.check_n_layers(spec, PAPER_LAYERS, config.n_codebooks)
            # DAC's codebooks are nn.Embedding rows drawn from N(0, 0.02): already distinct
            # directions, so random codes are diverse without a fill (unlike EnCodec/MIMI).
            self.model = tu.build_random(DacModel, config, spec.seed).to(self.device)
        else:
            self.model = tu.load_pretrained(DacModel, spec).to(self.device)
        cfg = self.model.config
        self.n_layers = tu.check_n_layers(spec, PAPER_LAYERS, len(self.model.quantizer.quantizers))
        self.sample_rate = whole_rate(spec, cfg.sampling_rate, "config.json sampling_rate")
        self.hop_length = int(cfg.hop_length)
        self.frame_rate = self.sample_rate / self.hop_length
        self.dim = int(cfg.hidden_size)
        if self.vectors == "release_8d":
            self.dim = int(self.model.quantizer.quantizers[0].codebook.weight.shape[1])

    def encode(self, wav, lengths=None):
        """``[B, T]`` -> ``[B, K, F]`` codes, one clip at a time, each right-padded with zeros
        to a multiple of the hop; ``lengths``: see :func:`_torchutil.encode_each`."""
        import torch

        def one(x):
            pad = self.n_frames(x.shape[-1]) * self.hop_length - x.shape[-1]
            if pad:
                x = torch.nn.functional.pad(x, (0, pad))
            return self.model.encode(x, n_quantizers=self.n_layers).audio_codes[:, : self.n_layers]

        with torch.inference_mode(), tu.full_fp32(self.device):
            return tu.encode_each(tu.as_batch(wav, self.device), one, lengths, self.n_frames).long()

    def codebook_vectors(self, layer: int):
        """``[C, 1024]`` ``out_proj(codebook[c])`` (``decoded``) or ``[C, 8]`` raw rows (``release_8d``)."""
        import torch

        q = self.model.quantizer.quantizers[layer]
        if self.vectors == "release_8d":
            return raw_codebook(q)
        with torch.no_grad(), tu.full_fp32(self.device):
            raw = q.codebook.weight  # [C, 8], as from_codes looks it up (not normalized)
            return q.out_proj(raw.t()[None])[0].t().detach().float().contiguous()  # [C, 1024]

    def quantized(self, codes):
        """The codec's own z_q ``[B, F, 1024]``, whatever ``vectors`` is."""
        import torch

        codes = torch.as_tensor(codes, device=self.device).long()
        with torch.no_grad(), tu.full_fp32(self.device):
            q = self.model.quantizer.from_codes(codes)[0]  # [B, D, F]
        return q.transpose(1, 2).float()

    def metadata(self) -> dict[str, Any]:
        meta = self._hf_metadata(super().metadata())
        meta["padding"] = "right-padded with zeros to a multiple of hop_length"
        meta["vectors"] = self.vectors
        if self.vectors == "release_8d":
            meta["vectors_note"] = RELEASE_8D_NOTE
        return meta
