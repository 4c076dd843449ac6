"""Helpers shared by the torch-based codec adapters (EnCodec, DAC, MIMI via ``transformers``).

- :func:`resolve_device`: check a device string before anything is built on it.
- :func:`load_pretrained`: ``XModel.from_pretrained(weights)`` with every failure (missing
  folder, missing files, offline without a cache, weights that do not fit the architecture)
  turned into a :class:`~codecprobe.io.CodecprobeError` that names the codec and the weights.
- :func:`build_random`, :func:`build_seeded`: the real architecture with seeded random weights.
- :func:`probe_audio`: seeded, speech-like test audio (gliding harmonics, noise bursts).
- :func:`fill_rvq_codebooks`: k-means-init style codebooks for a residual quantizer whose
  random-init codebooks are all zero (EnCodec, MIMI), so that random-weight codes are diverse.
- :func:`hub_weights_sha256`, :func:`library_versions`: provenance for ``Codec.metadata``.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import hub
from ..io import CodecprobeError
from .base import CodecSpec, check_n_layers, file_sha256  # noqa: F401  (check_n_layers: the adapters call tu.check_n_layers)


def resolve_device(spec: CodecSpec, device: str | None) -> str:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; ``None``/``"auto"`` picks cuda when present."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise CodecprobeError(f"codec {spec.name!r}: invalid device {device!r}: {e}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CodecprobeError(f"codec {spec.name!r}: device {device!r} requested but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CodecprobeError(
                f"codec {spec.name!r}: device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise CodecprobeError(f"codec {spec.name!r}: device {device!r} requested but MPS is not available")
    return str(dev)


def _looks_like_path(weights: str) -> bool:
    """A path (:func:`codecprobe.hub.path_shaped`), or a name that exists here."""
    return hub.path_shaped(weights) or Path(weights).exists()


def _first_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def load_pretrained(model_cls, spec: CodecSpec):
    """``model_cls.from_pretrained(spec.weights)`` in eval mode, float32; errors -> CodecprobeError.

    Weights that load with missing or wrongly-shaped tensors are refused: transformers would
    otherwise fill those tensors with random values and only log a warning.
    """
    prefix = f"codec {spec.name!r}: cannot load weights {spec.weights!r}"
    weights = os.path.expanduser(spec.weights)
    if _looks_like_path(spec.weights) and not Path(weights).exists():
        raise CodecprobeError(f"{prefix}: no such file or folder {weights!r}")
    config_json = Path(weights) / "config.json"
    if config_json.is_file():  # a local folder: refuse another family's checkpoint by name
        import json

        try:
            model_type = json.loads(config_json.read_text()).get("model_type")
        except (OSError, ValueError) as e:
            raise CodecprobeError(f"{prefix}: unreadable {config_json}: {e}") from None
        expected = model_cls.config_class.model_type
        if model_type is not None and model_type != expected:
            raise CodecprobeError(f"{prefix}: {config_json} is a {model_type!r} checkpoint, not {expected!r}")
    try:
        model, info = model_cls.from_pretrained(weights, output_loading_info=True)
    except Exception as e:  # OSError (missing files, offline), ValueError (bad config), ...
        why = hub.hub_failure(spec.weights, e) if is_hub_id(spec.weights) else _first_line(e)
        raise CodecprobeError(f"{prefix}: {why}") from e
    missing = sorted(info.get("missing_keys") or [])
    mismatched = sorted(str(m) for m in (info.get("mismatched_keys") or []))
    if missing or mismatched:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing tensor(s), e.g. {missing[:3]}")
        if mismatched:
            detail.append(f"{len(mismatched)} tensor(s) of the wrong shape, e.g. {mismatched[:3]}")
        raise CodecprobeError(
            f"{prefix}: the checkpoint does not match the {model_cls.__name__} architecture ({'; '.join(detail)})"
        )
    return model.float().eval()


def build_random(model_cls, config, seed: int):
    """The architecture of ``config`` with weights drawn after ``torch.manual_seed(seed)``
    (see :func:`build_seeded`)."""
    return build_seeded(lambda: model_cls(config), seed)


def build_seeded(build: Callable[[], Any], seed: int):
    """``build()`` (a model constructor) with weights drawn after ``torch.manual_seed(seed)``,
    in eval mode and float32. Built on the CPU, so the weights do not depend on the device;
    the caller's global RNG state is restored afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().float().eval()


