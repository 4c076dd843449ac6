"""Praat TextGrid reading and writing (the format the Montreal Forced Aligner writes).

Both of Praat's text layouts are read: the long ("ooTextFile" with ``xmin = ...``
labels, what MFA writes by default) and the short one (values only). Files may be
UTF-8 (with or without BOM) or UTF-16 with a BOM (Annot-16's alignments are UTF-16).
Times are in seconds.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .io import CodecprobeError, atomic_path, utf16_encoding


class TextGridError(CodecprobeError):
    """A TextGrid file is empty, truncated or not in Praat's text format."""


@dataclass(frozen=True)
class Interval:
    """One labelled interval ``[xmin, xmax)`` in seconds."""

    xmin: float
    xmax: float
    text: str


@dataclass
class Tier:
    """An interval tier (point tiers are read as zero-length intervals, ``point`` True)."""

    name: str
    xmin: float
    xmax: float
    intervals: list[Interval] = field(default_factory=list)
    point: bool = False


@dataclass
class TextGrid:
    xmin: float
    xmax: float
    tiers: list[Tier] = field(default_factory=list)

    def tier(self, name: str) -> Tier:
        """Return the tier called ``name``.

        MFA names tiers ``words``/``phones`` for single-speaker files and
        ``<speaker> - words`` when a file holds several speakers; both match. None: a
        ``KeyError``; several (two speakers' tiers, a tier twice): a :class:`TextGridError`
        (which one is the utterance's is not ours to guess).
        """
        found = [t for t in self.tiers if t.name == name or t.name.endswith(f" - {name}")]
        if len(found) > 1:
            names = ", ".join(repr(t.name) for t in found)
            raise TextGridError(f"{len(found)} tiers match {name!r} ({names}): which one is the utterance's is unclear")
        if found:
            return found[0]
        names = ", ".join(repr(t.name) for t in self.tiers) or "none"
        raise KeyError(f"no tier {name!r} (tiers: {names})")


# Slack for comparing times printed as decimal text (s): Praat and MFA print times with up
# to 15-17 significant digits, and other writers round; a tiling tier's shared ends agree
# within far less than a microsecond.
TIME_TOLERANCE = 1e-6

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# A string ("" escapes a quote), a <flag>, a bracketed index such as [3] or [], a number,
# or a value that is none of these: after ``=`` (long layout) or alone on its line (short
# layout). Anything else (labels such as ``xmin =``) is ignored.
_TOKEN = re.compile(
    r'"(?P<str>(?:[^"]|"")*)"|<(?P<flag>exists|absent)>|(?P<idx>\[\d*\])'
    rf'|=[ \t]*(?P<bad>(?!{_NUM}(?:\s|$)|["<])\S+)'
    rf'|^[ \t]*(?P<badline>(?!{_NUM}[ \t\r]*$)[^\s"<\[]\S*)[ \t\r]*$'
    rf"|(?P<num>{_NUM})",
    re.MULTILINE,
)


def _decode(raw: bytes, path: Path) -> str:
    """Text of the TextGrid file ``path`` from its bytes ``raw``. A file whose BOM (or NUL
    bytes) marks it UTF-16 or UTF-8 but that does not decode (cut short: an odd byte count;
    a lone surrogate) raises :class:`TextGridError` naming the file."""
    if (utf16 := utf16_encoding(raw)) is not None:  # with a BOM, or NUL bytes (ASCII text)
        enc, skip = utf16, 0
    elif raw.startswith(b"\xef\xbb\xbf"):
        enc, skip = "utf-8", 3
    else:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    try:
        return raw[skip:].decode(enc)
    except UnicodeDecodeError as e:
        raise TextGridError(
            f"{path}: not valid {enc.upper()} text (byte {skip + e.start} of {len(raw)}: {e.reason};"
            " a truncated or damaged file?)"
        ) from e


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """``(kind, value, line)`` of each token of ``text``; ``line`` counts from 1."""
    out: list[tuple[str, str, int]] = []
    line, last = 1, 0
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "idx":
            continue
        line += text.count("\n", last, m.start())
        last = m.start()
        if kind == "str":
            out.append(("str", m.group("str").replace('""', '"'), line))
        elif kind in ("bad", "badline"):
            out.append(("bad", m.group(kind), line))
        else:
            out.append((kind, m.group(kind), line))  # type: ignore[arg-type]
    return out


