
import numpy as np
import pytest

from codecprobe.textgrid import (
    Interval, TextGrid, TextGridError, Tier, fill_gaps, format_textgrid, parse_textgrid, read_textgrid,
    write_textgrid,
)  # fmt: skip
from conftest import DATA


def test_mfa3_long_format():
    tg = read_textgrid(DATA / "mfa3_long.TextGrid")
    assert (tg.xmin, tg.xmax) == (0.0, 1.86)
    words = tg.tier("words").intervals
    assert [w.text for w in words] == ["", "accept", "the", "<unk>", ""]
    assert words[1] == Interval(0.31, 0.72, "accept")
    phones = tg.tier("phones").intervals
    assert len(phones) == 11 and phones[9].text == "spn"
    # the tier tiles the file
    assert all(a.xmax == b.xmin for a, b in zip(phones, phones[1:]))


def test_short_format_equals_long_content():
    tg = read_textgrid(DATA / "mfa1_short.TextGrid")
    assert [w.text for w in tg.tier("words").intervals] == ["", "big", "large", ""]
    assert [p.text for p in tg.tier("phones").intervals][:4] == ["sil", "B", "IH1", "G"]
    assert tg.tier("phones").intervals[-1] == Interval(1.05, 1.2, "sp")


def test_utf16_and_speaker_prefixed_tiers():
    tg = read_textgrid(DATA / "utf16_speaker_tiers.TextGrid")
    assert tg.tier("words").name == "9001 - words"
    assert [w.text for w in tg.tier("words").intervals][1] == "accept"


def test_roundtrip_and_quotes(tmp_path):
    tg = TextGrid(0, 2.0, [Tier("words", 0, 2.0, fill_gaps([Interval(0.5, 1.0, 'say "hi"')], 0, 2.0))])
    text = format_textgrid(tg)
    back = parse_textgrid(text)
    assert back.tier("words").intervals == [Interval(0, 0.5, ""), Interval(0.5, 1.0, 'say "hi"'), Interval(1.0, 2.0, "")]


def test_missing_tier_names_the_tiers():
    tg = read_textgrid(DATA / "mfa1_short.TextGrid")
    with pytest.raises(KeyError, match="'words', 'phones'"):
        tg.tier("syllables")


@pytest.mark.parametrize(
    "content, msg",
    [
        ("", "empty TextGrid"),
        ("   \n", "empty TextGrid"),
        ('File type = "ooTextFile"\nObject class = "TextGrid"\nxmin = 0\nxmax = ', "truncated"),
        ('File type = "ooTextFile"\nObject class = "Sound"\n', "not TextGrid"),
        ('File type = "ooTextFile"\nObject class = "TextGrid"\n0\n1\n<exists>\n1\n"IntervalTier"\n"w"\n0\n1\n1\n0.5\n0.2\n"x"\n', "ending before"),
    ],
)  # fmt: skip
def test_bad_files_name_the_file(tmp_path, content, msg):
    p = tmp_path / "bad.TextGrid"
    p.write_text(content)
    with pytest.raises(TextGridError, match=msg) as e:
        read_textgrid(p)
    assert str(p) in str(e.value)


def test_unreadable_path(tmp_path):
    with pytest.raises(TextGridError, match="cannot read"):
        read_textgrid(tmp_path / "nope.TextGrid")


def test_fill_gaps_rejects_overlap():
    with pytest.raises(ValueError, match="overlapping"):
        fill_gaps([Interval(0, 1, "a"), Interval(0.5, 2, "b")], 0, 2)


def test_touching_intervals_get_no_empty_gap():
    ivs = [Interval(0.2, 0.5, "a"), Interval(0.5, 0.9, "b")]
    assert fill_gaps(ivs, 0.0, 1.0) == [Interval(0.0, 0.2, ""), *ivs, Interval(0.9, 1.0, "")]
    assert fill_gaps(ivs, 0.2, 0.9) == ivs


