"""Corpus manifest: scan a LibriSpeech-layout tree into one table of utterances.

Layout (as released at openslr.org/12)::

    <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

where each ``.trans.txt`` line is ``<utt_id> TRANSCRIPT``. The manifest has one row per
usable utterance: ``utt_id, subset, speaker, chapter, path, transcript, duration`` (s),
``sample_rate`` (Hz), ``n_samples``. Unreadable audio, audio without a transcript line,
transcript lines without audio or malformed (not UTF-8 among them), utterances with
several audio files or with transcript lines of different texts, files and lines whose
id names another speaker or chapter than their folders, and audio files outside a
``<speaker>/<chapter>`` folder (at any depth under a subset) are skipped, each named in
the log and counted in the skip table (``utt_id, path, reason``); nothing is dropped
silently. Each audio file is decoded to its end (``verify``, the default), so a
truncated or corrupt file whose header reads well, or a float file with NaN or infinite
samples, is skipped here, not met by a later stage.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import pandas as pd
import soundfile as sf

from .audio import first_non_finite
from .io import (
    CodecprobeError,
    repeated,
    run_cli,
    setup_logging,
    utf16_encoding,
    walk,
    write_table,
)

AUDIO_EXTS = (".flac", ".wav")
TRANS_SUFFIX = ".trans.txt"
UTT_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
MANIFEST_COLUMNS = [
    "utt_id", "subset", "speaker", "chapter", "path", "transcript", "duration", "sample_rate", "n_samples",
]  # fmt: skip
log = logging.getLogger("codecprobe.manifest")


def folder_mismatch(utt: str, speaker: str, chapter: str) -> str | None:
    """The skip reason when the well-formed id ``utt`` names another speaker or chapter
    than the folders ``<speaker>/<chapter>`` it lies in (compared as text), else ``None``.
    The manifest takes speaker and chapter from the folders, so such a file or line would
    be filed under the wrong speaker."""
    spk, chap, _ = utt.split("-")
    return None if (spk, chap) == (speaker, chapter) else f"id {utt} does not match its folder {speaker}/{chapter}"


def read_transcripts(
    trans_file: Path, folder: tuple[str, str] | None = None
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Parse a ``.trans.txt`` file into ``utt_id -> transcript``.

    Returns the transcripts and a list of ``(utt_id, line, reason)`` (``line``:
    ``<file>:<n>``; ``utt_id`` empty where the line has no well-formed id), in line
    order, for the lines not used: not UTF-8 text, no transcript text, an id that is not
    ``spk-chapter-utt``, an id whose speaker or chapter is not ``folder``
    (``(speaker, chapter)``, when given; :func:`folder_mismatch`), and repeated ids.
    An id on several lines with different texts is left out of the transcripts, each of
    its lines listed ("duplicated transcript lines with different texts", naming the
    lines): which text is meant is not ours to guess. Lines repeating the same text
    keep the utterance (the first line is used); each later line is listed as a
    duplicate of it. A UTF-8 byte-order mark at the start of the file (as some Windows
    editors write) is ignored; each line is decoded alone, so that one line in another
    encoding costs only its utterance. A UTF-16 file (with a byte-order mark, or NUL bytes
    in every other place, as the TextGrid reader takes them) is read as such; one that does
    not decode as UTF-16 is one skip naming the file.
    """
    lines: dict[str, list[tuple[int, str]]] = {}  # utt_id -> (line number, text) of its lines
    bad: list[tuple[int, str, str, str]] = []  # (line number, utt_id, where, reason)
    raw = trans_file.read_bytes().removeprefix(b"\xef\xbb\xbf")
    if (utf16 := utf16_encoding(raw)) is not None:
        try:
            raw = raw.decode(utf16).encode("utf-8")
        except UnicodeDecodeError as e:
            why = f"not valid {utf16.upper()} text (byte {e.start} of {len(raw)}: {e.reason}): not read"
            return {}, [("", str(trans_file), why)]
    for n, raw_line in enumerate(raw.splitlines(), 1):
        where = f"{trans_file}:{n}"
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as e:
            bad.append((n, "", where, f"not UTF-8 text (byte {raw_line[e.start]:#04x} at column {e.start + 1})"))
            continue
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        utt = parts[0]
        if not UTT_ID.match(utt):
            bad.append((n, "", where, f"malformed utterance id {utt!r}"))
        elif len(parts) < 2:
            bad.append((n, utt, where, f"empty transcript for {utt}"))
        elif folder is not None and (why := folder_mismatch(utt, *folder)):
            bad.append((n, utt, where, why))
        else:
            lines.setdefault(utt, []).append((n, parts[1].strip()))
    out: dict[str, str] = {}
    for utt, found in lines.items():
        (n0, text), *rest = found
        if all(t.split() == text.split() for _, t in rest):  # the words are what later stages read
            out[utt] = text
            why = f"duplicate utterance id {utt}: same text as line {n0}, which is used"
            bad += [(n, utt, f"{trans_file}:{n}", why) for n, _ in rest]
        else:
            nums = ", ".join(str(n) for n, _ in found)
            why = f"duplicated transcript lines with different texts for {utt} (lines {nums})"
            bad += [(n, utt, f"{trans_file}:{n}", why) for n, _ in found]
    return out, [b[1:] for b in sorted(bad)]


