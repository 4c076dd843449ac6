"""Codec encoding stage: word tokens -> per-layer codes and pooled accumulated features (HDF5).

Two slicing modes (Choi et al.):

* ``audio`` (default, what both papers' figures used): each word's samples are cut
  from its utterance and encoded alone; every frame of the clip belongs to the word.
* ``feature``: each utterance is encoded once; a word's frames are those whose centre
  lies in ``[start, end)``; a word with no centre inside takes the nearest frame (counted
  apart: shorter than one frame, or beyond the first or last frame centre).

Clips are batched by length. Clips of different lengths share a padded batch when the
codec's codes do not change with right-padding (``Codec.pad_invariant``: melrvq's
frame-local front-end) or the codec takes each clip's length and undoes the padding
(``Codec.accepts_lengths``: EnCodec, DAC and MIMI encode each clip alone, MiMo masks
it); any other codec is only batched with clips of the identical length, so a word's
codes do not depend on its batch (:attr:`Codec.shares_batches`).
Audio slicing goes in shards of words (:func:`shard_sizes`), a shard read and cut while
the previous one encodes; a shared batch that is not full, or that pads much for a codec
that ``pays_for_padding``, waits for the next shard (:func:`plan_batches`) unless the
device would otherwise idle (:func:`batches_to_run`). Its mean / center pooling runs per
batch on the codec's device and the rows are written as each batch is done
(:class:`PooledWriter`).

Output (one HDF5 file per codec), all arrays little-endian:

``/tokens/{token_id, utt_id, word, start, end, n_frames, frame_offset, nearest_frame}``
    one row per encoded word token (``frame_offset`` indexes ``/codes``; ``nearest_frame``:
    no frame centre in the word, the nearest frame taken, feature slicing); feature
    slicing writes them in token order, audio slicing utterance by utterance (in the order
    of each utterance's first token, which is token order for the workflow's word tables,
    numbered utterance by utterance): look rows up by ``token_id``;
``/codes`` ``[K, total_frames]`` int32
    audio slicing: the frames of every word clip, concatenated in the order of ``/tokens``;
    feature slicing: the frames of every utterance (``/utterances/{utt_id, frame_offset,
    n_frames, frame_times}``, frame centres in s), words index into them
    (``/tokens/utt_frame_start``);
``/codebooks/layer_XX`` ``[C_k, D]`` float32
    decoded vector of every code of layer k: the layer-k accumulated feature of a frame
    is ``sum_{j<=k} codebooks[j][codes[j, frame]]``;
``/pooled/<method>`` ``[N, K, D]`` (``dtype``, float32 by default)
    per-token, per-layer accumulated feature pooled over the word's frames.

Attributes: the codec's metadata (name, family, weights and sha256 or "random",
rates, layer count, dim), slicing, pooling, package versions, device, counts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata

import numpy as np
import pandas as pd

from . import source_version
from .arrays import group_positions, offsets
from .audio import cut, load_audio, sample_span
from .codecs.base import Codec, CodecSpec, load_codec
from .features import POOLINGS, pool, shorter_than_frame, word_frames
from .io import (
    CodecprobeError,
    atomic_path,
    read_table,
    run_cli,
    setup_logging,
    utf8_bytes,
)

log = logging.getLogger("codecprobe.encode")

HOLD_PADDING = 0.03  # audio slicing: a batch padding more than this fraction of its samples waits for a later shard
# (codecs that pay for padding only: Codec.pays_for_padding)
HOLD_LIMIT = 4  # ... unless more than this many shards' words (x shard_words) are waiting


@dataclass
class EncodeConfig:
    slicing: str = "audio"
    pooling: tuple[str, ...] = ("mean",)
    batch_seconds: float = 60.0  # padded audio per batch (s)
    max_batch: int = 64
    chunk_seconds: float = 60.0  # feature slicing: longer utterances are encoded in chunks
    dtype: str = "float32"
    io_workers: int = 1  # threads reading and resampling audio (libsndfile and soxr release the GIL)
    shard_words: int = 1024  # audio slicing: words batched together (the first shards are smaller)
    hold_padding: float = HOLD_PADDING  # audio slicing: see plan_batches' tolerance
    chunk_context_seconds: float = 1.0  # feature slicing: audio each chunk sees on either side (frames dropped)
    counts: dict[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------------------- batching
def make_batches(lengths: np.ndarray, pad_invariant: bool, max_samples: int, max_batch: int) -> list[np.ndarray]:
    """Group clip indices into batches.

    Clips are sorted by length. ``pad_invariant`` (the codec's codes do not depend on
    right-padding, or it masks padding given the lengths): consecutive clips share a batch while
    ``batch size x longest clip <= max_samples`` (and at most ``max_batch``). Otherwise a
    batch only holds clips of identical length.
    """
    order = np.argsort(lengths, kind="stable")
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        n = int(lengths[i])
        if cur:
            same = lengths[cur[0]] == n
            fits = (len(cur) + 1) * n <= max_samples and len(cur) < max_batch
            if fits and (pad_invariant or same):
                cur.append(int(i))
                continue
            batches.append(cur)
        cur = [int(i)]
    if cur:
        batches.append(cur)
    return [np.array(b) for b in batches]


def plan_batches(
    lengths: np.ndarray, shared: bool, max_samples: int, max_batch: int, final: bool, tolerance: float = HOLD_PADDING
) -> tuple[list[np.ndarray], np.ndarray]:
    """Batches to encode now, and the clips to hold over for a later shard.

    ``lengths``: samples of each clip waiting. The batches are those of
    :func:`make_batches`. With ``shared`` batches (clips of different lengths padded
    together) and unless ``final``, only *full* batches (``max_batch`` clips, or no room
    for one more clip of their longest length) whose padding is at most ``tolerance`` of
    their samples are returned; the clips of the others wait for the next shard's words,
    among which they will have closer neighbours in length. Batching only within a shard
    of a few hundred words pads far more than batching over the whole corpus (15 % vs 1.5 %
    of the samples for 320 words of 0.15-0.9 s); holding batches over keeps it near the
    latter. Returns ``(batches, held)``: index arrays into ``lengths``.
    """
    batches = make_batches(lengths, shared, max_samples, max_batch)
    if final or not shared:
        return batches, np.zeros(0, np.int64)
    now, held = [], []
    for b in batches:
        longest = int(lengths[b].max())
        full = len(b) >= max_batch or (len(b) + 1) * longest > max_samples
        if full and len(b) * longest <= (1 + tolerance) * int(lengths[b].sum()):
            now.append(b)
        else:
            held.append(b)
    return now, (np.concatenate(held) if held else np.zeros(0, np.int64))


def batches_to_run(
    lengths: np.ndarray, shared: bool, max_samples: int, max_batch: int, tolerance: float, final: bool, idle: Callable[[], bool]
) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`plan_batches`, except that when no batch is ready and ``idle()`` (the device
    has finished all it was given) every clip waiting goes: a padded batch beats an idle
    device. With a batch ready to run the others keep waiting (an extra small batch costs a
    batch's fixed device and launch time), and ``idle`` is not asked."""
    now, held = plan_batches(lengths, shared, max_samples, max_batch, final, tolerance)
    if not now and len(held) and idle():
        return plan_batches(lengths, shared, max_samples, max_batch, True, tolerance)
    return now, held


