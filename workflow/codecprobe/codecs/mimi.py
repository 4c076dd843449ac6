"""MIMI (``kyutai/mimi``) through ``transformers.MimiModel``.

Latent: 512-d at 12.5 Hz (hop 1920 at 24 kHz). Split RVQ: a semantic RVQ (1 layer) and an
acoustic RVQ (31 layers) both quantize the SAME latent, each through its own input
projection (512 -> 256, 1x1 conv without bias) and output projection (256 -> 512, no bias);
the quantized latent is the sum of the two outputs. The acoustic part is not the residual of
the semantic part.

Decoded vector of layer k (0-based): k < n_sem: ``sem.output_proj(sem codebook_k[c])``;
else ``ac.output_proj(ac codebook_{k - n_sem}[c])``. The output projections are linear and
bias-free, so the sum of the per-layer projections equals the projection of the sum:
feature_1 is the semantic projection only, and feature_k - feature_1 is
``ac.output_proj(sum of acoustic code vectors 2..k)``.

A codebook is stored as ``embed_sum`` / ``cluster_usage`` (clamped at ``epsilon``), cached
in ``codebook._embed`` on first use; the cache is reset whenever the buffers change.

``MimiConfig()`` defaults are kyutai/mimi (24 kHz, ratios 8-6-5-4 -> 25 Hz, downsampled
to 12.5 Hz; 8-layer transformers; 32 quantizers of 2048 codes, 1 semantic; 79.3 M
parameters + 16.8 M codebook entries). F = ``model.get_encoded_length(T)`` (equal to
ceil(T / 1920) for every length checked). Clips are encoded one at a time.
"""

from __future__ import annotations

from typing import Any

from . import _torchutil as tu
from .base import Codec, CodecSpec, register, whole_rate

PAPER_LAYERS = 32  # 4.4 kbps at 12.5 Hz x 11 bits
# weights: random -- audio whose latent frames seed the codebooks (2 x 8 s = 200 frames,
# pooled to 4096 rows) and the relative noise added to each drawn row (see encodec.py).
FILL_CLIPS, FILL_SECONDS = 2, 8.0
FILL_JITTER = 0.5


def _reset_codebook_caches(model) -> None:
    q = model.quantizer
    for rvq in (q.semantic_residual_vector_quantizer, q.acoustic_residual_vector_quantizer):
        for layer in rvq.layers:
            layer.codebook._embed = None


# read without importing this file: codecs.base.adapter_declarations (README, "Writing a codec adapter")
FAMILY = {"family": "mimi", "backend": "transformers", "default": True, "conda_env": "codec-hf.yaml", "device": True, "hub_ids": "hf"}


