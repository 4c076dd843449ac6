"""Praat TextGrid reading and writing (the format the Montreal Forced Aligner writes).

Both of Praat's text layouts are read: the long ("ooTextFile" with ``xmin = ...``
labels, what MFA writes by default) and the short one (values only). Files may be
UTF-8 (with or without BOM) or UTF-16 with a BOM (Annot-16's alignments are UTF-16).
Times are in seconds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .io import CodecprobeError, atomic_path


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
    """An interval tier (point tiers are read as zero-length intervals)."""

    name: str
    xmin: float
    xmax: float
    intervals: list[Interval] = field(default_factory=list)


@dataclass
class TextGrid:
    xmin: float
    xmax: float
    tiers: list[Tier] = field(default_factory=list)

    def tier(self, name: str) -> Tier:
        """Return the tier called ``name``.

        MFA names tiers ``words``/``phones`` for single-speaker files and
        ``<speaker> - words`` when a file holds several speakers; both match.
        """
        for t in self.tiers:
            if t.name == name or t.name.endswith(f" - {name}"):
                return t
        names = ", ".join(repr(t.name) for t in self.tiers) or "none"
        raise KeyError(f"no tier {name!r} (tiers: {names})")


# A string ("" escapes a quote), a <flag>, a bracketed index such as [3] or [],
# a number, or anything else (labels such as ``xmin =``, ignored).
_TOKEN = re.compile(
    r'"(?P<str>(?:[^"]|"")*)"|<(?P<flag>exists|absent)>|(?P<idx>\[\d*\])'
    r"|(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
)


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    # UTF-16 without BOM: every other byte is NUL in ASCII text.
    if len(raw) > 4 and raw[1:2] == b"\x00" and raw[3:4] == b"\x00":
        return raw.decode("utf-16-le")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "idx":
            continue
        if kind == "str":
            out.append(("str", m.group("str").replace('""', '"')))
        else:
            out.append((kind, m.group(kind)))  # type: ignore[arg-type]
    return out


class _Stream:
    def __init__(self, tokens: list[tuple[str, str]], path: Path):
        self.tokens, self.pos, self.path = tokens, 0, path

    def _next(self, kind: str, what: str) -> str:
        if self.pos >= len(self.tokens):
            raise TextGridError(f"{self.path}: truncated TextGrid (expected {what})")
        k, v = self.tokens[self.pos]
        if k != kind:
            raise TextGridError(f"{self.path}: malformed TextGrid (expected {what}, found {v!r})")
        self.pos += 1
        return v

    def num(self, what: str) -> float:
        return float(self._next("num", what))

    def string(self, what: str) -> str:
        return self._next("str", what)

    def flag(self) -> str:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "flag":
            self.pos += 1
            return self.tokens[self.pos - 1][1]
        return "exists"


def parse_textgrid(text: str, path: str | os.PathLike = "<string>") -> TextGrid:
    """Parse TextGrid text (long or short layout)."""
    path = Path(path)
    if not text.strip():
        raise TextGridError(f"{path}: empty TextGrid file")
    s = _Stream(_tokens(text), path)
    file_type = s.string("'ooTextFile'")
    if file_type != "ooTextFile":
        raise TextGridError(f"{path}: not a Praat text file (file type {file_type!r})")
    if s.string("object class 'TextGrid'") != "TextGrid":
        raise TextGridError(f"{path}: object class is not TextGrid")
    tg = TextGrid(s.num("xmin"), s.num("xmax"))
    if s.flag() == "absent":
        return tg
    n_tiers = int(s.num("tier count"))
    for _ in range(n_tiers):
        cls = s.string("tier class")
        if cls not in ("IntervalTier", "TextTier"):
            raise TextGridError(f"{path}: unknown tier class {cls!r}")
        name = s.string("tier name")
        tier = Tier(name, s.num("tier xmin"), s.num("tier xmax"))
        n = int(s.num("interval count"))
        for _ in range(n):
            if cls == "IntervalTier":
                a, b = s.num("interval xmin"), s.num("interval xmax")
                if b < a:
                    raise TextGridError(f"{path}: tier {name!r} has an interval ending before it starts ({a} > {b})")
                tier.intervals.append(Interval(a, b, s.string("interval text")))
            else:  # TextTier: points
                t = s.num("point time")
                tier.intervals.append(Interval(t, t, s.string("point mark")))
        tg.tiers.append(tier)
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


def format_textgrid(tg: TextGrid) -> str:
    """Format ``tg`` in Praat's long text layout, as MFA writes it."""
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        f"xmin = {tg.xmin!r}",
        f"xmax = {tg.xmax!r}",
        "tiers? <exists>",
        f"size = {len(tg.tiers)}",
        "item []:",
    ]
    for i, tier in enumerate(tg.tiers, 1):
        lines += [
            f"    item [{i}]:",
            '        class = "IntervalTier"',
            f"        name = {_q(tier.name)}",
            f"        xmin = {tier.xmin!r}",
            f"        xmax = {tier.xmax!r}",
            f"        intervals: size = {len(tier.intervals)}",
        ]
        for j, iv in enumerate(tier.intervals, 1):
            lines += [
                f"        intervals [{j}]:",
                f"            xmin = {iv.xmin!r}",
                f"            xmax = {iv.xmax!r}",
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
