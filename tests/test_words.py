import logging
import shutil

import numpy as np
import pytest
import soundfile as sf

from codecprobe.io import CodecprobeError
from codecprobe.manifest import build_manifest
from codecprobe.textgrid import Interval, TextGrid, Tier, fill_gaps, write_textgrid
from codecprobe.words import (
    WordFilter, apply_filters, build_word_table, index_textgrids, load_stopwords, matches_transcript,
)  # fmt: skip
from conftest import DATA, REPO, SR, write_utt_textgrid


def _table(corpus, filt=WordFilter(), strict=False):
    ls, al = corpus
    m, _ = build_manifest(ls, ["dev-clean"])
    return build_word_table(m, index_textgrids(al), filt, strict)


def test_word_table(corpus):
    words, skipped, counts = _table(corpus)
    assert skipped.empty
    assert list(words["word"]) == ["accept", "the", "big", "except", "large", "big", "accept", "large", "except"]
    assert list(words["token_id"]) == list(range(9))
    r = words.iloc[0]
    assert (r.utt_id, r.speaker, r.start, r.end) == ("11-100-0000", "11", 0.10, 0.50)
    assert r.duration == pytest.approx(0.4)
    assert r.phones == "AH0 K S EH1 P T" and r.n_phones == 6
    assert r.path.endswith("11-100-0000.flac")
    c = dict(zip(counts["what"], counts["n"]))
    assert c["kept"] == 9 and c["unknown word (<unk>/spn) excluded"] == 0


def test_unknown_tokens_excluded_and_counted(corpus):
    ls, al = corpus
    write_utt_textgrid(
        al / "dev-clean/11/100/11-100-0000.TextGrid",
        [("accept", 0.1, 0.5, "AH0 K S EH1 P T"), ("the", 0.5, 0.6, "DH AH0"), ("<unk>", 0.7, 1.0, "spn")],
    )
    words, skipped, counts = _table(corpus)
    assert skipped.empty  # <unk> matches the transcript word BIG
    assert "<unk>" not in set(words["word"]) and len(words) == 8
    assert dict(zip(counts["what"], counts["n"]))["unknown word (<unk>/spn) excluded"] == 1


def test_word_aligned_as_spoken_noise_is_excluded_and_counted(corpus):
    """MFA keeps an out-of-dictionary word's label in the words tier and aligns it to the
    phone ``spn``: it has no phones to compare, so it is excluded and counted like <unk>."""
    _, al = corpus
    write_utt_textgrid(
        al / "dev-clean/11/100/11-100-0000.TextGrid",
        [("accept", 0.1, 0.5, "AH0 K S EH1 P T"), ("the", 0.5, 0.6, "DH AH0"), ("big", 0.7, 1.0, "spn")],
    )
    words, skipped, counts = _table(corpus)
    assert skipped.empty and len(words) == 8
    assert not ((words["utt_id"] == "11-100-0000") & (words["word"] == "big")).any()
    assert dict(zip(counts["what"], counts["n"]))["unknown word (<unk>/spn) excluded"] == 1