@register
class MimiCodec(tu.EncodesEachClip, tu.HFCodecMixin, Codec):
    family = "mimi"  # causal, but the last (partial) frame changes with right-padding

    def __init__(self, spec: CodecSpec, device: str = "cpu"):
        import torch
        from transformers import MimiConfig, MimiModel

        self.spec = spec
        self.device = tu.resolve_device(spec, device)
        if spec.random:
            config = MimiConfig()  # the defaults are kyutai/mimi (32 quantizers, 1 semantic)
            tu.check_n_layers(spec, PAPER_LAYERS, config.num_quantizers)
            self.model = tu.build_random(MimiModel, config, spec.seed).to(self.device)
        else:
            self.model = tu.load_pretrained(MimiModel, spec).to(self.device)
        _reset_codebook_caches(self.model)  # ``_embed`` is a plain attribute: not moved by .to()
        cfg = self.model.config
        q = self.model.quantizer
        self.n_semantic = int(q.num_semantic_quantizers)
        self.n_layers = tu.check_n_layers(spec, PAPER_LAYERS, int(q.max_num_quantizers))
        self.sample_rate = whole_rate(spec, cfg.sampling_rate, "config.json sampling_rate")
        self.hop_length = int(cfg.frame_size)
        self.frame_rate = float(cfg.frame_rate)
        self.dim = int(cfg.hidden_size)
        self._fill_report = None
        self._n_frames: dict[int, int] = {}  # n_frames() per clip length (samples)
        if spec.random:
            with torch.no_grad(), tu.full_fp32(self.device):
                self._fill_codebooks()

    # -- layers ------------------------------------------------------------------------
    def _rvq_layer(self, k: int):
        """(rvq, index in it) holding global layer ``k``."""
        q = self.model.quantizer
        if k < self.n_semantic:
            return q.semantic_residual_vector_quantizer, k
        return q.acoustic_residual_vector_quantizer, k - self.n_semantic

    def _fill_codebooks(self) -> None:
        """Random init leaves every codebook at zero: draw each from the residual it quantizes
        (semantic and acoustic RVQs separately, each from its own projection of the latent)."""
        n = int(FILL_SECONDS * self.sample_rate)
        wav = tu.probe_audio(n, self.sample_rate, seed=self.spec.seed, batch=FILL_CLIPS).to(self.device)
        latent = self.model.encoder(wav[:, None]).latents  # [B, 512, F]
        q = self.model.quantizer
        report = []
        for offset, rvq in ((0, q.semantic_residual_vector_quantizer), (1, q.acoustic_residual_vector_quantizer)):
            x = rvq.input_proj(latent) if rvq.input_proj is not None else latent
            frames = x.transpose(1, 2).reshape(-1, x.shape[1])
            layers = rvq.layers

            def set_codebook(j, vectors, layers=layers):
                cb = layers[j].codebook
                cb.embed_sum.copy_(vectors)
                cb.cluster_usage.fill_(1.0)
                cb.initialized.fill_(1.0)
                cb._embed = None

            report += tu.fill_rvq_codebooks(
                frames,
                [layers[j].codebook.codebook_size for j in range(len(layers))],
                set_codebook,
                lambda j, x, layers=layers: layers[j].codebook.encode(x),
                lambda j, c, layers=layers: layers[j].codebook.decode(c),
                seed=self.spec.seed + offset,
                jitter=FILL_JITTER,
            )
        self._fill_report = {"audio_s": FILL_CLIPS * FILL_SECONDS, "jitter": FILL_JITTER, "residual_rms": report}
        _reset_codebook_caches(self.model)

    # -- interface ---------------------------------------------------------------------
    def n_frames(self, n_samples: int) -> int:
        """``model.get_encoded_length``, remembered per length (one small dict entry per
        distinct clip length): it runs a few dozen torch operations on the host, about 1 ms
        a call on two CPU cores, and the stage asks for each clip's count three times. For a
        codec bound by its kernel launches that is host time the bare encoder call never
        spends."""
        n = int(n_samples)
        frames = self._n_frames.get(n)
        if frames is None:
            import torch

            frames = self._n_frames[n] = int(self.model.get_encoded_length(torch.tensor(n)).item())
        return frames

    def encode(self, wav, lengths=None):
        """``[B, T]`` -> ``[B, K, F]`` codes, one clip at a time; ``lengths``: see
        :func:`_torchutil.encode_each`."""
        import torch

        def one(x):
            return self.model.encode(x, num_quantizers=self.n_layers).audio_codes[:, : self.n_layers]

        with torch.inference_mode(), tu.full_fp32(self.device):
            return tu.encode_each(tu.as_batch(wav, self.device), one, lengths, self.n_frames).long()

    def codebook_vectors(self, layer: int):
        import torch

        rvq, j = self._rvq_layer(layer)
        with torch.no_grad(), tu.full_fp32(self.device):
            emb = rvq.layers[j].codebook.embed  # [C, 256]
            if rvq.output_proj is None:
                return emb.detach().clone().float()
            return rvq.output_proj(emb.t()[None])[0].t().detach().float().contiguous()  # [C, 512]

    def acoustic_codebook(self, j: int):
        """Raw acoustic codebook ``j`` (0-based within the acoustic RVQ), before output_proj."""
        return self.model.quantizer.acoustic_residual_vector_quantizer.layers[j].codebook.embed

    def quantized(self, codes):
        import torch

        codes = torch.as_tensor(codes, device=self.device).long()
        with torch.no_grad(), tu.full_fp32(self.device):
            q = self.model.quantizer.decode(codes)  # [B, D, F]
        return q.transpose(1, 2).float()

    def metadata(self) -> dict[str, Any]:
        meta = self._hf_metadata(super().metadata())
        meta["n_semantic_layers"] = self.n_semantic
        return meta
