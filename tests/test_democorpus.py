"""The synthetic demo corpus: the bundled files (layout, audio, alignments, word pairs) and its generator."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from codecprobe import democorpus as dc
from codecprobe.io import CodecprobeError
from codecprobe.pairs import eligible_tokens, word_relations
from codecprobe.textgrid import format_textgrid, read_textgrid

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
LS = DEMO / "LibriSpeech"
SUBSET_DIR = LS / "dev-clean"
ALIGN = DEMO / "alignments" / "dev-clean"
SENTENCES = REPO / "resources" / "demo_sentences.txt"
TOL = 1e-3  # s

ARPABET_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
ARPABET_CONSONANTS = {
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH",
    "V", "W", "Y", "Z", "ZH",
}  # fmt: skip
UTT_RE = re.compile(r"^(\d+)-(\d+)-(\d{4})$")


def valid_phone(p: str) -> bool:
    m = re.fullmatch(r"([A-Z]+)([012]?)", p)
    if not m:
        return False
    base, stress = m.groups()
    return (base in ARPABET_VOWELS and stress != "") or (base in ARPABET_CONSONANTS and stress == "")


# --------------------------------------------------------------------------- bundled corpus
def flacs() -> list[Path]:
    return sorted(SUBSET_DIR.glob("*/*/*.flac"))


def transcripts() -> dict[str, list[str]]:
    out = {}
    for t in sorted(SUBSET_DIR.glob("*/*/*.trans.txt")):
        for line in t.read_text(encoding="utf-8").splitlines():
            uid, text = line.split(" ", 1)
            assert uid not in out
            out[uid] = text.split()
    return out


@pytest.fixture(scope="module")
def utterances() -> dict[str, tuple[Path, list[str]]]:
    """``utt_id -> (flac path, transcript words)`` of the bundled corpus."""
    trans = transcripts()
    return {p.stem: (p, trans.get(p.stem)) for p in flacs()}


def test_layout_and_names():
    assert DEMO.is_dir() and (DEMO / "README.md").is_file() and (LS / "SPEAKERS.TXT").is_file()
    speakers = sorted(p.name for p in SUBSET_DIR.iterdir())
    assert len(speakers) >= 4
    assert {int(s) for s in speakers} >= {9001, 9002, 9003, 9004}
    for spk in SUBSET_DIR.iterdir():
        chapters = list(spk.iterdir())
        assert len(chapters) == 1 and chapters[0].name.isdigit()
        chap = chapters[0]
        files = sorted(p.name for p in chap.iterdir())
        trans = f"{spk.name}-{chap.name}.trans.txt"
        assert trans in files
        utts = sorted(f for f in files if f != trans)
        assert utts == [f"{spk.name}-{chap.name}-{i:04d}.flac" for i in range(len(utts))]
        tgs = sorted(p.name for p in (ALIGN / spk.name / chap.name).iterdir())
        assert tgs == [u.replace(".flac", ".TextGrid") for u in utts]
    # nothing else anywhere: no stray files, no leftover temporary folders
    assert sorted(p.name for p in DEMO.iterdir()) == ["LibriSpeech", "README.md", "alignments"]
    assert sorted(p.name for p in LS.iterdir()) == ["SPEAKERS.TXT", "dev-clean"]
    assert sorted(p.name for p in (DEMO / "alignments").iterdir()) == ["dev-clean"]


def test_corpus_is_small():
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024


def test_flacs_are_librispeech_format():
    assert flacs()
    for p in flacs():
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "FLAC", "PCM_16"), p
        x, sr = sf.read(p, dtype="int16")
        assert sr == 16000 and x.ndim == 1 and len(x) > sr
        assert np.abs(x.astype(int)).max() < 32767, f"{p} clips"


def test_transcripts_match_flacs():
    trans = transcripts()
    assert set(trans) == {p.stem for p in flacs()}
    for t in SUBSET_DIR.glob("*/*/*.trans.txt"):
        for line in t.read_text(encoding="utf-8").splitlines():
            uid, text = line.split(" ", 1)
            assert UTT_RE.match(uid) and uid.startswith(t.name.replace(".trans.txt", "-"))
            assert text == text.upper() and re.fullmatch(r"[A-Z' ]+", text)


def test_transcripts_are_the_sentence_list():
    sentences = [" ".join(s).upper() for s in dc.read_sentences(SENTENCES)]
    by_speaker = _by_speaker(transcripts())
    assert len(by_speaker) >= 4
    for spk, utts in by_speaker.items():
        assert [" ".join(w) for w in utts] == sentences, spk


def _by_speaker(trans: dict[str, list[str]]) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for uid in sorted(trans):
        out.setdefault(uid.split("-")[0], []).append(trans[uid])
    return out


def test_speakers_txt():
    lines = (LS / "SPEAKERS.TXT").read_text(encoding="utf-8").splitlines()
    header = [ln for ln in lines if ln.startswith(";")]
    assert ";ID  |SEX| SUBSET           |MINUTES| NAME" in header
    rows = [ln for ln in lines if ln and not ln.startswith(";")]
    ids = set()
    for ln in rows:
        assert re.fullmatch(r"\d+ +\| [MF] \| dev-clean +\| +\d+\.\d\d \| espeak-ng \S+.*", ln), ln
        spk, sex, subset, minutes, name = (f.strip() for f in ln.split("|"))
        ids.add(spk)
        assert (SUBSET_DIR / spk).is_dir()
        dur = sum(sf.info(p).duration for p in (SUBSET_DIR / spk).glob("*/*.flac")) / 60
        assert abs(float(minutes) - dur) < 0.01
    assert ids == {p.name for p in SUBSET_DIR.iterdir()}
    assert len({ln.split("|")[4] for ln in rows}) == len(rows)  # a different voice each


def test_textgrids(utterances, cmu):
    for uid, (flac, words) in utterances.items():
        spk, chap, _ = uid.split("-")
        tg = read_textgrid(ALIGN / spk / chap / f"{uid}.TextGrid")
        dur = sf.info(flac).frames / 16000
        assert [t.name for t in tg.tiers] == ["words", "phones"]
        assert abs(tg.xmin) < TOL and abs(tg.xmax - dur) < TOL
        for tier in tg.tiers:
            iv = tier.intervals
            assert abs(tier.xmin) < TOL and abs(tier.xmax - dur) < TOL
            assert abs(iv[0].xmin) < TOL and abs(iv[-1].xmax - dur) < TOL, (uid, tier.name)
            assert all(abs(a.xmax - b.xmin) < 1e-9 for a, b in zip(iv, iv[1:])), (uid, tier.name)
            assert all(i.xmax > i.xmin for i in iv), (uid, tier.name)
        wiv = [i for i in tg.tier("words").intervals if i.text]
        assert [i.text for i in wiv] == [w.lower() for w in words], uid
        piv = tg.tier("phones").intervals
        for w in wiv:
            inside = [p for p in piv if p.xmin >= w.xmin - 1e-9 and p.xmax <= w.xmax + 1e-9]
            assert inside and abs(inside[0].xmin - w.xmin) < 1e-9 and abs(inside[-1].xmax - w.xmax) < 1e-9
            assert all(p.text for p in inside), (uid, w.text)
            assert [p.text for p in inside] == list(cmu[w.text][0]), (uid, w.text)
            assert all(valid_phone(p.text) for p in inside), (uid, w.text)
        # a phone lies inside a word, a silence outside every word
        for p in piv:
            in_word = any(w.xmin - 1e-9 <= p.xmin and p.xmax <= w.xmax + 1e-9 for w in wiv)
            assert in_word == bool(p.text), (uid, p)
        assert all(valid_phone(p.text) for p in piv if p.text)


def test_leading_and_trailing_silence(utterances):
    for uid, (flac, _) in list(utterances.items())[::7]:
        spk, chap, _ = uid.split("-")
        tg = read_textgrid(ALIGN / spk / chap / f"{uid}.TextGrid")
        words = [i for i in tg.tier("words").intervals if i.text]
        assert words[0].xmin >= dc.LEAD_S - TOL and words[-1].xmax <= tg.xmax - dc.TRAIL_S + TOL


def test_word_pairs_and_speakers(utterances, cmu, wordnet):
    rows = [
        {"word": w.lower(), "speaker": uid.split("-")[0], "utt_id": uid}
        for uid, (_, words) in utterances.items()
        for w in words
    ]
    words = pd.DataFrame(rows)
    assert words["speaker"].nunique() >= 4
    assert words.groupby("word")["speaker"].nunique().min() >= 2
    pool, pron, syn, _ = eligible_tokens(words, cmu, wordnet)
    rel = word_relations(list(pron), pron, syn, threshold=0.4, inclusive=True)
    counts = rel["relation"].value_counts()
    assert counts.get("synonym", 0) >= 20
    assert counts.get("near_homophone", 0) >= 20
    pairs = set(zip(rel["word_a"], rel["word_b"], rel["relation"]))
    for pair in [("big", "large"), ("little", "small"), ("fast", "quick"), ("begin", "start"), ("buy", "purchase")]:
        assert (*pair, "synonym") in pairs
    for pair in [("chip", "ship"), ("beat", "bit"), ("boss", "bus"), ("reach", "rich"), ("pen", "pin")]:
        assert (*pair, "near_homophone") in pairs


def test_readme_says_synthetic_and_counts(utterances):
    text = (DEMO / "README.md").read_text(encoding="utf-8")
    assert "synthetic" in text.lower() and "formant synthesis" in text and "conclusions" in text
    assert re.search(r"espeak-ng \d+\.\d+", text)
    assert f"| speakers | {len({u.split('-')[0] for u in utterances})} |" in text
    assert f"| utterances | {len(utterances)} " in text
    assert f"| word tokens | {sum(len(w) for _, w in utterances.values())} |" in text
    assert "python -m codecprobe.democorpus" in text


# --------------------------------------------------------------------------- pure functions
def test_word_offsets_and_sentence_words():
    assert dc.word_offsets(["the", "big", "dog"]) == [1, 5, 9]
    assert dc.sentence_words("The big dog's bone") == ("the", "big", "dog's", "bone")
    for bad in ("a 2 b", "well-known", "hello, world"):
        with pytest.raises(CodecprobeError):
            dc.sentence_words(bad)


def _events(spec):
    return tuple(dc.Event(k, s, pos, lab) for k, s, pos, lab in spec)


def test_word_spans_pauses_and_mismatch():
    ev = _events([
        ("word", 0, 1, ""), ("phoneme", 10, 1, "D"), ("phoneme", 50, 1, "@"),
        ("word", 100, 5, ""), ("phoneme", 100, 5, "b"), ("phoneme", 140, 5, "I"), ("phoneme", 200, 5, "g"),
        ("phoneme", 260, 5, "_"),
        ("word", 400, 9, ""), ("phoneme", 420, 9, "d"), ("phoneme", 470, 9, "0"), ("phoneme", 520, 9, "g"),
        ("phoneme", 600, 13, "_:"),
    ])  # fmt: skip
    spans = dc.word_spans(["the", "big", "dog"], ev, 650)
    assert [(a, b) for a, b, _ in spans] == [(0, 100), (100, 260), (400, 600)]
    assert [p for p, _ in spans[1][2]] == ["b", "I", "g"]
    with pytest.raises(CodecprobeError, match="do not match"):
        dc.word_spans(["the", "big", "old", "dog"], ev, 650)


def test_phone_bounds():
    # counts match: espeak-ng's boundaries, first phone starting at the word start
    assert dc.phone_bounds(0, 100, [10, 40, 70], 3).tolist() == [0, 40, 70, 100]
    # two espeak phonemes for four phones: each espeak phoneme split in two
    assert dc.phone_bounds(0, 100, [0, 20], 4).tolist() == [0, 10, 20, 60, 100]
    # no phonemes: even split
    assert dc.phone_bounds(0, 90, [], 3).tolist() == [0, 30, 60, 90]
    b = dc.phone_bounds(5, 95, [5, 30, 31, 60, 80], 3)
    assert b[0] == 5 and b[-1] == 95 and np.all(np.diff(b) > 0)
    with pytest.raises(ValueError, match="at least one phone"):
        dc.phone_bounds(0, 90, [], 0)


def test_increasing_phone_bounds():
    """Sample boundaries: kept when strictly increasing; otherwise the word is split evenly
    (each phone at least one sample); fewer samples than phones is an error naming the word."""
    assert dc._increasing(np.array([0.0, 2.4, 2.6, 10.0]), "w").tolist() == [0, 2, 3, 10]
    assert dc._increasing(np.array([0.0, 5.0, 5.2, 10.0]), "w").tolist() == [0, 3, 7, 10]  # 5, 5: even split
    with pytest.raises(CodecprobeError, match="utt word 'x': 2 phones in 1 samples"):
        dc._increasing(np.array([0.0, 1.0, 1.0]), "utt word 'x'")


def test_vocabulary_relations_of_the_eligible_words(cmu, wordnet):
    """The demo README's pair counts: words in CMUdict with a WordNet synonym only, each once
    ("that" has no synonym, so no near-homophone pair with "hat"; "zzqx" no pronunciation)."""
    vocab = ["ship", "big", "that", "large", "zzqx", "chip", "hat", "big"]
    rel = dc.vocabulary_relations(vocab, cmu, wordnet)
    got = rel[["word_a", "word_b", "relation"]].values.tolist()
    assert got == [["big", "large", "synonym"], ["chip", "ship", "near_homophone"]]
    assert rel["phonetic_distance"].tolist() == pytest.approx([1.0, 1 / 3])  # /CH IH P/ -> /SH IH P/


def test_speakers_txt_and_transcript_format():
    v = dc.Voice(9001, 101, "en-us", "M", 175, 45)
    txt = dc.speakers_txt([v], {9001: 1.234})
    assert txt.splitlines()[-1] == "9001 | M | dev-clean        |  1.23 | espeak-ng en-us rate 175 pitch 45"
    u = dc.Utterance("9001-101-0000", ("don't", "stop"), np.zeros(1, np.int16), None, (True, True))
    assert dc.transcript([u]) == "9001-101-0000 DON'T STOP\n"


def test_sentence_list_is_well_formed():
    sents = dc.read_sentences(SENTENCES)
    assert 15 <= len(sents) <= 25
    assert all(6 <= len(s) <= 12 for s in sents)


# --------------------------------------------------------------------------- synthesis
@pytest.fixture(scope="module")
def espeak():
    try:
        dc.load_espeak()
    except CodecprobeError as e:
        pytest.skip(str(e))


def test_synthesis_timings(espeak, cmu):
    words = ("the", "quick", "ship", "left", "the", "large", "dock")
    syn = dc.synthesize(dc.synthesis_text(words), dc.VOICES[0])
    assert syn.sample_rate == 22050 and syn.samples.dtype == np.int16
    starts = [e.sample for e in syn.events if e.kind == "word"]
    assert len(starts) == len(words)
    assert all(b > a for a, b in zip(starts, starts[1:]))
    assert 0 <= starts[0] and starts[-1] < len(syn.samples)
    utt = dc.build_utterance("9001-101-9999", words, syn, dc.word_prons(words, cmu))
    x = utt.samples.astype(float) / 32768
    sr = dc.SAMPLE_RATE
    wiv = [i for i in utt.textgrid.tier("words").intervals if i.text]
    assert [i.text for i in wiv] == list(words)
    for iv in wiv:
        seg = x[round(iv.xmin * sr) : round(iv.xmax * sr)]
        assert np.sqrt(np.mean(seg**2)) > 0.01, iv  # speech (about -40 dBFS or louder)
    lead = x[: round(0.9 * dc.LEAD_S * sr)]
    assert np.sqrt(np.mean(lead**2)) < 1e-4
    assert abs(utt.textgrid.xmax - len(x) / sr) < 1e-9


def test_unmappable_sentence_is_a_clear_error(espeak, cmu):
    # espeak-ng reads "in the" as one word: the generator must refuse such a sentence
    words = ("we", "sleep", "in", "the", "bed")
    syn = dc.synthesize(dc.synthesis_text(words), dc.VOICES[0])
    with pytest.raises(CodecprobeError, match="in the bed"):
        dc.build_utterance("9001-101-9999", words, syn, dc.word_prons(words, cmu))


def test_generation_is_deterministic(espeak, cmu):
    words = dc.read_sentences(SENTENCES)[0]
    voice = dc.VOICES[0]
    a = dc.generate_utterance(voice, 0, words, cmu)
    b = dc.generate_utterance(voice, 0, words, cmu)
    assert np.array_equal(a.samples, b.samples)
    assert format_textgrid(a.textgrid) == format_textgrid(b.textgrid)
    # and the bundled corpus is what this code makes, when the espeak-ng version is the one it was made with
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    if f"espeak-ng {dc.espeak_version()})" not in readme:
        pytest.skip("bundled corpus made with another espeak-ng version")
    uid = dc.utt_id(voice, 0)
    x, _ = sf.read(SUBSET_DIR / str(voice.speaker) / str(voice.chapter) / f"{uid}.flac", dtype="int16")
    assert np.array_equal(a.samples, x)
    tg = ALIGN / str(voice.speaker) / str(voice.chapter) / f"{uid}.TextGrid"
    assert format_textgrid(a.textgrid) == tg.read_text(encoding="utf-8")
