"""Word table: every aligned word token of the manifest's utterances.

Reads one TextGrid per utterance (MFA output, or precomputed alignments such as the
public LibriSpeech MFA alignments), found anywhere under the alignment folder by its
name ``<utt_id>.TextGrid``. Output columns:

``token_id, utt_id, subset, speaker, chapter, word, start, end, duration, phones, n_phones, path``

(times in seconds from the start of the utterance's audio, ``phones`` space-separated
ARPAbet labels of the phone intervals whose midpoint lies inside the word, ``path`` the
audio file). Silences drop out; unknown-word tokens (``<unk>``, ``spn``) are excluded and
counted; utterances without a TextGrid, with a broken one (including bad times: see
:func:`codecprobe.textgrid.parse_textgrid`), with a word or the TextGrid ending after the
audio (the manifest's ``duration``) by more than :data:`AUDIO_END_TOLERANCE`, or whose
aligned words do not match the transcript are skipped, named in the log and counted.
"""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .io import (
    CodecprobeError,
    check_file_digest,
    read_table,
    run_cli,
    setup_logging,
    walk,
    write_table,
)
from .textgrid import TIME_TOLERANCE, TextGrid, TextGridError, read_textgrid

# Silence labels of aligners' word tiers (MFA 1.x and 3: "", "sil", "sp", "<eps>"). The English
# word "silence" is a word (it is in CMUdict and has WordNet synonyms): only a phones tier
# may use it as a label.
SILENCE = {"", "sil", "sp", "<eps>", "<sil>"}
PHONE_SILENCE = SILENCE | {"silence"}
UNKNOWN = {"<unk>", "spn", "<spn>", "[unk]", "<oov>"}
WORD_COLUMNS = [
    "token_id", "utt_id", "subset", "speaker", "chapter", "word", "start", "end", "duration",
    "phones", "n_phones", "path",
]  # fmt: skip
ALPHABETIC = re.compile(r"^[a-z]+$")
# what the word table reads of the manifest (a NaN duration switched the audio-end check off)
MANIFEST_NEEDED = ("utt_id", "subset", "speaker", "chapter", "path", "transcript", "duration")
# How far (s) a word or the TextGrid may end after the audio: 5 frames of MFA's 10 ms, room
# for times rounded when written and for an aligner's last frame. A word inside it keeps its
# times; the encode stage cuts its clip at the audio's end.
AUDIO_END_TOLERANCE = 0.05
# Slack (s) of the ``min_duration`` filter: a duration is ``end - start`` of times printed on
# a 10 ms grid, so a word exactly the minimum long may come out a rounding error short
# (0.30 - 0.27 = 0.02999999999999997); far below any real difference in length.
DURATION_TOLERANCE = 1e-9
log = logging.getLogger("codecprobe.words")


@dataclass(frozen=True)
class WordFilter:
    """The ``words`` section of the config."""

    min_duration: float = 0.0
    alphabetic_only: bool = False
    drop_stopwords: bool = False
    min_count: int = 1
    stopwords: frozenset[str] = frozenset()


def load_stopwords(path: str | Path) -> frozenset[str]:
    """One word per line; ``#`` starts a comment."""
    p = Path(path)
    if not p.is_file():
        raise CodecprobeError(f"words.stopwords: {p} does not exist")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not part of the first word
    except UnicodeDecodeError as e:
        raise CodecprobeError(f"words.stopwords: {p} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") from e
    words = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(w for w in words if w)


def index_textgrids(root: str | Path) -> dict[str, Path]:
    """``utt_id -> TextGrid path`` for every ``*.TextGrid`` below ``root`` (through links to
    folders, as the manifest reads the corpus: :func:`codecprobe.io.walk`)."""
    root = Path(root)
    if not root.is_dir():
        raise CodecprobeError(f"alignment folder {root} does not exist (config key alignment.textgrids)")
    out: dict[str, Path] = {}
    other: list[Path] = []  # .textgrid, .TEXTGRID, ...: not read
    found = sorted(Path(d) / f for d, _, files in walk(root) for f in files)  # one walk of the (large) tree
    for p in found:
        if p.suffix != ".TextGrid":
            if p.suffix.lower() == ".textgrid":
                other.append(p)
            continue
        if p.stem in out:
            raise CodecprobeError(f"two TextGrids for utterance {p.stem}: {out[p.stem]} and {p}")
        out[p.stem] = p
    log.info("%s: %d TextGrids (*.TextGrid)", root, len(out))
    if other:  # Praat, MFA and Annot-16 write .TextGrid; the name is what the manifest's ids are matched on
        log.warning("%s: %d file(s) such as %s end in %s, not .TextGrid: not read", root, len(other), other[0].name,
                    other[0].suffix)  # fmt: skip
    if not out:
        raise CodecprobeError(
            f"no *.TextGrid file under {root} (the alignment folder: config key alignment.textgrids,"
            " or MFA's output with alignment.source: mfa)"
        )
    return out


