"""LLM input paths: where a speech LLM's text and speech tokens enter its transformer.

Paper Sec. 2.5: "the latent representations that are decoded from text and speech tokens
before LLM processing". For each codec with a compatible LLM, :class:`LLMInput` maps

* a word's **text** to the mean of the LLM's input-embedding rows of its sub-word tokens
  (``text(word) -> [H]``, None when the word has no known text token: blank, or
  holding the tokenizer's unknown token), and
* a word's **codec codes** ``[K, F]`` to the vectors the LLM's audio input path feeds the
  transformer (``speech(codes) -> [T, H]``), pooled over the word by the caller.

Families (facts from the released checkpoints and their public model code; the key names
and shapes of the real checkpoints are listed in the README):

``moshi`` (MIMI's LLM; kyutai/moshiko-pytorch-bf16, ``model.safetensors``, bf16)
    ``text_emb.weight [32001, 4096]`` (SentencePiece ``tokenizer_spm_32k_3.model``) and
    ``emb.{s}.weight [2049, 4096]`` for 16 audio streams (0-7: Moshi's own voice,
    8-15: the user's). At a 12.5 Hz step the transformer input is the text embedding
    plus ``sum_k emb[k](code_k)`` over the 8 codebooks of a stream; the speech side here
    is that sum, ``[F, 4096]`` (``stream: moshi`` uses tables 0-7, ``user`` 8-15). The
    acoustic delays of Moshi's streams are not applied (a word's codes are aligned).

``mimo_audio`` (MIMO's LLM; XiaomiMiMo/MiMo-Audio-7B-Base, sharded safetensors, Qwen2)
    text: ``model.embed_tokens.weight [151680, 4096]`` (Qwen2 BPE ``tokenizer.json``; a
    word is tokenized with a leading space, as inside a sentence). Speech: 8 tables
    ``speech_embeddings.{i}.weight [1025|129, 1024]`` (the last row of each is the empty
    token, whose embedding is zeroed), summed per 25 Hz frame; frames in groups of
    ``group_size`` (4; the word's last group filled by repeating its last frame, as
    upstream pads an utterance's), each group
    through ``input_local_transformer`` (a Qwen2 stack: 6 layers, dim 1024, 64 heads,
    FFN 4096, RMSNorm, rotary positions 0..3, q/k/v bias; causal unless the config's
    ``input_full_attention`` is true, as upstream; a config ``rope_scaling`` other than
    null / ``default`` is refused, not ignored) and ``speech_group_downcast``
    (Linear ``4 x 1024 -> 4096``, no bias): ``[ceil(F / 4), 4096]`` at 6.25 Hz.

Only these tensors are read, by key name, from the safetensors shards (the index file
says which shard holds which tensor; from the hub only those shards are downloaded), so
a 7B checkpoint costs a few GB of memory, not the whole model. bf16 weights are used in
float32 (exact upcast; the text table stays bf16 and only the rows used are upcast). ``weights: random`` builds the same tensors (real names, sizes
from ``dims``, default: scaled-down) from a seed, for plumbing tests only.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import hub
from .io import CodecprobeError, first_few

log = logging.getLogger("codecprobe.llm")

#: the codec family whose codes each LLM family reads
LLM_CODEC = {"moshi": "mimi", "mimo_audio": "mimo"}
#: real sizes (for the README and the shape checks); the random default is the ``tiny`` set
MOSHI_REAL = {"hidden": 4096, "text_vocab": 32001, "audio_vocab": 2049, "n_streams": 16, "n_codebooks": 8}
MOSHI_TINY = {"hidden": 64, "text_vocab": 300, "audio_vocab": 2049, "n_streams": 16, "n_codebooks": 8}
MIMO_AUDIO_TINY = {
    "hidden_size": 64, "vocab_size": 300, "speech_vocab_size": "1025-1025-129-129-129-129-129-129",
    "speech_zeroemb_idx": "1024-1024-128-128-128-128-128-128", "group_size": 4, "audio_channels": 8,
    "local_dim": 32, "local_attn_heads": 4, "input_local_layers": 2, "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6, "input_full_attention": True,
}  # fmt: skip
DEFAULT_TOKENIZER = {"moshi": "tokenizer_spm_32k_3.model", "mimo_audio": "tokenizer.json"}


@dataclass(frozen=True)
class LLMSpec:
    """A codec's ``llm`` entry in the config."""

    family: str
    weights: str = "random"  # hub id, local folder or .safetensors file, or "random"
    tokenizer: str | None = None  # file in the weights folder/repo, or a path; None: the family's default
    stream: str = "moshi"  # moshi only: audio embedding tables 0-7 ("moshi") or 8-15 ("user")
    seed: int = 0
    dims: dict[str, Any] = field(default_factory=dict)  # weights: random only
    revision: str | None = None

    @property
    def random(self) -> bool:
        return self.weights == "random"