class _Stream:
    def __init__(self, tokens: list[tuple[str, str, int]], path: Path):
        self.tokens, self.pos, self.path = tokens, 0, path

    @property
    def line(self) -> int:
        """Line of the token read last (1 before any)."""
        return self.tokens[self.pos - 1][2] if self.pos else 1

    def error(self, what: str) -> TextGridError:
        return TextGridError(f"{self.path}: malformed TextGrid ({what})")

    def _next(self, kind: str, what: str) -> str:
        if self.pos >= len(self.tokens):
            raise TextGridError(f"{self.path}: truncated TextGrid (expected {what} after line {self.line})")
        k, v, line = self.tokens[self.pos]
        if k != kind:
            if kind == "num" and k == "bad":
                raise self.error(f"line {line}: {what} is not a number: {v!r}")
            raise self.error(f"line {line}: expected {what}, found {v!r}")
        self.pos += 1
        return v

    def num(self, what: str) -> float:
        return float(self._next("num", what))

    def count(self, what: str) -> int:
        """A number of items: a whole number >= 0."""
        v = self.num(what)
        if not math.isfinite(v) or v < 0 or v != int(v):
            raise self.error(f"line {self.line}: {what} is not a whole number >= 0: {v}")
        return int(v)

    def string(self, what: str) -> str:
        return self._next("str", what)

    def flag(self) -> str:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "flag":
            self.pos += 1
            return self.tokens[self.pos - 1][1]
        return "exists"


def span_problem(
    xmin: float, xmax: float, lo: float = -math.inf, hi: float = math.inf, range_name: str = "",
    tol: float = TIME_TOLERANCE,
) -> str | None:  # fmt: skip
    """Why ``[xmin, xmax]`` (s) is not a span (``xmin <= xmax``) inside ``[lo, hi]`` (s), or None.

    ``range_name`` names ``[lo, hi]`` in the answer ("the tier's range"); ``tol`` (s) is the
    slack allowed at each comparison.
    """
    if xmax < xmin - tol:
        return "xmax < xmin (ending before it starts)"
    if xmin < lo - tol or xmax > hi + tol:
        return f"outside {range_name} [{lo}, {hi}] s"
    return None


def order_problem(
    prev: Interval | None, iv: Interval, noun: str = "interval", tol: float = TIME_TOLERANCE
) -> str | None:
    """Why ``iv`` may not follow ``prev`` in a tier, or None.

    A tier's intervals are sorted and do not overlap: each starts no earlier than ``tol``
    seconds before the previous one ends (points: no earlier than the previous point).
    ``noun`` ("interval" or "point") names ``prev`` in the answer.
    """
    if prev is not None and iv.xmin < prev.xmax - tol:
        return f"starts before the previous {noun} [{prev.xmin}, {prev.xmax}] s ends (overlapping or out of order)"
    return None


def parse_textgrid(text: str, path: str | os.PathLike = "<string>") -> TextGrid:
    """Parse TextGrid text (long or short layout).

    Besides the layout, the times are checked: the file's and each tier's ``xmin <= xmax``,
    each tier inside the file's range, each interval (point) inside its tier's range with
    ``xmin <= xmax``, and a tier's intervals sorted and not overlapping, all within
    :data:`TIME_TOLERANCE` seconds. A violation raises :class:`TextGridError` naming the
    file, the tier, the interval (number from 1, times and line) and the problem.
    """
    path = Path(path)
    if not text.strip():
        raise TextGridError(f"{path}: empty TextGrid file")
    s = _Stream(_tokens(text), path)
    file_type = s.string("'ooTextFile'")
    if file_type not in ("ooTextFile", "ooTextFile short"):  # the second: Praat's older short-format header
        raise TextGridError(f"{path}: not a Praat text file (file type {file_type!r})")
    if s.string("object class 'TextGrid'") != "TextGrid":
        raise TextGridError(f"{path}: object class is not TextGrid")
    tg = TextGrid(s.num("file xmin"), s.num("file xmax"))
    if problem := span_problem(tg.xmin, tg.xmax):
        raise s.error(f"file range [{tg.xmin}, {tg.xmax}] s, line {s.line}: {problem}")
    if s.flag() == "absent":
        return tg
    n_tiers = s.count("tier count")
    for i in range(1, n_tiers + 1):
        cls = s.string(f"class of tier {i}")
        if cls not in ("IntervalTier", "TextTier"):
            raise TextGridError(f"{path}: unknown tier class {cls!r}")
        name = s.string(f"name of tier {i}")
        tier = Tier(name, s.num(f"xmin of tier {name!r}"), s.num(f"xmax of tier {name!r}"), point=cls == "TextTier")
        if problem := span_problem(tier.xmin, tier.xmax, tg.xmin, tg.xmax, "the file's range"):
            raise s.error(f"tier {name!r} [{tier.xmin}, {tier.xmax}] s, line {s.line}: {problem}")
        noun = "interval" if cls == "IntervalTier" else "point"
        n = s.count(f"{noun} count of tier {name!r}")
        for j in range(1, n + 1):
            where = f"{noun} {j} of tier {name!r}"
            if cls == "IntervalTier":
                a = s.num(f"xmin of {where}")
                line = s.line
                b = s.num(f"xmax of {where}")
                iv = Interval(a, b, s.string(f"text of {where}"))
            else:  # TextTier: points
                t = s.num(f"time of {where}")
                line = s.line
                iv = Interval(t, t, s.string(f"mark of {where}"))
            prev = tier.intervals[-1] if tier.intervals else None
            problem = span_problem(iv.xmin, iv.xmax, tier.xmin, tier.xmax, "the tier's range")
            if problem := problem or order_problem(prev, iv, noun):
                raise s.error(f"tier {name!r}, {noun} {j} [{iv.xmin}, {iv.xmax}] s, line {line}: {problem}")
            tier.intervals.append(iv)
        tg.tiers.append(tier)
    if s.pos < len(s.tokens):  # a count too small would leave intervals unread: never silently
        _, v, line = s.tokens[s.pos]
        raise s.error(f"line {line}: {v!r} after the last of the {n_tiers} declared tier(s) (an interval or tier count "
                      "too small?)")  # fmt: skip
    return tg


