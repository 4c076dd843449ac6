"""EnCodec 24 kHz through the original ``encodec`` package (``backend: package``).

Same model and features as :mod:`codecprobe.codecs.encodec` (the transformers port; the
two give identical codes and features for the same weights, tests/test_codecs_package.py):
128-d latent at 75 Hz, 32 RVQ layers of 1024 codes, the paper's 12 kbps = 16 layers.
Layer k's decoded vector is ``quantizer.vq.layers[k]._codebook.embed[c]`` (the codebook
dimension is the latent's, so there is no projection); feature_K is
``quantizer.decode(codes)``.

Weights:

- ``pretrained``: ``EncodecModel.encodec_model_24khz(pretrained=True)``, exactly as the
  package loads it (torch hub download of ``encodec_24khz-d7cc33bc.th``, checked against its
  sha256 prefix, cached in ``torch.hub.get_dir()/checkpoints``).
- a local ``.th`` file, or a folder holding ``encodec_24khz-d7cc33bc.th``: loaded strictly
  into ``encodec_model_24khz(pretrained=False)``; a file named ``<name>-<hex>.th`` must
  match its sha256 prefix, as the package checks.
- ``random``: the same architecture with seeded weights; the codebooks (zero until the
  package's k-means init runs in training) are filled from the residual they quantize
  (:func:`codecprobe.codecs.encodec.fill_codebooks`, the transformers adapter's own fill).

The package encodes at ``model.bandwidth`` (``set_target_bandwidth``); the adapter sets the
smallest bandwidth with at least ``n_layers`` layers and keeps the first ``n_layers`` codes.
Clips are encoded one at a time (see :func:`_torchutil.encode_each`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..io import CodecprobeError
from . import _package as pk
from . import _torchutil as tu
from .base import Codec, CodecSpec, register, whole_rate
from .encodec import PAPER_LAYERS, fill_codebooks, quantizer_output

CHECKPOINT = "encodec_24khz-d7cc33bc.th"  # the package's file name for the 24 kHz model


def checkpoint_file(spec: CodecSpec) -> Path:
    """The local weights file ``spec.weights`` names (a file, or a folder with CHECKPOINT)."""
    p = Path(spec.weights).expanduser()
    if p.is_dir():
        p = p / CHECKPOINT
    if not p.is_file():
        raise CodecprobeError(f"codec {spec.name!r}: cannot load weights {spec.weights!r}: no such file {str(p)!r}")
    m = re.fullmatch(r".+-([0-9a-f]{8,64})\.th", p.name)
    if m and not pk.file_sha256(p).startswith(m.group(1)):
        raise CodecprobeError(
            f"codec {spec.name!r}: weights file {str(p)!r} does not match the sha256 prefix {m.group(1)} in its name "
            "(corrupt or partial download)"
        )
    return p


# read without importing this file: codecs.base.adapter_declarations (README, "Writing a codec adapter")
FAMILY = {"family": "encodec", "backend": "package", "default": False, "conda_env": "codec-encodec.yaml", "device": True, "hub_ids": None}


@register
class EncodecPackageCodec(tu.EncodesEachClip, Codec):
    family = "encodec"  # the last, partial frame changes with right-padding
    backend = "package"

    def __init__(self, spec: CodecSpec, device: str = "cpu"):
        import torch

        encodec = pk.import_package(spec, "encodec", "encodec")
        self.spec = spec
        self.device = tu.resolve_device(spec, device)
        self._weights_file: Path | None = None
        build = encodec.EncodecModel.encodec_model_24khz
        if spec.random:
            model = tu.build_seeded(lambda: build(pretrained=False), spec.seed)
        elif spec.weights == pk.PRETRAINED:
            try:
                model = build(pretrained=True)
            except Exception as e:  # offline without a cache, checksum failure, ...
                raise CodecprobeError(
                    f"codec {spec.name!r}: cannot load the encodec package's pretrained 24 kHz model "
                    f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}); "
                    f"download {CHECKPOINT} and give its path as weights"
                ) from None
            cached = Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINT
            self._weights_file = cached if cached.is_file() else None
        else:
            self._weights_file = checkpoint_file(spec)
            model = build(pretrained=False)
            pk.load_strict(spec, model, pk.read_checkpoint(spec, self._weights_file), str(self._weights_file))
        self.model = model.float().eval().to(self.device)
        self.vq_layers = self.model.quantizer.vq.layers
        for layer in self.vq_layers:
            if not isinstance(layer.project_out, torch.nn.Identity):  # pragma: no cover (24 kHz model)
                raise CodecprobeError(f"codec {spec.name!r}: codebook dimension differs from the latent's")
        self.n_layers = tu.check_n_layers(spec, PAPER_LAYERS, len(self.vq_layers))
        self.sample_rate = whole_rate(spec, self.model.sample_rate, "the model's sample_rate")
        self.hop_length = int(self.model.encoder.hop_length)
        self.frame_rate = float(self.model.frame_rate)  # ceil(24000 / 320) = 75
        self.dim = int(self.model.encoder.dimension)
        self.bandwidth = self._bandwidth_for(self.n_layers)
        self.model.set_target_bandwidth(self.bandwidth)
        self._fill_report = None
        if spec.random:  # the same fill as the transformers adapter's
            books = [layer._codebook for layer in self.vq_layers]
            with torch.no_grad(), tu.full_fp32(self.device):
                self._fill_report = fill_codebooks(self.model.encoder, books, spec.seed, self.sample_rate, self.device)

    def _bandwidth_for(self, n_layers: int) -> float:
        q = self.model.quantizer
        for bw in sorted(self.model.target_bandwidths):
            if q.get_num_quantizers_for_bandwidth(self.model.frame_rate, bw) >= n_layers:
                return float(bw)
        raise CodecprobeError(  # pragma: no cover (n_layers is checked against the layers)
            f"codec {self.spec.name!r}: no bandwidth of {self.model.target_bandwidths} gives {n_layers} layers"
        )

    def encode(self, wav, lengths=None):
        """``[B, T]`` -> ``[B, K, F]`` codes, one clip at a time through ``EncodecModel.encode``."""
        import torch

        def one(x):
            frames = self.model.encode(x)  # [(codes [1, K', F], scale=None)]: no segmenting at 24 kHz
            return frames[0][0][:, : self.n_layers]

        with torch.inference_mode(), tu.full_fp32(self.device):
            return tu.encode_each(tu.as_batch(wav, self.device), one, lengths, self.n_frames).long()

    def codebook_vectors(self, layer: int):
        import torch

        with torch.no_grad():
            return self.vq_layers[layer]._codebook.embed.detach().clone().float()

    def quantized(self, codes):
        return quantizer_output(self.model.quantizer, codes, self.device)

    def weights_hash(self) -> str:
        """Of the checkpoint file read (``pretrained``: the torch hub cache's), hashed once."""
        return pk.cached_sha256(self._weights_file) if self._weights_file is not None else super().weights_hash()

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(pk.package_versions("encodec"))
        meta["backend"] = "package"
        meta["model_class"] = "encodec.EncodecModel"
        meta["bandwidth_kbps"] = self.bandwidth
        if self._weights_file is not None:
            meta["weights_file"] = str(self._weights_file)
        if self.spec.random:
            meta["codebook_fill"] = self._fill_report
        return meta
