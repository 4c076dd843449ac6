"""The codec interface every adapter implements, and the registry keyed by ``family``.

A codec turns mono audio at its own sample rate into integer codes, one row per
residual quantizer layer, and maps codes back to the *decoded vector* of each layer
(the quantizer's output for that layer, in the latent space the codec's decoder
reads). The paper's feature at layer k is the sum of the decoded vectors of layers
1..k (:func:`codecprobe.features.accumulated_features`).

Shapes: ``wav`` float32 ``[B, T]`` (samples at :attr:`Codec.sample_rate`, range
[-1, 1]); ``codes`` int64 ``[B, K, F]`` (K layers, F frames at :attr:`Codec.frame_rate`);
decoded vectors float32 ``[B, K, F, D]`` (D = :attr:`Codec.dim`).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..io import CodecprobeError

REGISTRY: dict[str, type["Codec"]] = {}


@dataclass
class CodecSpec:
    """One entry of the config's ``codecs`` list."""

    name: str
    family: str
    weights: str = "random"  # hub id, local path, or "random"
    n_layers: int | None = None  # codebooks used (the paper's bitrate when None)
    seed: int = 0  # for weights: random
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def random(self) -> bool:
        return self.weights == "random"


def register(cls: type["Codec"]) -> type["Codec"]:
    """Class decorator: make ``cls`` available under ``cls.family`` (and its ``backend``). A
    class whose ``backend`` is the one its family's declaration marks ``default`` (copied
    from ``FAMILY``) is the family's default implementation, as one that leaves it unset."""
    backend = cls.backend
    if backend != "default" and DEFAULT_BACKEND.get(cls.family) == backend:
        backend = "default"  # (the file then "registered no adapter" for its family)
    REGISTRY[registry_key(cls.family, backend)] = cls
    return cls


def registry_key(family: str, backend: str = "default") -> str:
    """``"encodec"`` for a family's default implementation, ``"encodec:package"`` for another."""
    return family if backend == "default" else f"{family}:{backend}"


