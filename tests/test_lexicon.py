import re

import pandas as pd
import pytest
from codecprobe.io import CodecprobeError
from codecprobe.lexicon import (
    find_wordnet,
    levenshtein,
    load_cmudict,
    parse_cmudict,
    phonetic_distance,
    pronunciation,
    strip_stress,
    synonyms,
)  # fmt: skip
from codecprobe.pairs import is_near_homophone
from conftest import REPO


@pytest.mark.parametrize(
    "a, b, d",
    [
        ("kitten", "sitting", 3),
        ("", "abc", 3),
        ("abc", "abc", 0),
        (("AE", "K", "S", "EH", "P", "T"), ("IH", "K", "S", "EH", "P", "T"), 1),
        (("B", "IH", "G"), ("L", "AA", "R", "JH"), 4),
    ],
)
def test_levenshtein_hand_values(a, b, d):
    assert levenshtein(a, b) == d
    assert levenshtein(b, a) == d


def test_accept_except_pass_big_large_fail(cmu):
    # CMUdict first pronunciations: accept = AE0 K S EH1 P T, except = IH0 K S EH1 P T
    acc, exc = pronunciation("accept", cmu), pronunciation("except", cmu)
    assert acc == ("AE", "K", "S", "EH", "P", "T")
    assert exc == ("IH", "K", "S", "EH", "P", "T")
    assert phonetic_distance(acc, exc) == pytest.approx(1 / 6)  # one substitution over 6 phones
    assert is_near_homophone(phonetic_distance(acc, exc))
    big, large = pronunciation("big", cmu), pronunciation("large", cmu)
    assert phonetic_distance(big, large) == 1.0  # 4 edits / 4 phones
    assert not is_near_homophone(phonetic_distance(big, large))


def test_threshold_boundary_inclusive_vs_exclusive():
    # 2 edits over 5 phones = 0.4 exactly: a near-homophone with <=, not with <
    d = phonetic_distance(("A", "B", "C", "D", "E"), ("A", "B", "C", "X", "Y"))
    assert d == 0.4
    assert is_near_homophone(d, 0.4, inclusive=True)
    assert not is_near_homophone(d, 0.4, inclusive=False)
    assert not is_near_homophone(0.0)  # identical pronunciations are not near-homophones


def test_strip_stress_and_parse_cmudict():
    assert strip_stress(["AH0", "K", "EH1"]) == ("AH", "K", "EH")
    d = parse_cmudict([";;; comment", "READ  R IY1 D", "READ(2)  R EH1 D", "A  AH0 # note", ""])
    assert d == {"read": [("R", "IY1", "D"), ("R", "EH1", "D")], "a": [("AH0",)]}
    assert pronunciation("READ", d) == ("R", "IY", "D")
    assert pronunciation("zzzq", d) is None


def test_synonyms_known_words(wordnet):
    assert "large" in synonyms("big", wordnet)
    assert "big" in synonyms("large", wordnet)
    assert "quick" in synonyms("fast", wordnet)
    assert "purchase" in synonyms("buy", wordnet)
    assert "big" not in synonyms("big", wordnet)
    assert "except" not in synonyms("accept", wordnet)
    assert synonyms("zzzqqq", wordnet) == set()


def test_find_wordnet_bad_folder_names_it(tmp_path):
    with pytest.raises(CodecprobeError, match=f"{tmp_path}.*not a WordNet 3.0 database folder.*data.noun"):
        find_wordnet(str(tmp_path))


def test_find_wordnet_without_index_sense_names_the_file(tmp_path):
    # Debian's wordnet-base alone lacks index.sense, which nltk opens when it loads: the
    # folder is refused here by name, not later with a path in nltk's private copy
    for f in [f"{k}.{p}" for k in ("data", "index") for p in ("noun", "verb", "adj", "adv")]:
        (tmp_path / f).write_text(_WN_HEADER)
    with pytest.raises(CodecprobeError, match=r"not a WordNet 3.0 database folder \(missing index.sense\)"):
        find_wordnet(str(tmp_path))
    (tmp_path / "index.sense").write_text("")
    assert find_wordnet(str(tmp_path)) == tmp_path