def probe_audio(n_samples: int, sample_rate: int, seed: int, batch: int = 1):
    """Seeded speech-like audio ``[batch, n_samples]`` float32 in [-1, 1].

    Each clip: harmonics of a gliding f0 (a chirp over 90-320 Hz with vibrato) under a
    4-6 Hz syllabic envelope and two moving formant-like resonances, plus noise bursts
    (fricative-like) and a low noise floor. Different clips of a batch differ.
    """
    import torch

    g = torch.Generator().manual_seed(int(seed))
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    dur = max(n_samples / sample_rate, 1e-3)
    out = []
    for _ in range(batch):
        r = torch.rand(8, generator=g, dtype=torch.float64)
        f0_lo, f0_hi = 90 + 60 * r[0], 180 + 140 * r[1]
        f0 = f0_lo * (f0_hi / f0_lo) ** (0.5 - 0.5 * torch.cos(2 * math.pi * t / dur * (1 + r[2])))
        f0 = f0 * (1 + 0.02 * torch.sin(2 * math.pi * 5.5 * t))
        phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
        form1 = 500 + 300 * torch.sin(2 * math.pi * (0.7 + r[3]) * t)
        form2 = 1500 + 700 * torch.sin(2 * math.pi * (0.4 + r[4]) * t + 1.0)
        voiced = torch.zeros_like(t)
        for h in range(1, 30):
            fh = h * f0
            gain = torch.exp(-(((fh - form1) / 250) ** 2)) + 0.5 * torch.exp(-(((fh - form2) / 400) ** 2)) + 0.02
            voiced = voiced + gain * torch.sin(h * phase) * (fh < sample_rate / 2)
        syll = 0.5 - 0.5 * torch.cos(2 * math.pi * (4 + 2 * r[5]) * t)
        noise = torch.randn(n_samples, generator=g, dtype=torch.float64)
        hiss = noise - torch.roll(noise, 1)  # crude high-pass: fricative-like
        bursts = (torch.sin(2 * math.pi * (1.3 + r[6]) * t + 6 * r[7]) > 0.6).double()
        x = voiced * syll * (1 - bursts) + 0.6 * hiss * bursts + 0.01 * noise
        out.append(0.5 * x / x.abs().max().clamp(min=1e-8))
    return torch.stack(out).float()