def read_textgrid(path: str | os.PathLike) -> TextGrid:
    """Read a TextGrid file; raise :class:`TextGridError` naming the file on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TextGridError(f"{path}: cannot read TextGrid ({e.strerror})") from e
    return parse_textgrid(_decode(raw, path), path)


def _q(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def _num(x: float) -> str:
    """A time (s) as text that reads back as the same number: an integer as such (``0``, as
    Praat writes it), any other number as the ``repr`` of a Python float (a NumPy float's
    own ``repr`` is ``np.float64(1.0)``, which no reader takes for a number)."""
    return str(int(x)) if isinstance(x, numbers.Integral) else repr(float(x))


def format_textgrid(tg: TextGrid) -> str:
    """Format ``tg`` in Praat's long text layout, as MFA writes it (a ``point`` tier as a
    ``TextTier``: each interval's ``xmin`` is its point's time)."""
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        f"xmin = {_num(tg.xmin)}",
        f"xmax = {_num(tg.xmax)}",
        "tiers? <exists>",
        f"size = {len(tg.tiers)}",
        "item []:",
    ]
    for i, tier in enumerate(tg.tiers, 1):
        lines += [
            f"    item [{i}]:",
            f'        class = "{"TextTier" if tier.point else "IntervalTier"}"',
            f"        name = {_q(tier.name)}",
            f"        xmin = {_num(tier.xmin)}",
            f"        xmax = {_num(tier.xmax)}",
            f"        {'points' if tier.point else 'intervals'}: size = {len(tier.intervals)}",
        ]
        if tier.point:
            for j, iv in enumerate(tier.intervals, 1):
                lines += [f"        points [{j}]:", f"            number = {_num(iv.xmin)}", f"            mark = {_q(iv.text)}"]
            continue
        for j, iv in enumerate(tier.intervals, 1):
            lines += [
                f"        intervals [{j}]:",
                f"            xmin = {_num(iv.xmin)}",
                f"            xmax = {_num(iv.xmax)}",
                f"            text = {_q(iv.text)}",
            ]
    return "\n".join(lines) + "\n"


def fill_gaps(intervals: list[Interval], xmin: float, xmax: float) -> list[Interval]:
    """Return ``intervals`` (sorted, non-overlapping) with empty-text intervals in every gap.

    MFA's tiers cover the whole file: silences are intervals with empty text.
    """
    out: list[Interval] = []
    t = xmin
    for iv in sorted(intervals, key=lambda i: i.xmin):
        if iv.xmin < t - 1e-9:
            raise ValueError(f"overlapping intervals at {iv.xmin:.4f} s ({iv.text!r})")
        if iv.xmin > t + 1e-9:
            out.append(Interval(t, iv.xmin, ""))
        out.append(iv)
        t = iv.xmax
    if xmax > t + 1e-9:
        out.append(Interval(t, xmax, ""))
    return out


def write_textgrid(tg: TextGrid, path: str | os.PathLike) -> None:
    """Write ``tg`` atomically in the long layout (UTF-8)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(format_textgrid(tg), encoding="utf-8")