# ----------------------------------------------------------------------------- files
def _is_hub_id(s: str) -> bool:
    """``s`` names a hub repo: ``org/name`` (:func:`codecprobe.hub.org_name_shaped`: no
    leading ``.``, ``~`` or ``/``, one ``/``, no weights-file suffix), not existing here."""
    return hub.org_name_shaped(s) and not Path(s).exists()


class MissingHubFile(CodecprobeError):
    """The hub repo (or, offline, its cache) has no such file: other failures are
    network, authentication, a missing repo or package."""


def _entry_missing(e: BaseException) -> bool:
    """huggingface_hub's ``EntryNotFoundError`` (also its remote and offline-cache kinds)."""
    return any(c.__name__ == "EntryNotFoundError" for c in type(e).__mro__)


def _hub_file(repo: str, name: str, revision: str | None, where: str) -> Path:
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=repo, filename=name, revision=revision))
    except Exception as e:  # network, auth, missing repo or file, missing package
        kind = MissingHubFile if _entry_missing(e) else CodecprobeError
        raise kind(f"{where}: cannot get {name!r} for weights {repo!r}: {hub.hub_failure(repo, e)}") from None


def weight_files(spec: LLMSpec, names: list[str], where: str) -> dict[str, Path]:
    """``{tensor name: safetensors file holding it}`` for ``names``, from a local file or
    folder (``*.safetensors`` + optional ``model.safetensors.index.json``) or a hub repo
    (only the shards that hold ``names`` are downloaded)."""
    p = Path(spec.weights).expanduser()
    if p.is_file():
        if p.suffix != ".safetensors":
            raise CodecprobeError(f"{where}: weights {spec.weights!r} is not a .safetensors file or a folder")
        return dict.fromkeys(names, p)
    if p.is_dir():
        index = p / "model.safetensors.index.json"
        if index.is_file():
            wmap = _read_index(index, where)
            return {n: p / wmap[n] for n in names if n in wmap}
        files = sorted(p.glob("*.safetensors"))
        if not files:
            raise CodecprobeError(f"{where}: no *.safetensors file in {p}")
        return _scan(files, names, where)
    if not _is_hub_id(spec.weights):
        raise CodecprobeError(f"{where}: weights {spec.weights!r}: no such file or folder (nor a hub id)")
    try:
        index = _hub_file(spec.weights, "model.safetensors.index.json", spec.revision, where)
    except MissingHubFile as no_index:  # one unsharded file then; any other failure is reported as it is
        try:
            return dict.fromkeys(names, _hub_file(spec.weights, "model.safetensors", spec.revision, where))
        except CodecprobeError as e:
            raise CodecprobeError(f"{e}; nor its shard index ({no_index})") from None
    wmap = _read_index(index, where)
    shards = {wmap[n] for n in names if n in wmap}
    local = {s: _hub_file(spec.weights, s, spec.revision, where) for s in sorted(shards)}
    return {n: local[wmap[n]] for n in names if n in wmap}