def shard_sizes(cap: int, first: int = 64):
    """Words per shard of audio slicing: ``first``, doubling up to ``cap`` (``first`` is
    ``cap`` when smaller). Small first shards get the device working early; later ones are
    large enough to batch clips of close lengths."""
    size = max(1, min(first, cap))
    while True:
        yield size
        size = min(cap, 2 * size)


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    return x.detach().cpu().numpy()


def encode_batch(codec: Codec, clips: list[np.ndarray], to_numpy: bool = True):
    """Encode clips of possibly different lengths in one padded batch -> ``[K, F_i]`` each.

    ``to_numpy=False`` returns the padded ``[B, K, F]`` codes as they are (on the codec's
    device, not synchronised), for callers that queue batches before reading them back.
    """
    n = max(len(c) for c in clips)
    wav = np.zeros((len(clips), n), np.float32)
    for i, c in enumerate(clips):
        wav[i, : len(c)] = c
    if codec.uses_torch:
        import torch

        from .codecs._torchutil import to_device

        try:
            x = to_device(wav, codec.device)  # on CUDA: no wait for the batches already queued
            if codec.accepts_lengths:
                # lengths stay on the host: the adapters read them as Python ints, which from a
                # device tensor would synchronise with the device
                codes = codec.encode(x, lengths=torch.tensor([len(c) for c in clips]))
            else:
                codes = codec.encode(x)
        except _oom_error() as e:
            raise out_of_memory_error(codec, clips, n) from e
    else:
        codes = codec.encode(wav)
    if not to_numpy:
        return codes
    return _unpad(codec, _to_numpy(codes), [len(c) for c in clips])


def _oom_error() -> type[BaseException]:
    """torch's CUDA out-of-memory exception (a class that matches nothing without torch)."""
    try:
        import torch

        return torch.cuda.OutOfMemoryError
    except (ImportError, AttributeError):
        return type("NoOutOfMemoryError", (BaseException,), {})


def out_of_memory_error(codec: Codec, clips: list[np.ndarray], n_padded: int) -> CodecprobeError:
    """The error for a batch that did not fit on the device: what it held, and the settings
    that make batches and chunks smaller (a raw CUDA traceback named neither)."""
    sr = codec.sample_rate
    spec = codec.spec
    hint = "encode.batch_seconds or encode.max_batch (word clips), encode.chunk_seconds (feature slicing)"
    if spec.family == "mimo":
        hint += f", or codecs[{spec.name}].max_attention_elements (default 2^28)"
    return CodecprobeError(
        f"codec {spec.name!r}: CUDA out of memory on {codec.device} encoding a batch of {len(clips)} clip(s), "
        f"{n_padded / sr:.1f} s each when padded ({sum(len(c) for c in clips) / sr:.1f} s of audio): lower {hint}, "
        "or run on a GPU with more memory"
    )


def _unpad(codec: Codec, codes: np.ndarray, n_samples: list[int]) -> list[np.ndarray]:
    return [codes[i, :, : codec.n_frames(n)] for i, n in enumerate(n_samples)]


@dataclass
class QueuedClips:
    """Clips queued by :func:`queue_batches`: ``batches`` = ``[(indices, codes, n_samples,
    pooled, ready)]``, where ``codes`` (padded ``[B, K, F]``) and ``pooled`` (``{method:
    [B, K, D]}``) may still be on their way to the host until ``ready`` (a CUDA event, or
    None) has fired."""

    batches: list[tuple]


def _start_readback(x):
    """Queue the copy of a device tensor to (pinned) host memory; the host does not wait.

    The copy goes on the stream right behind the kernels that made ``x``. A plain ``.cpu()``
    issued later would be queued behind everything queued since (the next shard too) and
    would wait for all of it.
    """
    if isinstance(x, np.ndarray) or x.device.type == "cpu":
        return x
    return x.to("cpu", non_blocking=True)


def queue_batches(
    codec: Codec, clips, batches: list[np.ndarray], pooling: tuple[str, ...] = ()
) -> QueuedClips:
    """Encode each batch of ``clips`` (indexable by the batches' indices), pool the words'
    features by ``pooling`` (``mean`` / ``center``: all of a clip's frames) on the codec's
    device, and queue the copies of codes and pooled features to the host, without waiting
    (on a GPU the host returns while the device works; an event per batch marks its end)."""
    queued = []
    for idx in batches:
        n_samples = [len(clips[i]) for i in idx]
        codes = encode_batch(codec, [clips[i] for i in idx], to_numpy=False)
        pooled = {}
        if pooling:
            n_frames = np.array([codec.n_frames(n) for n in n_samples], np.int64)
            try:  # [B, K, D] per method on the device
                pooled = {m: _start_readback(v) for m, v in _pool_padded(codec.tables(), codes, n_frames, pooling).items()}
            except _oom_error() as e:
                raise out_of_memory_error(codec, [clips[i] for i in idx], max(n_samples)) from e
        codes = _start_readback(codes)
        queued.append((idx, codes, n_samples, pooled, _record_event(codec)))  # fires when this batch's kernels and copies are done
    return QueuedClips(queued)


def _record_event(codec: Codec):
    """A CUDA event recorded now on the codec's stream (it fires once the work queued before
    it is done), or None off CUDA (every call has finished when it returns). The stream is
    that of the codec's own device: with ``cuda:1``, an event on the current device's stream
    (cuda:0, where nothing runs) fired at once, and the copies were read before they were done."""
    if not codec.on_cuda:
        return None
    import torch

    ready = torch.cuda.Event()
    ready.record(torch.cuda.current_stream(torch.device(codec.device)))
    return ready