def test_point_tier_and_unknown_tier_class(tmp_path):
    """A TextTier (points, e.g. added by hand beside MFA's tiers) is read as zero-length
    intervals; an unknown tier class is an error naming the file and the class."""
    head = 'File type = "ooTextFile"\nObject class = "TextGrid"\n0\n1\n<exists>\n1\n'
    tg = parse_textgrid(head + '"TextTier"\n"events"\n0\n1\n2\n0.25\n"click"\n0.75\n"pop"\n')
    assert tg.tier("events").intervals == [Interval(0.25, 0.25, "click"), Interval(0.75, 0.75, "pop")]
    # written back as a TextTier in Praat's long layout (it was written as an interval tier, losing `point`)
    text = format_textgrid(tg)
    assert '        class = "TextTier"\n        name = "events"\n        xmin = 0.0\n        xmax = 1.0\n' in text
    assert '        points: size = 2\n        points [1]:\n            number = 0.25\n            mark = "click"\n' in text
    back = parse_textgrid(text)
    assert back.tier("events").point and back.tier("events").intervals == tg.tier("events").intervals
    p = tmp_path / "odd.TextGrid"
    for items in ('1\n0.5\n"y"\n', "0\n"):  # with or without items
        p.write_text(head + '"SplineTier"\n"x"\n0\n1\n' + items)
        with pytest.raises(TextGridError, match="unknown tier class 'SplineTier'") as e:
            read_textgrid(p)
        assert str(p) in str(e.value)


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_utf16_without_byte_order_mark(tmp_path, enc):
    """Both byte orders (big-endian without a BOM was read as Latin-1: 'expected ooTextFile')."""
    text = format_textgrid(TextGrid(0, 1.0, [Tier("words", 0, 1.0, [Interval(0, 1.0, "caf\u00e9")])]))
    p = tmp_path / "nobom.TextGrid"
    p.write_bytes(text.encode(enc))
    assert read_textgrid(p).tier("words").intervals == [Interval(0, 1.0, "caf\u00e9")]


def test_written_layout_is_praats_long_text_format():
    """The exact long layout Praat writes: items and intervals numbered from 1, quotes doubled."""
    tg = TextGrid(0, 2.0, [
        Tier("words", 0, 2.0, [Interval(0, 0.5, ""), Interval(0.5, 2.0, 'say "hi"')]),
        Tier("phones", 0, 2.0, [Interval(0, 2.0, "AH0")]),
    ])  # fmt: skip
    want = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2.0
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 2.0
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 0.5
            text = ""
        intervals [2]:
            xmin = 0.5
            xmax = 2.0
            text = "say ""hi\"""
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 2.0
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 2.0
            text = "AH0"
