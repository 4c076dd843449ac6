"""Synthetic inputs of the paper's size (or a fraction of it) for timing the word-pair stages.

``words``: a word table (``words.csv``, the columns of README's *Tables*) shaped like
LibriSpeech dev-clean + test-clean times ``--fraction`` (105,000 tokens, 5,400
utterances, 80 speakers at 1): words drawn with a Zipf law (exponent 1.15) over 30,000
words, 175 frequent English words first, then CMUdict words (85 % of them with WordNet
synsets, as in read speech; the rest names and rare forms). Durations gamma-distributed
(mean 0.35 s); the audio paths do not exist (the pairs and distances stages never read
them).

``features``: an encode-stage HDF5 (``/tokens``, ``/pooled/mean [N, K, D]``) for the
tokens of a pairs table, filled with random vectors (a random walk over layers, so that
distances grow with the layer), written in 256 MB slices.

Then time the stages with ``/usr/bin/time -v`` (README, *Resources at paper scale*), e.g.
``python -m codecprobe.pairs --words w.csv --pairs p.parquet --summary s.csv --n-tokens 10000
--max-word-pairs 1001`` and ``python -m codecprobe.distances --codec dac --features f.h5
--pairs p.parquet --out d.csv --aggregate word_types --threads 2``.
Usage: ``PYTHONPATH=workflow python benchmarks/paper_scale.py words --fraction 0.25 --out w.csv``;
``... features --words w.csv --pairs p.parquet --layers 32 --dim 1024 --out f.h5``.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from codecprobe.lexicon import load_cmudict, open_wordnet

FREQUENT = """the and of to a in he i that was it his you with had as her for is at not but she him be
my they on by all have this so which me were from said one there when what we no or an them their
would if are then been could out up man into will now little very its more some who upon like over
only time any great should about do down see well before know must after made your can than these
such other again way did good long back thought came how much come old our eyes yet never through
hand away where own day men may think those life here house two himself just first went might always
face even nothing night still head last while young once every something say without mother father
make take saw tell put under heart left found many being right place us let look off king love sir
seemed nor same lord light god yes door voice water thing words whose"""
PAPER = {"tokens": 105_000, "utterances": 5_400, "speakers": 80}


def vocabulary(rng: np.random.Generator, size: int = 30_000, in_wordnet: float = 0.85) -> np.ndarray:
    """``size`` words by rank: the frequent ones in CMUdict, then shuffled CMUdict words."""
    cmu, wn = load_cmudict(None), open_wordnet("auto")
    top = list(dict.fromkeys(w for w in FREQUENT.split() if w in cmu))
    seen = set(top)
    rest = [w for w in cmu if w.isalpha() and w.islower() and w not in seen]
    rng.shuffle(rest)
    lexical = [w for w in rest[: 2 * size] if wn.synsets(w)]
    lex_set = set(lexical)
    other = [w for w in rest if w not in lex_set]
    tail, i, j = [], 0, 0
    while len(tail) < size - len(top):
        if rng.random() < in_wordnet and i < len(lexical):
            tail.append(lexical[i])
            i += 1
        else:
            tail.append(other[j])
            j += 1
    return np.array(top + tail, dtype=object), cmu


def words_table(fraction: float, seed: int = 0, exponent: float = 1.15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vocab, cmu = vocabulary(rng)
    p = 1.0 / (np.arange(1, len(vocab) + 1) + 2.7) ** exponent
    n_tok = round(PAPER["tokens"] * fraction)
    words = vocab[rng.choice(len(vocab), n_tok, p=p / p.sum())]
    n_utt = max(1, round(PAPER["utterances"] * fraction))
    n_spk = max(2, round(PAPER["speakers"] * max(fraction, 0.25)))
    utt_of = np.sort(rng.integers(0, n_utt, n_tok))
    spk_of_utt = rng.integers(0, n_spk, n_utt)
    spk = 1000 + spk_of_utt[utt_of]
    chap = 5000 + 3 * spk_of_utt[utt_of] + (np.arange(n_utt) % 3)[utt_of]
    utt = np.array([f"{s}-{c}-{u:04d}" for s, c, u in zip(spk, chap, utt_of)])
    dur = np.round(rng.gamma(4.0, 0.075, n_tok) + 0.05, 3)
    first = np.r_[True, utt_of[1:] != utt_of[:-1]]
    end = np.cumsum(dur)
    utt_start = np.maximum.accumulate(np.where(first, end - dur, 0))
    start = np.round(end - dur - utt_start + 0.2, 3)
    phones = [" ".join(cmu[w][0]) for w in words]
    return pd.DataFrame({
        "token_id": np.arange(n_tok), "utt_id": utt, "subset": np.where(spk % 2 == 0, "dev-clean", "test-clean"),
        "speaker": spk, "chapter": chap, "word": words, "start": start, "end": np.round(start + dur, 3),
        "duration": dur, "phones": phones, "n_phones": [len(x.split()) for x in phones],
        "path": [f"/nonexistent/LibriSpeech/{u}.flac" for u in utt],
    })  # fmt: skip


def features_file(words: str, pairs: str, layers: int, dim: int, out: str, dtype: str = "float32", seed: int = 0) -> int:
    import h5py

    p = pd.read_parquet(pairs, columns=["token_a", "token_b"]) if pairs.endswith(".parquet") else pd.read_csv(pairs)
    ids = np.union1d(p["token_a"], p["token_b"])
    w = pd.read_csv(words).set_index("token_id").loc[ids].reset_index()
    rng = np.random.default_rng(seed)
    with h5py.File(out, "w") as h:
        t = h.create_group("tokens")
        t["token_id"] = ids.astype(np.int64)
        t["word"] = w["word"].astype(str).to_numpy().astype("S")
        t["utt_id"] = w["utt_id"].astype(str).to_numpy().astype("S")
        ds = h.create_group("pooled").create_dataset("mean", shape=(len(ids), layers, dim), dtype=dtype)
        step = max(1, (256 << 20) // (layers * dim * 4))
        for s in range(0, len(ids), step):
            x = rng.standard_normal((min(step, len(ids) - s), layers, dim), dtype=np.float32)
            ds[s : s + len(x)] = np.cumsum(x, axis=1) / np.sqrt(dim)
        h.attrs["random_weights"] = True
        h.attrs["family"] = "synthetic"
    return len(ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("words", help="a synthetic words.csv")
    w.add_argument("--fraction", type=float, default=1.0, help="of dev-clean + test-clean (1: 105,000 tokens)")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--out", required=True)
    f = sub.add_parser("features", help="a random feature file for the tokens of a pairs table")
    f.add_argument("--words", required=True)
    f.add_argument("--pairs", required=True)
    f.add_argument("--layers", type=int, required=True, help="K (EnCodec 16, DAC 32, MIMI 32, MiMo 8)")
    f.add_argument("--dim", type=int, required=True, help="D (EnCodec 128, DAC 1024, MIMI 512, MiMo 1280)")
    f.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    f.add_argument("--out", required=True)
    a = ap.parse_args()
    t0 = time.perf_counter()
    if a.cmd == "words":
        df = words_table(a.fraction, a.seed)
        df.to_csv(a.out, index=False)
        print(f"{a.out}: {len(df)} tokens, {df['word'].nunique()} types, {df['utt_id'].nunique()} utterances, "
              f"{df['speaker'].nunique()} speakers ({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    else:
        n = features_file(a.words, a.pairs, a.layers, a.dim, a.out, a.dtype)
        size = n * a.layers * a.dim * np.dtype(a.dtype).itemsize
        print(f"{a.out}: {n} tokens x {a.layers} x {a.dim} {a.dtype}, {size / 1e9:.2f} GB ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