class _Synset:
    def __init__(self, *names):
        self._names = list(names)

    def lemma_names(self):
        return self._names


class _StubWordNet:
    """WordNet-like stub: ``synsets(word)`` looks up lower-cased words, as nltk does."""

    def __init__(self, table):
        self.table = table

    def synsets(self, word):
        return self.table.get(word.lower(), [])


STUB = _StubWordNet(
    {
        "england": [_Synset("England")],
        "america": [_Synset("United_States", "US", "America")],
        "us": [_Synset("United_States", "US", "America"), _Synset("uracil", "U", "u")],
        "march": [_Synset("March", "Mar"), _Synset("march", "marching")],
    }
)


def test_synonyms_keep_wordnet_case_as_choi_stub():
    # Choi: lemma names as WordNet spells them; only a lemma equal to the word itself is dropped
    assert synonyms("england", STUB) == {"England"}  # eligible: 'England' != 'england'
    assert synonyms("america", STUB) == {"United_States", "US", "America"}  # 'America' != 'america' either
    assert "us" not in synonyms("america", STUB) and "america" not in synonyms("us", STUB)
    assert synonyms("march", STUB) == {"March", "Mar", "marching"}
    # earlier behaviour, lower-cased: 'england' loses its only synonym, 'us' becomes one of 'america'
    assert synonyms("england", STUB, lowercase_lemmas=True) == set()
    assert synonyms("america", STUB, lowercase_lemmas=True) == {"united_states", "us"}
    assert "america" in synonyms("us", STUB, lowercase_lemmas=True)
    assert synonyms("march", STUB, lowercase_lemmas=True) == {"mar", "marching"}


def test_synonyms_case_sensitive_real_wordnet(wordnet, cmu):
    from codecprobe.pairs import eligible_tokens, word_relations

    assert "US" in synonyms("america", wordnet) and "us" not in synonyms("america", wordnet)
    assert "America" in synonyms("us", wordnet) and "america" not in synonyms("us", wordnet)
    assert synonyms("england", wordnet) == {"England"}
    assert synonyms("england", wordnet, lowercase_lemmas=True) == set()
    assert "us" in synonyms("america", wordnet, lowercase_lemmas=True)
    words = pd.DataFrame({"word": ["england", "america", "us", "big", "large"]})
    for lower, england_ok, america_us in ((False, True, False), (True, False, True)):
        pool, pron, syn, dropped = eligible_tokens(words, cmu, wordnet, lowercase_lemmas=lower)
        assert ("england" in set(pool.word)) is england_ok
        assert dropped["no_wordnet_synonym"] == (0 if england_ok else 1)
        rel = word_relations(list(pron), pron, syn)
        pairs = set(zip(rel.word_a, rel.word_b, rel.relation))
        assert (("america", "us", "synonym") in pairs) is america_us
        assert ("big", "large", "synonym") in pairs


def test_levenshtein_many_equals_levenshtein():
    import numpy as np
    from codecprobe.lexicon import levenshtein, levenshtein_many, phone_codes

    rng = np.random.default_rng(3)
    seqs = [tuple(rng.choice(["AH", "K", "S", "EH", "P", "T"], rng.integers(0, 10))) for _ in range(300)]
    codes, lengths = phone_codes(seqs)
    assert codes.shape == (300, max(map(len, seqs))) and lengths.tolist() == [len(x) for x in seqs]
    assert (codes[lengths == 0] == -1).all()
    for i in range(0, 300, 11):
        got = levenshtein_many(codes[i, : lengths[i]], codes, lengths)
        assert got.tolist() == [levenshtein(seqs[i], s) for s in seqs]
    # hand-worked: accept vs except (one substitution), and against the empty sequence
    acc, exc = ("AH", "K", "S", "EH", "P", "T"), ("IH", "K", "S", "EH", "P", "T")
    c, n = phone_codes([acc, exc, ()])
    assert levenshtein_many(c[0], c, n).tolist() == [0, 1, 6]