"""
    assert format_textgrid(tg) == want


def _grid(ivs, tier=(0.0, 3.0), file=(0.0, 3.0)) -> str:
    """Long-layout text of a one-tier ("words") TextGrid; the times are not checked."""
    return format_textgrid(TextGrid(*file, [Tier("words", *tier, [Interval(a, b, t) for a, b, t in ivs])]))


FIFTY = [(0.0, 0.4, ""), (0.4, 50.0, "a"), (0.8, 3.0, "")]  # one word's xmax 50.0 in a 3 s file


@pytest.mark.parametrize(
    "ivs, tier, file, want",
    [
        (FIFTY, (0.0, 3.0), (0.0, 3.0), "tier 'words', interval 2 [0.4, 50.0] s, line 20: outside the tier's range [0.0, 3.0] s"),
        (FIFTY, (0.0, 50.0), (0.0, 50.0), "tier 'words', interval 3 [0.8, 3.0] s, line 24: starts before the previous interval [0.4, 50.0] s ends (overlapping or out of order)"),
        ([(0.4, 0.8, "a"), (0.0, 0.4, "")], (0.0, 3.0), (0.0, 3.0), "tier 'words', interval 2 [0.0, 0.4] s, line 20: starts before the previous interval [0.4, 0.8] s ends (overlapping or out of order)"),
        ([(-0.5, 0.4, ""), (0.4, 3.0, "a")], (0.0, 3.0), (0.0, 3.0), "tier 'words', interval 1 [-0.5, 0.4] s, line 16: outside the tier's range [0.0, 3.0] s"),
        ([(0.0, 0.4, ""), (0.9, 0.8, "a")], (0.0, 3.0), (0.0, 3.0), "tier 'words', interval 2 [0.9, 0.8] s, line 20: xmax < xmin (ending before it starts)"),
        ([(0.0, 3.5, "a")], (0.0, 3.5), (0.0, 3.0), "tier 'words' [0.0, 3.5] s, line 13: outside the file's range [0.0, 3.0] s"),
        ([(0.0, 3.0, "a")], (0.0, 3.0), (3.0, 0.0), "file range [3.0, 0.0] s, line 5: xmax < xmin (ending before it starts)"),
    ],
)  # fmt: skip
def test_bad_times_are_malformed_naming_file_tier_interval_and_problem(tmp_path, ivs, tier, file, want):
    p = tmp_path / "times.TextGrid"
    p.write_text(_grid(ivs, tier, file))
    with pytest.raises(TextGridError) as e:
        read_textgrid(p)
    assert str(e.value) == f"{p}: malformed TextGrid ({want})"


def test_times_within_the_tolerance_are_read_unchanged():
    """Times printed as decimals may miss by far less than a microsecond: accepted as written."""
    ivs = [(0.0, 0.4000001, ""), (0.4, 3.0000005, "a")]
    assert parse_textgrid(_grid(ivs)).tier("words").intervals == [Interval(*iv) for iv in ivs]
    with pytest.raises(TextGridError, match="overlapping"):
        parse_textgrid(_grid([(0.0, 0.40001, ""), (0.4, 3.0, "a")]))
    with pytest.raises(TextGridError, match="outside the tier's range"):
        parse_textgrid(_grid([(0.0, 0.4, ""), (0.4, 3.00001, "a")]))


def test_points_out_of_order_or_outside_their_tier():
    head = 'File type = "ooTextFile"\nObject class = "TextGrid"\n0\n1\n<exists>\n1\n"TextTier"\n"events"\n0\n1\n2\n'
    with pytest.raises(TextGridError) as e:
        parse_textgrid(head + '0.75\n"click"\n0.25\n"pop"\n', "p.TextGrid")
    assert str(e.value) == (
        "p.TextGrid: malformed TextGrid (tier 'events', point 2 [0.25, 0.25] s, line 14: "
        "starts before the previous point [0.75, 0.75] s ends (overlapping or out of order))"
    )
    with pytest.raises(TextGridError, match=r"point 2 \[1.5, 1.5\] s, line 14: outside the tier's range \[0.0, 1.0\] s"):
        parse_textgrid(head + '0.25\n"click"\n1.5\n"pop"\n')


@pytest.mark.parametrize(
    "old, new, want",
    [
        ("xmin = 0.4\n", "xmin = abc\n", "line 20: xmin of interval 2 of tier 'words' is not a number: 'abc'"),
        ("xmax = 0.8\n", "xmax = 1,5\n", "line 21: xmax of interval 2 of tier 'words' is not a number: '1,5'"),
        ("xmax = 0.8\n", "xmax = 0.8.1\n", "line 21: xmax of interval 2 of tier 'words' is not a number: '0.8.1'"),
        ("xmax = 3.0\n", "xmax = never\n", "line 5: file xmax is not a number: 'never'"),
        ("size = 3\n", "size = 2.5\n", "line 14: interval count of tier 'words' is not a whole number >= 0: 2.5"),
        ("size = 3\n", "size = 1e400\n", "line 14: interval count of tier 'words' is not a whole number >= 0: inf"),
        ("size = 3\n", "size = nan\n", "line 14: interval count of tier 'words' is not a number: 'nan'"),
    ],
)  # fmt: skip
def test_malformed_number_names_the_field_and_the_line(old, new, want):
    text = _grid([(0.0, 0.4, ""), (0.4, 0.8, "a"), (0.8, 3.0, "")])
    assert old in text
    with pytest.raises(TextGridError) as e:
        parse_textgrid(text.replace(old, new, 1), "n.TextGrid")
    assert str(e.value) == f"n.TextGrid: malformed TextGrid ({want})"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_malformed_number_in_the_short_layout(newline):
    lines = (DATA / "mfa1_short.TextGrid").read_text().splitlines()
    assert parse_textgrid(newline.join(lines)).tier("words").intervals[1] == Interval(0.2, 0.55, "big")
    assert lines[16] == "0.55"  # line 17: xmax of interval 2 of the words tier
    lines[16] = "0.55s"
    with pytest.raises(TextGridError) as e:
        parse_textgrid(newline.join(lines), "s.TextGrid")
    assert str(e.value) == "s.TextGrid: malformed TextGrid (line 17: xmax of interval 2 of tier 'words' is not a number: '0.55s')"


def _small_grid() -> str:
    return format_textgrid(TextGrid(0, 1.0, [Tier("words", 0, 1.0, [Interval(0, 1.0, "caf\u00e9")])]))


@pytest.mark.parametrize(
    "data, want",
    [
        (_small_grid().encode("utf-16")[:-1], r"not valid UTF-16 text \(byte \d+ of \d+: truncated data"),
        (_small_grid().encode("utf-16-le")[:-1], r"not valid UTF-16-LE text \(byte \d+ of \d+: truncated data"),
        (_small_grid().encode("utf-16")[:10] + b"\x00\xd8" + _small_grid().encode("utf-16")[10:],
         r"not valid UTF-16 text \(byte 10 of \d+: illegal"),
        (b"\xef\xbb\xbf" + _small_grid().encode("utf-8") + b"\xff",
         r"not valid UTF-8 text \(byte \d+ of \d+: invalid start byte"),
    ],
    ids=["utf16-odd-byte-count", "utf16le-no-bom-odd-byte-count", "utf16-lone-surrogate", "utf8-bom-bad-byte"],
)  # fmt: skip
def test_undecodable_textgrid_is_a_textgrid_error_naming_the_file(tmp_path, data, want):
    """A UTF-16 file cut short (an odd byte count) or with a lone surrogate raised a bare
    UnicodeDecodeError without the file's name, which stopped the whole words stage."""
    p = tmp_path / "cut.TextGrid"
    p.write_bytes(data)
    with pytest.raises(TextGridError, match=want) as e:
        read_textgrid(p)
    assert str(e.value).startswith(f"{p}: ")