class Codec(ABC):
    """A loaded codec. Subclasses set the attributes in ``__init__(spec, device)`` and
    implement :meth:`encode`, :meth:`codebook_vectors` and :meth:`quantized`."""

    family: ClassVar[str]
    # Which implementation of the family this adapter wraps: "default" (the family's own
    # module) or another named one (config ``backend``, e.g. EnCodec's "package").
    backend: ClassVar[str] = "default"
    spec: CodecSpec
    sample_rate: int  # Hz
    frame_rate: float  # frames per second
    hop_length: int  # samples per frame at sample_rate
    n_layers: int  # quantizer layers used (K)
    dim: int  # D, size of a decoded vector
    device: str = "cpu"
    uses_torch: ClassVar[bool] = True  # False: encode() takes and returns NumPy arrays
    # True when right-padding a clip with zeros leaves the codes of its own frames
    # unchanged (causal models, frame-local front-ends): such clips may share a padded
    # batch. Otherwise only clips of identical length are batched together.
    pad_invariant: ClassVar[bool] = False
    # True when encode(wav, lengths=...) masks the padding exactly (codes of each clip
    # equal its codes alone): such a codec also shares padded batches.
    accepts_lengths: ClassVar[bool] = False
    # True when a shared padded batch costs work in proportion to its padded size (the
    # encoder runs on the padding): the encode stage then holds badly padded batches for a
    # later shard's words (EncodeConfig.hold_padding). False when the padding costs next to
    # nothing (clips encoded one at a time, or only each clip's real frames computed).
    pays_for_padding: ClassVar[bool] = True
    # Shortest clip (samples) the encoder accepts; shorter word clips and utterances are
    # zero-padded to it (and counted).
    min_samples: int = 1
    # True when the codec cuts long audio into independent segments of its own (MiMo's
    # 60 s mel segments, as upstream encodes): the encode stage's chunks would move those
    # boundaries, so feature slicing gives it whole utterances.
    segments_itself: ClassVar[bool] = False

    @property
    def shares_batches(self) -> bool:
        """Clips of different lengths may share a padded batch: right-padding does not
        change the codes (``pad_invariant``) or is masked given the lengths
        (``accepts_lengths``). Otherwise a batch holds clips of one length only."""
        return self.pad_invariant or self.accepts_lengths

    @property
    def on_cuda(self) -> bool:
        """A torch codec on a CUDA device: its calls return before the device is done."""
        return self.uses_torch and str(self.device).startswith("cuda")

    @abstractmethod
    def encode(self, wav):
        """``[B, T]`` float tensor -> ``[B, K, F]`` int64 codes (``F = n_frames(T)``).

        Codecs with ``accepts_lengths`` take ``encode(wav, lengths=[B] int tensor)``.
        """

    @abstractmethod
    def codebook_vectors(self, layer: int):
        """``[C_k, D]`` float tensor: the decoded vector of every code of ``layer`` (0-based).

        The decoded vector is what the quantizer adds to the latent for that code:
        the codebook entry after any output projection (bias included, as the codec
        adds it once per layer). Every supported codec's decoded vector depends on
        the code alone, so codes + these tables rebuild every accumulated feature.
        """

    def tables(self) -> list:
        """:meth:`codebook_vectors` of every layer, computed once."""
        if getattr(self, "_tables", None) is None:
            self._tables = [self.codebook_vectors(k) for k in range(self.n_layers)]
        return self._tables

    def layer_vectors(self, codes):
        """``[B, K, F]`` codes -> ``[B, K, F, D]`` decoded vector of each layer at each frame.

        NumPy in, NumPy out for NumPy codecs (``uses_torch = False``); torch otherwise.
        """
        parts = [self.tables()[k][codes[:, k]] for k in range(codes.shape[1])]
        if isinstance(parts[0], np.ndarray):
            return np.stack(parts, axis=1)
        import torch

        return torch.stack(parts, dim=1)

    @abstractmethod
    def quantized(self, codes):
        """``[B, K, F]`` codes -> ``[B, F, D]``: the codec's own quantizer output for all K layers.

        Used to check that the sum of :meth:`layer_vectors` over layers is the codec's
        own reconstruction (the paper's layer-K feature).
        """

    def n_frames(self, n_samples: int) -> int:
        """Frames the encoder produces for ``n_samples`` input samples."""
        return int(np.ceil(n_samples / self.hop_length))

    def frame_times(self, n_frames: int) -> np.ndarray:
        """Centre time (s) of each frame: ``(i + 0.5) / frame_rate``."""
        return (np.arange(n_frames) + 0.5) / self.frame_rate

    def weights_hash(self) -> str:
        """The ``weights_sha256`` of :meth:`metadata`: of the weights as the config names them
        (:func:`weights_sha256`). An adapter that resolves them to other files (a download,
        a cache) hashes those instead, so that no file is hashed twice."""
        return weights_sha256(self.spec.weights)

    def metadata(self) -> dict[str, Any]:
        """Provenance written into every output of this codec (``random_seed`` with random
        weights: which random model it was)."""
        meta = {
            "codec": self.spec.name,
            "family": self.family,
            # the implementation (a second backend, added by an adapter file, is told apart)
            "backend": DEFAULT_BACKEND.get(self.family, "default") if self.backend == "default" else self.backend,
            "weights": self.spec.weights,
            "weights_sha256": self.weights_hash(),
            "random_weights": self.spec.random,
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "hop_length": self.hop_length,
            "n_layers": self.n_layers,
            "dim": self.dim,
        }
        if self.spec.random:
            meta["random_seed"] = self.spec.seed
        return meta


def check_n_layers(spec: CodecSpec, default: int, available: int) -> int:
    """``spec.n_layers`` (or ``default``), refused when outside ``1..available`` (every
    adapter, melrvq included)."""
    n = default if spec.n_layers is None else spec.n_layers
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise CodecprobeError(f"codec {spec.name!r}: n_layers must be an integer, got {n!r}")
    n = int(n)
    if n < 1:
        raise CodecprobeError(f"codec {spec.name!r}: n_layers must be at least 1, got {n}")
    if n > available:
        raise CodecprobeError(
            f"codec {spec.name!r}: n_layers={n} asked, but the {spec.family} model has only {available} quantizer layers"
        )
    return n