def test_missing_empty_and_mismatched_textgrids_are_skipped_with_reasons(corpus):
    ls, al = corpus
    (al / "dev-clean/11/100/11-100-0001.TextGrid").unlink()
    (al / "dev-clean/22/200/22-200-0000.TextGrid").write_text("")
    write_utt_textgrid(al / "dev-clean/22/200/22-200-0001.TextGrid", [("large", 0.1, 0.6, "L AA1 R JH"), ("accept", 0.7, 1.2, "AH0 K S EH1 P T")])
    words, skipped, counts = _table(corpus)
    reasons = dict(zip(skipped["utt_id"], skipped["reason"]))
    assert reasons["11-100-0001"] == "no TextGrid: no file 11-100-0001.TextGrid in the alignment folder"
    assert "22-200-0000.TextGrid: empty TextGrid file" in reasons["22-200-0000"]
    assert "do not match the transcript" in reasons["22-200-0001"] and "'accept' vs 'except'" in reasons["22-200-0001"]
    assert set(words["utt_id"]) == {"11-100-0000"}
    c = dict(zip(counts["what"], counts["n"]))
    assert c["skipped"] == 3 and c["unknown word (<unk>/spn) excluded"] == 0  # skipped: nothing counted as unknown
    kinds = {"no TextGrid": 1, "broken TextGrid": 1, "words do not match the transcript": 1}
    assert dict(zip(skipped["utt_id"], skipped["kind"])) == {
        "11-100-0001": "no TextGrid", "22-200-0000": "broken TextGrid", "22-200-0001": "words do not match the transcript",
    }  # fmt: skip
    assert {k[len("skipped: "):]: n for k, n in c.items() if k.startswith("skipped: ")} == kinds
    with pytest.raises(CodecprobeError, match="utterance 11-100-0001: no TextGrid: no file 11-100-0001.TextGrid"):
        _table(corpus, strict=True)


def test_textgrids_with_another_extension_case_are_named_in_the_log(corpus, caplog):
    _, al = corpus
    p = al / "dev-clean/11/100/11-100-0001.TextGrid"
    p.rename(p.with_suffix(".textgrid"))
    caplog.set_level(logging.INFO, logger="codecprobe")
    found = index_textgrids(al)
    assert "11-100-0001" not in found and len(found) == 3
    assert f"{al}: 3 TextGrids (*.TextGrid)" in caplog.text
    assert "1 file(s) such as 11-100-0001.textgrid end in .textgrid, not .TextGrid: not read" in caplog.text


def test_real_format_textgrid_in_word_table(corpus):
    """The MFA-format fixture (with <unk>/spn) read through the word table; the audio is
    made as long as the fixture (1.86 s), which the words stage checks."""
    ls, al = corpus
    shutil.copy(DATA / "mfa3_long.TextGrid", al / "dev-clean/11/100/11-100-0000.TextGrid")
    sf.write(ls / "dev-clean/11/100/11-100-0000.flac", np.zeros(int(1.86 * SR), np.float32), SR)
    words, skipped, _ = _table(corpus)
    w = words[words["utt_id"] == "11-100-0000"]
    assert list(w["word"]) == ["accept", "the"]
    assert w.iloc[0].phones == "AH0 K S EH1 P T" and (w.iloc[0].start, w.iloc[0].end) == (0.31, 0.72)


def test_the_word_silence_is_a_word():
    """'SILENCE' in a transcript is aligned as the word 'silence' (in CMUdict, with WordNet
    synonyms): it stays a token, and the utterance is not skipped as a mismatch. Before,
    the word tier's silence labels included 'silence', so such utterances were dropped."""
    from codecprobe.textgrid import Interval, TextGrid, Tier
    from codecprobe.words import aligned_tokens, transcript_words

    spans = [("", 0.0, 0.1), ("there", 0.1, 0.4), ("was", 0.4, 0.6), ("silence", 0.6, 1.2), ("sil", 1.2, 1.3)]
    pron = {"there": "DH EH1 R", "was": "W AH0 Z", "silence": "S AY1 L AH0 N S"}
    phones = []
    for w, a, b in spans:
        ph = pron.get(w, "sil").split()
        step = (b - a) / len(ph)
        phones += [Interval(round(a + i * step, 6), round(a + (i + 1) * step, 6), p) for i, p in enumerate(ph)]
    phones.append(Interval(1.3, 1.4, "silence"))  # as a phone label, silence is silence
    words = Tier("words", 0.0, 1.4, [Interval(a, b, w) for w, a, b in spans] + [Interval(1.3, 1.4, "")])
    toks = aligned_tokens(TextGrid(0.0, 1.4, [words, Tier("phones", 0.0, 1.4, phones)]))
    assert [t[0] for t in toks] == ["there", "was", "silence"]
    assert toks[2][1:] == (0.6, 1.2, "S AY1 L AH0 N S")
    assert matches_transcript([t[0] for t in toks], transcript_words("THERE WAS SILENCE"))