def _read_index(path: Path, where: str) -> dict[str, str]:
    try:
        return dict(json.loads(path.read_text())["weight_map"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CodecprobeError(f"{where}: {path}: not a safetensors index ({type(e).__name__}: {e})") from None


def _open(f: Path, where: str):
    """``safe_open`` with a clear error for a file that is not safetensors (truncated, corrupt)."""
    from safetensors import safe_open

    try:
        return safe_open(str(f), framework="pt")
    except Exception as e:  # SafetensorError, OSError
        raise CodecprobeError(f"{where}: {f}: not a readable safetensors file ({type(e).__name__}: {e})") from None


def _scan(files: list[Path], names: list[str], where: str = "llm") -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        with _open(f, where) as h:
            keys = set(h.keys())
        out.update({n: f for n in names if n in keys and n not in out})
    return out


def file_provenance(files: list[Path]) -> list[dict[str, Any]]:
    """Name, size and (in a Hugging Face cache) snapshot revision of each weights file."""
    out = []
    for f in sorted(set(files)):
        rev = f.parent.name if f.parent.parent.name == "snapshots" else None
        out.append({"file": f.name, "bytes": f.stat().st_size, "revision": rev})
    return out


def load_tensors(spec: LLMSpec, names: list[str], where: str) -> tuple[dict[str, Any], list[Path]]:
    """The named tensors as CPU torch tensors in their stored dtype, and the files read;
    a clear error naming the missing ones."""
    files = weight_files(spec, names, where)
    missing = [n for n in names if n not in files]
    out = {}
    for f in sorted(set(files.values())):
        with _open(f, where) as h:
            keys = set(h.keys())
            for n in (n for n in names if files.get(n) == f):
                if n in keys:
                    out[n] = h.get_tensor(n)
                else:
                    missing.append(n)
    if missing:
        raise CodecprobeError(
            f"{where}: {len(missing)} tensor(s) missing from the checkpoint {spec.weights}: "
            f"{first_few(missing, 6)}"
        )
    log.info("%s: read %d tensors from %s", where, len(out), ", ".join(sorted({f.name for f in files.values()})))
    return out, sorted(set(files.values()))


def names_a_path(name: str) -> bool:
    """A side file named with a folder in it (``/abs/tok.model``, ``./tok.model``,
    ``~/x/tokenizer.json``) is that path; a bare file name is the checkpoint's own."""
    return Path(name).name != name or name.startswith("~")


def weights_folder(weights: Path) -> Path | None:
    """The folder of a local checkpoint's own side files: ``weights`` when it is a folder,
    the file's folder when a file, None otherwise (a hub id, ``random``)."""
    return weights if weights.is_dir() else weights.parent if weights.is_file() else None


def _resolve_aux(spec: LLMSpec, name: str, where: str) -> Path:
    """A side file (tokenizer, config.json): ``name`` with a folder in it (``/abs/tok.model``,
    ``./tok.model``, ``~/x/tokenizer.json``) is that path; a bare file name is the checkpoint's
    own, looked up in the weights folder or hub repo only, never in the working directory (a
    stray ``config.json`` there silently changed MiMo's attention mask and RoPE base before
    session 22)."""
    if names_a_path(name):
        p = Path(name).expanduser()
        if p.is_file():
            return p
        raise CodecprobeError(f"{where}: {name!r}: no such file")
    folder = weights_folder(Path(spec.weights).expanduser())
    if folder is not None:
        if (folder / name).is_file():
            return folder / name
        raise CodecprobeError(
            f"{where}: {name!r}: no such file in the weights folder {folder} (give a path, e.g. ./{name}, for a file elsewhere)"
        )
    if _is_hub_id(spec.weights):
        return _hub_file(spec.weights, name, spec.revision, where)
    raise CodecprobeError(f"{where}: {name!r}: no such file")


# ----------------------------------------------------------------------------- tokenizers
class TextTokenizer:
    """word -> token ids; ``kind`` says which implementation (for provenance);
    ``unk_id``: the id of the tokenizer's unknown token, if it has one."""

    kind = "bytes"
    unk_id: int | None = None

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def ids(self, word: str) -> list[int]:
        """Byte-level stand-in for random weights: UTF-8 bytes modulo the vocabulary."""
        return [b % self.vocab_size for b in word.encode("utf-8")]


class SentencePieceTokenizer(TextTokenizer):
    kind = "sentencepiece"

    def __init__(self, path: Path, where: str):
        try:
            import sentencepiece as spm

            self.sp = spm.SentencePieceProcessor(model_file=str(path))
        except ImportError:
            raise CodecprobeError(f"{where}: the sentencepiece package is needed for {path.name} (pip install sentencepiece)") from None
        except (OSError, RuntimeError) as e:
            raise CodecprobeError(f"{where}: {path}: not a SentencePiece model ({e})") from None
        self.vocab_size = self.sp.get_piece_size()
        self.unk_id = int(self.sp.unk_id())  # Moshi trains this row (0) as its text padding marker

    def ids(self, word: str) -> list[int]:
        """With SentencePiece's word-boundary prefix, as the word reads inside a sentence."""
        return list(self.sp.encode(word, out_type=int))


class HFTokenizer(TextTokenizer):
    """A ``tokenizer.json`` (Hugging Face tokenizers); words get a leading space, as inside a sentence."""

    kind = "tokenizers"

    def __init__(self, path: Path, where: str):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise CodecprobeError(f"{where}: the tokenizers package is needed for {path.name} (pip install tokenizers)") from None
        try:
            self.tok = Tokenizer.from_file(str(path))
        except Exception as e:
            raise CodecprobeError(f"{where}: {path}: not a tokenizer.json ({type(e).__name__}: {e})") from None
        self.vocab_size = self.tok.get_vocab_size()
        unk = getattr(self.tok.model, "unk_token", None)  # None for byte-level BPE (Qwen), which has none
        self.unk_id = self.tok.token_to_id(unk) if unk else None

    def ids(self, word: str) -> list[int]:
        return self.tok.encode(" " + word, add_special_tokens=False).ids


def load_tokenizer(spec: LLMSpec, where: str, vocab_size: int) -> TextTokenizer:
    name = spec.tokenizer or (None if spec.random else DEFAULT_TOKENIZER[spec.family])
    if name is None:
        return TextTokenizer(vocab_size)
    path = _resolve_aux(spec, name, where)
    tok = SentencePieceTokenizer(path, where) if path.suffix == ".model" else HFTokenizer(path, where)
    if tok.vocab_size > vocab_size:
        raise CodecprobeError(f"{where}: tokenizer {path.name} has {tok.vocab_size} tokens, the text embedding only {vocab_size} rows")
    return tok


# ----------------------------------------------------------------------------- input paths
class LLMInput:
    """Base: ``text(word) -> [H] | None`` and ``speech(codes [K, F]) -> [T, H]`` (float32).
    ``sums_codebooks``: ``speech(codes, codebooks=[...])`` gives the part of the speech
    vectors that the listed codebooks make (the input path is a sum over codebooks).
    ``uses_device``: it computes on the device (torch), so its CKA job asks for a GPU."""

    family: str
    sums_codebooks: bool = False
    uses_device: bool = False
    hidden: int
    n_codebooks: int
    code_limits: list[int]  # exclusive upper bound of a valid code per codebook

    def __init__(self, spec: LLMSpec, device: str = "cpu"):
        self.spec, self.device = spec, device
        self.where = f"llm {spec.family} ({spec.weights})"

    def metadata(self) -> dict[str, Any]:
        return {
            "llm_family": self.family, "llm_weights": self.spec.weights, "llm_random": self.spec.random,
            "llm_hidden": self.hidden, "llm_codebooks": self.n_codebooks, "tokenizer": self.tokenizer.kind,
            "llm_files": file_provenance(self.files), "llm_revision": self.spec.revision,
        }  # fmt: skip

    def text(self, word: str) -> np.ndarray | None:
        """The mean of the word's text-token rows ``[H]`` float32; None when it has no known
        text token: a blank word, or one with the tokenizer's unknown token (whose row is no
        embedding of the word: Moshi's row 0 is its text padding marker)."""
        ids = self.tokenizer.ids(word) if str(word).strip() else []
        if not ids or (self.tokenizer.unk_id is not None and self.tokenizer.unk_id in ids):
            return None
        rows = self.text_table[np.asarray(ids)]  # torch, stored dtype (bf16 for the real checkpoints)
        return rows.float().mean(dim=0).numpy()

    def check_codes(self, codes: np.ndarray) -> np.ndarray:
        if codes.ndim != 2 or codes.shape[0] < self.n_codebooks:
            raise CodecprobeError(f"{self.where}: needs codes [>= {self.n_codebooks}, F], got shape {codes.shape}")
        codes = codes[: self.n_codebooks]
        bad = [k for k in range(self.n_codebooks) if codes[k].size and (codes[k].min() < 0 or codes[k].max() >= self.code_limits[k])]
        if bad:
            k = bad[0]
            raise CodecprobeError(
                f"{self.where}: codebook {k + 1} has codes outside [0, {self.code_limits[k]}) "
                f"(max {int(codes[k].max())}): are these the right codec's codes?"
            )
        return codes


class MoshiInput(LLMInput):
    family = "moshi"
    sums_codebooks = True

    def __init__(self, spec: LLMSpec, device: str = "cpu"):
        super().__init__(spec, device)
        if spec.stream not in ("moshi", "user"):
            raise CodecprobeError(f"{self.where}: stream must be 'moshi' or 'user', got {spec.stream!r}")
        dims = MOSHI_TINY | spec.dims if spec.random else MOSHI_REAL
        self.n_codebooks = dims["n_codebooks"]
        first = 0 if spec.stream == "moshi" else self.n_codebooks
        names = ["text_emb.weight"] + [f"emb.{first + k}.weight" for k in range(self.n_codebooks)]
        t, self.files = (random_moshi_tensors(dims, spec.seed), []) if spec.random else load_tensors(spec, names, self.where)
        tabs = [t[n] for n in names]
        self.hidden = int(tabs[0].shape[1])
        if any(x.ndim != 2 or x.shape[1] != self.hidden for x in tabs):
            raise CodecprobeError(f"{self.where}: embedding shapes differ: {[tuple(x.shape) for x in tabs]}")
        self.text_table = tabs[0]
        self.audio_tables = [x.float().numpy() for x in tabs[1:]]
        self.code_limits = [x.shape[0] - 1 for x in self.audio_tables]  # last row: Moshi's special token
        self.tokenizer = load_tokenizer(spec, self.where, self.text_table.shape[0])

    def speech(self, codes: np.ndarray, codebooks: Sequence[int] | None = None) -> np.ndarray:
        """``[K, F]`` MIMI codes -> ``[F, H]``: sum over the stream's codebooks of their
        embeddings; over ``codebooks`` only (0-based, e.g. ``[0]``: the semantic one) when given."""
        codes = self.check_codes(np.asarray(codes))
        ks = range(self.n_codebooks) if codebooks is None else list(codebooks)
        if not ks or len(set(ks)) < len(ks) or any(not 0 <= k < self.n_codebooks for k in ks):
            raise CodecprobeError(f"{self.where}: codebooks {list(ks)}: need distinct ones among 0..{self.n_codebooks - 1}")
        return np.sum([self.audio_tables[k][codes[k]] for k in ks], axis=0, dtype=np.float32)


class MimoAudioInput(LLMInput):
    family = "mimo_audio"
    uses_device = True  # its patch encoder runs on the device (Moshi's input path is a NumPy look-up)

    def __init__(self, spec: LLMSpec, device: str = "cpu"):
        super().__init__(spec, device)
        import torch

        cfg = MIMO_AUDIO_TINY | spec.dims if spec.random else self._read_config()
        if spec.random:
            check_rope_scaling(cfg, f"{self.where}: dims")
        self.cfg = cfg
        self.n_codebooks = int(cfg["audio_channels"])
        vocab = _parse_list(cfg["speech_vocab_size"], self.n_codebooks)
        self.empty = _parse_list(cfg["speech_zeroemb_idx"], self.n_codebooks)
        self.group = int(cfg["group_size"])
        self.local_dim = int(cfg.get("input_local_dim") or cfg["local_dim"])
        self.heads = int(cfg["local_attn_heads"])
        self.n_local = int(cfg["input_local_layers"])
        self.causal = not cfg.get("input_full_attention")
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.theta = float(cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0))
        names = mimo_audio_names(self.n_codebooks, self.n_local)
        t, self.files = (random_mimo_audio_tensors(cfg, spec.seed), []) if spec.random else load_tensors(spec, names, self.where)
        expect = mimo_audio_shapes(cfg)
        wrong = [f"{n} {tuple(t[n].shape)} (config.json implies {s})" for n, s in expect.items() if tuple(t[n].shape) != s]
        if wrong:
            raise CodecprobeError(f"{self.where}: tensor shapes do not match config.json: {'; '.join(wrong[:4])}")
        self.hidden = int(cfg["hidden_size"])
        self.text_table = t["model.embed_tokens.weight"]
        self.code_limits = [min(e, v - 1) for e, v in zip(self.empty, vocab)]  # codes below the empty token
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise CodecprobeError(f"{self.where}: invalid device {device!r} (cka.device): {e}") from None
        if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
            raise CodecprobeError(f"{self.where}: device {device!r} (cka.device) requested but no such CUDA device is "
                                  "available here: set cka.device to auto or cpu")  # fmt: skip
        self.w = {n: x.to(dev, torch.float32) for n, x in t.items() if n != "model.embed_tokens.weight"}
        for i, e in enumerate(self.empty):  # the empty token embeds to zero (upstream masks it)
            self.w[f"speech_embeddings.{i}.weight"][e] = 0
        self.tokenizer = load_tokenizer(spec, self.where, self.text_table.shape[0])

    def _read_config(self) -> dict[str, Any]:
        path = _resolve_aux(self.spec, "config.json", self.where)
        try:
            cfg = json.loads(path.read_text())
        except ValueError as e:
            raise CodecprobeError(f"{self.where}: {path}: not JSON ({e})") from None
        need = ["hidden_size", "speech_vocab_size", "speech_zeroemb_idx", "group_size", "audio_channels", "local_dim", "local_attn_heads", "input_local_layers"]
        missing = [k for k in need if k not in cfg]
        if missing:
            raise CodecprobeError(f"{self.where}: {path}: no {', '.join(missing)} (not a MiMo-Audio config?)")
        check_rope_scaling(cfg, f"{self.where}: {path}")
        return cfg

    def speech(self, codes: np.ndarray) -> np.ndarray:
        """``[K, F]`` MiMo codes -> ``[ceil(F / group), H]`` patch embeddings (6.25 Hz)."""
        import torch

        codes = self.check_codes(np.asarray(codes))
        n_frames = codes.shape[1]
        n_groups = max(1, math.ceil(n_frames / self.group))
        with torch.no_grad():
            pad = np.empty((self.n_codebooks, n_groups * self.group), np.int64)
            # upstream (MimoAudio.preprocess_input) fills the last group by repeating the
            # last frame; with no frame at all, the empty tokens (which embed to zero)
            pad[:] = codes[:, -1:] if n_frames else np.asarray(self.empty)[:, None]
            pad[:, :n_frames] = codes
            ids = torch.as_tensor(pad, device=self.w["speech_group_downcast.weight"].device)
            x = sum(self.w[f"speech_embeddings.{i}.weight"][ids[i]] for i in range(self.n_codebooks))
            x = x.reshape(n_groups, self.group, self.local_dim)
            x = qwen2_stack(x, self.w, "input_local_transformer.", self.n_local, self.heads, self.theta, self.eps, self.causal)
            out = x.reshape(n_groups, self.group * self.local_dim) @ self.w["speech_group_downcast.weight"].T
        return out.cpu().numpy()


def _parse_list(v: Any, n: int) -> list[int]:
    """MiMo config lists: ``"1025-1025-129"`` or one int for all."""
    if isinstance(v, str) and "-" in v:
        out = [int(s) for s in v.split("-")]
        if len(out) != n:
            raise CodecprobeError(f"MiMo-Audio config: {v!r} has {len(out)} entries for {n} audio channels")
        return out
    return [int(v)] * n


def mimo_audio_names(n_channels: int, n_layers: int) -> list[str]:
    """Key names of the tensors the MiMo-Audio input path reads."""
    names = ["model.embed_tokens.weight", "speech_group_downcast.weight", "input_local_transformer.norm.weight"]
    names += [f"speech_embeddings.{i}.weight" for i in range(n_channels)]
    for layer in range(n_layers):
        p = f"input_local_transformer.layers.{layer}."
        names += [p + f"self_attn.{m}_proj.{w}" for m in "qkv" for w in ("weight", "bias")]
        names += [p + "self_attn.o_proj.weight", p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        names += [p + f"mlp.{m}_proj.weight" for m in ("gate", "up", "down")]
    return names


def mimo_audio_shapes(cfg: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Expected shape of every tensor in :func:`mimo_audio_names`, from a MiMo-Audio config."""
    k = int(cfg["audio_channels"])
    d = int(cfg.get("input_local_dim") or cfg["local_dim"])
    h, g, n_layers = int(cfg["hidden_size"]), int(cfg["group_size"]), int(cfg["input_local_layers"])
    vocab = _parse_list(cfg["speech_vocab_size"], k)
    out = {"speech_group_downcast.weight": (h, g * d), "input_local_transformer.norm.weight": (d,)}
    if "vocab_size" in cfg:
        out["model.embed_tokens.weight"] = (int(cfg["vocab_size"]), h)
    out |= {f"speech_embeddings.{i}.weight": (vocab[i], d) for i in range(k)}
    for layer in range(n_layers):
        p = f"input_local_transformer.layers.{layer}."
        out |= {p + f"self_attn.{m}_proj.weight": (d, d) for m in "qkvo"}
        out |= {p + f"self_attn.{m}_proj.bias": (d,) for m in "qkv"}
        out |= {p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,)}
        out |= {p + "mlp.gate_proj.weight": (4 * d, d), p + "mlp.up_proj.weight": (4 * d, d), p + "mlp.down_proj.weight": (d, 4 * d)}
    return out


#: RoPE variants :func:`qwen2_stack` implements (transformers' name for plain rotary positions)
ROPE_TYPES = ("default",)


def check_rope_scaling(cfg: dict[str, Any], source: str) -> None:
    """Refuse a config whose rotary positions :func:`qwen2_stack` would compute wrongly.

    Accepted: ``rope_scaling`` absent, null or ``{}``, or of type (``rope_type`` / ``type``)
    ``default``; ``rope_parameters`` (newer transformers) absent, without ``rope_type``, or
    ``default``. Anything else (``linear``, ``dynamic``, ``yarn``, ``llama3``, ...) raises
    ``CodecprobeError`` naming ``source`` (the config file) and the key; scaling types are
    not implemented, and silently ignoring one would change the speech vectors.
    """
    for key in ("rope_scaling", "rope_parameters"):
        v = cfg.get(key)
        if v is None or v == {}:
            continue
        if not isinstance(v, dict):
            raise CodecprobeError(f"{source}: {key} = {v!r}: expected a mapping or null")
        kind = v.get("rope_type", v.get("type"))
        if key == "rope_parameters" and kind is None:
            continue  # only rope_theta
        if kind not in ROPE_TYPES:
            raise CodecprobeError(
                f"{source}: {key} = {json.dumps(v, default=str)}: RoPE scaling type {kind!r} is not implemented "
                f"(codecprobe's Qwen2 stack computes plain rotary positions only: {key} null or rope_type 'default')"
            )


def qwen2_stack(x, w: dict, prefix: str, n_layers: int, heads: int, theta: float, eps: float, causal: bool):
    """A Qwen2 decoder stack (no embedding) on ``x [B, T, D]`` with positions 0..T-1 per row.

    Per layer: ``x += o(attn(rmsnorm(x)))``, ``x += down(silu(gate(h)) * up(h))`` with
    ``h = rmsnorm(x)``; q/k/v with bias, o without; rotary positions (rotate-half layout,
    ``inv_freq = theta^(-2i / head_dim)``, no RoPE scaling: configs asking for one are
    refused by :func:`check_rope_scaling`) on q and k; then the final ``norm``.
    """
    import torch
    import torch.nn.functional as F

    b, t, d = x.shape
    hd = d // heads
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float32, device=x.device) / hd)
    ang = torch.arange(t, dtype=torch.float32, device=x.device)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()

    def rms(v, weight):
        return weight * (v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + eps))

    def rope(v):
        half = v.shape[-1] // 2
        return v * cos + torch.cat([-v[..., half:], v[..., :half]], -1) * sin

    for layer in range(n_layers):
        p = f"{prefix}layers.{layer}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q, k, v = (F.linear(h, w[p + f"self_attn.{m}_proj.weight"], w[p + f"self_attn.{m}_proj.bias"]) for m in "qkv")
        q, k, v = (z.reshape(b, t, heads, hd).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=causal)
        x = x + F.linear(a.transpose(1, 2).reshape(b, t, d), w[p + "self_attn.o_proj.weight"])
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        x = x + F.linear(F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"]), w[p + "mlp.down_proj.weight"])
    return rms(x, w[f"{prefix}norm.weight"])


# ----------------------------------------------------------------------------- random builds
def random_moshi_tensors(dims: dict[str, int], seed: int) -> dict[str, Any]:
    """Moshi's input tensors with their real names (all 16 streams), normal(0, 1) like its init."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {"text_emb.weight": torch.randn(dims["text_vocab"], dims["hidden"], generator=g)}
    for s in range(dims["n_streams"]):
        out[f"emb.{s}.weight"] = torch.randn(dims["audio_vocab"], dims["hidden"], generator=g)
    return out


def random_mimo_audio_tensors(cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    """MiMo-Audio's input-path tensors with real names, shapes from ``cfg``: embeddings
    normal(0, 0.02) (Qwen2's init), linear weights normal(0, 0.02), biases 0, norms 1."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in mimo_audio_shapes(cfg).items():
        if name.endswith("norm.weight"):
            out[name] = torch.ones(shape)
        elif name.endswith(".bias"):
            out[name] = torch.zeros(shape)
        else:
            out[name] = 0.02 * torch.randn(*shape, generator=g)
    return out


FAMILIES = {"moshi": MoshiInput, "mimo_audio": MimoAudioInput}


def load_llm_input(spec: LLMSpec, device: str = "cpu") -> LLMInput:
    """The input path of ``spec.family`` (a clear error for an unknown family)."""
    if spec.family not in FAMILIES:
        raise CodecprobeError(f"llm family {spec.family!r} has no input path (known: {', '.join(FAMILIES)})")
    return FAMILIES[spec.family](spec, device)