def whole_rate(spec: CodecSpec, value: Any, what: str) -> int:
    """A codec's sample rate (Hz) from its model's ``what`` (e.g. ``config.json
    sampling_rate``) as an int; a rate that is not a positive whole number of Hz cannot be
    met (the resampler takes integer rates; ``int()`` would truncate it silently): an error
    naming the codec, its weights and the value."""
    try:
        ok = float(value) > 0 and float(value) == int(float(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise CodecprobeError(
            f"codec {spec.name!r}: weights {spec.weights!r} give the sample rate {value!r} ({what}), which the audio "
            "cannot be resampled to: it must be a positive whole number of Hz"
        )
    return int(float(value))


def weights_sha256(weights: str) -> str:
    """sha256 of a local weights file (or of a folder's weight and config files, ``.safetensors
    .th .pth .bin .pt .json``, in subfolders too, concatenated in path order);
    ``"random"`` for random weights; ``"hub:<id>"`` when the weights come from a model hub
    and are resolved by the library's cache (the adapter records the resolved file's hash
    when it can)."""
    if weights == "random":
        return "random"
    p = Path(weights).expanduser()  # as the loaders read it: a "~/..." folder is local, not a hub id
    if p.is_file():
        files = [p]
    elif p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in {".safetensors", ".th", ".pth", ".bin", ".pt", ".json"})
    else:
        return f"hub:{weights}"
    h = hashlib.sha256()
    for f in files:
        _hash_file(h, f)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of one file's bytes, read in 1 MiB blocks."""
    return _hash_file(hashlib.sha256(), path).hexdigest()


def _hash_file(h, path: str | Path):
    """Feed ``path``'s bytes to the hash ``h`` in 1 MiB blocks; returns ``h``."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h


def load_codec(spec: CodecSpec, device: str = "cpu") -> Codec:
    """Build the adapter for ``spec.family`` (imports the family's module on demand)."""
    import importlib

    if spec.family not in KNOWN_FAMILIES:
        raise CodecprobeError(
            f"codec {spec.name!r}: unknown family {spec.family!r} (known: {', '.join(sorted(KNOWN_FAMILIES))})"
        )
    backend = spec.options.get("backend") or DEFAULT_BACKEND[spec.family]
    if backend == DEFAULT_BACKEND[spec.family]:
        module, key = DEFAULT_MODULE[spec.family], spec.family
    elif backend in OTHER_BACKENDS.get(spec.family, {}):
        module, key = OTHER_BACKENDS[spec.family][backend], registry_key(spec.family, backend)
    else:
        known = [DEFAULT_BACKEND[spec.family], *OTHER_BACKENDS.get(spec.family, {})]
        raise CodecprobeError(
            f"codec {spec.name!r}: family {spec.family!r} has no backend {backend!r} (known: {', '.join(known)})"
        )
    try:  # the module, and the adapter, which imports torch & co. when built
        importlib.import_module(f"codecprobe.codecs.{module}")
        if key not in REGISTRY:
            raise CodecprobeError(
                f"codec {spec.name!r}: codecs/{module}.py declares family {spec.family!r} but registers no adapter for "
                f"it (a Codec subclass decorated with @register, family = {spec.family!r}"
                + ("" if key == spec.family else f", backend = {backend!r}") + ")"
            )
        return REGISTRY[key](spec, device)
    except ModuleNotFoundError as e:  # torch, transformers, ... missing here: say where they are
        if e.name is None or e.name.split(".")[0] == "codecprobe":
            raise
        env = family_facts(spec.family, backend)["conda_env"]
        raise CodecprobeError(
            f"codec {spec.name!r} (family {spec.family}): needs the Python package {e.name!r}, which this "
            f"environment lacks: run the workflow with --use-conda (its env: envs/{env}), or install the codecs' "
            "packages into this one (make setup-codecs: requirements-codecs.txt)"
        ) from e


ADAPTER_DIR = Path(__file__).parent
DECLARATION_KEYS = {"family", "backend", "default", "conda_env", "device", "hub_ids"}


def adapter_declarations(folder: str | Path = ADAPTER_DIR) -> dict[str, dict]:
    """``{module name: its FAMILY declaration}`` for every adapter module in ``folder`` (a
    top-level ``FAMILY = {...}`` literal, read with :mod:`ast`: nothing is imported, so
    the workflow plans its jobs without torch). A declaration holds ``family``;
    ``backend`` (its name for the implementation, e.g. ``transformers``); ``default``
    (the family's implementation when the config names no backend; one per family);
    ``conda_env`` (the file in ``envs/`` its encode jobs run in); ``device`` (True: it runs
    on a GPU when one is there, so its encode jobs ask for one); ``hub_ids`` (``"hf"``:
    weights may be a Hugging Face hub id as ``from_pretrained`` takes it, ``"org_name"``:
    only ``org/name``, None: local files only). A malformed declaration is an error naming
    the file."""
    import ast

    out = {}
    for path in sorted(Path(folder).glob("*.py")):
        if path.name.startswith("_") or path.stem == "base":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Name) and t.id == "FAMILY" for t in targets):
                try:
                    d = ast.literal_eval(node.value)
                except ValueError as e:
                    raise CodecprobeError(f"{path}: FAMILY must be a literal dict ({e})") from None
                if not isinstance(d, dict) or set(d) != DECLARATION_KEYS:
                    got = sorted(d) if isinstance(d, dict) else type(d).__name__
                    raise CodecprobeError(f"{path}: FAMILY must be a dict with keys {sorted(DECLARATION_KEYS)}, got {got}")
                if bad := _declaration_problem(d):  # a value of the wrong kind was read as another ("cpu" as a GPU)
                    raise CodecprobeError(f"{path}: FAMILY[{bad}]")
                out[path.stem] = d
    return out