def start_tables_readback(codec: Codec):
    """Queue the copies of the codec's decoded-vector tables (:meth:`Codec.tables`) to the host
    without waiting; returns a function giving them as float32 NumPy arrays ``[C_k, D]``, which
    waits for those copies only. Called before the first batch, the copies are done by the time
    it is queued: reading the tables later with a plain ``.cpu()`` would wait for every batch
    queued since."""
    copies = [_start_readback(t) for t in codec.tables()]
    ready = _record_event(codec)

    def tables() -> list[np.ndarray]:
        if ready is not None:
            ready.synchronize()
        return [_to_numpy(c).astype(np.float32, copy=False) for c in copies]

    return tables


def collect_batches(codec: Codec, queued: QueuedClips):
    """Yield ``(indices, codes, pooled)`` per batch queued by :func:`queue_batches`, as each
    batch is done: codes ``[K, F_i]`` int32 per clip, pooled ``{method: [B, K, D]}`` NumPy
    arrays (never waits for work queued after that batch). Each clip's codes are copied out
    of the batch's read-back buffer: views would keep every batch's padded (on CUDA,
    page-locked) buffer alive until the file is written."""
    for idx, codes, n_samples, pooled, ready in queued.batches:
        if ready is not None:
            ready.synchronize()
        clip_codes = [c.astype(np.int32) for c in _unpad(codec, _to_numpy(codes), n_samples)]
        yield idx, clip_codes, {m: _to_numpy(v) for m, v in pooled.items()}


def queue_clips(codec: Codec, clips: list[np.ndarray], cfg: EncodeConfig) -> QueuedClips:
    """:func:`queue_batches` over the batches of :func:`make_batches` of all ``clips``."""
    lengths = np.array([len(c) for c in clips])
    return queue_batches(codec, clips, make_batches(lengths, codec.shares_batches, int(cfg.batch_seconds * codec.sample_rate), cfg.max_batch))


def collect_clips(codec: Codec, queued: QueuedClips) -> list[np.ndarray]:
    """Codes ``[K, F_i]`` of the clips queued by :func:`queue_clips`, in clip order."""
    out: dict[int, np.ndarray] = {}
    for idx, codes, _ in collect_batches(codec, queued):
        out.update(zip(idx.tolist(), codes))
    return [out[i] for i in range(len(out))]


def encode_clips(codec: Codec, clips: list[np.ndarray], cfg: EncodeConfig) -> list[np.ndarray]:
    """Codes ``[K, F_i]`` of every clip: :func:`queue_clips`, then :func:`collect_clips`."""
    return collect_clips(codec, queue_clips(codec, clips, cfg))


