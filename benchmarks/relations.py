"""Synonym and near-homophone relations (``codecprobe.pairs.word_relations``): vectorized
edit distances against the pair-by-pair definition.

``--words`` CMUdict words (every k-th alphabetic entry, first pronunciation, stress
removed) with WordNet synonyms when WordNet is found (none otherwise). Prints the time of
the pair-by-pair loop (the scalar ``phonetic_distance`` of every word pair, as the pairs
stage computed them before session 9), of ``word_relations`` (median of ``--repeat``
runs), their ratio (target >= 10x), and checks that both give the same table.
Usage: ``PYTHONPATH=workflow python benchmarks/relations.py [--words 1500]``.
"""

import argparse
import statistics
import sys
import time
from itertools import combinations
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from codecprobe.io import CodecprobeError
from codecprobe.lexicon import (
    load_cmudict,
    open_wordnet,
    phonetic_distance,
    pronunciation,
    synonyms,
)
from codecprobe.pairs import RELATION_COLUMNS, is_near_homophone, word_relations


def pairwise(vocab, pron, syn, threshold=0.4):
    """The definition, one word pair at a time (with the length shortcut the stage had)."""
    rows = []
    for a, b in combinations(sorted(set(vocab)), 2):
        ab, ba = b in syn.get(a, ()), a in syn.get(b, ())
        la, lb = len(pron[a]), len(pron[b])
        if not (ab or ba) and abs(la - lb) > threshold * max(la, lb):
            continue
        d = phonetic_distance(pron[a], pron[b])
        if (ab or ba) and d > threshold:
            rows.append((a, b, "synonym", d, ab, ba))
        elif not (ab or ba) and is_near_homophone(d, threshold):
            rows.append((a, b, "near_homophone", d, True, True))
    return pd.DataFrame(rows, columns=RELATION_COLUMNS).astype({"a_to_b": bool, "b_to_a": bool})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cmu = load_cmudict()
    words = [w for w in sorted(cmu)[::20] if w.isalpha()][: args.words]
    pron = {w: pronunciation(w, cmu) for w in words}
    try:
        wn = open_wordnet()
        syn = {w: synonyms(w, wn) for w in words}
    except CodecprobeError as e:  # WordNet absent: distances only
        print(f"no WordNet ({e}); synonym maps empty")
        syn = {}
    t0 = time.perf_counter()
    want = pairwise(words, pron, syn)
    loop_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        got = word_relations(words, pron, syn)
        times.append(time.perf_counter() - t0)
    pd.testing.assert_frame_equal(got, want)
    fast = statistics.median(times)
    print(f"{len(words)} words, {len(want)} relations ({(want.relation == 'synonym').sum()} synonym)")
    print(f"pair by pair: {loop_s:.2f} s; word_relations: {fast:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})")
    print(f"speed-up: {loop_s / fast:.1f}x (target >= 10x); tables equal")


if __name__ == "__main__":
    main()
