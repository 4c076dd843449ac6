
import pytest

from codecprobe.textgrid import (
    Interval, TextGrid, TextGridError, Tier, fill_gaps, format_textgrid, parse_textgrid, read_textgrid,
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
    p = tmp_path / "odd.TextGrid"
    for items in ('1\n0.5\n"y"\n', "0\n"):  # with or without items
        p.write_text(head + '"SplineTier"\n"x"\n0\n1\n' + items)
        with pytest.raises(TextGridError, match="unknown tier class 'SplineTier'") as e:
            read_textgrid(p)
        assert str(p) in str(e.value)


def test_utf16_without_byte_order_mark(tmp_path):
    text = format_textgrid(TextGrid(0, 1.0, [Tier("words", 0, 1.0, [Interval(0, 1.0, "caf\u00e9")])]))
    p = tmp_path / "nobom.TextGrid"
    p.write_bytes(text.encode("utf-16-le"))
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
