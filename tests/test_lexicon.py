import pytest

from codecprobe.io import CodecprobeError
from codecprobe.lexicon import (
    find_wordnet, levenshtein, parse_cmudict, phonetic_distance, pronunciation, strip_stress, synonyms,
)  # fmt: skip
from codecprobe.pairs import is_near_homophone


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
