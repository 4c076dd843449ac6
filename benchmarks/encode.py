"""Encode-stage throughput against the bare codec encoder, and batching speed-up.

For each family (random weights at the real architecture size, or melrvq), on the
same synthetic word clips (seeded noise + chirps, 0.15-0.9 s, written as 16 kHz FLAC
utterances like LibriSpeech):

* ``stage/bare``: throughput of the whole encode stage (``codecprobe.encode.run``:
  audio reading, resampling, batching, encoding, pooling, HDF5 writing) divided by the
  throughput of the bare ``codec.encode`` calls on the same clips, already in memory and
  batched once over all of them (the least padding: the stage batches shard by shard)
  (target >= 0.9); after one untimed pass of the stage, the stage and the bare calls are
  timed ``--repeats`` times each, in turn, and the medians are compared (the ratio of
  each turn is printed too: a single pair of timings moved by +-3 % on the H100);
* ``batched/one-by-one``: speed-up of length-bucket batching over encoding one word at
  a time.

``--families mimo-per-clip`` runs MiMo with its one-pass batches switched off (printed as
``mimo-pc``), the path before them, for an A/B on the same machine.

Usage: ``PYTHONPATH=workflow python benchmarks/encode.py [--families melrvq encodec ...]
[--words 300] [--device auto] [--backend package] [--repeats 3] [--max-batch 64]
[--batch-seconds 60] [--hold-padding 0.03] [--io-workers 8 1] [--replay]``. Prints one
line per family (per reader count with several ``--io-workers``, each timed in every turn
against the same bare calls); ratios, not absolute times, are the targets (absolute times
are printed too). ``--replay`` also encodes the stage's own batches bare in every turn, to
tell what its batching costs the encoder from the rest of its time. ``--backend package``
runs EnCodec and DAC through their original packages (marked ``*``; run it with the
``.venv-pkg`` env of ``make test-packages``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from codecprobe.audio import cut, load_audio  # noqa: E402
from codecprobe.codecs import CodecSpec, load_codec  # noqa: E402
from codecprobe.encode import EncodeConfig, encode_batch, encode_clips, make_batches, resolve_device, run  # noqa: E402


def synthetic_words(root: Path, n_words: int, seed: int = 0) -> pd.DataFrame:
    """Utterances of 10 words each (noise bursts + chirps with 50 ms gaps) and their word table."""
    rng = np.random.default_rng(seed)
    sr, rows = 16000, []
    for u in range(int(np.ceil(n_words / 10))):
        parts, t = [np.zeros(int(0.1 * sr), np.float32)], 0.1
        path = root / f"1-1-{u:04d}.flac"
        for w in range(10):
            d = rng.uniform(0.15, 0.9)
            n = int(d * sr)
            f0 = rng.uniform(100, 300)
            x = 0.3 * np.sin(2 * np.pi * np.cumsum(np.linspace(f0, 2 * f0, n)) / sr) + 0.05 * rng.standard_normal(n)
            parts += [x.astype(np.float32), np.zeros(int(0.05 * sr), np.float32)]
            rows.append({"token_id": len(rows), "utt_id": f"1-1-{u:04d}", "word": f"w{w}", "start": t, "end": t + n / sr, "path": str(path)})
            t += n / sr + 0.05
        sf.write(path, np.concatenate(parts), sr)
    return pd.DataFrame(rows[:n_words])


def bench(
    family: str, words: pd.DataFrame, device: str, root: Path, one_by_one: bool = True, backend: str | None = None,
    repeats: int = 3, io_workers: tuple[int, ...] | None = None, replay: bool = False, **overrides,
) -> list[dict]:
    """Time the stage and the bare calls ``repeats`` times each, in turn (medians; and the
    ratio of each pair), after one untimed pass of the stage. With several ``io_workers``
    (reader threads), each turn runs the stage once per reader count, then the bare calls
    once; one result per reader count, each against the same bare timings.

    ``replay``: the encoder inputs of the untimed pass (the stage's own batches, as
    :func:`recorded_batches` keeps them) are also encoded bare in every turn, after the bare
    calls (before them in every other turn): ``bare/replay`` is the encoder work of the bare
    call's batching over that of the stage's (below 1: the stage's batches, made shard by
    shard, cost the encoder more)."""
    per_clip = family == "mimo-per-clip"  # A/B: MiMo with its one-pass batches switched off
    family = "mimo" if per_clip else family
    options = {"backend": backend} if backend else {}
    codec = load_codec(CodecSpec(family, family, weights="random", options=options), device)
    if per_clip:
        codec._one_pass = lambda lens, t: False  # every batch takes the per-clip front-end
        family = "mimo-pc"
    cfgs = [stage_config(**overrides, **({} if n is None else {"io_workers": n})) for n in (io_workers or (None,))]
    sync = _sync(codec)
    # warm-up: one untimed pass of the whole stage, so that lazy init and per-shape
    # kernel selection (cuDNN/cuBLAS plans for every new clip length) are paid before
    # either timing, not by whichever runs first
    with recorded_batches(codec) if replay else contextlib.nullcontext([]) as replayed:
        run(codec, words, None, fresh_path(root, f"{family}-warmup"), cfgs[0])
    sync()

    clips = word_clips(codec, words)
    padded = bare_batches(codec, clips, cfgs[0])
    t_stages: list[list[float]] = [[] for _ in cfgs]
    t_bares: list[float] = []
    t_replays: list[float] = []
    splits = [""] * len(cfgs)

    def timed(batches: list[tuple]) -> float:
        t0 = time.perf_counter()
        for wav, lens in batches:
            codec.encode(wav) if lens is None else codec.encode(wav, lengths=lens)
        sync()
        return time.perf_counter() - t0

    timed(padded)  # the bare batches' shapes differ from the stage's: their first run is a warm-up too

    def stage(j: int) -> None:
        with stage_split() as split:
            out = fresh_path(root, family)
            t0 = time.perf_counter()
            run(codec, words, None, out, cfgs[j])
            sync()
            t_stages[j].append(time.perf_counter() - t0)
        splits[j] = split.text
        os.remove(out)  # untimed; keeps the disk free for the next repeats

    def bare() -> None:
        if replay and turn % 2:  # the replay first in every other turn: an order effect hits both
            t_replays.append(timed(replayed))
        t_bares.append(timed(padded))
        if replay and not turn % 2:
            t_replays.append(timed(replayed))

    steps = [lambda j=j: stage(j) for j in range(len(cfgs))] + [bare]
    for turn in range(repeats):  # stage(s) and bare call in turn, so that drifts hit both
        for k in range(len(steps)):  # each turn starts one step later: no reader count always runs first
            steps[(turn + k) % len(steps)]()
        print(f"  {family} turn {turn}: stage s " + " ".join(f"{t[-1]:.3f}" for t in t_stages)
              + f" ({', '.join(str(c.io_workers) for c in cfgs)} readers), bare s {t_bares[-1]:.3f}"
              + (f", replay s {t_replays[-1]:.3f}" if t_replays else ""), flush=True)  # fmt: skip
    t_bare = statistics.median(t_bares)
    t_replay = statistics.median(t_replays) if t_replays else float("nan")

    t_batched = t_single = float("nan")
    if one_by_one:
        t0 = time.perf_counter()
        encode_clips(codec, clips, cfgs[0])
        sync()
        t_batched = time.perf_counter() - t0
        for c in clips:  # untimed: one clip at a time gives shapes no batch had (the batched ones are warm)
            encode_batch(codec, [c])
        sync()
        t0 = time.perf_counter()
        for c in clips:
            encode_batch(codec, [c])
        sync()
        t_single = time.perf_counter() - t0
    return [
        {
            "family": family + ("*" if backend == "package" else ""), "device": codec.device, "words": len(clips),
            "batches": len(padded), "io_workers": cfg.io_workers,
            "stage_s": statistics.median(ts), "bare_s": t_bare, "stage/bare": t_bare / statistics.median(ts),
            "each": [b / a for a, b in zip(ts, t_bares)],
            "replay_s": t_replay, "bare/replay": t_bare / t_replay, "replay_batches": len(replayed),
            "padding": padding(padded), "replay_padding": padding(replayed) if replay else float("nan"),
            "batched_s": t_batched, "one_by_one_s": t_single, "batched/one-by-one": t_single / t_batched,
            "split": text,
        }
        for cfg, ts, text in zip(cfgs, t_stages, splits)
    ]  # fmt: skip


def fresh_path(root: Path, stem: str) -> str:
    """An output path in ``root`` that no earlier run wrote: renaming over an existing file
    costs a synchronous write-back on ext4, which a Snakemake job (outputs removed first)
    never pays."""
    return str(Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=root)) / f"{stem}.h5")


def stage_config(**overrides) -> EncodeConfig:
    """The stage's settings for the benchmarks: reader threads as the rule gives them (--threads);
    ``overrides`` (e.g. ``max_batch``, ``batch_seconds``) as the config's ``encode`` section
    would set them."""
    return EncodeConfig(**{"io_workers": min(8, os.cpu_count() or 1), **overrides})


def word_clips(codec, words: pd.DataFrame) -> list[np.ndarray]:
    """Every word's samples at the codec's rate, as the stage cuts them."""
    clips = []
    for path, g in words.groupby("path", sort=False):
        wav = load_audio(path, codec.sample_rate)
        clips += [cut(wav, codec.sample_rate, r.start, r.end) for r in g.itertuples()]
    return clips


def bare_batches(codec, clips: list[np.ndarray], cfg: EncodeConfig) -> list[tuple]:
    """``(padded [B, T] audio on the codec's device, lengths on the host or None)`` per batch
    of :func:`make_batches` over all ``clips`` at once (the least padding), the lengths
    passed as the stage passes them."""
    lengths = np.array([len(c) for c in clips])
    batches = make_batches(lengths, codec.shares_batches, int(cfg.batch_seconds * codec.sample_rate), cfg.max_batch)
    padded = []
    for idx in batches:
        wav = np.zeros((len(idx), lengths[idx].max()), np.float32)
        for j, i in enumerate(idx):
            wav[j, : lengths[i]] = clips[i]
        lens = _tensor(codec, lengths[idx], host=True) if codec.accepts_lengths else None
        padded.append((_tensor(codec, wav), lens))
    return padded


@contextlib.contextmanager
def recorded_batches(codec):
    """Within the block, every ``codec.encode(wav[, lengths=])`` call is also kept as
    ``(copy of wav, copy of lengths or None)`` in the list yielded: the encoder's inputs
    exactly as the stage gave them, to be encoded again (a copy on the codec's device, as the
    stage's input buffers may be reused)."""
    kept: list[tuple] = []
    encode = codec.encode

    def copy(x):
        return x.copy() if isinstance(x, np.ndarray) else x.clone()

    def recording(wav, lengths=None):
        kept.append((copy(wav), None if lengths is None else copy(lengths)))
        return encode(wav) if lengths is None else encode(wav, lengths=lengths)

    own = vars(codec).get("encode")  # an instance's own encode (a stand-in), else the class's
    codec.encode = recording
    try:
        yield kept
    finally:
        if own is None:
            del codec.encode
        else:
            codec.encode = own


def padding(batches: list[tuple]) -> float:
    """Padded samples over real samples, minus 1, of ``[(wav [B, T], lengths [B])]``; NaN
    when a batch has no lengths (codecs that are not given them, e.g. melrvq: the stage's
    split prints its padding)."""
    if any(lens is None for _, lens in batches):
        return float("nan")
    real = sum(int(lens.sum()) for _, lens in batches)
    return sum(wav.shape[0] * wav.shape[1] for wav, _ in batches) / max(1, real) - 1


def percent(x: float) -> str:
    """``x`` (a fraction) in percent, one decimal; ``n/a`` for NaN (not known)."""
    return "n/a" if math.isnan(x) else f"{100 * x:.1f} %"


def warm_cuda_codecs(families: list[str], n_words: int, tool: str):
    """Yield ``(torch, codec, words, tmp)`` per family: a random-weight codec on CUDA after one
    untimed pass of the stage over ``n_words`` synthetic words in ``tmp``. Without CUDA,
    says so and yields nothing."""
    import torch

    if not torch.cuda.is_available():
        print(f"{tool}: CUDA is not available; nothing to measure")
        return
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        words = synthetic_words(Path(tmp), n_words)
        for fam in families:
            codec = load_codec(CodecSpec(fam, fam, weights="random"), "cuda")
            run(codec, words, None, fresh_path(Path(tmp), f"{fam}-warmup"), stage_config())
            torch.cuda.synchronize()
            yield torch, codec, words, Path(tmp)


class _LastMessage(logging.Handler):
    """Keeps the last INFO message of the stage that contains each of ``keys`` (its time
    split, its batching), joined by ``; ``."""

    def __init__(self, keys: tuple[str, ...]):
        super().__init__(logging.INFO)
        self.keys, self.last = keys, {}

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        for k in self.keys:
            if k in msg:
                self.last[k] = msg

    @property
    def text(self) -> str:
        return "; ".join(self.last[k] for k in self.keys if k in self.last)


@contextlib.contextmanager
def stage_split():
    """Inside, the stage's last time split and batching lines are kept (a :class:`_LastMessage`,
    yielded); its INFO lines go there only (the root handlers at WARNING)."""
    split = _LastMessage(("read+encode", "batches, padding"))
    logger = logging.getLogger("codecprobe.encode")
    logger.setLevel(logging.INFO)
    for h in logging.root.handlers:
        h.setLevel(logging.WARNING)
    logger.addHandler(split)
    try:
        yield split
    finally:
        logger.removeHandler(split)


def _tensor(codec, wav, host: bool = False):
    if not codec.uses_torch:
        return wav
    import torch

    return torch.from_numpy(wav) if host else torch.from_numpy(wav).to(codec.device)


def _sync(codec):
    if codec.on_cuda:
        import torch

        return torch.cuda.synchronize
    return lambda: None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="+", default=["melrvq"])
    ap.add_argument("--words", type=int, default=300)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--backend", default=None, choices=["transformers", "package"],
        help="EnCodec/DAC implementation (package: run in the env of requirements-packages.txt)",
    )  # fmt: skip
    ap.add_argument(
        "--no-one-by-one", action="store_true", help="skip the one-word-at-a-time and batched timings (long for many words)"
    )
    ap.add_argument("--repeats", type=int, default=3, help="timings of the stage and of the bare calls (medians)")
    ap.add_argument("--max-batch", type=int, default=EncodeConfig.max_batch, help="clips per batch, stage and bare alike")
    ap.add_argument(
        "--batch-seconds", type=float, default=EncodeConfig.batch_seconds, help="padded audio per batch (s), stage and bare alike"
    )
    ap.add_argument(
        "--hold-padding", type=float, default=EncodeConfig.hold_padding,
        help="audio slicing: a batch padding more than this fraction waits for a later shard (stage only; codecs that pay for padding, e.g. melrvq)",
    )  # fmt: skip
    ap.add_argument(
        "--io-workers", type=int, nargs="+", default=None,
        help="reader threads of the stage (default: as the rule's threads, at most 8); several: each timed in every turn",
    )  # fmt: skip
    ap.add_argument(
        "--replay", action="store_true",
        help="also encode the stage's own batches (recorded in the untimed pass) bare in every turn: what its batching costs the encoder",
    )  # fmt: skip
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for h in logging.root.handlers:
        h.setLevel(logging.WARNING)
    device = resolve_device(a.device)
    with tempfile.TemporaryDirectory() as tmp:
        words = synthetic_words(Path(tmp), a.words)
        print(f"batches of at most {a.max_batch} clips and {a.batch_seconds:g} s of padded audio; stage holds batches padding over {a.hold_padding:g}")
        print(f"{'family':8s} {'device':6s} {'words':>5s} {'batches':>7s} {'stage s':>8s} {'bare s':>8s} {'stage/bare':>10s} {'1-by-1 s':>8s} {'batched s':>9s} {'speed-up':>8s}")
        for fam in a.families:
            backend = a.backend if fam in ("encodec", "dac") else None
            results = bench(
                fam, words, device, Path(tmp), not a.no_one_by_one, backend, a.repeats, a.io_workers, a.replay,
                max_batch=a.max_batch, batch_seconds=a.batch_seconds, hold_padding=a.hold_padding,
            )  # fmt: skip
            for r in results:
                print(
                    f"{r['family']:8s} {r['device']:6s} {r['words']:5d} {r['batches']:7d} {r['stage_s']:8.2f} {r['bare_s']:8.2f} "
                    f"{r['stage/bare']:10.2f} {r['one_by_one_s']:8.2f} {r['batched_s']:9.2f} {r['batched/one-by-one']:8.2f}",
                    flush=True,
                )
                print(f"         {r['io_workers']} reader threads; stage split: {r['split']}", flush=True)
                print(f"         stage/bare of each of {len(r['each'])} turns: {' '.join(f'{v:.2f}' for v in r['each'])}", flush=True)
            if a.replay:  # the same for every reader count
                r = results[0]
                print(
                    f"         the stage's {r['replay_batches']} batches (padding {percent(r['replay_padding'])}) encoded bare: "
                    f"{r['replay_s']:.2f} s; the bare call's {r['batches']} (padding {percent(r['padding'])}): {r['bare_s']:.2f} s; "
                    f"bare/replay {r['bare/replay']:.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
