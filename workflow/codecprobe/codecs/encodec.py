"""EnCodec 24 kHz (``facebook/encodec_24khz``) through ``transformers.EncodecModel``.

Latent: the encoder's 128-d output at 75 Hz. The RVQ has 32 layers of 1024 codes; the
paper's bitrate is 12 kbps = 16 layers. Layer k's decoded vector is the raw codebook entry
``quantizer.layers[k].codebook.embed[c]`` (no projection), so feature_k is the sum of the
entries of layers 1..k and feature_K is ``quantizer.decode(codes)``.

``transformers`` encodes at the *smallest* bandwidth (1.5 kbps, 2 layers) unless told;
this adapter asks for the smallest supported bandwidth that has at least ``n_layers``
layers and keeps the first ``n_layers`` codes (RVQ is sequential, so the first K codes of
a larger bandwidth are exactly the codes of K layers; checked in the tests). Clips of a
batch are encoded one at a time (:func:`_torchutil.encode_each`), so a clip's codes do not
depend on its batch. F = ceil(T / 320): the causal convolutions pad the end.

``EncodecConfig()`` defaults are the 24 kHz model (32 filters, ratios 8-5-4-2, 128-d,
2 LSTM layers, causal, weight norm, 1024 codes, bandwidths up to 24 kbps = 32 layers;
14.9 M parameters). With ``weights: random`` the codebooks, zero after init, are filled
from the residual each layer quantizes (:func:`_torchutil.fill_rvq_codebooks`).
"""

from __future__ import annotations

from typing import Any

from ..io import CodecprobeError
from . import _torchutil as tu
from .base import Codec, CodecSpec, register, whole_rate

PAPER_LAYERS = 16  # 12 kbps
# weights: random -- audio whose latent frames seed the codebooks (2 x 4 s = 600 frames,
# pooled to 2048 rows), and the noise added to each drawn row, relative to the residual's
# per-dimension spread (tiny noise makes every deeper layer collapse towards zero).
FILL_CLIPS, FILL_SECONDS = 2, 4.0
FILL_JITTER = 0.5


def quantizer_output(quantizer, codes, device: str):
    """``[B, K, F]`` codes -> ``[B, F, D]`` float32 sum of their decoded vectors, by the
    RVQ's own ``decode`` (``[K, B, F]`` codes -> ``[B, D, F]``), in the package and in the
    transformers port alike."""
    import torch

    codes = torch.as_tensor(codes, device=device).long()
    with torch.no_grad(), tu.full_fp32(device):
        q = quantizer.decode(codes.transpose(0, 1))  # [B, D, F]
    return q.transpose(1, 2).float()


def fill_codebooks(encoder, books: list, seed: int, sample_rate: int, device: str) -> dict:
    """Random init leaves every EnCodec codebook at zero: draw them from the residual they
    quantize (:func:`_torchutil.fill_rvq_codebooks`) and return the fill report.

    ``encoder``: audio ``[B, 1, T]`` -> latent ``[B, D, F]``; ``books``: the layers'
    Euclidean codebooks, in the package (``vq.layers[j]._codebook``) and in the
    transformers port (``layers[j].codebook``) alike: buffers ``embed``, ``embed_avg``,
    ``cluster_size``, ``inited``, methods ``encode`` and ``decode``. ``inited`` is set so
    that the package's k-means init never overwrites the fill.
    """
    wav = tu.probe_audio(int(FILL_SECONDS * sample_rate), sample_rate, seed=seed, batch=FILL_CLIPS).to(device)
    latent = encoder(wav[:, None])  # [B, D, F]
    frames = latent.transpose(1, 2).reshape(-1, latent.shape[1])

    def set_codebook(j, vectors):
        cb = books[j]
        cb.embed.copy_(vectors)
        cb.embed_avg.copy_(vectors)
        cb.cluster_size.fill_(1.0)
        cb.inited.fill_(1.0)

    rms = tu.fill_rvq_codebooks(
        frames,
        [cb.codebook_size for cb in books],
        set_codebook,
        lambda j, x: books[j].encode(x),
        lambda j, c: books[j].decode(c),
        seed=seed,
        jitter=FILL_JITTER,
    )
    return {"audio_s": FILL_CLIPS * FILL_SECONDS, "jitter": FILL_JITTER, "residual_rms": rms}