def fill_rvq_codebooks(
    frames,
    codebook_sizes: Sequence[int],
    set_codebook: Callable[[int, Any], None],
    quantize: Callable[[int, Any], Any],
    lookup: Callable[[int, Any], Any],
    seed: int,
    jitter: float = 0.01,
    pool_factor: float = 2.0,
) -> list[float]:
    """K-means-init style codebooks for a residual vector quantizer.

    ``frames`` ``[N, D]`` are latent frames that the RVQ quantizes. Layer ``j``'s codebook is
    set (``set_codebook(j, [C_j, D])``) to randomly chosen rows of the residual left by layers
    ``< j`` plus Gaussian noise of ``jitter`` times the residual's per-dimension standard
    deviation; then the residual is updated with the layer's own quantizer
    (``quantize(j, [N, D]) -> [N]`` codes, ``lookup(j, codes) -> [N, D]``), exactly as
    encoding does. Returns the RMS norm of the residual entering each layer.

    Two details keep deep layers alive:

    - A row drawn into layer j's codebook is quantized by its own copy, so its residual is
      only the added noise; rows drawn at layer j are not drawn at layer j+1, and when there
      are fewer than ``pool_factor * max(C)`` frames the pool is enlarged with mixtures
      ``x_a + u (x_b - x_a)`` of random pairs of frames (u uniform in [0, 1]).
    - The latents of a random-weight encoder vary along few directions (EnCodec: the
      frame-to-frame spread is about 1% of the latent's norm), so data-drawn entries cover
      them almost exactly. With tiny noise (``jitter`` 0.01) the residual shrank about 100x
      per layer: float rounding by EnCodec's layer 5, exact zeros and a single code used
      from MIMI's layer 26. ``jitter`` 0.5 makes the residual shrink gradually (measured on
      fresh audio, last/first layer norm: EnCodec 5e-5 over 32 layers, MIMI 2.5e-3) with
      diverse codes at every layer; ``jitter`` >= 1 makes residuals grow instead.
    """
    import torch

    g = torch.Generator().manual_seed(int(seed) + 1_000_003)
    residual = frames.detach().float()
    n, d = residual.shape
    dev = residual.device
    want = int(math.ceil(pool_factor * max(codebook_sizes)))
    if n < want:
        a = torch.randint(n, (want - n,), generator=g)
        b = torch.randint(n, (want - n,), generator=g)
        u = torch.rand(want - n, 1, generator=g).to(dev)
        extra = residual[a.to(dev)] + u * (residual[b.to(dev)] - residual[a.to(dev)])
        residual = torch.cat([residual, extra])
        n = want
    blocked = torch.zeros(n, dtype=torch.bool)
    rms = []
    for j, size in enumerate(codebook_sizes):
        rms.append(float(residual.pow(2).sum(1).mean().sqrt()))
        candidates = torch.nonzero(~blocked).flatten()
        candidates = candidates[torch.randperm(candidates.numel(), generator=g)]
        if candidates.numel() >= size:
            idx = candidates[:size]
        else:  # pragma: no cover (the pool holds at least 2 C rows by default)
            idx = torch.cat(
                [candidates, candidates[torch.randint(candidates.numel(), (size - candidates.numel(),), generator=g)]]
            )
        std = residual.std(dim=0, keepdim=True)
        noise = torch.randn(size, d, generator=g).to(dev) * (jitter * std)
        set_codebook(j, residual[idx.to(dev)] + noise)
        codes = quantize(j, residual)
        residual = residual - lookup(j, codes)
        blocked = torch.zeros(n, dtype=torch.bool)
        blocked[idx] = True
    return rms