def _declaration_problem(d: dict) -> str | None:
    """What is wrong with a declaration's values, or None: names are non-empty strings,
    ``default`` and ``device`` True or False (a string such as "cpu" is true), ``hub_ids``
    one of None, "hf", "org_name", ``conda_env`` a ``.yaml`` file name."""
    for key in ("family", "backend", "conda_env"):
        if not isinstance(d[key], str) or not d[key]:
            return f"{key!r}] must be a non-empty string, got {d[key]!r}"
    for key in ("default", "device"):
        if not isinstance(d[key], bool):
            return f"{key!r}] must be True or False, got {d[key]!r}"
    if d["hub_ids"] not in (None, "hf", "org_name"):
        return f"'hub_ids'] must be None, \"hf\" or \"org_name\", got {d['hub_ids']!r}"
    if not d["conda_env"].endswith(".yaml"):
        return f"'conda_env'] must name a file in envs/ (e.g. \"analysis.yaml\"), got {d['conda_env']!r}"
    return None


def _families(decls: dict[str, dict]) -> tuple[dict, dict, dict, dict]:
    """``DEFAULT_BACKEND`` (family -> its default backend's name), ``DEFAULT_MODULE``
    (family -> module), ``OTHER_BACKENDS`` (family -> {backend: module}) and ``FAMILY_FACTS``
    ((family, backend or None for the default) -> declaration) from the declarations."""
    default_backend, default_module, others, facts = {}, {}, {}, {}
    for module, d in decls.items():
        fam = d["family"]
        if d["default"]:
            if fam in default_module:
                raise CodecprobeError(f"family {fam!r}: two default adapters, {default_module[fam]}.py and {module}.py")
            default_backend[fam], default_module[fam] = d["backend"], module
            facts[(fam, None)] = d
        else:
            others.setdefault(fam, {})[d["backend"]] = module
        facts[(fam, d["backend"])] = d
    orphans = sorted(set(others) - set(default_module))
    if orphans:
        raise CodecprobeError(f"families {orphans}: other backends but no default adapter (\"default\": True)")
    return default_backend, default_module, others, facts


# Every codec family and backend, from the adapter files' declarations (adding a family is
# one adapter file). The transformers ports are the default for EnCodec and DAC (one env
# with MIMI); "package" wraps the original ``encodec`` and ``descript-audio-codec``
# packages, each in its own env. Both give the same codes for the same weights
# (tests/test_codecs_package.py).
DEFAULT_BACKEND, DEFAULT_MODULE, OTHER_BACKENDS, FAMILY_FACTS = _families(adapter_declarations())
KNOWN_FAMILIES = set(DEFAULT_BACKEND)


def family_facts(family: str, backend: str | None = None) -> dict:
    """The declaration of ``family``'s adapter (its default one when ``backend`` is None or
    the default's name): conda env, device use, hub ids (:func:`adapter_declarations`)."""
    if family not in KNOWN_FAMILIES:
        raise CodecprobeError(f"unknown codec family {family!r} (known: {', '.join(sorted(KNOWN_FAMILIES))})")
    return FAMILY_FACTS.get((family, backend)) or FAMILY_FACTS[(family, None)]


@dataclass(frozen=True)
class Release:
    """A family's released model: the architecture its adapter builds for ``weights: random``
    (tests check ``n_layers`` against each adapter's architecture)."""

    hub_id: str
    n_layers: int  # quantizer (RVQ) layers


# The one place the adapters' layer counts are written down for use before loading: the
# start-up check (:func:`known_n_layers`), DAC's architecture kwargs, MiMo's hub id.
RELEASES = {
    "encodec": Release("facebook/encodec_24khz", 32),  # 24 kbps at 75 Hz x 10 bits
    "dac": Release("descript/dac_24khz", 32),
    "mimi": Release("kyutai/mimi", 32),
    "mimo": Release("XiaomiMiMo/MiMo-Audio-Tokenizer", 20),
}


def known_n_layers(family: str, weights: str, backend: str | None = None) -> int | None:
    """Quantizer layers of the model that ``weights`` selects, when known without loading it:
    the released model's (:data:`RELEASES`) for ``random``, ``pretrained`` (the package's
    download of that release) and the release's hub id, and for any EnCodec checkpoint of
    ``backend: package`` (loaded strictly into the released architecture). None otherwise:
    melrvq (as many layers as fitted), other checkpoints (read when loaded)."""
    release = RELEASES.get(family)
    if release is None:
        return None
    if weights in ("random", "pretrained", release.hub_id) or (family, backend) == ("encodec", "package"):
        return release.n_layers
    return None
