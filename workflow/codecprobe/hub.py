"""How a ``weights`` string is read: a local path, or a Hugging Face hub id.

A string is a **path** whatever exists when it is absolute, starts with ``.``, ``~`` or
``/``, has more than one ``/``, or ends with a weights-file suffix (:func:`path_shaped`).
Any other string is a path when a file or folder of that name exists, and otherwise a
hub id of the loader's form. The loaders keep their own hub-id forms, on purpose:

- the transformers codec adapters (:func:`codecprobe.codecs._torchutil.is_hub_id`):
  any string that is not path-shaped (:func:`hub_id_shaped`), as ``from_pretrained``
  also takes ids without an organisation;
- the LLM input paths (``codecprobe.llm._is_hub_id``) and MiMo's tokenizer
  (:mod:`codecprobe.codecs.mimo`): ``org/name`` only (:func:`org_name_shaped`).

A one-``/`` string such as ``weights/encodec_24khz`` is a valid hub id, so a missing
local folder of that name cannot be told apart from a hub id before the hub is asked;
when loading then fails, :func:`hub_failure` says both (no such local path, and the
hub's error). ``huggingface_hub`` goes offline when ``HF_HUB_OFFLINE`` (or
``TRANSFORMERS_OFFLINE``) is true (:func:`offline_var`): then only its cache
(:func:`hub_cache_dir`) is read, which the start-up check looks into
(:func:`hub_cache_problem`). Nothing here imports ``huggingface_hub`` (the workflow's own
env does not have it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

# suffixes of the weights files the loaders read (a hub repo is never named so)
WEIGHTS_SUFFIXES = (".safetensors", ".th", ".pth", ".pt", ".bin", ".ckpt", ".npz")
ORG_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# as huggingface_hub.constants: HF_HUB_OFFLINE, else TRANSFORMERS_OFFLINE, true if one of these
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
TRUE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})


def path_shaped(weights: str) -> bool:
    """``weights`` is a path whatever exists: absolute, starting with ``.``, ``~`` or ``/``
    (``./``, ``../``, a hidden folder), more than one ``/``, or a weights-file suffix
    (:data:`WEIGHTS_SUFFIXES`)."""
    return (
        os.path.isabs(weights)
        or weights.startswith((".", "~", "/", "\\"))
        or weights.count("/") > 1
        or weights.lower().endswith(WEIGHTS_SUFFIXES)
    )


def hub_id_shaped(weights: str) -> bool:
    """The transformers adapters' hub-id form: anything but ``random`` that is not
    :func:`path_shaped` (``org/name``, or a name alone as ``from_pretrained`` allows)."""
    return bool(weights) and weights != "random" and not path_shaped(weights)


def org_name_shaped(weights: str) -> bool:
    """The LLM and MiMo loaders' hub-id form: ``org/name`` and not :func:`path_shaped`."""
    return ORG_NAME.fullmatch(weights) is not None and not path_shaped(weights)


def local_path(weights: str, base: str | Path = ".") -> Path:
    """The absolute local path ``weights`` would name (``~`` expanded, relative to ``base``)."""
    p = Path(weights).expanduser()
    return p if p.is_absolute() else Path(base).resolve() / p


def offline_var(env: Mapping[str, str] | None = None) -> str | None:
    """The variable that puts ``huggingface_hub`` offline, read as the library reads it
    (``HF_HUB_OFFLINE``, or ``TRANSFORMERS_OFFLINE`` when the former is unset or empty);
    None when online."""
    env = os.environ if env is None else env
    for var in OFFLINE_VARS:
        if env.get(var):
            return var if env[var].upper() in TRUE_VALUES else None
    return None


def hub_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The Hugging Face hub cache, as ``huggingface_hub.constants.HF_HUB_CACHE`` finds it:
    ``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME/hub``, ``XDG_CACHE_HOME/huggingface/hub``
    or ``~/.cache/huggingface/hub``."""
    env = os.environ if env is None else env
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(cache)))


def hub_cache_problem(repo_id: str, revision: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """Why the hub cache cannot serve ``repo_id`` at ``revision`` offline, or None when it can.

    As ``huggingface_hub`` resolves it offline: a 40-hex ``revision`` is the commit itself;
    any other (a branch or tag; None: ``main``) must be a ref file ``refs/<revision>`` naming
    the commit; the commit's snapshot folder must hold files (which ones is the loader's
    business). A snapshot downloaded by commit (``hf download --revision <sha>``) writes no
    ``refs/main``: offline, only that commit given as the revision finds it.
    """
    repo = hub_cache_dir(env) / f"models--{repo_id.replace('/', '--')}"
    snapshots = repo / "snapshots"
    if not snapshots.is_dir() or not any(snapshots.iterdir()):
        return f"holds no hub repo {repo_id}"
    if revision is not None and len(revision) == 40 and all(ch in "0123456789abcdef" for ch in revision):
        commit = revision
    else:
        ref = repo / "refs" / (revision or "main")
        if not ref.is_file():
            held = ", ".join(sorted(p.name for p in snapshots.iterdir()))
            return (f"holds {repo_id} without the ref {ref.relative_to(repo)} (snapshots: {held}; downloaded by "
                    "commit? give that commit as the revision, or download the repo again without --revision)")  # fmt: skip
        commit = ref.read_text().strip()
    snap = snapshots / commit
    if not snap.is_dir() or not any(snap.iterdir()):
        return f"holds no files of {repo_id} at {revision or 'main'} (snapshot {commit})"
    return None


def not_local(weights: str, base: str | Path = ".") -> str:
    """``not a local path (no /abs/path)``: the first half of a hub id's failure."""
    return f"not a local path (no {local_path(weights, base)})"


def hub_failure(weights: str, error: BaseException, env: Mapping[str, str] | None = None) -> str:
    """Why a hub-id-shaped ``weights`` did not load: no such local path, and the hub's
    error (first line), offline mode named when it is on."""
    var = offline_var(env)
    mode = f" ({var} is set: only the cache {hub_cache_dir(env)} is read)" if var else ""
    lines = str(error).strip().splitlines()
    detail = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return f"{not_local(weights)}, and as a Hugging Face hub id{mode}: {detail}"