def test_filters():
    import pandas as pd

    df = pd.DataFrame(
        {"word": ["big", "the", "don't", "big", "large", "a"], "duration": [0.3, 0.05, 0.3, 0.25, 0.4, 0.2]}
    )
    stop = load_stopwords(REPO / "resources/stopwords_en.txt")
    assert {"the", "a"} <= stop and "big" not in stop
    kept, counts = apply_filters(df, WordFilter(min_duration=0.1, alphabetic_only=True, drop_stopwords=True, min_count=2, stopwords=stop))
    assert list(kept["word"]) == ["big", "big"]
    assert counts == {
        "shorter than 0.1 s": 1, "not alphabetic": 1, "stop-word": 1, "word seen fewer than 2 times": 1,
    }  # fmt: skip
    # "shorter than": a word of exactly the minimum duration stays
    kept, counts = apply_filters(df, WordFilter(min_duration=0.25))
    assert list(kept["duration"]) == [0.3, 0.3, 0.25, 0.4] and counts == {"shorter than 0.25 s": 2}


def test_matches_transcript():
    assert matches_transcript(["a", "<unk>", "c"], ["a", "b", "c"])
    assert not matches_transcript(["a", "c"], ["a", "b", "c"])
    assert not matches_transcript(["a", "x", "c"], ["a", "b", "c"])
    # apostrophes at the ends, as an aligner may strip them from LibriSpeech's boys' and 'em
    assert matches_transcript(["the", "boys", "em"], ["the", "boys'", "'em"])
    assert matches_transcript(["boys'"], ["boys"])
    assert not matches_transcript(["boy"], ["boys'"]) and not matches_transcript(["dont"], ["don't"])  # inside: a different word


def test_index_textgrids_duplicate_and_missing(tmp_path):
    with pytest.raises(CodecprobeError, match="alignment folder .* does not exist"):
        index_textgrids(tmp_path / "none")
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(DATA / "mfa1_short.TextGrid", tmp_path / d / "1-2-0003.TextGrid")
    with pytest.raises(CodecprobeError, match="two TextGrids for utterance 1-2-0003"):
        index_textgrids(tmp_path)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(CodecprobeError, match=r"no \*\.TextGrid file under .*empty \(.*alignment\.textgrids"):
        index_textgrids(tmp_path / "empty")


def test_alignment_folder_of_other_utterances_is_a_clear_error(corpus, tmp_path):
    """TextGrids that are all of other utterances (another subset's, or named otherwise) stop
    the stage with an error naming what was found and what is needed, not a log of one
    'no TextGrid' line per utterance."""
    ls, _ = corpus
    m, _ = build_manifest(ls, ["dev-clean"])
    other = tmp_path / "alignments" / "train-clean-100"
    other.mkdir(parents=True)
    shutil.copy(DATA / "mfa1_short.TextGrid", other / "1-2-0003.TextGrid")
    with pytest.raises(CodecprobeError, match=r"none of the manifest's 4 utterances has a TextGrid among the 1 found"
                       r" \(e\.g\. .*1-2-0003\.TextGrid\).*e\.g\. 11-100-0000\.TextGrid"):  # fmt: skip
        build_word_table(m, index_textgrids(tmp_path / "alignments"), WordFilter())


# 11-100-0000 is "ACCEPT THE BIG" in 1.4 s of audio (conftest.UTTS, DUR)
ACCEPT_THE_BIG = [("accept", 0.10, 0.50, "AH0 K S EH1 P T"), ("the", 0.50, 0.60, "DH AH0")]


def _skip_reason(corpus, utt="11-100-0000", kind=None):
    """The one skipped utterance's reason; checks it is counted (under ``kind`` too, when
    given) and has no word rows."""
    words, skipped, counts = _table(corpus)
    assert list(skipped["utt_id"]) == [utt]
    c = dict(zip(counts["what"], counts["n"]))
    assert c["skipped"] == 1
    if kind:
        assert list(skipped["kind"]) == [kind] and c[f"skipped: {kind}"] == 1
    assert utt not in set(words["utt_id"]) and len(words) == 6
    with pytest.raises(CodecprobeError, match=f"utterance {utt}: "):
        _table(corpus, strict=True)
    return skipped["reason"].iloc[0]