# ----------------------------------------------------------------------------- features
def pooled_features(codec: Codec, codes: np.ndarray, frames: np.ndarray | None, methods: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-layer accumulated features of one word pooled over its frames -> ``{method: [K, D]}``.

    ``codes``: ``[K, F]``; ``frames``: the word's frame indices (all frames when None).
    Mean and center pooling commute with the sum over layers, so they are computed on
    the layer vectors first (cheaper); centroid pooling needs the accumulated frames.
    """
    if frames is not None:
        codes = codes[:, frames]
    tables = codec.tables()
    if not isinstance(tables[0], np.ndarray):
        return _pooled_torch(tables, codes, methods)
    lv = np.stack([tables[k][codes[k]] for k in range(codes.shape[0])])  # [K, F, D]
    out = {}
    for m in methods:
        if m == "mean":
            out[m] = np.cumsum(lv.mean(axis=1), axis=0)
        elif m == "center":
            out[m] = np.cumsum(lv[:, lv.shape[1] // 2], axis=0)
        else:
            out[m] = pool(np.cumsum(lv, axis=0), m)
    return out


def _pooled_torch(tables: list, codes: np.ndarray, methods: tuple[str, ...]) -> dict[str, np.ndarray]:
    """:func:`pooled_features` on the codec's device: one transfer per word and method."""
    import torch

    idx = torch.as_tensor(codes, device=tables[0].device)
    lv = torch.stack([tables[k][idx[k]] for k in range(idx.shape[0])])  # [K, F, D]
    out = {}
    for m in methods:
        if m == "mean":
            out[m] = torch.cumsum(lv.mean(dim=1), dim=0).cpu().numpy()
        elif m == "center":
            out[m] = torch.cumsum(lv[:, lv.shape[1] // 2], dim=0).cpu().numpy()
        else:
            out[m] = pool(torch.cumsum(lv, dim=0).cpu().numpy(), m)
    return out


def pool_words(codec: Codec, codes: list[np.ndarray], frames: list, methods: tuple[str, ...], max_frames: int = 1 << 15) -> dict[str, np.ndarray]:
    """:func:`pooled_features` of many words at once -> ``{method: [N, K, D]}`` float32.

    ``codes[i]``: ``[K, F_i]``; ``frames[i]``: word i's frame indices or None (all).
    Mean and center pooling are batched: words sorted by frame count, chunks of at most
    ``max_frames`` padded frames, one table gather per layer and chunk, on the codec's
    device (torch tables) or in NumPy. Centroid pooling goes word by word.
    """
    sel = [c if f is None else c[:, f] for c, f in zip(codes, frames)]
    n = len(sel)
    out = {m: np.zeros((n, codec.n_layers, codec.dim), np.float32) for m in methods}
    for i, c in enumerate(sel if "centroid" in methods else []):
        out["centroid"][i] = pooled_features(codec, c, None, ("centroid",))["centroid"]
    batched = tuple(m for m in methods if m != "centroid")
    lengths = np.array([c.shape[1] for c in sel], np.int64)
    order = np.argsort(lengths, kind="stable")
    a = 0
    while batched and a < n:
        b = a + 1  # grow the chunk (sorted by length) while its padded size fits
        while b < n and (b + 1 - a) * lengths[order[b]] <= max_frames:
            b += 1
        idx = order[a:b]
        pad = np.zeros((len(idx), codec.n_layers, int(lengths[idx].max())), np.int64)
        for j, i in enumerate(idx):
            pad[j, :, : lengths[i]] = sel[i]
        for m, v in _pool_padded(codec.tables(), pad, lengths[idx], batched).items():
            out[m][idx] = _to_numpy(v)
        a = b
    return out


def code_counts(codes: np.ndarray, valid: np.ndarray, size: int) -> np.ndarray:
    """How often each code occurs in each row's valid frames: ``codes`` ``[n, F]`` (one
    layer, right-padded), ``valid`` ``[n, F]`` bool -> ``[n, size]`` float64 counts.
    Codes in padded frames are never read. A row's mean decoded vector is then
    :func:`counted_means`."""
    flat = (np.arange(len(codes))[:, None] * size + codes)[valid]
    return np.bincount(flat, minlength=len(codes) * size).reshape(len(codes), size).astype(np.float64)


def counted_means(counts: np.ndarray, table: np.ndarray, n_frames: np.ndarray) -> np.ndarray:
    """Mean decoded vectors ``[n, D]`` (``table``'s dtype) from code ``counts`` ``[n, size]``
    (:func:`code_counts`), ``table`` ``[size, D]`` and ``n_frames`` ``[n]``.

    ``counts @ table / n_frames`` in float64, rounded once to ``table``'s dtype: one matrix
    product instead of gathering ``[n, F, D]`` vectors (10-20x less time on the CPU). Every
    product of a count (< 2^24) and a float32 entry is exact in float64, so the float64 sum
    is within about ``size`` x 1e-16 of the exact mean whatever order BLAS sums in, and its
    float32 rounding is the same bits alone or in any batch and with any number of BLAS
    threads (but where the exact mean lies within that of a float32 rounding boundary). In
    float32, as before session 26, the batch's row count and OpenBLAS's threads moved
    melrvq's pooled features by up to 2e-7 relative (so --cores and encode.max_batch did).
    """
    return (counts @ table.astype(np.float64) / n_frames[:, None]).astype(table.dtype)


def _pool_padded(tables: list, pad, n_frames: np.ndarray, methods: tuple[str, ...]) -> dict:
    """Mean / center pooled accumulated features of right-padded codes ``pad`` ``[n, K, F]``
    (NumPy, or a torch tensor on the tables' device) with ``n_frames`` (``[n]``, host) valid
    frames each -> ``{method: [n, K, D]}``, NumPy for NumPy tables, else torch tensors on
    the tables' device (not synchronised). Codes past a word's frames are never read."""
    rows = np.arange(len(pad))
    if isinstance(tables[0], np.ndarray):
        valid = np.arange(pad.shape[2])[None, :] < n_frames[:, None]  # [n, F]
        per_layer = {
            "mean": lambda k: counted_means(code_counts(pad[:, k], valid, len(tables[k])), tables[k], n_frames),
            "center": lambda k: tables[k][pad[rows, k, n_frames // 2]],
        }
        return {m: np.cumsum(np.stack([per_layer[m](k) for k in range(len(tables))], 1), axis=1) for m in methods}
    import torch

    from .codecs._torchutil import to_device

    dev = tables[0].device
    t_pad = to_device(pad, dev) if isinstance(pad, np.ndarray) else pad
    t_n = to_device(n_frames, dev)
    valid = torch.arange(t_pad.shape[2], device=dev)[None, :] < t_n[:, None]  # [n, F]
    t_pad = torch.where(valid[:, None, :], t_pad, 0).long()
    mask = valid.to(tables[0].dtype)[..., None]
    t_rows, t_centre = to_device(rows, dev), t_n // 2
    per_layer = {
        "mean": lambda k: (tables[k][t_pad[:, k]] * mask).sum(1) / t_n[:, None],
        "center": lambda k: tables[k][t_pad[t_rows, k, t_centre]],
    }
    return {m: torch.cumsum(torch.stack([per_layer[m](k) for k in range(len(tables))], 1), dim=1) for m in methods}


# ----------------------------------------------------------------------------- stage
WORDS_NEEDED = ("token_id", "utt_id", "word", "start", "end", "path")  # of words.csv, by the encode stage


def select_tokens(words: pd.DataFrame, pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Tokens referenced by ``pairs`` (all tokens when None), in token order: a pairs table
    (columns ``token_a``, ``token_b``) or the pairs stage's token list (``token_id``: the
    tokens some pair can use, ``codecprobe.pairs --tokens``)."""
    if pairs is None:
        return words.sort_values("token_id").reset_index(drop=True)
    cols = [c for c in ("token_a", "token_b", "token_id") if c in pairs.columns]
    if not cols:
        raise CodecprobeError(f"the pairs table has none of token_a, token_b, token_id (columns: {list(pairs.columns)})")
    ids = np.unique(np.concatenate([pairs[c].to_numpy() for c in cols]))
    missing = np.setdiff1d(ids, words["token_id"].to_numpy())
    if missing.size:
        raise CodecprobeError(f"pairs refer to {missing.size} token ids absent from the word table (e.g. {missing[:5].tolist()})")
    return words[words["token_id"].isin(ids)].sort_values("token_id").reset_index(drop=True)


def utterance_rows(paths: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    """The distinct audio ``paths`` (``[N]``, one per word token) in order of first appearance,
    and the row positions (``[n_u]``, increasing) of each one's tokens: what
    ``groupby("path", sort=False)`` gives, without a DataFrame per utterance (that costs
    about 35 us each, in the stage's head: 0.37 s for 10,000 utterances)."""
    codes, uniques = pd.factorize(np.asarray(paths), sort=False)
    return [str(u) for u in uniques], group_positions(codes, len(uniques))


def load_many(paths: list[str], sample_rate: int, workers: int = 1, ahead: int | None = None):
    """Yield ``load_audio(p, sample_rate)`` for every path, in order, reading ahead with
    ``workers`` threads (at most ``ahead`` utterances, default ``2 x workers``, in memory
    beyond the current one).

    A generator left unfinished (its consumer raised) cancels the reads still queued and
    does not wait for the running ones when it is closed: closing can happen in the
    garbage collector, inside whatever thread it runs in, and a join there deadlocked a
    test run (a new thread's start waiting on the collector, the collector on the join)."""
    if workers <= 1 and not ahead:
        for p in paths:
            yield load_audio(p, sample_rate)
        return
    from collections import deque

    ahead = max(1, ahead or 2 * workers)
    ex = ThreadPoolExecutor(max(1, workers))
    try:
        pending: deque = deque()
        it = iter(paths)
        for p in it:
            pending.append(ex.submit(load_audio, p, sample_rate))
            if len(pending) >= ahead:
                break
        while pending:
            yield pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(ex.submit(load_audio, nxt, sample_rate))
    finally:  # exhausted: nothing left to wait for; abandoned: do not wait (see above)
        ex.shutdown(wait=False, cancel_futures=True)


class PooledWriter:
    """Pooled word features ``{method: [N, K, D]}`` written to ``/pooled/<method>`` of an
    open HDF5 file as rows arrive, in any order (each batch's rows as soon as it is done, so
    that writing overlaps the device's work on later batches).

    The datasets are allocated for ``n_max`` rows (contiguous, ``dtype``). :meth:`close`
    checks that rows ``0..n-1`` were all written and, when ``n < n_max`` (tokens skipped),
    replaces each dataset by its first ``n`` rows.
    """

    def __init__(self, h5, methods: tuple[str, ...], n_max: int, n_layers: int, dim: int, dtype: str = "float32"):
        self.group = h5.require_group("pooled")
        self.ds = {m: self.group.create_dataset(m, shape=(n_max, n_layers, dim), dtype=dtype) for m in methods}
        self.seen = np.zeros(n_max, bool)

    def add(self, rows, pooled: dict[str, np.ndarray]) -> None:
        """Row numbers ``rows`` (``[B]``, distinct) and their features ``{method: [B, K, D]}``."""
        rows = np.asarray(rows, np.int64)
        if not rows.size or not self.ds:
            return
        order = np.argsort(rows)  # h5py writes rows given in increasing order
        sel = rows[order]
        contiguous = sel[-1] - sel[0] + 1 == len(sel)
        for m, ds in self.ds.items():
            v = np.asarray(pooled[m])[order].astype(ds.dtype, copy=False)
            if contiguous:
                ds[int(sel[0]) : int(sel[-1]) + 1] = v
            else:
                ds[sel] = v
        self.seen[sel] = True

    def close(self, n: int) -> None:
        """Check that exactly rows ``0..n-1`` were written; drop rows ``n..n_max-1``."""
        if not self.ds:
            return
        written = int(self.seen.sum())
        if written != n or not self.seen[:n].all():
            raise RuntimeError(f"pooled features: {written} rows written, expected rows 0..{n - 1}")
        for m, ds in list(self.ds.items()):
            if ds.shape[0] != n:  # tokens were skipped: rewrite (rare; the space stays in the file)
                data = ds[:n]
                del self.group[m]
                self.ds[m] = self.group.create_dataset(m, data=data)


def audio_slicing(
    codec: Codec, tokens: pd.DataFrame, cfg: EncodeConfig, writer: PooledWriter | None = None,
    started: Callable[[], None] | None = None, all_cut: Callable[[pd.DataFrame, np.ndarray], None] | None = None,
):  # fmt: skip
    """Encode each word's clip alone. Returns ``(tokens kept, codes list, frames, None,
    nearest)``; mean / center pooled features go to ``writer`` as they are computed.

    Host work that the device need not wait for goes where the host would wait for the
    device: ``started()`` is called once, before the first shard is collected (the second
    is queued behind it by then), and ``all_cut(kept tokens, their frame counts [N])`` once
    every clip is cut, before the last shard is collected.

    Utterances go in shards of about ``cfg.shard_words`` words (64, then doubling up to it:
    :func:`shard_sizes`). The clips waiting are batched (a word's codes do not depend on its
    batch: tested) by :func:`plan_batches`, which holds batches that are not full, or (for a
    codec that ``pays_for_padding``) would pad over ``cfg.hold_padding``, for the next shard,
    except when no batch is ready and the device has finished all it was given
    (:func:`batches_to_run`, :func:`device_idle`). Each batch is encoded and pooled on the
    device, the copies of its codes and pooled features to the host queued right behind its
    kernels; a shard's results are collected (and the pooled rows written) after the next
    shard is cut and queued, while the reader threads read and resample the utterances
    after that.
    """
    paths, rows = utterance_rows(tokens["path"].to_numpy())
    start, end = tokens["start"].to_numpy(np.float64), tokens["end"].to_numpy(np.float64)
    cap = max(1, cfg.shard_words)
    per_utt = max(1.0, len(tokens) / max(1, len(paths)))
    ahead = min(256, max(2 * cfg.io_workers, int(np.ceil(cap / per_utt)) + 1))  # utterances read ahead
    audio = load_many(paths, codec.sample_rate, cfg.io_workers, ahead=ahead)
    max_samples = int(cfg.batch_seconds * codec.sample_rate)
    # padding that costs no work is not worth a wait (a held batch can leave the device idle)
    tolerance = cfg.hold_padding if codec.pays_for_padding else math.inf
    pooling = tuple(writer.ds) if writer is not None else ()
    keep: list[int] = []  # row positions in tokens of the clips kept
    n_frames: list[int] = []  # of each clip kept
    clips: dict[int, np.ndarray] = {}  # clips cut and not yet queued, by clip (= output row) number
    codes: dict[int, np.ndarray] = {}
    sizes = shard_sizes(cap)
    size, new = next(sizes), 0
    pending: QueuedClips | None = None  # the previous shard, queued on the device, not collected yet
    stats = {"batches": 0, "samples": 0, "padded": 0, "held": 0}
    t0 = time.perf_counter()
    for n, (utt_rows, wav) in enumerate(zip(rows, audio), 1):
        for i in utt_rows.tolist():
            clip = cut(wav, codec.sample_rate, start[i], end[i])
            if sample_span(codec.sample_rate, start[i], end[i])[1] > len(wav) and len(clip):  # words.AUDIO_END_TOLERANCE
                key = "clips cut short at the audio's end (the word ends after it)"
                cfg.counts[key] = cfg.counts.get(key, 0) + 1
            if len(clip) == 0:
                cfg.counts["skipped: zero samples"] = cfg.counts.get("skipped: zero samples", 0) + 1
                r = tokens.iloc[i]
                log.warning("token %s (%r in %s): zero samples, skipped", r.token_id, r.word, r.utt_id)
                continue
            if len(clip) < codec.min_samples:
                key = f"clips zero-padded to the codec's minimum of {codec.min_samples} samples"
                cfg.counts[key] = cfg.counts.get(key, 0) + 1
                clip = np.pad(clip, (0, codec.min_samples - len(clip)))
            clips[len(keep)] = clip
            keep.append(i)
            n_frames.append(codec.n_frames(len(clip)))
            new += 1
        final = n == len(paths)
        if clips and (new >= size or final):
            ids = np.fromiter(clips, np.int64, len(clips))
            lengths = np.array([len(clips[i]) for i in ids])
            # all of them at the end, and with too many words waiting (bounds the memory held)
            release = final or len(ids) > HOLD_LIMIT * cap
            now, held = batches_to_run(
                lengths, codec.shares_batches, max_samples, cfg.max_batch, tolerance, release, lambda: device_idle(codec, pending)
            )
            queued = queue_batches(codec, clips, [ids[b] for b in now], pooling)
            for b in now:  # indices into ids / lengths
                stats["batches"] += 1
                stats["samples"] += int(lengths[b].sum())
                stats["padded"] += len(b) * int(lengths[b].max())
                for i in ids[b].tolist():
                    del clips[i]
            stats["held"] += len(held)
            if pending is not None:  # the previous shard's results, already copied: the device stays busy
                if started is not None:  # where the host would first wait for the device
                    started()
                    started = None
                _collect_into(codec, pending, codes, writer)
            pending, size, new = queued, next(sizes), 0
            dt = time.perf_counter() - t0
            log.info("words: %d/%d utterances, %d clips cut, %d waiting (%.1f s, %.1f per s)", n, len(paths), len(keep), len(clips), dt, len(keep) / max(dt, 1e-9))
    audio.close()  # zip stops on the rows and leaves the reader suspended: shut down here, not in the collector
    kept, frame_counts = tokens.iloc[keep].reset_index(drop=True), np.array(n_frames, np.int64)
    if started is not None:  # one shard, or none queued
        started()
    if all_cut is not None:
        all_cut(kept, frame_counts)
    if pending is not None:
        _collect_into(codec, pending, codes, writer)
    if stats["batches"]:
        log.info(
            "%d batches, padding %.1f %% of the samples, %d clip waits for a later shard",
            stats["batches"], 100 * (stats["padded"] / max(1, stats["samples"]) - 1), stats["held"],
        )  # fmt: skip
    out = [codes[i] for i in range(len(keep))]
    check_frames(out, frame_counts)
    return kept, out, [None] * len(out), None, np.zeros(len(out), bool)


def device_idle(codec: Codec, pending: QueuedClips | None) -> bool:
    """Whether an asynchronous device (CUDA) has finished all the work queued on it
    (``pending``: the batches not collected yet; None: nothing queued, as at the start).
    On the host every call has finished when it returns: False, batches are held as
    planned (there is no device time to fill)."""
    if not codec.on_cuda:
        return False
    return pending is None or all(b[-1] is None or b[-1].query() for b in pending.batches)


def _collect_into(codec: Codec, queued: QueuedClips, codes: dict, writer: PooledWriter | None) -> None:
    for idx, c, pooled in collect_batches(codec, queued):
        codes.update(zip(idx.tolist(), c))
        if pooled:
            writer.add(idx, pooled)


def chunked_codes(codec: Codec, wav: np.ndarray, cfg: EncodeConfig) -> np.ndarray:
    """Codes of a whole utterance; utterances over ``chunk_seconds`` are encoded in
    frame-aligned chunks, each with ``chunk_context_seconds`` of the utterance's audio on
    either side as context (whose frames are dropped), so that a codec whose frames see at
    most that far back (causal convolutions) or to both sides (non-causal ones, as DAC's)
    gives the codes of the whole utterance; a codec that looks further (MIMI's 20 s
    attention window, EnCodec's LSTM) gets a truncated view near the chunk edges. A codec
    that segments long audio itself (``segments_itself``: MiMo) is given the whole
    utterance, as upstream encodes it (chunks moved its segment boundaries: after the first
    60 s about 40 % of the frames differed in some layer). An utterance shorter than the
    codec's ``min_samples`` is zero-padded to it and counted, as a word clip is."""
    hop, sr = codec.hop_length, codec.sample_rate
    if len(wav) < codec.min_samples:
        key = f"utterances zero-padded to the codec's minimum of {codec.min_samples} samples"
        cfg.counts[key] = cfg.counts.get(key, 0) + 1
        wav = np.pad(wav, (0, codec.min_samples - len(wav)))
    chunk = max(hop, int(cfg.chunk_seconds * sr) // hop * hop)
    if len(wav) <= chunk or codec.segments_itself:
        return encode_batch(codec, [wav])[0]
    if cfg.chunk_context_seconds < 0:
        raise CodecprobeError(f"encode.chunk_context_seconds must be >= 0, got {cfg.chunk_context_seconds}")
    ctx = round(cfg.chunk_context_seconds * sr / hop) * hop  # whole frames, so chunks stay frame-aligned
    parts = []
    for a in range(0, len(wav), chunk):
        lo = max(0, a - ctx)
        c = encode_batch(codec, [wav[lo : a + chunk + ctx]])[0]
        k0 = (a - lo) // hop
        # a chunk covers chunk // hop frames of the utterance; an encoder may give more
        # (MiMo: one frame past the end; the right context), which belong to the next chunk
        parts.append(c[:, k0:] if a + chunk >= len(wav) else c[:, k0 : k0 + chunk // hop])
    cfg.counts["utterances encoded in chunks"] = cfg.counts.get("utterances encoded in chunks", 0) + 1
    return np.concatenate(parts, axis=1)[:, : codec.n_frames(len(wav))]


def feature_slicing(codec: Codec, tokens: pd.DataFrame, cfg: EncodeConfig):
    """Encode each utterance once and cut word frames by time."""
    utt_codes: dict[str, np.ndarray] = {}
    paths, rows = utterance_rows(tokens["path"].to_numpy())
    utt_ids = tokens["utt_id"].to_numpy()
    for p, r in zip(paths, rows):  # one audio file, one utterance: the codes are kept by utt_id
        ids = list(dict.fromkeys(utt_ids[r].tolist()))
        if len(ids) > 1:
            raise CodecprobeError(f"{p}: the audio of {len(ids)} utterances ({', '.join(map(str, ids[:3]))}): "
                                  "feature slicing encodes each utterance's own file")  # fmt: skip
    with contextlib.closing(load_many(paths, codec.sample_rate, cfg.io_workers)) as audio:
        for n, (utt_rows, wav) in enumerate(zip(rows, audio), 1):
            utt_codes[utt_ids[utt_rows[0]]] = chunked_codes(codec, wav, cfg)
            if n % 100 == 0:
                log.info("utterances: %d encoded", n)
    frames, near, short = [], [], []
    for r in tokens.itertuples(index=False):
        c = utt_codes[r.utt_id]
        idx, nearest = word_frames(r.start, r.end, codec.frame_times(c.shape[1]))
        frames.append(idx)
        near.append(nearest)
        short.append(nearest and shorter_than_frame(r.start, r.end, codec.frame_rate))
    # a word of a frame or longer without a centre lies beyond the first or last one (a word
    # may end up to words.AUDIO_END_TOLERANCE after the audio): not "shorter than one frame"
    cfg.counts["words shorter than one frame (nearest frame used)"] = int(sum(short))
    cfg.counts["words beyond the first or last frame centre (nearest frame used)"] = int(sum(near)) - int(sum(short))
    codes = [utt_codes[u] for u in tokens["utt_id"]]
    return tokens, codes, frames, utt_codes, np.array(near, bool)


def attr_value(v):
    """An HDF5-storable attribute: scalars and strings as they are (a ``str`` subclass, such
    as ``torch.__version__``, as a plain string), anything else as JSON."""
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (bool, int, float, np.integer, np.floating)):
        return v
    return json.dumps(v, default=str, sort_keys=True)


def package_versions() -> dict[str, str]:
    out = {"codecprobe": source_version()}
    for p in ("numpy", "torch", "transformers", "soxr", "h5py"):
        try:
            out[p] = importlib_metadata.version(p)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


def run(codec: Codec, words: pd.DataFrame, pairs: pd.DataFrame | None, out: str, cfg: EncodeConfig) -> None:
    """The whole stage: select tokens, encode, pool, write HDF5 atomically."""
    import h5py

    bad = set(cfg.pooling) - set(POOLINGS)
    if bad:
        raise CodecprobeError(f"encode.pooling: unknown pooling {sorted(bad)} (known: {', '.join(POOLINGS)})")
    if cfg.slicing not in ("audio", "feature"):
        raise CodecprobeError(f"encode.slicing: {cfg.slicing!r} is not 'audio' or 'feature'")
    tokens = select_tokens(words, pairs)
    if tokens.empty:
        raise CodecprobeError("no word token to encode (the pairs table is empty)")
    n_asked = len(tokens)
    log.info("%s (%s, weights %s) on %s: %d word tokens, %s slicing", codec.spec.name, codec.family, codec.spec.weights, codec.device, len(tokens), cfg.slicing)
    methods = tuple(cfg.pooling)
    batched = tuple(m for m in methods if m != "centroid") if cfg.slicing == "audio" else ()
    # host work that does not feed the device starts where the host would wait for it,
    # neither in the head nor in the tail, and runs in threads beside the encoding (h5py
    # and hashlib release the GIL): the provenance (the weights' sha256: seconds for a GB
    # checkpoint) and the codebooks (14 MB for MiMo, 134 MB for MIMI and DAC, whose clips
    # keep the host busy launching kernels)
    with ThreadPoolExecutor(2, thread_name_prefix="side") as pool, atomic_path(out) as tmp, h5py.File(tmp, "w") as h:
        tables = start_tables_readback(codec)
        meta, books = [], []

        def started() -> None:  # called once by either slicing
            meta.append(pool.submit(provenance, codec))
            books.append(pool.submit(lambda: write_codebooks(h, tables())))

        t0 = time.perf_counter()
        if cfg.slicing == "audio":  # mean / center: pooled per batch on the device, written as they come
            writer = PooledWriter(h, batched, len(tokens), codec.n_layers, codec.dim, cfg.dtype)

            def all_cut(kept: pd.DataFrame, n: np.ndarray) -> None:  # while the last shard encodes
                write_tokens(h, kept, np.zeros(len(kept), bool), n)
                write_attrs(h, meta[0].result(), cfg, len(kept))  # counts are final: clips are counted as cut

            tokens, codes, frames, utt_codes, nearest = audio_slicing(codec, tokens, cfg, writer, started, all_cut)
            writer.close(len(codes))
        else:
            started()
            tokens, codes, frames, utt_codes, nearest = feature_slicing(codec, tokens, cfg)
        if not codes:  # every clip skipped (zero samples): no file of no tokens, which the next stage would take for data
            why = "; ".join(f"{k}: {v}" for k, v in cfg.counts.items() if v)
            raise CodecprobeError(f"{out}: every one of the {n_asked} word tokens was skipped ({why}): nothing to encode")
        t_enc = time.perf_counter() - t0
        rest = tuple(m for m in methods if m not in batched)
        if rest:
            writer = PooledWriter(h, rest, len(codes), codec.n_layers, codec.dim, cfg.dtype)
            writer.add(np.arange(len(codes)), pool_words(codec, codes, frames, rest))
            writer.close(len(codes))
        t_pool = time.perf_counter() - t0 - t_enc
        if cfg.slicing == "audio":
            write_audio_codes(h, codec, codes)
        else:
            write_tokens(h, tokens, nearest)
            write_feature_codes(h, codec, frames, utt_codes)
            write_attrs(h, meta[0].result(), cfg, len(tokens))
        books[0].result()  # before the file is closed
    log.info("read+encode %.2f s, pool %.2f s, write %.2f s", t_enc, t_pool, time.perf_counter() - t0 - t_enc - t_pool)
    for k, v in cfg.counts.items():
        log.info("%s: %d", k, v)
    log.info("wrote %s", out)


def provenance(codec: Codec) -> dict:
    """What the stage knows of the codec before encoding: :meth:`Codec.metadata`, device
    (on CUDA also ``device_name``, the GPU model, and the CUDA and cuDNN versions: float32
    kernels differ between them, and near-tie codes with them), package versions, the
    random-weights note."""
    return codec.metadata() | {
        "device": str(codec.device), **cuda_provenance(codec), "versions": json.dumps(package_versions()),
        "note": "RANDOM WEIGHTS: tests plumbing only, not a result" if codec.spec.random else "",
    }  # fmt: skip


def cuda_provenance(codec: Codec) -> dict:
    """``device_name`` (e.g. ``NVIDIA H100 80GB HBM3``), ``cuda_version`` and
    ``cudnn_version`` of a codec on CUDA; ``{}`` elsewhere."""
    if not codec.on_cuda:
        return {}
    import torch

    return {
        "device_name": torch.cuda.get_device_name(torch.device(codec.device)),
        "cuda_version": str(torch.version.cuda), "cudnn_version": str(torch.backends.cudnn.version()),
    }  # fmt: skip


def write_codebooks(h5, tables: list[np.ndarray]) -> None:
    """``/codebooks/layer_XX`` ``[C_k, D]`` float32, k = 1..K."""
    cb = h5.create_group("codebooks")
    for k, tab in enumerate(tables):
        cb[f"layer_{k + 1:02d}"] = tab


def write_tokens(h5, tokens: pd.DataFrame, nearest: np.ndarray, n_frames: np.ndarray | None = None) -> None:
    """``/tokens``: the columns of ``tokens`` (``[N]`` rows) and ``nearest_frame``; with the
    clips' frame counts ``n_frames`` (audio slicing), their ``n_frames`` and ``frame_offset``
    into ``/codes``."""
    t = h5.create_group("tokens")
    t["token_id"] = tokens["token_id"].to_numpy(np.int64)
    t["utt_id"] = utf8_bytes(tokens["utt_id"])
    t["word"] = utf8_bytes(tokens["word"])
    t["start"] = tokens["start"].to_numpy(np.float64)
    t["end"] = tokens["end"].to_numpy(np.float64)
    t["nearest_frame"] = nearest
    if n_frames is not None:
        t["n_frames"] = n_frames
        t["frame_offset"] = offsets(n_frames)


def check_frames(codes: list[np.ndarray], n_frames: np.ndarray) -> None:
    """The codes ``[K, F_i]`` of each clip have the frame counts ``n_frames`` (``[N]``, from
    :meth:`Codec.n_frames` as the clips were cut, written to ``/tokens/n_frames`` before the
    codes were back)."""
    got = np.array([c.shape[1] for c in codes], np.int64)
    if (got != n_frames).any():
        raise RuntimeError(f"encode: the codec returned frame counts other than its n_frames() for {int((got != n_frames).sum())} of {len(got)} clips")


def write_audio_codes(h5, codec: Codec, codes: list[np.ndarray]) -> None:
    """Audio slicing: ``/codes`` ``[K, sum F_i]`` int32, the clips' codes in token order."""
    h5["codes"] = np.concatenate(codes, axis=1).astype(np.int32) if codes else np.zeros((codec.n_layers, 0), np.int32)


def write_feature_codes(h5, codec: Codec, frames: list, utt_codes: dict) -> None:
    """Feature slicing: ``/utterances``, ``/codes`` (every utterance's frames) and the tokens'
    ``utt_frame_start`` and ``n_frames``."""
    utts = list(utt_codes)
    n = np.array([utt_codes[u].shape[1] for u in utts], np.int64)
    u = h5.create_group("utterances")
    u["utt_id"] = utf8_bytes(utts)
    u["n_frames"] = n
    u["frame_offset"] = offsets(n)
    u["frame_times"] = np.concatenate([codec.frame_times(int(k)) for k in n])
    h5["codes"] = np.concatenate([utt_codes[x] for x in utts], axis=1).astype(np.int32)
    t = h5["tokens"]
    t["utt_frame_start"] = np.array([f[0] if len(f) else -1 for f in frames], np.int64)
    t["n_frames"] = np.array([len(f) for f in frames], np.int64)


def write_attrs(h5, known: dict, cfg: EncodeConfig, n_tokens: int) -> None:
    """The file's attributes: ``known`` (:func:`provenance`) and the run's (slicing, pooling,
    token count, counts, creation time)."""
    meta = known | {
        "slicing": cfg.slicing, "pooling": json.dumps(list(cfg.pooling)), "n_tokens": n_tokens,
        "counts": json.dumps(cfg.counts), "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    if cfg.slicing == "feature":
        meta |= {"chunk_seconds": float(cfg.chunk_seconds), "chunk_context_seconds": float(cfg.chunk_context_seconds)}
    for k, v in meta.items():
        h5.attrs[k] = attr_value(v)


PLANNING_KEYS = ("weights_digest",)  # added by the workflow to the rule's params (config.codec_json), not the codec's


def spec_from_json(text: str) -> CodecSpec:
    d = {k: v for k, v in json.loads(text).items() if k not in PLANNING_KEYS}
    known = {"name", "family", "weights", "n_layers", "seed"}
    return CodecSpec(**{k: d[k] for k in known if k in d}, options={k: v for k, v in d.items() if k not in known})


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu`` (logged)."""
    if device != "auto":
        return device
    try:
        import torch

        if torch.cuda.is_available():
            log.info("device: cuda (%s)", torch.cuda.get_device_name(0))
            return "cuda"
    except ImportError:
        pass
    log.info("device: cpu (no CUDA GPU visible)")
    return "cpu"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Encode word tokens with one codec into per-layer features (HDF5).")
    ap.add_argument("--codec", required=True, help="the codec's config entry as JSON")
    ap.add_argument("--words", required=True)
    ap.add_argument(
        "--pairs", "--tokens", nargs="+", default=None, dest="pairs",
        help="encode only the tokens of these tables: pairs tables (token_a, token_b) or token lists (token_id)",
    )  # fmt: skip
    ap.add_argument("--out", required=True)
    ap.add_argument("--slicing", default="audio", choices=["audio", "feature"])
    ap.add_argument("--pooling", nargs="+", default=["mean"])
    ap.add_argument("--batch-seconds", type=float, default=60.0)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--chunk-seconds", type=float, default=60.0)
    ap.add_argument("--chunk-context-seconds", type=float, default=1.0, help="feature slicing: context on either side of a chunk")
    ap.add_argument("--shard-words", type=int, default=1024, help="audio slicing: words batched together")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    if a.threads:
        try:
            import torch

            torch.set_num_threads(a.threads)
        except ImportError:
            pass
    spec = spec_from_json(a.codec)
    codec = load_codec(spec, resolve_device(a.device))
    cfg = EncodeConfig(a.slicing, tuple(a.pooling), a.batch_seconds, a.max_batch, a.chunk_seconds, a.dtype,
                       io_workers=max(1, a.threads or 1), shard_words=a.shard_words,
                       chunk_context_seconds=a.chunk_context_seconds)  # fmt: skip
    pairs = pd.concat([read_table(p) for p in a.pairs], ignore_index=True) if a.pairs else None
    words = read_table(a.words, required=WORDS_NEEDED, finite=("start", "end"), unique=("token_id",))
    run(codec, words, pairs, a.out, cfg)


if __name__ == "__main__":
    run_cli(main)