def aten_calls(fn) -> int:
    """Top-level ATen operator calls made by ``fn()`` (nested calls not counted again),
    counted with ``torch.profiler`` on the CPU: on a GPU each is a kernel launch or more,
    so this is what a batch costs the host, on any machine."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(
        1
        for e in prof.events()
        if e.name.startswith("aten::") and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))
    )


def to_device(x, device, dtype=None):
    """Host data (array, list, CPU tensor) -> tensor on ``device``.

    On CUDA the data goes through pinned memory with ``non_blocking=True``: a plain
    ``.to("cuda")`` / ``torch.tensor(..., device="cuda")`` from pageable memory synchronises
    the stream, so the host would wait for every kernel already queued before it could
    queue the next batch. (The caching host allocator keeps the pinned block until the
    copy is done.) Elsewhere a plain copy.
    """
    import torch

    t = torch.as_tensor(x, dtype=dtype)
    if str(device).startswith("cuda") and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def as_batch(wav, device: str):
    """``[B, T]`` (or ``[T]``) tensor/array -> float32 ``[B, 1, T]`` tensor on ``device``."""
    import torch

    x = torch.as_tensor(wav)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise CodecprobeError(f"encode expects audio of shape [B, T], got {tuple(x.shape)}")
    return x.to(device=device, dtype=torch.float32)[:, None, :]


@contextlib.contextmanager
def full_fp32(device: str):
    """On CUDA, turn TF32 off for convolutions and matrix products while inside.

    cuDNN convolutions default to TF32 (10-bit mantissa) on Ampere and later GPUs, which
    moves the latent by ~1e-3 relative and changes codes; the codecs' own codes are those
    of float32 arithmetic. No effect on the CPU.
    """
    if not str(device).startswith("cuda"):
        yield
        return
    import torch

    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


class EncodesEachClip:
    """Batching flags of an adapter that encodes every clip alone (:func:`encode_each`):
    right-padding would change a clip's last frames (``pad_invariant`` False), so a padded
    batch comes with ``lengths`` and each clip is cut back to its own length
    (``accepts_lengths``); padding then costs no encoder work (``pays_for_padding`` False).
    EnCodec, DAC and MIMI, in both backends. Put it before :class:`~.base.Codec` in the bases."""

    pad_invariant = False
    accepts_lengths = True
    pays_for_padding = False


def encode_each(x, encode_one, lengths=None, n_frames: Callable[[int], int] | None = None):
    """Encode the clips of a ``[B, 1, T]`` batch one at a time and stack the ``[1, K, F]`` codes.

    Batched float32 kernels (convolutions, LSTM, attention) round differently from
    single-clip ones, and that flips codes whose two nearest codebook entries are at a
    near-tie (measured with random weights: EnCodec 46-80 of 2400 codes, MIMI 0-1 of 800,
    for a clip encoded alone vs in a batch of two of the same length). Encoding one clip
    at a time makes a clip's codes independent of what it is batched with.

    ``lengths`` (``[B]`` ints, optional): clip i is ``x[i, :, :lengths[i]]``, encoded alone, so
    its codes are exactly its codes without the padding; rows are right-padded with code 0
    to ``n_frames(T)`` frames.
    """
    import torch

    if lengths is None:
        return torch.cat([encode_one(x[i : i + 1]) for i in range(x.shape[0])], dim=0)
    lengths = [int(n) for n in torch.as_tensor(lengths).reshape(-1).tolist()]
    if len(lengths) != x.shape[0] or any(n < 1 or n > x.shape[-1] for n in lengths):
        raise CodecprobeError(f"encode: lengths {lengths} do not fit a batch of shape {tuple(x.shape)}")
    parts = [encode_one(x[i : i + 1, :, :n]) for i, n in enumerate(lengths)]
    total = n_frames(x.shape[-1]) if n_frames is not None else max(p.shape[-1] for p in parts)
    return torch.cat([torch.nn.functional.pad(p, (0, total - p.shape[-1])) for p in parts], dim=0)


def hub_weights_sha256(repo_id: str, revision: str | None = None) -> tuple[str, str] | None:
    """(sha256, snapshot revision) of the weights file the HF cache holds for ``repo_id``
    (None when not found there)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    for fname in ("model.safetensors", "pytorch_model.bin"):
        for rev in ([revision] if revision else []) + [None]:
            try:
                path = try_to_load_from_cache(repo_id, fname, revision=rev)
            except Exception:
                path = None
            if isinstance(path, str) and Path(path).is_file():
                return file_sha256(path), Path(path).parent.name  # .../snapshots/<revision>/<file>
    return None


def library_versions() -> dict[str, str]:
    import torch
    import transformers

    return {"torch_version": torch.__version__, "transformers_version": transformers.__version__}


def is_hub_id(weights: str) -> bool:
    """``weights`` names a model hub repository: of the hub-id form
    (:func:`codecprobe.hub.hub_id_shaped`: not ``random``, not absolute, not starting with
    ``.``, ``~`` or ``/``, at most one ``/``, no weights-file suffix) and not existing here."""
    return hub.hub_id_shaped(weights) and not Path(weights).exists()


class HFCodecMixin:
    """Shared ``metadata`` for the transformers-backed adapters (expects ``self.model``)."""

    _hub_sha: tuple[str, str | None] | None = None

    def _hf_metadata(self, meta: dict[str, Any]) -> dict[str, Any]:
        meta.update(library_versions())
        meta["model_class"] = type(self.model).__name__
        spec = self.spec
        if not spec.random and is_hub_id(spec.weights):
            if self._hub_sha is None:  # hashed once; the file is the one from_pretrained resolved
                found = hub_weights_sha256(spec.weights, getattr(self.model.config, "_commit_hash", None))
                self._hub_sha = found or (f"hub:{spec.weights}", None)
            meta["weights_sha256"], revision = self._hub_sha
            if revision:
                meta["weights_revision"] = revision
        if spec.random:
            meta["codebook_fill"] = getattr(self, "_fill_report", None)
        return meta