def test_word_past_the_tiers_end_skips_the_utterance(corpus):
    """The review's case: one word's xmax 50.0 (overlapping the next words) was read as a
    49.6 s token; the reader now rejects the file as malformed."""
    _, al = corpus
    tg = al / "dev-clean/11/100/11-100-0000.TextGrid"
    write_utt_textgrid(tg, [*ACCEPT_THE_BIG, ("big", 0.70, 1.00, "B IH1 G")])
    text = tg.read_text()
    tg.write_text(text.replace("xmax = 0.5\n", "xmax = 50.0\n", 1))  # the words tier comes first
    assert _skip_reason(corpus, kind="broken TextGrid") == (
        f"{tg}: malformed TextGrid (tier 'words', interval 2 [0.1, 50.0] s, line 20: "
        "outside the tier's range [0.0, 1.4] s)"
    )


@pytest.mark.parametrize(
    "big, tg_end, want",
    [
        ((10.0, 10.5), 11.0, "word 'big' [10.0, 10.5] s lies entirely after the audio's end (1.4 s in the manifest) by more than 0.05 s"),
        ((0.7, 1.5), 1.5, "word 'big' [0.7, 1.5] s ends after the audio's end (1.4 s in the manifest) by more than 0.05 s"),
        ((0.7, 1.0), 2.0, "TextGrid ends at 2.0 s, after the audio's end (1.4 s in the manifest) by more than 0.05 s"),
    ],
)  # fmt: skip
def test_alignment_ending_after_the_audio_skips_the_utterance(corpus, big, tg_end, want):
    _, al = corpus
    tg = al / "dev-clean/11/100/11-100-0000.TextGrid"
    write_utt_textgrid(tg, [*ACCEPT_THE_BIG, ("big", *big, "B IH1 G")], dur=tg_end)
    assert _skip_reason(corpus, kind="alignment after the audio's end") == f"{tg}: {want}"


def test_alignment_ending_within_the_tolerance_is_kept(corpus):
    """A word and TextGrid ending 0.05 s after the 1.4 s audio: kept, times as written."""
    _, al = corpus
    write_utt_textgrid(al / "dev-clean/11/100/11-100-0000.TextGrid", [*ACCEPT_THE_BIG, ("big", 0.7, 1.45, "B IH1 G")], dur=1.45)
    words, skipped, _ = _table(corpus)
    assert skipped.empty and len(words) == 9
    assert words.iloc[2][["word", "start", "end"]].tolist() == ["big", 0.7, 1.45]


def test_manifest_without_durations_is_an_error(corpus):
    ls, al = corpus
    m, _ = build_manifest(ls, ["dev-clean"])
    with pytest.raises(CodecprobeError, match="manifest has no column duration"):
        build_word_table(m.drop(columns="duration"), index_textgrids(al), WordFilter())