def test_cmudict_file_in_utf8_or_latin1(tmp_path):
    """A dictionary of one's own in UTF-8 keeps its accented words (read as latin-1 before,
    "café" became "cafã©" and fell out of vocabulary); a latin-1 file still reads."""
    utf8 = tmp_path / "utf8.dict"
    utf8.write_text(";;; a comment\nCAFÉ  K AE0 F EY1\nHOUSE  HH AW1 S\n", encoding="utf-8")
    d = load_cmudict(str(utf8))
    assert d["café"] == [("K", "AE0", "F", "EY1")] and pronunciation("Café", d) == ("K", "AE", "F", "EY")
    latin = tmp_path / "latin1.dict"
    latin.write_bytes("NAÏVE  N AY0 IY1 V\n".encode("latin-1"))
    assert load_cmudict(str(latin))["naïve"] == [("N", "AY0", "IY1", "V")]


@pytest.mark.filterwarnings("ignore:No WordNet synset found:UserWarning")  # nltk, on the cut file
def test_a_cut_wordnet_database_is_named_in_the_error(wordnet, tmp_path):
    """A data file cut short (an interrupted copy) made nltk fail deep inside with an
    AttributeError; the lookup now says which word and which folder."""
    import shutil

    from codecprobe.lexicon import open_wordnet

    src = find_wordnet()
    cut = tmp_path / "wn"
    shutil.copytree(src, cut)
    data = (cut / "data.noun").read_bytes()
    (cut / "data.noun").write_bytes(data[: len(data) // 2])
    # a noun whose synsets all lie in the cut-off half (index.noun: lemma pos n_synsets ... offsets)
    word = next(
        f[0] for f in (line.split() for line in (cut / "index.noun").read_text().splitlines() if not line.startswith(" "))
        if f[0].isalpha() and all(int(o) > len(data) // 2 for o in f[-int(f[2]):])
    )  # fmt: skip
    wn = open_wordnet(str(cut))
    with pytest.raises(CodecprobeError, match=rf"WordNet lookup of '{word}' failed .* at {cut} complete"):
        synonyms(word, wn)


_WN_HEADER = "  1 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.  \n"


def _mini_wordnet(folder, drop=()):
    """A WordNet 3.0 database of four synsets, noun {car, auto, automobile}, verb {run, go},
    adjective {big, large} and adverb {fast, quickly} (the words open_wordnet probes), in
    the files nltk's reader opens (byte offsets as in WordNet's own)."""
    folder.mkdir(parents=True, exist_ok=True)
    synsets = {
        "noun": ("06 n", ["car", "auto", "automobile"]), "verb": ("38 v", ["run", "go"]),
        "adj": ("00 a", ["big", "large"]), "adv": ("02 r", ["fast", "quickly"]),
    }  # fmt: skip
    for pos, short in (("noun", "n"), ("verb", "v"), ("adj", "a"), ("adv", "r")):
        data = index = _WN_HEADER
        if pos in synsets:
            lex, words = synsets[pos]
            off = len(data)
            data += f"{off:08d} {lex} {len(words):02x} {' '.join(f'{w} 0' for w in words)} 000 | a gloss  \n"
            index += "".join(f"{w} {short} 1 0 1 0 {off:08d}  \n" for w in sorted(words))
        (folder / f"data.{pos}").write_text(data)
        (folder / f"index.{pos}").write_text(index)
        (folder / f"{pos}.exc").write_text("")
    (folder / "index.sense").write_text("")
    for name in drop:
        (folder / name).unlink()
    return folder


def _wordnet_zip(tmp_path, drop=(), stored=False):
    """``<tmp_path>/nltk_data`` holding only ``corpora/wordnet.zip``, laid out as nltk's
    downloader leaves it (the files under ``wordnet/``; ``stored``: not compressed)."""
    import zipfile

    src = _mini_wordnet(tmp_path / "src" / "wordnet", drop)
    z = tmp_path / "nltk_data" / "corpora" / "wordnet.zip"
    z.parent.mkdir(parents=True)
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as f:
        f.writestr("wordnet/", "")
        for p in sorted(src.iterdir()):
            f.write(p, f"wordnet/{p.name}")
    return z


def test_nltk_data_with_only_wordnet_zip_is_read(tmp_path, monkeypatch):
    """``python -m nltk.downloader wordnet`` can leave only ``corpora/wordnet.zip``: it was
    rejected with a message telling the user to run that same downloader."""
    import nltk
    from codecprobe import lexicon
    from codecprobe.lexicon import open_wordnet

    # open_wordnet adds its private copy to nltk's data path: undone after the test,
    # or the mini WordNet would be the one later tests find with ``auto``
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    z = _wordnet_zip(tmp_path)
    root = z.parents[1]
    assert find_wordnet(str(root)) == z
    wn = open_wordnet(str(root))
    assert synonyms("car", wn) == {"auto", "automobile"} and synonyms("large", wn) == {"big"}
    assert wn.codecprobe_source == z
    # found on nltk's data path too (auto), before Debian's folder
    monkeypatch.delenv("CODECPROBE_WORDNET", raising=False)
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nowhere"), str(root)])
    monkeypatch.setattr(lexicon, "WORDNET_SEARCH", [str(_mini_wordnet(tmp_path / "debian"))])
    assert find_wordnet() == z
    assert find_wordnet("auto") == z


def test_a_bad_wordnet_zip_is_named_with_what_is_missing(tmp_path, monkeypatch):
    import nltk
    from codecprobe import lexicon

    z = _wordnet_zip(tmp_path, drop=["index.sense", "data.verb"])
    root = z.parents[1]
    want = rf"lexicon.wordnet: {z} does not hold a WordNet 3.0 database \(missing data.verb, index.sense in wordnet/\)"
    with pytest.raises(CodecprobeError, match=want):
        find_wordnet(str(root))
    z.write_bytes(b"not a zip")
    with pytest.raises(CodecprobeError, match=rf"cannot read the WordNet zip {z} \(File is not a zip file\)"):
        find_wordnet(str(root))
    # auto: a bad zip gives way to a WordNet found later, else it is the error
    monkeypatch.delenv("CODECPROBE_WORDNET", raising=False)
    monkeypatch.setattr(nltk.data, "path", [str(root)])
    monkeypatch.setattr(lexicon, "WORDNET_SEARCH", [str(_mini_wordnet(tmp_path / "debian"))])
    assert find_wordnet() == tmp_path / "debian"
    monkeypatch.setattr(lexicon, "WORDNET_SEARCH", [])
    with pytest.raises(CodecprobeError, match=f"cannot read the WordNet zip {z}"):
        find_wordnet()


def test_a_damaged_member_of_the_wordnet_zip_is_named(tmp_path, monkeypatch):
    import nltk
    from codecprobe.lexicon import open_wordnet

    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # as above
    z = _wordnet_zip(tmp_path, stored=True)
    raw = bytearray(z.read_bytes())
    at = raw.index(b"automobile 0")  # inside data.noun, stored as is: its CRC no longer matches
    raw[at] = ord("X")
    z.write_bytes(bytes(raw))
    want = rf"cannot extract the WordNet zip {z} \(Bad CRC-32 for file 'wordnet/data.noun'\)"
    with pytest.raises(CodecprobeError, match=want):
        open_wordnet(str(z.parents[1]))


def test_open_wordnet_leaves_the_users_nltk_data_first(tmp_path, monkeypatch):
    """The private copy open_wordnet makes goes last on nltk's data path: a corpus of the
    user's (their own WordNet, or any other) is still found first afterwards (it was put
    first, shadowing them for the rest of the process)."""
    import nltk
    from codecprobe.lexicon import open_wordnet

    mine = str(tmp_path / "my_nltk_data")
    monkeypatch.setattr(nltk.data, "path", [mine, *nltk.data.path])
    before = list(nltk.data.path)
    wn = open_wordnet(str(_mini_wordnet(tmp_path / "wn")))
    assert synonyms("car", wn) == {"auto", "automobile"}
    assert nltk.data.path[: len(before)] == before and len(nltk.data.path) == len(before) + 1


def test_a_file_that_is_not_a_cmudict_is_refused(tmp_path):
    """A gzipped CMUdict, random bytes or a CSV were read as thousands of junk entries (or
    none) without a word; they are refused, naming the file."""
    import gzip

    import numpy as np

    good = "A  AH0\nA(2)  EY1\nABOUT  AH0 B AW1 T\nHOUSE  HH AW1 S\n"
    gz = tmp_path / "cmudict.dict.gz"
    gz.write_bytes(gzip.compress(good.encode()))
    with pytest.raises(CodecprobeError) as e:
        load_cmudict(str(gz))
    assert str(e.value) == f"lexicon.cmudict: {gz} is gzip-compressed, not a CMUdict text file: decompress it"
    # 100 lines of latin-1 letters (no ASCII, so not one line of the form WORD PH1 ...)
    noise = tmp_path / "noise.dict"
    rng = np.random.default_rng(0)
    noise.write_bytes(b"".join(bytes(rng.integers(0xC0, 0x100, 39).tolist()) + b"\n" for _ in range(100)))
    csv = tmp_path / "words.csv"
    csv.write_text("word,count\nhello,3\nworld,5\n")
    for path, n in ((noise, 100), (csv, 3)):
        with pytest.raises(CodecprobeError) as e:
            load_cmudict(str(path))
        want = f"lexicon.cmudict: {path} holds no CMUdict entries ({n} lines, 0 of the form WORD PH1 PH2 ...)"
        assert str(e.value) == want
    mostly_bad = tmp_path / "mostly_bad.dict"
    mostly_bad.write_text(";;; comment\nHOUSE  HH AW1 S\nhouse,HH\nfoo bar baz\nONE\n\n")
    with pytest.raises(CodecprobeError) as e:
        load_cmudict(str(mostly_bad))
    assert str(e.value) == (
        f"lexicon.cmudict: {mostly_bad}: 3 of 4 lines are not of the form WORD PH1 PH2 ... (ARPAbet phones such as"
        " AH0): not a CMUdict?"
    )


def test_a_cmudict_with_a_few_odd_lines_or_a_byte_order_mark_is_read(tmp_path, caplog):
    """Up to half the lines out of form: read as before (kept), with a warning; a UTF-8
    byte-order mark made the first word '\\ufeffa' (out of vocabulary)."""
    bom = tmp_path / "bom.dict"
    bom.write_bytes(b"\xef\xbb\xbfA  AH0\nA(2)  EY1\nABOUT  AH0 B AW1 T\n")
    assert load_cmudict(str(bom)) == {"a": [("AH0",), ("EY1",)], "about": [("AH0", "B", "AW1", "T")]}
    few = tmp_path / "few.dict"
    few.write_text("A  AH0\nHOUSE  HH AW1 S # a comment\nFOO  f uu\nBIG  B IH1 G\n")
    with caplog.at_level("WARNING", logger="codecprobe.lexicon"):
        d = load_cmudict(str(few))
    assert d == {"a": [("AH0",)], "house": [("HH", "AW1", "S")], "foo": [("f", "uu")], "big": [("B", "IH1", "G")]}
    assert f"{few}: 1 of 4 lines are not of the form WORD PH1 PH2 ... (kept as read; line 3: 'FOO  f uu')" in caplog.text
    assert d.source == str(few)


def test_a_wordnet_with_an_empty_database_file_is_refused(tmp_path, monkeypatch, caplog):
    """A 0-byte index.noun (an interrupted copy) loaded as a WordNet without nouns: every
    noun silently lost its synonyms. Refused by name, in a folder or nltk's zip; with
    ``auto`` it gives way to a later good WordNet."""
    import zipfile

    import nltk
    from codecprobe import lexicon
    from codecprobe.lexicon import open_wordnet

    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # as above
    wn = _mini_wordnet(tmp_path / "wn")
    (wn / "index.noun").write_text("")
    want = f"lexicon.wordnet: {wn} is a damaged or incomplete WordNet database: index.noun empty (0 bytes)"
    for f in (find_wordnet, open_wordnet):
        with pytest.raises(CodecprobeError) as e:
            f(str(wn))
        assert str(e.value) == want, f.__name__
    monkeypatch.setenv("CODECPROBE_WORDNET", str(wn))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nowhere")])
    monkeypatch.setattr(lexicon, "WORDNET_SEARCH", [str(_mini_wordnet(tmp_path / "debian"))])
    assert find_wordnet() == tmp_path / "debian"
    # a $CODECPROBE_WORDNET that is no WordNet (damaged, or a typo) is passed over with a
    # warning naming both (it was passed over silently)
    for env in (wn, tmp_path / "typo"):
        monkeypatch.setenv("CODECPROBE_WORDNET", str(env))
        with caplog.at_level("WARNING", logger="codecprobe.lexicon"):
            caplog.clear()
            assert find_wordnet() == tmp_path / "debian"
        assert f"$CODECPROBE_WORDNET={env} is not a WordNet 3.0 database folder; using {tmp_path / 'debian'}" in caplog.text
    monkeypatch.setenv("CODECPROBE_WORDNET", str(tmp_path / "debian"))
    caplog.clear()
    assert find_wordnet() == tmp_path / "debian" and "CODECPROBE_WORDNET" not in caplog.text
    monkeypatch.setenv("CODECPROBE_WORDNET", str(wn))
    monkeypatch.setattr(lexicon, "WORDNET_SEARCH", [])
    with pytest.raises(CodecprobeError) as e:
        find_wordnet()
    assert str(e.value) == want
    z = _wordnet_zip(tmp_path)
    with zipfile.ZipFile(z) as f:
        members = {i.filename: f.read(i) for i in f.infolist()}
    with zipfile.ZipFile(z, "w") as f:
        for name, data in members.items():
            f.writestr(name, b"" if name == "wordnet/data.verb" else data)
    with pytest.raises(CodecprobeError) as e:
        find_wordnet(str(z.parents[1]))
    assert str(e.value) == (
        f"lexicon.wordnet: {z} holds a damaged or incomplete WordNet database: data.verb empty (0 bytes) in wordnet/"
    )


def test_open_wordnet_probes_each_part_of_speech(tmp_path, monkeypatch):
    """A WordNet nltk loads may still be damaged: an index without lemmas, a probe word
    (car n, run v, big a, fast r) missing, a data file cut before a probe word's synset."""
    import nltk
    from codecprobe.lexicon import open_wordnet

    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # as above
    no_verbs = _mini_wordnet(tmp_path / "no_verbs")
    (no_verbs / "index.verb").write_text(_WN_HEADER)
    with pytest.raises(CodecprobeError) as e:
        open_wordnet(str(no_verbs))
    assert str(e.value) == (
        f"lexicon.wordnet: WordNet at {no_verbs} lists no verb lemma (index.verb): damaged or incomplete database?"
    )
    no_fast = _mini_wordnet(tmp_path / "no_fast")
    index = (no_fast / "index.adv").read_text()
    (no_fast / "index.adv").write_text("".join(x for x in index.splitlines(True) if not x.startswith("fast ")))
    with pytest.raises(CodecprobeError) as e:
        open_wordnet(str(no_fast))
    assert str(e.value) == (
        f"lexicon.wordnet: WordNet at {no_fast} answers no synsets for 'fast' (r): damaged or incomplete database?"
    )
    cut = _mini_wordnet(tmp_path / "cut")
    (cut / "data.noun").write_text(_WN_HEADER)  # car's synset was the line after the header
    with pytest.raises(CodecprobeError) as e:
        open_wordnet(str(cut))
    assert str(e.value) == (
        f"lexicon.wordnet: WordNet at {cut} cannot read 1 of the 1 synsets of 'car' (n) from data.noun: damaged or"
        " truncated file?"
    )


def test_a_wordnet_nltk_cannot_load_names_the_reason(tmp_path, monkeypatch):
    """An index line cut short made nltk raise StopIteration, whose text is empty: the
    message ended in "cannot read WordNet at X: " with no reason."""
    import nltk
    from codecprobe.lexicon import open_wordnet

    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # as above
    wn = _mini_wordnet(tmp_path / "wn")
    with open(wn / "index.noun", "a") as f:
        f.write("zebra n")  # the rest of the line lost
    with pytest.raises(CodecprobeError) as e:
        open_wordnet(str(wn))
    assert str(e.value) == f"lexicon.wordnet: cannot read WordNet at {wn}: StopIteration (damaged or truncated file?)"


def test_stale_wordnet_copies_of_killed_jobs_are_removed(tmp_path):
    """A pairs job killed with SIGKILL left its private WordNet copy (36 MB) in /tmp for
    good; the next open_wordnet removes such copies of this host whose process is gone."""
    import os
    import socket
    import subprocess
    import sys

    from codecprobe.lexicon import SCRATCH_PREFIX, remove_stale_copies

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    host = socket.gethostname()
    for name, owner in (("dead", f"{host} {dead}"), ("alive", f"{host} {os.getpid()}"), ("other", f"elsewhere {dead}"),
                        ("none", None)):  # fmt: skip
        d = tmp_path / f"{SCRATCH_PREFIX}{name}"
        (d / "corpora" / "wordnet").mkdir(parents=True)
        if owner:
            (d / "owner").write_text(owner + "\n")
    (tmp_path / "unrelated").mkdir()
    assert remove_stale_copies(str(tmp_path)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{SCRATCH_PREFIX}alive", f"{SCRATCH_PREFIX}other", f"{SCRATCH_PREFIX}none", "unrelated"]
    )


def _planted_copy(folder, owner: str):
    """A WordNet copy as open_wordnet leaves it in ``folder``, its ``owner`` file reading ``owner``."""
    from codecprobe.lexicon import SCRATCH_PREFIX

    d = folder / f"{SCRATCH_PREFIX}planted"
    (d / "corpora" / "wordnet").mkdir(parents=True)
    (d / "owner").write_text(owner + "\n")
    return d


def _dead_pid() -> str:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def test_a_copy_of_another_users_live_job_is_kept(tmp_path, monkeypatch):
    """``os.kill(pid, 0)`` on another user's running process raises PermissionError: that
    job is alive and its copy is kept; only ProcessLookupError (no such process) removes it."""
    import errno
    import socket

    from codecprobe import lexicon

    d = _planted_copy(tmp_path, f"{socket.gethostname()} 4242")

    def kill(exc):
        def f(pid, sig):
            assert (pid, sig) == (4242, 0)
            raise exc(errno.EPERM if exc is PermissionError else errno.ESRCH, "no")

        return f

    monkeypatch.setattr(lexicon.os, "kill", kill(PermissionError))
    assert lexicon.remove_stale_copies(str(tmp_path)) == 0 and d.is_dir()
    monkeypatch.setattr(lexicon.os, "kill", kill(ProcessLookupError))
    assert lexicon.remove_stale_copies(str(tmp_path)) == 1 and not d.exists()


def test_open_wordnet_removes_stale_copies_and_names_its_own_process(tmp_path, monkeypatch):
    """open_wordnet first removes the copies of killed jobs of this host from the temporary
    folder, then makes its own there, whose ``owner`` file reads ``"<host> <pid>"`` with this
    process's id (the next job's check of whether it still runs)."""
    import os
    import socket
    import tempfile

    import nltk
    from codecprobe.lexicon import SCRATCH_PREFIX, open_wordnet

    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # open_wordnet appends its copy
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    stale = _planted_copy(tmp, f"{socket.gethostname()} {_dead_pid()}")
    wn = open_wordnet(str(_mini_wordnet(tmp_path / "wn")))
    assert synonyms("car", wn) == {"auto", "automobile"}
    assert not stale.exists()
    (mine,) = tmp.glob(f"{SCRATCH_PREFIX}*")
    assert (mine / "owner").read_text() == f"{socket.gethostname()} {os.getpid()}\n"
    assert str(mine) in nltk.data.path


def test_no_code_downloads_lexicons():
    """WordNet and CMUdict are read from files (README 'WordNet and CMUdict, offline'); no
    module of the package or script asks nltk (or anything else) to download them."""
    calls = []
    for f in sorted([*(REPO / "workflow").rglob("*.py"), *(REPO / "scripts").rglob("*.py"), *(REPO / "workflow").rglob("*.smk")]):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(r"\bnltk\.download\b|\bDownloader\(|from nltk import download\b", line):
                calls.append(f"{f.relative_to(REPO)}:{n}: {line.strip()}")
    assert not calls, calls


def test_nltk_download_fails_a_test():
    """The autouse guard of conftest.py is in place in this process."""
    import nltk

    with pytest.raises(AssertionError, match="nltk.download called in a test"):
        nltk.download("wordnet", quiet=True)