def transcript_words(transcript: str) -> list[str]:
    """Transcript -> lower-case words, as an aligner tokenizes LibriSpeech text."""
    return [w for w in re.split(r"\s+", transcript.lower().strip()) if w]


def aligned_tokens(tg: TextGrid) -> list[tuple[str, float, float, str]]:
    """Non-silent word intervals of ``tg`` as ``(word, start, end, phones)``.

    ``phones``: labels of the non-silent phone intervals whose midpoint lies in
    ``[start, end)``, space-separated. A words tier that is a point tier (TextTier), or
    several tiers matching ``words`` or ``phones``: :class:`TextGridError`.
    """
    tier = tg.tier("words")
    if tier.point:  # its points would be read as zero-length words, none of them kept
        raise TextGridError(f"tier {tier.name!r} is a point tier (TextTier), not an interval tier")
    words = tier.intervals
    try:
        phones = [p for p in tg.tier("phones").intervals if p.text.strip().lower() not in PHONE_SILENCE]
    except KeyError:
        phones = []
    out = []
    for w in words:
        label = w.text.strip().lower()
        if label in SILENCE:
            continue
        ph = [p.text.strip() for p in phones if w.xmin <= (p.xmin + p.xmax) / 2 < w.xmax]
        out.append((label, w.xmin, w.xmax, " ".join(ph)))
    return out


def audio_overrun(
    tokens: list[tuple[str, float, float, str]], tg_end: float, duration: float, tol: float = AUDIO_END_TOLERANCE
) -> str | None:
    """Why an alignment does not fit its audio, or None.

    ``tokens``: :func:`aligned_tokens` (times in s); ``tg_end``: the TextGrid's xmax (s);
    ``duration``: the audio's length (s). The first word ending more than ``tol`` seconds
    after the audio is named; else the TextGrid's end is checked the same way.
    """
    limit = f"the audio's end ({duration} s in the manifest) by more than {tol} s"
    for word, start, end, _ in tokens:
        if end > duration + tol:
            where = "lies entirely after" if start >= duration else "ends after"
            return f"word {word!r} [{start}, {end}] s {where} {limit}"
    if tg_end > duration + tol:
        return f"TextGrid ends at {tg_end} s, after {limit}"
    return None


def matches_transcript(aligned: list[str], expected: list[str]) -> bool:
    """True when the aligned words equal the transcript's, an unknown token matching any word
    and apostrophes at a word's ends ignored (LibriSpeech writes *boys'* and *'em*; an
    aligner's text normalization may strip them: the same word, not a mismatch)."""
    return len(aligned) == len(expected) and all(
        a == e or a in UNKNOWN or a.strip("'") == e.strip("'") for a, e in zip(aligned, expected)
    )


# Kinds of skipped utterances, counted apart in counts.csv ("skipped: <kind>").
SKIP_KINDS = (
    "no TextGrid", "broken TextGrid", "no words tier", "alignment after the audio's end", "no words",
    "words do not match the transcript",
)  # fmt: skip


# Words of a kept utterance left out of the table, counted apart in counts.csv ("tokens").
UNKNOWN_WORD = "unknown word (<unk>/spn) excluded"
ZERO_LENGTH = "zero-length word excluded"
OUTSIDE_AUDIO = "word starting outside the audio excluded"
NO_PHONES_TIER = "without a phones tier (unknown words found by their label only)"  # utterances