def test_stopword_list_encoding(tmp_path):
    p = tmp_path / "stop.txt"
    p.write_bytes(b"\xef\xbb\xbfthe\r\na # article\r\n")
    assert load_stopwords(p) == {"the", "a"}
    p.write_bytes("the\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(CodecprobeError, match=r"words.stopwords: \S+stop.txt is not UTF-8 text \(byte 0xe9 at offset 7\)"):
        load_stopwords(p)


def test_words_with_an_apostrophe(tmp_path):
    """LibriSpeech writes clitics into the word ("JOHN'S", "DON'T"). An aligner that keeps
    the word whole (one interval, as MFA's words tier does for a word in its dictionary)
    gives one token with all its phones; one that splits the clitic off ("john", "'s")
    does not match the transcript, and the utterance is skipped with the first difference
    named (never cut into a wrong word)."""
    import pandas as pd
    from codecprobe.words import utterance_words

    utt = pd.Series({
        "utt_id": "11-100-0000", "subset": "dev-clean", "speaker": "11", "chapter": "100",
        "transcript": "JOHN'S DOG DON'T BARK", "duration": 2.0, "path": "x.flac",
    })  # fmt: skip
    whole = [("john's", 0.1, 0.5, "JH AA1 N Z"), ("dog", 0.5, 0.8, "D AO1 G"), ("don't", 0.8, 1.1, "D OW1 N T"),
             ("bark", 1.1, 1.5, "B AA1 R K")]  # fmt: skip
    write_utt_textgrid(tmp_path / "whole.TextGrid", whole, dur=2.0)
    rows, skip, excluded = utterance_words(utt, tmp_path / "whole.TextGrid")
    assert skip is None and excluded == {}
    assert [(r["word"], r["phones"]) for r in rows][:3:2] == [("john's", "JH AA1 N Z"), ("don't", "D OW1 N T")]
    split = [("john", 0.1, 0.4, "JH AA1 N"), ("'s", 0.4, 0.5, "Z")] + whole[1:]
    write_utt_textgrid(tmp_path / "split.TextGrid", split, dur=2.0)
    rows, skip, _ = utterance_words(utt, tmp_path / "split.TextGrid")
    assert rows == [] and skip[0] == "words do not match the transcript"
    assert "5 aligned vs 4 in the transcript" in skip[1] and "word 1: 'john' vs \"john's\"" in skip[1]


def test_words_exactly_min_duration_long_on_a_10_ms_grid_are_kept():
    """Times on MFA's 10 ms grid: 0.30 - 0.27 s is 0.02999999999999997 s, and such words
    were dropped as shorter than min_duration 0.03 s, against the README."""
    import pandas as pd

    starts = [round(0.01 * i, 2) for i in range(100)]
    rows = [(s, round(s + 0.03, 2)) for s in starts] + [(0.50, 0.52)]  # + one 20 ms word
    df = pd.DataFrame([{"word": "w", "start": a, "end": b, "duration": b - a} for a, b in rows])
    assert (df["duration"] < 0.03).sum() > 10  # the rounding the test is about
    kept, counts = apply_filters(df, WordFilter(min_duration=0.03))
    assert len(kept) == 100 and counts == {"shorter than 0.03 s": 1}
    assert (kept["end"] - kept["start"]).round(9).eq(0.03).all()


def test_truncated_utf16_textgrid_is_counted_as_broken_and_the_table_goes_on(corpus):
    """A UTF-16 TextGrid cut short (odd byte count) raised a bare UnicodeDecodeError that
    stopped the whole words stage; it is now one skipped utterance, named and counted."""
    from codecprobe.textgrid import TextGridError, read_textgrid

    _, al = corpus
    tg = al / "dev-clean/11/100/11-100-0000.TextGrid"
    tg.write_bytes(tg.read_text().encode("utf-16")[:-1])
    with pytest.raises(TextGridError, match="not valid UTF-16 text") as e:
        read_textgrid(tg)
    assert str(e.value).startswith(f"{tg}: ")
    reason = _skip_reason(corpus, kind="broken TextGrid")  # the other 3 utterances' 6 words are kept
    assert reason.startswith(f"{tg}: not valid UTF-16 text (byte ") and "truncated data" in reason


def test_zero_length_words_and_words_starting_outside_the_audio_are_excluded_and_counted(corpus):
    """A word interval [0.6, 0.6] (another tool's TextGrid; MFA never writes one) and one
    starting at the audio's end but ending within the 0.05 s slack were kept: zero samples
    to encode, each taking a token slot of the sample."""
    _, al = corpus
    write_utt_textgrid(
        al / "dev-clean/11/100/11-100-0000.TextGrid",
        [("accept", 0.1, 0.5, "AH0 K S EH1 P T"), ("the", 0.6, 0.6, "DH"), ("big", 1.40, 1.43, "B")], dur=1.43,
    )
    words, skipped, counts = _table(corpus)
    assert skipped.empty
    assert words.loc[words["utt_id"] == "11-100-0000", "word"].tolist() == ["accept"]
    c = dict(zip(counts["what"], counts["n"]))
    assert c["zero-length word excluded"] == 1 and c["word starting outside the audio excluded"] == 1
    assert c["aligned (known words)"] == 7 and c["kept"] == 7


def test_a_textgrid_without_a_phones_tier_is_counted_and_warned(corpus, caplog):
    """Without a phones tier a word aligned to spn cannot be told from a known one."""
    _, al = corpus
    wiv = [Interval(0.1, 0.5, "accept"), Interval(0.5, 0.6, "the"), Interval(0.7, 1.0, "big")]
    write_textgrid(TextGrid(0.0, 1.4, [Tier("words", 0.0, 1.4, fill_gaps(wiv, 0.0, 1.4))]),
                   al / "dev-clean/11/100/11-100-0000.TextGrid")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="codecprobe.words"):
        words, skipped, counts = _table(corpus)
    assert skipped.empty and len(words) == 9
    c = dict(zip(counts["what"], counts["n"]))
    assert c["without a phones tier (unknown words found by their label only)"] == 1
    assert any("1 utterance(s) have no phones tier" in r.getMessage() for r in caplog.records)


