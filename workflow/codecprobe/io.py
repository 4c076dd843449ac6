"""Small I/O helpers shared by every stage: atomic writes, stage logging, errors.

Every output of codecprobe is written to a temporary file in the destination
folder and renamed into place, so an interrupted job never leaves a half-written
file that a re-run would trust.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class CodecprobeError(RuntimeError):
    """An error caused by the user's input, with a message that names the file or key."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    The temporary name keeps the suffix of ``path`` (or ``suffix``) so that
    writers that infer the format from the extension still work.

    The name is drawn by :func:`tempfile.mkstemp` and its empty file removed again, so
    that the writer creates the file afresh: a file that is truncated and then rewritten
    is written back to disk synchronously when it is closed on ext4 (``auto_da_alloc``),
    0.1-0.2 s for an HDF5 file of 250 MB (measured here), against none for a new file.
    """
    path = Path(path)
    if path.is_dir():  # else the rename fails after all the work: IsADirectoryError
        raise CodecprobeError(f"{path}: is a folder; give the name of the file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix, dir=path.parent
        )
    except OSError as e:
        raise CodecprobeError(f"{path}: cannot write ({e.strerror or e}: {path.parent})") from e
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        cause = None if isinstance(e, OutputWriteError) else _write_error(e)  # named once, by the output it stopped
        if cause is not None:  # the output's disk, not an input
            raise OutputWriteError(f"{path}: cannot write ({os.strerror(cause.errno)}); nothing was written there") from e
        raise


class OutputWriteError(CodecprobeError):
    """An output could not be written (a full disk, a quota, a read-only file system):
    :func:`run_cli` ends the process at once after logging it, as a failed HDF5 write can
    leave the HDF5 library unable to shut down (a segmentation fault at exit)."""


# errors of writing a file (a full disk, a quota, a read-only file system, a file too large):
# named with the output they stopped, not the hidden temporary file
_WRITE_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EROFS", "EFBIG") if hasattr(errno, n))


def _write_error(e: BaseException | None) -> OSError | None:
    """The OSError of a write error (:data:`_WRITE_ERRNOS`) in ``e`` or the exceptions it
    was raised from or during (h5py's failed close after a failed write hides it so)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
            return e
        e = e.__cause__ or e.__context__
    return None


TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


def table_suffix(path: Path) -> str:
    """``path``'s suffix, one of :data:`TABLE_SUFFIXES`; else a :class:`CodecprobeError`
    (a table named ``.xlsx`` or ``.txt`` was written, or read, as CSV under that name)."""
    if path.suffix not in TABLE_SUFFIXES:
        raise CodecprobeError(
            f"{path}: a table's name must end in .csv, .tsv or .parquet (its format), not {path.suffix or 'nothing'!r}"
        )
    return path.suffix


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` atomically as CSV (``.csv``), TSV (``.tsv``) or Parquet (``.parquet``)."""
    path = Path(path)
    suffix = table_suffix(path)
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif suffix == ".tsv":
            df.to_csv(tmp, sep="\t", index=False)
        else:
            df.to_csv(tmp, index=False)


# Columns that hold names and identifiers: read back from CSV / TSV as text whatever they
# look like (a speaker folder "0012" stays "0012", not the number 12; a word "true" or "nan"
# stays a word). Also with a ``_a`` / ``_b`` suffix (the two tokens of a pair).
TEXT_COLUMNS = frozenset({
    "utt_id", "subset", "speaker", "chapter", "path", "transcript", "word", "phones", "codec", "family",
    "pair_type", "relation", "region", "variant", "reason", "kind",
})  # fmt: skip


def text_column(name: str) -> bool:
    """Whether column ``name`` holds text (:data:`TEXT_COLUMNS`, with or without ``_a`` / ``_b``)."""
    return name in TEXT_COLUMNS or (name[-2:] in ("_a", "_b") and name[:-2] in TEXT_COLUMNS)


def read_table(
    path: str | os.PathLike, required: Sequence[str] = (), numeric: Sequence[str] = (), finite: Sequence[str] = (),
    unique: Sequence[str] = (),
) -> pd.DataFrame:  # fmt: skip
    """Read a table written by :func:`write_table`. From CSV / TSV, the columns of
    :data:`TEXT_COLUMNS` are read as strings (empty cells as missing); the others are
    inferred, with only an empty cell read as missing (a word "NA" stays a word). A CSV /
    TSV without even a header line (0 bytes, or blank lines only) raises
    :class:`CodecprobeError` naming it; one with a header and no rows is an empty table.

    What a stage needs of the table (a hand-edited or foreign table otherwise ends in a
    pandas traceback, or in a figure of garbled numbers): the ``required`` columns, the
    ``numeric`` ones of a number type, the ``finite`` ones numbers without NaN or infinity,
    the ``unique`` ones without repeats; else :class:`CodecprobeError` naming the file."""
    table = _read_table(Path(path))
    if missing := [c for c in required if c not in table.columns]:
        raise CodecprobeError(f"{path}: no column(s) {', '.join(missing)} (columns: {', '.join(map(str, table.columns))})")
    for c in (c for c in dict.fromkeys([*numeric, *finite]) if c in table.columns):
        if len(table) and not pd.api.types.is_numeric_dtype(table[c]):  # (no rows: no type)
            text = (pd.to_numeric(table[c], errors="coerce").isna() & table[c].notna()).to_numpy()
            if text.any():
                raise CodecprobeError(f"{path}: column {c} holds text where numbers belong (row {int(text.argmax()) + 1}: "
                                      f"{table[c][text].tolist()[0]!r})")  # fmt: skip
            raise CodecprobeError(f"{path}: column {c} is not numeric")
    for c in (c for c in finite if c in table.columns):
        if not (ok := np.isfinite(table[c].to_numpy(np.float64))).all():
            raise CodecprobeError(f"{path}: column {c} has an empty or non-finite value (row {int((~ok).argmax()) + 1})")
    for c in (c for c in unique if c in table.columns):
        if (twice := table[c].duplicated()).any():
            raise CodecprobeError(f"{path}: {c} {table[c][twice].tolist()[0]!r} occurs more than once")
    return table


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CodecprobeError(f"{path}: table not found")
    if path.is_dir():
        raise CodecprobeError(f"{path}: is a folder, not a table")
    suffix = table_suffix(path)
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError: truncated, or not Parquet
            raise CodecprobeError(f"{path}: not a readable Parquet table ({type(e).__name__}: {e})") from e
    sep = "\t" if suffix == ".tsv" else ","

    def csv(**kw) -> pd.DataFrame:
        try:
            return pd.read_csv(path, sep=sep, **kw)
        except pd.errors.EmptyDataError as e:  # pandas: "No columns to parse from file"
            raise CodecprobeError(f"{path}: empty file, no header") from e
        except (pd.errors.ParserError, UnicodeDecodeError) as e:  # a row of more fields, an unclosed quote, not UTF-8
            raise CodecprobeError(f"{path}: not a readable {suffix[1:].upper()} table ({_csv_problem(e, path)})") from e

    header = csv(nrows=0).columns
    with open(path, "rb") as f:  # every table written here ends its last row with a newline
        f.seek(-1, os.SEEK_END)
        if f.read(1) not in (b"\n", b"\r"):
            raise CodecprobeError(f"{path}: the last row has no line end: the file is cut short (a copy or a write "
                                  "interrupted); rebuild it")  # fmt: skip
    return csv(keep_default_na=False, na_values=[""], dtype={c: str for c in header if text_column(c)})


def _csv_problem(e: Exception, path: Path) -> str:
    """What pandas found wrong with the CSV/TSV file ``path``, in one line: its ParserError
    text, or the line where the bytes stop being UTF-8 (pandas' own offset is within a
    block it decoded, not the file)."""
    if isinstance(e, UnicodeDecodeError):
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as u:
            line = raw.count(b"\n", 0, u.start) + 1
            return f"not UTF-8 text: byte {raw[u.start]:#04x} on line {line}"
    return " ".join(str(e).split())


@contextlib.contextmanager
def readable_h5(path: str | os.PathLike, what: str, rule: str):
    """``path`` open for reading as a ``what`` (which ``rule`` writes): a file truncated, not
    HDF5, or without a dataset the block reads is a :class:`CodecprobeError` naming it."""
    import h5py

    try:
        with h5py.File(path, "r") as h:
            yield h
    except (OSError, KeyError) as e:  # truncated, not HDF5, or a dataset missing
        raise CodecprobeError(f"{path}: not a readable {what} ({e}); rebuild it (rule {rule})") from e


def utf8_bytes(values) -> np.ndarray:
    """``values`` (``[N]`` strings) as fixed-width UTF-8 byte strings (``S`` dtype marked
    UTF-8 for h5py), how codecprobe stores text in HDF5: numpy's own ``astype("S")`` is
    ASCII only and fails on a word such as ``café``, and a plain ``S`` array is stored with
    HDF5's ASCII character set, which h5py's ``.asstr()`` and other readers then decode as
    ASCII. Read back as bytes (``utf8_text`` or ``.asstr()[()]`` gives ``str``)."""
    import h5py

    encoded = [str(v).encode("utf-8") for v in values]
    width = max([1, *map(len, encoded)])
    return np.asarray(encoded, dtype=h5py.string_dtype("utf-8", width)).reshape(-1)


def utf8_text(values) -> np.ndarray:
    """The strings (``[N]``, ``str``) of byte strings stored by :func:`utf8_bytes` (or of
    ``str`` already); numpy's ``astype(str)`` decodes ASCII only."""
    return np.asarray([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=str).reshape(-1)


def utf16_encoding(raw: bytes) -> str | None:
    """The UTF-16 codec of a text file's bytes ``raw`` (``"utf-16"`` with a byte-order mark,
    else ``"utf-16-le"`` / ``"utf-16-be"`` when every other one of the first bytes is NUL, as
    in ASCII text), or None (another encoding)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if len(raw) > 4 and raw[1:2] == b"\x00" and raw[3:4] == b"\x00":
        return "utf-16-le"
    if len(raw) > 4 and raw[0:1] == b"\x00" and raw[2:3] == b"\x00":
        return "utf-16-be"
    return None


def write_text(text: str, path: str | os.PathLike, encoding: str = "utf-8") -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding=encoding)


def save_figure(fig, *paths: str | os.PathLike, dpi: int = 150) -> None:
    """Write a matplotlib ``fig`` atomically to each path (format from its suffix), then close it.
    Every file is drawn before any is renamed into place, so that a failure in one format
    (a PNG too large, a full disk) leaves all of the earlier files as they were, not a new
    PDF beside an old PNG. A PDF carries no creation date, so that the same figure gives the
    same bytes on every run. The figure is closed however this ends."""
    import matplotlib.pyplot as plt

    try:
        supported = fig.canvas.get_supported_filetypes()
        formats = [Path(path).suffix.lstrip(".") for path in paths]
        for path, fmt in zip(paths, formats):  # every name checked before any file is written
            if fmt not in supported:
                raise CodecprobeError(
                    f"{path}: a figure's name must end in a format matplotlib writes ({', '.join(sorted(supported))}), "
                    f"not {fmt or 'nothing'!r}"
                )
        with contextlib.ExitStack() as stack:  # renamed together as the stack closes, or none
            for path, fmt in zip(paths, formats):
                tmp = stack.enter_context(atomic_path(path))
                fig.savefig(tmp, dpi=dpi, format=fmt, metadata={"CreationDate": None} if fmt == "pdf" else None)
        for path in paths:
            logging.getLogger("codecprobe.io").info("wrote %s", path)  # a figure job's log said nothing
    finally:
        plt.close(fig)


def setup_logging(log_file: str | os.PathLike | None = None, name: str = "codecprobe") -> logging.Logger:
    """Log to stderr and, when given, to ``log_file`` (the rule's ``log:``)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    for h in list(logger.handlers):
        logger.removeHandler(h)
    fmt = logging.Formatter(LOG_FORMAT)
    sh = logging.StreamHandler(sys.stderr)
    sh.setFormatter(fmt)
    logger.addHandler(sh)
    if log_file:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            fh = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        except OSError as e:
            raise CodecprobeError(f"{log_file}: cannot write the log ({e.strerror or e})") from e
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    return logger


def first_few(items, n: int = 3, sep: str = ", ", more: str = " ...") -> str:
    """The first ``n`` of ``items`` (strings) joined by ``sep``, with ``more`` after them
    when there are more: how a message names some of many files, frames or tensors."""
    items = list(items)
    return sep.join(items[:n]) + (more if len(items) > n else "")


def repeated(items) -> list:
    """The values that occur more than once in ``items`` (hashable, sortable), sorted; empty
    when every value differs. For lists from the config or the command line in which a
    repeat would count one thing twice (a subset, a speaker's VTD file, a seed)."""
    seen: set = set()
    twice: set = set()
    for x in items:
        (twice if x in seen else seen).add(x)
    return sorted(twice)


# Content digests older than this (by the file's status-change time, ns) are kept in
# the cache of :func:`tree_fingerprint`; a file changed more recently is hashed again at
# every call, since a second edit in the same tick of the file system's clock (coarse:
# a few ms on ext4, 1-2 s on some network and FAT file systems) would leave its status
# unchanged ("racily clean", as git calls it).
_RACY_NS = 2_000_000_000
_CACHE_VERSION = 1


def walk(root: str | os.PathLike, onerror=None) -> Iterator[tuple[str, list[str], list[str]]]:
    """:func:`os.walk` of ``root`` following links to folders, as the corpus's tree is read
    everywhere (a subset, speaker or alignment folder may be a link into another disk or a
    data store); a folder already walked (reached again through a link: a loop, or two
    links to one folder) is pruned, so every file is seen once."""
    seen = {os.path.realpath(root)}
    for d, dirs, files in os.walk(root, onerror=onerror, followlinks=True):
        keep = []
        for x in dirs:
            r = os.path.realpath(os.path.join(d, x))
            if r not in seen:
                seen.add(r)
                keep.append(x)
        dirs[:] = keep
        yield d, dirs, files


def _content_digest(path: str) -> str:
    """The SHA-256 of the bytes of the file at ``path``, as hex."""
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """The first 16 hex digits of the SHA-256 of a small input file named in the config (a
    stop-word list, a CMUdict): put in a rule's arguments, a change of the file's contents
    reruns the rule, a copy or checkout does not; ``missing`` when there is no such file
    (the start-up checks name it)."""
    return _content_digest(str(path))[:16] if Path(path).is_file() else "missing"


def check_file_digest(path: str | os.PathLike, digest: str | None, what: str) -> None:
    """Raise :class:`CodecprobeError` when the file ``path`` (config key ``what``) no longer
    has the :func:`file_digest` ``digest`` the workflow was planned with (``None``: not
    checked): it was edited between planning and running, and the outputs would not match
    the digest recorded in the rule's arguments."""
    if digest is not None and file_digest(path) != digest:
        raise CodecprobeError(
            f"{what}: {path} changed since the workflow was planned (contents {file_digest(path)}, planned {digest}): "
            "run snakemake again"
        )


def _load_digest_cache(cache: Path) -> dict:
    """The entries of a cache written by :func:`tree_fingerprint` (absolute path -> entry);
    empty when it is missing, unreadable, corrupt or of another version."""
    import json

    try:
        with open(cache, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return {  # [size, st_mtime_ns, st_ctime_ns, st_ino, SHA-256 hex]; malformed entries dropped
        p: e for p, e in data["files"].items()
        if isinstance(e, list) and len(e) == 5 and all(type(x) is int for x in e[:4]) and isinstance(e[4], str)
    }  # fmt: skip


def tree_fingerprint(
    roots: list[str | os.PathLike], patterns: tuple[str, ...], cache: str | os.PathLike | None = None
) -> str:
    """A short hex digest (16 characters) of the files under ``roots`` (recursively) whose
    names match any of ``patterns`` (``fnmatch``, e.g. ``"*.flac"``): per root, in order,
    each file's path relative to its root, size (bytes) and SHA-256 of its bytes. A rule
    passes it as a param, so that a file added, removed, renamed, replaced or edited in a
    corpus reruns the rule (Snakemake's params trigger); a file whose modification time
    alone changed (``touch``, ``cp -r`` without ``-p``, a git checkout) does not. A missing
    root counts as empty; a root that is a file is that one file (if it matches).

    ``cache``: a folder for the content digests, one JSON file per ``roots`` and
    ``patterns`` (named by a digest of both), keyed by absolute path and checked against the
    file's size, modification and status-change times (ns) and inode number, so that a file
    whose status is unchanged costs one ``stat``, not a read; any other file is read again
    (a touched file hashes to the same digest). The status-change time (``st_ctime_ns``)
    cannot be set by ``os.utime`` or ``touch -d``, so an in-place edit of the same size
    whose modification time is put back is still read again. A file changed within the last
    :data:`_RACY_NS` ns is not cached. The file is rewritten (atomically, holding the files
    of this call only) when it changed, and skipped without a word when it cannot be
    written; a corrupt or unreadable one is ignored. ``None``: no cache, every file is read.
    """
    import fnmatch
    import hashlib
    import json
    import time

    cache_file = None
    if cache is not None:
        key = json.dumps([[os.path.abspath(r) for r in roots], list(patterns)])
        cache_file = Path(cache) / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"
    old = _load_digest_cache(cache_file) if cache_file is not None else {}
    new: dict[str, list] = {}
    settled = time.time_ns() - _RACY_NS  # a file changed before this is cached
    h = hashlib.sha1()
    for i, root in enumerate(roots):
        rows = []
        one = os.path.isfile(root)  # a file: itself, named relative to its folder
        base = (os.path.dirname(root) or ".") if one else root
        tree = [(base, [], [os.path.basename(root)])] if one else walk(root)
        for d, _, files in tree:  # through folder links, as the rules that read the tree
            for f in files:
                if any(fnmatch.fnmatch(f, p) for p in patterns):
                    path = os.path.join(d, f)
                    st = os.stat(path)
                    stat = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
                    hit = old.get(absolute := os.path.abspath(path))
                    digest = hit[4] if hit is not None and hit[:4] == stat else _content_digest(path)
                    if st.st_ctime_ns < settled:
                        new[absolute] = [*stat, digest]
                    rows.append(f"{os.path.relpath(path, base)}\t{st.st_size}\t{digest}")
        h.update(f"{i}\n".encode())
        h.update("\n".join(sorted(rows)).encode())
    if cache_file is not None and new != old:
        # a cache that cannot be written is skipped (atomic_path names a full or read-only disk)
        with contextlib.suppress(OSError, CodecprobeError), atomic_path(cache_file) as tmp:
            tmp.write_text(json.dumps({"version": _CACHE_VERSION, "files": new}), encoding="utf-8")
    return h.hexdigest()[:16]


# Signals that end a stage as an exception (SystemExit), so that `atomic_path` removes its
# temporary file: Python's default for SIGTERM (what `kill`, `timeout` and a batch
# scheduler's time limit or cancel send) ends the process at once, leaving a hidden
# ``.<name>.<random><suffix>`` file (for an encode job, the whole feature file written so
# far) beside the output. SIGINT already raises KeyboardInterrupt.
EXIT_SIGNALS = ("SIGTERM", "SIGHUP")


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)


def exit_on_signals() -> None:
    """Make :data:`EXIT_SIGNALS` raise ``SystemExit(128 + signal)`` in the main thread (the
    shell's exit status for a process ended by that signal), so that every ``with`` block
    unwinds: temporary files are removed, open HDF5 files closed. Called by :func:`run_cli`.
    A signal that is ignored stays ignored (``nohup`` ignores SIGHUP: the job goes on when
    the terminal closes)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for name in EXIT_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _exit_on_signal)


def run_cli(main) -> None:  # pragma: no cover - thin wrapper
    """Run a stage's ``main()``; turn :class:`CodecprobeError` into one clear line and exit 1.
    SIGTERM and SIGHUP end it as an exception (:func:`exit_on_signals`)."""
    exit_on_signals()
    log = logging.getLogger("codecprobe")
    try:
        main()
    except CodecprobeError as e:
        print(f"codecprobe error: {e}", file=sys.stderr)
        log.error(str(e))
        if isinstance(e, OutputWriteError):  # no interpreter shutdown: HDF5's may crash after a failed write
            import atexit

            logging.shutdown()
            atexit._run_exitfuncs()
            sys.stderr.flush()
            os._exit(1)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("stopped by an interrupt (SIGINT); nothing half-written is left")
        raise
    except SystemExit as e:
        if e.code not in (None, 0):
            log.error("stopped (exit status %s: %s); nothing half-written is left", e.code,
                      f"signal {e.code - 128}" if isinstance(e.code, int) and e.code > 128 else "error")  # fmt: skip
        raise
    except Exception:
        log.exception("unexpected error (a bug, or an input the stage does not check: please report it)")
        raise