# read without importing this file: codecs.base.adapter_declarations (README, "Writing a codec adapter")
FAMILY = {"family": "encodec", "backend": "transformers", "default": True, "conda_env": "codec-hf.yaml", "device": True, "hub_ids": "hf"}


@register
class EncodecCodec(tu.EncodesEachClip, tu.HFCodecMixin, Codec):
    family = "encodec"  # right-padding changes the last, partial frame (reflect padding at the end)

    def __init__(self, spec: CodecSpec, device: str = "cpu"):
        import torch
        from transformers import EncodecConfig, EncodecModel

        self.spec = spec
        self.device = tu.resolve_device(spec, device)
        if spec.random:
            config = EncodecConfig()  # the defaults are facebook/encodec_24khz
            self.n_layers = tu.check_n_layers(spec, PAPER_LAYERS, config.num_quantizers)
            self.model = tu.build_random(EncodecModel, config, spec.seed).to(self.device)
        else:
            self.model = tu.load_pretrained(EncodecModel, spec).to(self.device)
        cfg = self.model.config
        if cfg.chunk_length_s is not None or cfg.audio_channels != 1:
            raise CodecprobeError(
                f"codec {spec.name!r}: weights {spec.weights!r} are a chunked or multi-channel EnCodec "
                f"(chunk_length_s={cfg.chunk_length_s}, audio_channels={cfg.audio_channels}); only the "
                "24 kHz mono model is supported"
            )
        available = len(self.model.quantizer.layers)
        self.n_layers = tu.check_n_layers(spec, PAPER_LAYERS, available)
        self.sample_rate = whole_rate(spec, cfg.sampling_rate, "config.json sampling_rate")
        self.hop_length = int(cfg.hop_length)
        self.frame_rate = self.sample_rate / self.hop_length
        self.dim = int(cfg.codebook_dim)
        self.bandwidth = self._bandwidth_for(self.n_layers)
        self._fill_report = None
        if spec.random:
            books = [layer.codebook for layer in self.model.quantizer.layers]
            with torch.no_grad(), tu.full_fp32(self.device):
                self._fill_report = fill_codebooks(self.model.encoder, books, spec.seed, self.sample_rate, self.device)

    def _bandwidth_for(self, n_layers: int) -> float:
        q = self.model.quantizer
        for bw in sorted(self.model.config.target_bandwidths):
            if q.get_num_quantizers_for_bandwidth(bw) >= n_layers:
                return float(bw)
        raise CodecprobeError(  # pragma: no cover (n_layers is checked against the layers)
            f"codec {self.spec.name!r}: no bandwidth of {self.model.config.target_bandwidths} gives {n_layers} layers"
        )

    def encode(self, wav, lengths=None):
        """``[B, T]`` -> ``[B, K, F]`` codes, one clip at a time; ``lengths``: see
        :func:`_torchutil.encode_each`."""
        import torch

        def one(x):
            codes = self.model.encode(x, bandwidth=self.bandwidth).audio_codes  # [chunks=1, 1, K', F]
            return codes[0, :, : self.n_layers]

        with torch.inference_mode(), tu.full_fp32(self.device):
            return tu.encode_each(tu.as_batch(wav, self.device), one, lengths, self.n_frames).long()

    def codebook_vectors(self, layer: int):
        import torch

        with torch.no_grad(), tu.full_fp32(self.device):
            return self.model.quantizer.layers[layer].codebook.embed.detach().clone().float()

    def quantized(self, codes):
        return quantizer_output(self.model.quantizer, codes, self.device)

    def metadata(self) -> dict[str, Any]:
        meta = self._hf_metadata(super().metadata())
        meta["bandwidth_kbps"] = self.bandwidth
        return meta