def test_textgrids_under_a_linked_folder_are_found(corpus, tmp_path):
    """The manifest follows links to folders (a subset on another disk); the TextGrid index
    did not, and stopped with 'no *.TextGrid file' or skipped the utterances as without one."""
    _, al = corpus
    real = tmp_path / "elsewhere"
    shutil.move(al / "dev-clean", real)
    (al / "dev-clean").symlink_to(real, target_is_directory=True)
    (real / "loop").symlink_to(al, target_is_directory=True)  # a link back up: pruned, not walked forever
    assert sorted(index_textgrids(al)) == ["11-100-0000", "11-100-0001", "22-200-0000", "22-200-0001"]
    words, skipped, _ = _table(corpus)
    assert skipped.empty and len(words) == 9


def test_a_configured_subset_without_alignments_is_a_clear_error(tmp_path):
    """Alignments unpacked for dev-clean only, with dev-clean and test-clean configured: the
    job passed, test-clean's utterances each logged and counted as 'no TextGrid' (on the
    real corpus, 2,620 utterances silently lost)."""
    from conftest import make_corpus

    ls, al = make_corpus(tmp_path)
    make_corpus(tmp_path, {"33-300-0000": [("big", 0.2, 0.5, "B IH1 G")], "33-300-0001": [("large", 0.1, 0.6, "L AA1 R JH")]},
                subset="test-clean")  # fmt: skip
    shutil.rmtree(al / "test-clean")
    m, _ = build_manifest(ls, ["dev-clean", "test-clean"])
    with pytest.raises(CodecprobeError, match=r"librispeech subset test-clean: none of its 2 utterances has a TextGrid among "
                       r"the 4 found \(e\.g\. 33-300-0000\.TextGrid\).*drop test-clean from librispeech\.subsets"):  # fmt: skip
        build_word_table(m, index_textgrids(al), WordFilter())
    # one utterance of the subset aligned: counted as before, not an error
    write_utt_textgrid(al / "test-clean" / "33" / "300" / "33-300-0000.TextGrid", [("big", 0.2, 0.5, "B IH1 G")])
    words, skipped, _ = build_word_table(m, index_textgrids(al), WordFilter())
    assert list(skipped["utt_id"]) == ["33-300-0001"] and "big" in set(words[words.utt_id == "33-300-0000"].word)


def test_every_utterance_skipped_says_why_in_the_error(corpus):
    """When no token is left, neither counts.csv nor the skip table is written: the error
    said only 'see the log'; it now carries the counts (here: every TextGrid names its
    tier 'Word', so no words tier is found)."""
    _, al = corpus
    for tg in al.rglob("*.TextGrid"):
        tg.write_text(tg.read_text().replace('name = "words"', 'name = "Word"'))
    with pytest.raises(CodecprobeError) as err:
        _table(corpus)
    assert str(err.value) == (  # zero counts left out
        "no word token left after alignment and filters (utterances in manifest: 4; utterances skipped: 4; "
        "utterances skipped: no words tier: 4; the log names each skip)"
    )


