"""DAC 24 kHz through the original ``descript-audio-codec`` package (``backend: package``).

Same model and features as :mod:`codecprobe.codecs.dac` (the transformers port; the two
give identical codes and features for the same weights, tests/test_codecs_package.py):
1024-d latent at 75 Hz (hop 320), 32 RVQ layers of 1024 codes of dim 8. The decoded vector
of code c at layer k is ``quantizers[k].out_proj(codebook_k.weight[c])`` (bias included,
once per layer), which is what ``quantizer.from_codes`` sums. Option ``vectors:
release_8d`` (the seed release's variant, for reproducing its numbers only) makes it the raw
8-d row ``codebook_k.weight[c]`` instead (``dim`` = 8), exactly as
:mod:`codecprobe.codecs.dac` does.

Weights:

- ``pretrained``: ``dac.utils.download(model_type="24khz")``, exactly as the package
  fetches it (``~/.cache/descript/dac/weights_24khz_8kbps_0.0.4.pth``), then loaded as below.
- a local ``.pth`` file in the package's format (``{"state_dict", "metadata": {"kwargs"}}``):
  the model is built from the stored kwargs (filtered to ``DAC``'s signature, as
  ``DAC.load`` does) and the state dict is loaded **strictly** (``DAC.load`` uses
  ``strict=False`` and would keep random values for a tensor it cannot match).
- ``random``: ``DAC(**DAC_24KHZ)`` with seeded weights (DAC's codebooks are drawn at init,
  so random codes are diverse without a fill).

Audio is right-padded with zeros to a multiple of the hop by ``DAC.preprocess``; clips are
encoded one at a time.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path
from typing import Any

from ..io import CodecprobeError
from . import _package as pk
from . import _torchutil as tu
from .base import RELEASES, Codec, CodecSpec, register, whole_rate
from .dac import RELEASE_8D_NOTE, raw_codebook, vectors_option

PAPER_LAYERS = 32  # 24 kbps
DAC_24KHZ = dict(  # the kwargs stored in the released 24 kHz checkpoint
    encoder_dim=64,
    encoder_rates=[2, 4, 5, 8],
    decoder_dim=1536,
    decoder_rates=[8, 5, 4, 2],
    n_codebooks=RELEASES["dac"].n_layers,
    codebook_size=1024,
    codebook_dim=8,
    sample_rate=24000,
)


def read_dac_checkpoint(spec: CodecSpec, path: Path, trusted: bool) -> tuple[dict, dict]:
    """``(state_dict, kwargs)`` from a checkpoint in the package's format.

    Read with ``weights_only=True``; a file that needs full unpickling is read so only when
    ``trusted`` (the package's own download of its release).
    """
    import torch

    try:
        ckpt = pk.read_checkpoint(spec, path)
    except CodecprobeError:
        if not trusted:
            raise
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except (pickle.UnpicklingError, EOFError, RuntimeError, OSError) as e:
            raise CodecprobeError(f"codec {spec.name!r}: cannot load weights {str(path)!r}: {e}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CodecprobeError(
            f"codec {spec.name!r}: weights {str(path)!r} are not a descript-audio-codec checkpoint "
            "(expected a dict with 'state_dict' and 'metadata')"
        )
    kwargs = ((ckpt.get("metadata") or {}).get("kwargs")) or {}
    if not kwargs:
        raise CodecprobeError(f"codec {spec.name!r}: weights {str(path)!r} carry no metadata.kwargs (model shape)")
    return ckpt["state_dict"], dict(kwargs)


# read without importing this file: codecs.base.adapter_declarations (README, "Writing a codec adapter")
FAMILY = {"family": "dac", "backend": "package", "default": False, "conda_env": "codec-dac.yaml", "device": True, "hub_ids": None}


@register
class DacPackageCodec(tu.EncodesEachClip, Codec):
    family = "dac"  # non-causal: right-padding changes the last frames
    backend = "package"

    def __init__(self, spec: CodecSpec, device: str = "cpu"):
        self.vectors = vectors_option(spec)
        dac = pk.import_package(spec, "dac", "descript-audio-codec")
        self.spec = spec
        self.device = tu.resolve_device(spec, device)
        self._weights_file: Path | None = None
        if spec.random:
            model = tu.build_seeded(lambda: dac.DAC(**DAC_24KHZ), spec.seed)
        else:
            trusted = spec.weights == pk.PRETRAINED
            if trusted:
                try:
                    path = Path(dac.utils.download(model_type="24khz", model_bitrate="8kbps", tag="latest"))
                except Exception as e:  # offline, HTTP error
                    raise CodecprobeError(
                        f"codec {spec.name!r}: cannot fetch the descript-audio-codec 24 kHz weights "
                        f"({type(e).__name__}: {e}); download weights_24khz.pth and give its path as weights"
                    ) from None
            else:
                path = Path(spec.weights).expanduser()
            state, kwargs = read_dac_checkpoint(spec, path, trusted)
            accepted = set(inspect.signature(dac.DAC).parameters)
            try:
                model = dac.DAC(**{k: v for k, v in kwargs.items() if k in accepted})
            except Exception as e:
                raise CodecprobeError(f"codec {spec.name!r}: weights {str(path)!r}: bad model kwargs {kwargs}: {e}") from None
            pk.load_strict(spec, model, state, str(path))
            self._weights_file = path
        self.model = model.float().eval().to(self.device)
        self.quantizers = self.model.quantizer.quantizers
        self.n_layers = tu.check_n_layers(spec, PAPER_LAYERS, len(self.quantizers))
        self.sample_rate = whole_rate(spec, self.model.sample_rate, "the checkpoint's metadata.kwargs sample_rate")
        self.hop_length = int(self.model.hop_length)
        self.frame_rate = self.sample_rate / self.hop_length
        self.dim = int(self.model.latent_dim)
        if self.vectors == "release_8d":
            self.dim = int(self.quantizers[0].codebook.weight.shape[1])

    def encode(self, wav, lengths=None):
        """``[B, T]`` -> ``[B, K, F]`` codes, one clip at a time through ``DAC.preprocess`` +
        ``DAC.encode``."""
        import torch

        def one(x):
            x = self.model.preprocess(x, self.sample_rate)
            _, codes, *_ = self.model.encode(x, n_quantizers=self.n_layers)
            return codes[:, : self.n_layers]

        with torch.inference_mode(), tu.full_fp32(self.device):
            return tu.encode_each(tu.as_batch(wav, self.device), one, lengths, self.n_frames).long()

    def codebook_vectors(self, layer: int):
        """``[C, D]`` ``out_proj(codebook[c])`` (``decoded``) or ``[C, 8]`` raw rows (``release_8d``)."""
        import torch

        q = self.quantizers[layer]
        if self.vectors == "release_8d":
            return raw_codebook(q)
        with torch.no_grad(), tu.full_fp32(self.device):
            return q.out_proj(q.codebook.weight.t()[None])[0].t().detach().float().contiguous()  # [C, D]

    def quantized(self, codes):
        """The codec's own z_q ``[B, F, latent_dim]`` (1024-d), whatever ``vectors`` is."""
        import torch

        codes = torch.as_tensor(codes, device=self.device).long()
        with torch.no_grad(), tu.full_fp32(self.device):
            z_q, _, _ = self.model.quantizer.from_codes(codes)  # [B, D, F]
        return z_q.transpose(1, 2).float()

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(pk.package_versions("descript-audio-codec"))
        meta["backend"] = "package"
        meta["model_class"] = "dac.DAC"
        meta["padding"] = "right-padded with zeros to a multiple of hop_length (DAC.preprocess)"
        meta["vectors"] = self.vectors
        if self.vectors == "release_8d":
            meta["vectors_note"] = RELEASE_8D_NOTE
        if self._weights_file is not None:
            meta["weights_file"] = str(self._weights_file)
        return meta

    def weights_hash(self) -> str:
        """Of the checkpoint file read (``pretrained``: the package's download), hashed once."""
        return pk.cached_sha256(self._weights_file) if self._weights_file is not None else super().weights_hash()