def utterance_words(utt: pd.Series, tg_path: Path | None) -> tuple[list[dict], tuple[str, str] | None, dict[str, int]]:
    """Word rows of one utterance. Returns ``(rows, skip or None, excluded)``; ``skip`` is
    ``(kind, reason)``, ``kind`` one of :data:`SKIP_KINDS`, ``reason`` naming the file;
    ``excluded``: counts of the utterance's words left out (:data:`UNKNOWN_WORD`: ``<unk>``,
    or a word aligned to ``spn``; :data:`ZERO_LENGTH`: ``end - start`` within
    :data:`codecprobe.textgrid.TIME_TOLERANCE` of 0; :data:`OUTSIDE_AUDIO`: starting before 0
    or at or after the audio's end, though within :data:`AUDIO_END_TOLERANCE` of it), and
    :data:`NO_PHONES_TIER`: 1 when the TextGrid has no phones tier (``spn`` cannot be seen)."""
    if tg_path is None:
        return [], ("no TextGrid", f"no TextGrid: no file {utt['utt_id']}.TextGrid in the alignment folder"), {}
    try:
        tg = read_textgrid(tg_path)
        toks = aligned_tokens(tg)
    except TextGridError as e:  # the reader's errors name the file; the tier look-up's do not
        why = str(e) if str(e).startswith(str(tg_path)) else f"{tg_path}: {e}"
        return [], ("broken TextGrid", why), {}
    except KeyError as e:
        return [], ("no words tier", f"{tg_path}: {e.args[0]}"), {}
    duration = float(utt["duration"])
    if overrun := audio_overrun(toks, tg.xmax, duration):
        return [], ("alignment after the audio's end", f"{tg_path}: {overrun}"), {}
    if not toks:
        return [], ("no words", f"{tg_path}: no words in the words tier"), {}
    labels = [t[0] for t in toks]
    expected = transcript_words(str(utt["transcript"]))
    if not matches_transcript(labels, expected):
        return [], ("words do not match the transcript", (
            f"{tg_path}: aligned words do not match the transcript "
            f"({len(labels)} aligned vs {len(expected)} in the transcript; "
            f"first difference: {_first_diff(labels, expected)})"
        )), {}  # fmt: skip
    rows, excluded = [], dict.fromkeys((UNKNOWN_WORD, ZERO_LENGTH, OUTSIDE_AUDIO), 0)
    try:
        tg.tier("phones")
    except KeyError:
        excluded[NO_PHONES_TIER] = 1
    for word, start, end, phones in toks:
        if word in UNKNOWN or any(p.lower() in UNKNOWN for p in phones.split()):
            excluded[UNKNOWN_WORD] += 1
            continue
        if end - start <= TIME_TOLERANCE:  # no sample to encode (MFA never writes one; other tools may)
            excluded[ZERO_LENGTH] += 1
            continue
        if start < -TIME_TOLERANCE or start >= duration:
            excluded[OUTSIDE_AUDIO] += 1
            continue
        rows.append(
            {
                "utt_id": utt["utt_id"], "subset": utt["subset"], "speaker": utt["speaker"],
                "chapter": utt["chapter"], "word": word, "start": start, "end": end,
                "duration": end - start, "phones": phones, "n_phones": len(phones.split()), "path": utt["path"],
            }  # fmt: skip
        )
    return rows, None, {k: v for k, v in excluded.items() if v}