# Sample formats that can hold NaN or infinity (checked by decode_problem).
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


# libsndfile's frame count of a file whose header gives no length (SF_COUNT_MAX): a FLAC
# written as a stream, with total samples 0 in its STREAMINFO
UNKNOWN_LENGTH = (1 << 63) - 1


# data-chunk sizes that say "unknown length": 0, 0xFFFFFFFF, and SoX's MS_UNSPEC (a WAV
# written to a pipe, read in full by libsndfile)
STREAMED_WAV_SIZES = (0, 0xFFFFFFFF, 0x7FFFF000)


def wav_data_shortfall(path: Path) -> tuple[int, int] | None:
    """``(frames present, frames declared)`` of a RIFF WAV file whose ``data`` chunk is
    declared longer than the bytes that follow it (a file cut short: libsndfile then reports
    only the frames present, so the decoded count matches its own header count); None for
    a complete file, a file that is not RIFF WAV, or a declared size of 0, 0xFFFFFFFF or
    0x7FFFF000 (written as a stream: no length to check; SoX writes the last to a pipe).
    Whole frames are compared (a size that is not a multiple of the frame size is not a
    cut). RF64 and Wave64 files are not checked."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align, pos = 0, 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, n = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if cid == b"fmt ":
                fmt = f.read(16)
                if len(fmt) >= 14:
                    block_align = int.from_bytes(fmt[12:14], "little")
            elif cid == b"data":
                if n in STREAMED_WAV_SIZES or block_align <= 0:
                    return None
                present, declared = (size - (pos + 8)) // block_align, n // block_align
                return (present, declared) if present < declared else None
            pos += 8 + n + (n & 1)  # chunks are padded to an even size
    return None


def decode_problem(path: Path, n_frames: int, block: int = 1 << 16) -> str | None:
    """Decode the audio file ``path`` to its end, ``block`` frames at a time; ``None`` when
    it yields the ``n_frames`` its header promises, else the reason (the decoder's error
    with the block of samples it met it in, the frames decoded against the header's, a WAV
    whose data chunk ends early (:func:`wav_data_shortfall`), or, in a floating-point file,
    samples that are NaN or infinite: every later stage would carry them into its
    features)."""
    if short := wav_data_shortfall(path):
        return f"truncated audio: {short[0]} of the header's {short[1]} samples (the file ends inside its data chunk)"
    got = 0
    try:
        with sf.SoundFile(str(path)) as f:
            floating = f.subtype in FLOAT_SUBTYPES
            while True:
                x = f.read(block, dtype="float32" if floating else "int16")
                if not len(x):
                    break
                first = first_non_finite(x) if floating else None
                if first is not None:
                    return f"non-finite samples (NaN or infinity), the first at sample {got + first}"
                got += len(x)
    except Exception as e:  # noqa: BLE001 - libsndfile raises various errors for corrupt data
        return f"unreadable audio in samples {got}-{min(got + block, n_frames)} of {n_frames}: {e}"
    return None if got == n_frames else f"truncated audio: {got} of the header's {n_frames} samples decode"


def scan_chapter(chapter_dir: Path, subset: str, verify: bool = True) -> tuple[list[dict], list[dict]]:
    """Rows and skips for the files directly in one ``<speaker>/<chapter>`` folder (speaker
    and chapter are the folder names; an audio file or transcript line whose id names
    others is skipped); ``verify``: decode every file (:func:`decode_problem`). An audio
    file whose transcript line was skipped is skipped with that line's reason."""
    rows: list[dict] = []
    skips: list[dict] = []
    spk, chap = chapter_dir.parent.name, chapter_dir.name
    trans_file = chapter_dir / f"{spk}-{chap}.trans.txt"
    rejected: dict[str, str] = {}  # utt_id -> reason its transcript line(s) were skipped
    if trans_file.is_file():
        transcripts, bad = read_transcripts(trans_file, (spk, chap))
        skips += [{"utt_id": u, "path": w, "reason": r} for u, w, r in bad]
        rejected = {u: r for u, _, r in bad if u}
    else:
        transcripts = {}
    files: dict[str, list[Path]] = {}
    for p in sorted(chapter_dir.iterdir()):
        if p.name.endswith(TRANS_SUFFIX) and p.name != trans_file.name:
            skips.append({"utt_id": "", "path": str(p), "reason": f"transcript file not named {trans_file.name}: not read"})
        elif p.suffix.lower() in AUDIO_EXTS:
            if UTT_ID.match(p.stem) and (why := folder_mismatch(p.stem, spk, chap)):
                skips.append({"utt_id": p.stem, "path": str(p), "reason": why})
            else:
                files.setdefault(p.stem, []).append(p)
    audio: dict[str, Path] = {}
    for utt, paths in files.items():
        if len(paths) > 1:  # e.g. a .flac and a .wav: which one is meant is not ours to guess
            names = ", ".join(p.name for p in paths)
            skips.append({"utt_id": utt, "path": str(paths[0]), "reason": f"several audio files for one utterance ({names})"})
        else:
            audio[utt] = paths[0]
    for utt, path in audio.items():
        if utt not in transcripts:
            if utt in rejected:
                why = rejected[utt]
            else:
                why = "no transcript line" if trans_file.is_file() else f"missing transcript file {trans_file.name}"
            skips.append({"utt_id": utt, "path": str(path), "reason": why})
            continue
        try:
            if path.stat().st_size == 0:
                skips.append({"utt_id": utt, "path": str(path), "reason": "empty file (0 bytes)"})
                continue
            info = sf.info(str(path))
        except Exception as e:  # libsndfile raises various errors for corrupt files
            skips.append({"utt_id": utt, "path": str(path), "reason": f"unreadable audio: {e}"})
            continue
        if info.frames == 0:
            skips.append({"utt_id": utt, "path": str(path), "reason": "empty audio"})
            continue
        if info.frames == UNKNOWN_LENGTH:
            why = "the header gives no length (written as a stream); re-encode the file, e.g. with ffmpeg or flac"
            skips.append({"utt_id": utt, "path": str(path), "reason": why})
            continue
        why = decode_problem(path, info.frames) if verify else None
        if why:
            skips.append({"utt_id": utt, "path": str(path), "reason": why})
            continue
        rows.append(
            {
                "utt_id": utt, "subset": subset, "speaker": spk, "chapter": chap, "path": str(path),
                "transcript": transcripts[utt], "duration": info.frames / info.samplerate,
                "sample_rate": info.samplerate, "n_samples": info.frames,
            }  # fmt: skip
        )
        if info.channels != 1:
            log.warning("%s: %d channels; the codec stage mixes to mono", path, info.channels)
    for utt in sorted(set(transcripts) - set(files)):
        skips.append({"utt_id": utt, "path": str(trans_file), "reason": "transcript line without audio file"})
    return rows, skips