def test_numpy_times_are_written_as_plain_numbers(tmp_path):
    """``repr`` of a NumPy float is ``np.float64(1.0)``, which made the written file unreadable."""
    t = np.arange(4) * 0.01 + np.float64(0.27)  # NumPy float64s, 0.29000000000000004 among them
    ivs = [Interval(t[0], t[1], "a"), Interval(t[1], t[3], "b")]
    tg = TextGrid(np.int64(0), t[3], [Tier("words", np.float64(0.0), t[3], fill_gaps(ivs, 0.0, t[3]))])
    p = tmp_path / "np.TextGrid"
    write_textgrid(tg, p)
    assert "np." not in p.read_text() and "\nxmin = 0\n" in p.read_text()
    back = read_textgrid(p)
    assert (back.xmin, back.xmax) == (0.0, t[3])
    assert back.tier("words").intervals == [Interval(0.0, t[0], ""), *ivs]  # the same floats, bit for bit


def test_praats_older_short_header_is_read(tmp_path):
    """Praat's older short files open with File type = "ooTextFile short"."""
    text = (DATA / "mfa1_short.TextGrid").read_text().replace('"ooTextFile"', '"ooTextFile short"', 1)
    (tmp_path / "old.TextGrid").write_text(text)
    old, new = read_textgrid(tmp_path / "old.TextGrid"), read_textgrid(DATA / "mfa1_short.TextGrid")
    assert old == new and [w.text for w in old.tier("words").intervals] == ["", "big", "large", ""]