def _first_diff(a: list[str], b: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and x not in UNKNOWN:
            return f"word {i + 1}: {x!r} vs {y!r}"
    return f"lengths {len(a)} vs {len(b)}"


def apply_filters(words: pd.DataFrame, f: WordFilter) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the config's token filters in order; return the kept rows and counts dropped.

    ``min_duration`` (s) drops words shorter than it by more than :data:`DURATION_TOLERANCE`.
    """
    counts: dict[str, int] = {}

    def drop(mask: pd.Series, reason: str) -> None:
        nonlocal words
        counts[reason] = int(mask.sum())
        words = words[~mask]

    # exactly min_duration long (within DURATION_TOLERANCE) is kept
    drop(words["duration"] < f.min_duration - DURATION_TOLERANCE, f"shorter than {f.min_duration} s")
    if f.alphabetic_only:
        drop(~words["word"].str.match(ALPHABETIC), "not alphabetic")
    if f.drop_stopwords:
        drop(words["word"].isin(f.stopwords), "stop-word")
    if f.min_count > 1:
        n = words["word"].map(words["word"].value_counts())
        drop(n < f.min_count, f"word seen fewer than {f.min_count} times")
    return words, counts


def build_word_table(
    manifest: pd.DataFrame, textgrids: dict[str, Path], filt: WordFilter, strict: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Returns ``(words, skipped_utterances, counts)``.

    ``strict``: raise on the first skipped utterance instead of counting it.
    """
    need = ["utt_id", "subset", "speaker", "chapter", "path", "transcript", "duration"]
    missing = [c for c in need if c not in manifest.columns]
    if missing:
        raise CodecprobeError(f"manifest has no column {', '.join(missing)} (see codecprobe.manifest)")
    rows, skips = [], []
    excluded = dict.fromkeys((UNKNOWN_WORD, ZERO_LENGTH, OUTSIDE_AUDIO, NO_PHONES_TIER), 0)
    for i, (_, utt) in enumerate(manifest.iterrows(), 1):
        r, skip, ex = utterance_words(utt, textgrids.get(str(utt["utt_id"])))
        if skip:
            kind, reason = skip
            if strict:
                raise CodecprobeError(f"utterance {utt['utt_id']}: {reason}")
            log.warning("skipped utterance %s: %s", utt["utt_id"], reason)
            skips.append({"utt_id": utt["utt_id"], "kind": kind, "reason": reason})
        rows += r
        for k, v in ex.items():
            excluded[k] += v
        if i % 5000 == 0:
            log.info("%d/%d utterances, %d word tokens", i, len(manifest), len(rows))
    if len(manifest) and sum(s["kind"] == "no TextGrid" for s in skips) == len(manifest):
        example = next(iter(textgrids.values()), None)
        raise CodecprobeError(
            f"none of the manifest's {len(manifest)} utterances has a TextGrid among the {len(textgrids)}"
            f" found{f' (e.g. {example})' if example else ''}: the alignment folder must hold"
            f" <utt_id>.TextGrid files of the configured subsets, e.g. {manifest['utt_id'].iloc[0]}.TextGrid"
        )
    no_tg = {str(s["utt_id"]) for s in skips if s["kind"] == "no TextGrid"}
    for subset, g in manifest.groupby("subset", sort=True):
        if len(g) and set(g["utt_id"].astype(str)) <= no_tg:  # a whole subset unaligned: its alignments are missing
            raise CodecprobeError(
                f"librispeech subset {subset}: none of its {len(g)} utterances has a TextGrid among the"
                f" {len(textgrids)} found (e.g. {g['utt_id'].iloc[0]}.TextGrid): its alignments are missing from the"
                f" alignment folder; add them, or drop {subset} from librispeech.subsets"
            )
    words = pd.DataFrame(rows, columns=[c for c in WORD_COLUMNS if c != "token_id"])
    n_aligned = len(words)
    words, dropped = apply_filters(words, filt)
    words = words.reset_index(drop=True)
    words.insert(0, "token_id", range(len(words)))
    by_kind = pd.Series([s["kind"] for s in skips], dtype=object).value_counts()
    counts = [
        ("utterances", "in manifest", len(manifest)),
        ("utterances", "skipped", len(skips)),
        *[("utterances", f"skipped: {k}", int(by_kind[k])) for k in SKIP_KINDS if k in by_kind],
        ("utterances", NO_PHONES_TIER, excluded[NO_PHONES_TIER]),
        ("tokens", "aligned (known words)", n_aligned),
        ("tokens", UNKNOWN_WORD, excluded[UNKNOWN_WORD]),
        ("tokens", ZERO_LENGTH, excluded[ZERO_LENGTH]),
        ("tokens", OUTSIDE_AUDIO, excluded[OUTSIDE_AUDIO]),
    ]
    if excluded[NO_PHONES_TIER]:
        log.warning("%d utterance(s) have no phones tier: a word MFA aligned to spn (out of its dictionary) "
                    "is kept unless its label is <unk>", excluded[NO_PHONES_TIER])  # fmt: skip
    counts += [("tokens", f"dropped: {k}", v) for k, v in dropped.items()]
    counts += [("tokens", "kept", len(words)), ("types", "word types kept", words["word"].nunique())]
    counts_df = pd.DataFrame(counts, columns=["unit", "what", "n"])
    for c in counts:
        log.info("%-10s %-40s %d", *c)
    if words.empty:  # the counts say where they went (counts.csv and the skip table are not written)
        where = "; ".join(f"{unit} {what}: {n}" for unit, what, n in counts if n and unit != "types")
        raise CodecprobeError(f"no word token left after alignment and filters ({where}; the log names each skip)")
    return words, pd.DataFrame(skips, columns=["utt_id", "kind", "reason"]), counts_df


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build the word table from a manifest and TextGrids.")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--textgrids", required=True, help="folder searched for <utt_id>.TextGrid")
    ap.add_argument("--out", required=True)
    ap.add_argument("--skipped", required=True)
    ap.add_argument("--counts", required=True)
    ap.add_argument("--min-duration", type=float, default=0.0)
    ap.add_argument("--alphabetic-only", action="store_true")
    ap.add_argument("--stopwords", default=None, help="stop-word list; given = drop stop-words")
    ap.add_argument("--stopwords-digest", default=None, help="the list's codecprobe.io.file_digest when planned")
    ap.add_argument("--min-count", type=int, default=1)
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    filt = WordFilter(
        a.min_duration, a.alphabetic_only, a.stopwords is not None, a.min_count,
        load_stopwords(a.stopwords) if a.stopwords else frozenset(),
    )  # fmt: skip
    if a.stopwords:
        check_file_digest(a.stopwords, a.stopwords_digest, "words.stopwords")
    manifest = read_table(a.manifest, required=MANIFEST_NEEDED, finite=("duration",), unique=("utt_id",))
    words, skipped, counts = build_word_table(manifest, index_textgrids(a.textgrids), filt, a.strict)
    write_table(skipped, a.skipped)
    write_table(counts, a.counts)
    write_table(words, a.out)


if __name__ == "__main__":
    run_cli(main)