OUTSIDE_CHAPTER = "not in a <speaker>/<chapter> folder"
TRANS_OUTSIDE_CHAPTER = "transcript file not in a <speaker>/<chapter> folder: not read"


def _raise(e: OSError) -> None:
    raise e


def find_chapters(sdir: Path) -> tuple[list[Path], list[Path]]:
    """The ``<speaker>/<chapter>`` folders (two levels down) of the subset folder ``sdir``
    and the audio files (:data:`AUDIO_EXTS`) and ``.trans.txt`` files anywhere else under
    it (in ``sdir`` itself, in a speaker folder, in a folder inside a chapter folder), both
    sorted, in one walk.
    Links to folders are followed, except one leading back to a folder it lies in (a
    loop: its files are met through that folder); a folder that cannot be listed raises
    its :class:`OSError`."""
    chapters: list[Path] = []
    outside: list[Path] = []
    for d, _, names in walk(sdir, onerror=_raise):
        here = Path(d)
        if len(here.relative_to(sdir).parts) == 2:
            chapters.append(here)
        else:
            outside += [here / n for n in names if Path(n).suffix.lower() in AUDIO_EXTS or n.endswith(TRANS_SUFFIX)]
    return sorted(chapters), sorted(outside)


def build_manifest(root: str | Path, subsets: list[str], verify: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scan ``root/<subset>`` for each subset. Returns ``(manifest, skipped)``. ``verify``:
    decode every audio file to its end (see :func:`scan_chapter`). Audio files outside a
    ``<speaker>/<chapter>`` folder (:func:`find_chapters`) are skipped with the reason
    :data:`OUTSIDE_CHAPTER` (``utt_id``: the file name's stem), and transcript files
    there with :data:`TRANS_OUTSIDE_CHAPTER` (``utt_id`` empty).

    Raises :class:`CodecprobeError` when the root or a subset folder does not exist or
    when no usable utterance is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise CodecprobeError(f"corpus root {root} does not exist (config key librispeech.root)")
    twice = repeated(subsets)
    if twice:
        raise CodecprobeError(f"subset(s) {twice} listed more than once (config key librispeech.subsets)")
    rows: list[dict] = []
    skips: list[dict] = []
    for subset in subsets:
        sdir = root / subset
        if not sdir.is_dir():
            raise CodecprobeError(f"subset folder {sdir} does not exist (config key librispeech.subsets)")
        chapters, outside = find_chapters(sdir)
        log.info("%s: %d chapter folders", sdir, len(chapters))
        skips += [
            {"utt_id": "", "path": str(p), "reason": TRANS_OUTSIDE_CHAPTER}
            if p.name.endswith(TRANS_SUFFIX)
            else {"utt_id": p.stem, "path": str(p), "reason": OUTSIDE_CHAPTER}
            for p in outside
        ]
        for i, ch in enumerate(chapters, 1):
            r, s = scan_chapter(ch, subset, verify)
            rows += r
            skips += s
            if i % 100 == 0:
                log.info("%s: %d/%d chapters, %d utterances", subset, i, len(chapters), len(rows))
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).sort_values("utt_id", ignore_index=True)
    dup = manifest["utt_id"].duplicated(keep=False)
    if dup.any():  # LibriSpeech's ids are unique across subsets: the same files twice
        first = manifest.loc[dup, "utt_id"].iloc[0]
        paths = manifest.loc[manifest["utt_id"] == first, "path"].tolist()
        raise CodecprobeError(
            f"{manifest.loc[dup, 'utt_id'].nunique()} utterance id(s) found in more than one place, "
            f"e.g. {first}: {', '.join(paths)} (overlapping subset folders?)"
        )
    skipped = pd.DataFrame(skips, columns=["utt_id", "path", "reason"])
    for s in skips:
        log.warning("skipped %s: %s", s["path"], s["reason"])
    log.info(
        "%d utterances (%.2f h), %d skipped", len(manifest), manifest["duration"].sum() / 3600, len(skipped)
    )
    if manifest.empty:  # the skip table is not written: the first reasons go into the message
        first = "; ".join(f"{Path(s['path']).name}: {s['reason']}" for s in skips[:3])
        more = f" (first: {first}{'; ...' if len(skips) > 3 else ''})" if skips else " (no audio file found)"
        raise CodecprobeError(f"no usable utterance under {root} for subsets {subsets}: {len(skips)} skipped{more}")
    return manifest, skipped


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Scan a LibriSpeech-layout corpus into a manifest table.")
    ap.add_argument("--root", required=True)
    ap.add_argument("--subsets", nargs="+", required=True)
    ap.add_argument("--out", required=True, help="manifest table (.csv/.tsv/.parquet)")
    ap.add_argument("--skipped", required=True, help="table of skipped files and reasons")
    ap.add_argument(
        "--no-verify", action="store_true",
        help="read only each file's header (default: decode every file to its end)",
    )  # fmt: skip
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    manifest, skipped = build_manifest(a.root, a.subsets, verify=not a.no_verify)
    write_table(skipped, a.skipped)
    write_table(manifest, a.out)


if __name__ == "__main__":
    run_cli(main)