@pytest.mark.parametrize("layout", ["mfa1_short.TextGrid", "mfa3_long.TextGrid"])
def test_text_after_the_declared_counts_is_an_error(tmp_path, layout):
    """A last tier declaring fewer intervals than it holds lost the rest silently (the
    phones of its words cut short); text after the last tier is now an error naming the line."""
    import re

    src = DATA / layout
    if not src.exists():
        pytest.skip(f"{src} not present")
    text = src.read_text()
    tg = read_textgrid(src)
    last = tg.tiers[-1]
    n = len(last.intervals)
    if "intervals: size" in text:
        idx = [m.start() for m in re.finditer(r"intervals: size = \d+", text)][-1]
        cut = text[:idx] + re.sub(r"intervals: size = \d+", f"intervals: size = {n - 1}", text[idx:], count=1)
    else:  # the short layout: the last tier's count is the last line holding exactly n before its intervals
        lines = text.splitlines()
        k = max(i for i, line in enumerate(lines) if line.strip() == str(n))
        lines[k] = str(n - 1)
        cut = "\n".join(lines) + "\n"
    (tmp_path / "cut.TextGrid").write_text(cut)
    with pytest.raises(TextGridError, match=r"cut.TextGrid: malformed TextGrid \(line \d+: .* after the last of the 2"):
        read_textgrid(tmp_path / "cut.TextGrid")
    (tmp_path / "tail.TextGrid").write_text(text + '\n"junk"\n')
    with pytest.raises(TextGridError, match=r"'junk' after the last of the 2 declared tier"):
        read_textgrid(tmp_path / "tail.TextGrid")
    (tmp_path / "ok.TextGrid").write_text(text + "\n\n")  # trailing blank lines are fine
    assert read_textgrid(tmp_path / "ok.TextGrid") == tg


def test_utf16_big_endian_with_byte_order_mark(tmp_path):
    """A UTF-16 file with a big-endian BOM (FE FF) is read as UTF-16, the same tiers as the
    UTF-8 file (with only the little-endian BOM known it was read as Latin-1 and refused)."""
    text = _small_grid()
    utf8, be = tmp_path / "utf8.TextGrid", tmp_path / "be.TextGrid"
    utf8.write_bytes(text.encode("utf-8"))
    be.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    assert read_textgrid(be).tier("words").intervals == [Interval(0, 1.0, "caf\u00e9")]
    assert read_textgrid(be).tiers == read_textgrid(utf8).tiers


def test_latin1_textgrid_is_read(tmp_path):
    """A TextGrid saved in Latin-1 (not valid UTF-8: the lone byte E9) is read as Latin-1."""
    p = tmp_path / "latin1.TextGrid"
    p.write_bytes(_small_grid().encode("latin-1"))
    assert read_textgrid(p).tier("words").intervals == [Interval(0, 1.0, "caf\u00e9")]


def test_an_interval_reversed_within_the_tolerance_is_read():
    """An interval whose xmax is under a microsecond before its xmin (decimals printed by
    another tool) is accepted as written; one reversed by more is malformed."""
    ivs = [(0.0, 0.5, ""), (0.5, 0.4999995, "a"), (0.4999995, 3.0, "")]
    assert parse_textgrid(_grid(ivs)).tier("words").intervals == [Interval(*iv) for iv in ivs]
    with pytest.raises(TextGridError, match=r"interval 2 \[0.5, 0.49999\] s, line 20: xmax < xmin"):
        parse_textgrid(_grid([(0.0, 0.5, ""), (0.5, 0.49999, "a"), (0.49999, 3.0, "")]))
