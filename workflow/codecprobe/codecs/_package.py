"""Helpers shared by the adapters of the original codec packages (``backend: package``).

The ``encodec`` and ``descript-audio-codec`` packages each live in their own env
(``envs/codec-encodec.yaml``, ``envs/codec-dac.yaml``): both import torchaudio, which needs
a torch of the same release (the test venv, ``make test-packages``, uses torchaudio's Python
part beside the main env's torch instead; see requirements-packages.txt). Nothing here
imports transformers.

- :func:`read_checkpoint`: ``torch.load`` of a local weights file with every failure turned
  into a :class:`~codecprobe.io.CodecprobeError` naming the codec and the file.
- :func:`load_strict`: ``load_state_dict`` that refuses missing, unexpected or wrongly
  shaped tensors (``dac.DAC.load`` loads with ``strict=False`` and would keep random values).
- :func:`cached_sha256` (of :func:`.base.file_sha256`), :func:`package_versions`: provenance.
"""

from __future__ import annotations

import functools
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from ..io import CodecprobeError
from .base import CodecSpec, file_sha256

# ``weights:`` value meaning "the package's own released checkpoint, downloaded and cached
# by the package" (torch hub cache for encodec, ~/.cache/descript/dac for DAC).
PRETRAINED = "pretrained"


def read_checkpoint(spec: CodecSpec, path: Path) -> Any:
    """The object stored in ``path`` (tensors and plain Python containers only)."""
    import torch

    prefix = f"codec {spec.name!r}: cannot load weights {str(path)!r}"
    if not path.is_file():
        raise CodecprobeError(f"{prefix}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or truncated file, pickle with arbitrary objects, ...
        msg = str(e).strip().splitlines()
        raise CodecprobeError(f"{prefix}: not a readable torch checkpoint ({type(e).__name__}: {msg[0] if msg else ''})") from None


def load_strict(spec: CodecSpec, model, state: Any, source: str) -> None:
    """``model.load_state_dict(state)`` refusing any missing, unexpected or misshapen tensor."""
    import torch

    prefix = f"codec {spec.name!r}: weights {source!r} do not fit the {type(model).__name__} architecture"
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CodecprobeError(f"{prefix}: expected a dict of tensors (a state dict)")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or misshapen:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing tensor(s), e.g. {missing[:3]}")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
        if misshapen:
            k = misshapen[0]
            detail.append(
                f"{len(misshapen)} tensor(s) of the wrong shape, e.g. {k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
            )
        raise CodecprobeError(f"{prefix}: {'; '.join(detail)}")
    model.load_state_dict(state, strict=True)


@functools.lru_cache(maxsize=None)
def cached_sha256(path: Path) -> str:
    """:func:`file_sha256`, computed once per path and process."""
    return file_sha256(path)


def package_versions(*distributions: str) -> dict[str, str]:
    """``{"<dist>_version": version}`` for torch, torchaudio and ``distributions``."""
    out = {}
    for dist in ("torch", "torchaudio", *distributions):
        try:
            out[f"{dist.replace('-', '_')}_version"] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[f"{dist.replace('-', '_')}_version"] = "not installed"
    return out


def import_package(spec: CodecSpec, module: str, distribution: str):
    """``import module``, or a clear error naming the env that provides it (the env the
    workflow gives the family's encode jobs: the package adapter's declared ``conda_env``)."""
    import importlib

    from .base import family_facts

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise CodecprobeError(
            f"codec {spec.name!r}: backend 'package' needs the {distribution!r} package "
            f"(conda env envs/{family_facts(spec.family, 'package')['conda_env']}; `import {module}` failed: {e})"
        ) from None