def test_ambiguous_or_point_words_tiers_are_skipped_and_named(corpus):
    """Two tiers named words (or two speakers' 'A - words', 'B - words'): the first was used
    without a word; a point tier (TextTier) named words was read as zero-length words and
    skipped as 'aligned words do not match the transcript'."""
    from codecprobe.textgrid import read_textgrid

    _, al = corpus
    a = al / "dev-clean/11/100/11-100-0000.TextGrid"
    b = al / "dev-clean/11/100/11-100-0001.TextGrid"
    c = al / "dev-clean/22/200/22-200-0000.TextGrid"
    tg = read_textgrid(a)
    words = tg.tier("words")
    tg.tiers.append(Tier("words", words.xmin, words.xmax, list(words.intervals)))
    write_textgrid(tg, a)
    tg = read_textgrid(b)
    for t in tg.tiers:
        t.name = f"A - {t.name}"
    tg.tiers += [Tier(t.name.replace("A - ", "B - "), t.xmin, t.xmax, list(t.intervals)) for t in tg.tiers]
    write_textgrid(tg, b)
    text = c.read_text()
    head, _, rest = text.partition('class = "IntervalTier"')  # the first tier, words, made a TextTier of 2 points
    body = rest[rest.index("item [2]"):]
    c.write_text(head + 'class = "TextTier"\n        name = "words"\n        xmin = 0\n        xmax = 1.4\n'
                 '        points: size = 2\n        points [1]:\n            number = 0.2\n            mark = "big"\n'
                 '        points [2]:\n            number = 0.6\n            mark = "large"\n    ' + body)  # fmt: skip
    assert read_textgrid(c).tiers[0].point and not read_textgrid(a).tiers[0].point
    words, skipped, _ = _table(corpus)
    reasons = dict(zip(skipped["utt_id"], skipped["reason"]))
    kinds = dict(zip(skipped["utt_id"], skipped["kind"]))
    assert set(words["utt_id"]) == {"22-200-0001"}
    assert reasons["11-100-0000"] == f"{a}: 2 tiers match 'words' ('words', 'words'): which one is the utterance's is unclear"
    assert reasons["11-100-0001"] == (
        f"{b}: 2 tiers match 'words' ('A - words', 'B - words'): which one is the utterance's is unclear"
    )
    assert reasons["22-200-0000"] == f"{c}: tier 'words' is a point tier (TextTier), not an interval tier"
    assert set(kinds.values()) == {"broken TextGrid"}


def test_cli_names_a_manifest_it_cannot_use(corpus, tmp_path):
    """A hand-edited manifest: an empty duration switched the check for words after the
    audio's end off (a word at 93 s in a 3.3 s utterance was kept); a text duration gave a
    traceback."""
    from codecprobe.io import write_table
    from codecprobe.words import main

    m, _ = build_manifest(corpus[0], ["dev-clean"])
    argv = ["--manifest", str(tmp_path / "m.csv"), "--textgrids", str(corpus[1]), "--out", str(tmp_path / "w.csv"),
            "--skipped", str(tmp_path / "s.csv"), "--counts", str(tmp_path / "c.csv")]  # fmt: skip
    write_table(m.assign(duration=[None] + list(m["duration"][1:])), tmp_path / "m.csv")
    with pytest.raises(CodecprobeError, match=r"m.csv: column duration has an empty or non-finite value \(row 1\)"):
        main(argv)
    write_table(m.drop(columns="transcript"), tmp_path / "m.csv")
    with pytest.raises(CodecprobeError, match=r"m.csv: no column\(s\) transcript"):
        main(argv)
    assert not (tmp_path / "w.csv").exists()
