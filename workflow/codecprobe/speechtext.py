"""Speech-text alignment (paper Sec. 2.5, 3.3): CKA between a codec's speech tokens and
its LLM's text tokens, both as the LLM embeds them before its transformer.

**One row per word type.** The word tokens of the codec's feature file
(``results/features/<codec>/words.h5``, i.e. the tokens of the word pairs) are grouped by
their word text. Per type: text = the mean input embedding of the word's sub-word tokens;
speech = the LLM's audio input path applied to each token's codes (:mod:`codecprobe.llm`),
pooled over the token's frames (``pooling``: mean, or the middle vector), then over the
type's tokens (``per_type``: ``mean`` of all its tokens, the default, or ``one`` token
drawn with the seed, close to the paper release's first token per word).
Why not one row per token: all tokens of a type share one identical text row while their
speech rows are similar, so the text Gram has a block structure that the speech Gram
reproduces whatever the embeddings mean; the permutation null destroys it, so CKA, its
gap and the p-value are inflated (random text vectors independent of the speech side,
3000 tokens of 534 Zipf-distributed types: linear CKA 0.754 against a null of 0.017,
p = 0.005; pooled per type: 0.321 against 0.322, p = 0.63).
Tokens whose word has no known text token (it tokenizes to nothing or to the
tokenizer's unknown token), or that have no frame, are skipped and counted (tokens and
types, ``usable_tokens``); then up to ``max_words`` word **types** are drawn with
``seed`` (``select_types``) before embedding (``embed_types``).

CKA (:mod:`codecprobe.cka`) of speech ``[n, H]`` against text ``[n, H]``, n = number of
word types, per estimator: ``linear`` (Kornblith et al. 2019; the paper's number),
``debiased`` (unbiased HSIC), optional ``rbf``; each against ``n_permutations`` row
permutations of the speech side (mean, sd, p-value), and for ``debiased`` a bootstrap CI
of the gap (CKA - null mean) over word types (rows resampled with replacement; copies
of a drawn type are treated like the diagonal, see ``cka_gap_bootstrap``).

Table columns (``cka_rows``, one row per estimator): ``n_words`` = ``n_types`` = n, the
rows of the CKA (word types; ``max_words`` caps it); ``n_tokens``: the word tokens pooled
into those rows (= n for ``per_type: one``); ``n_types_available``: usable types before
the draw; ``n_skipped``: word tokens skipped (no text tokens or no frame).

Embeddings HDF5 (``--embeddings``), one row per word type, the same row order throughout:
``speech [n, H]`` and ``text [n, H]`` (float32), ``word [n]`` (UTF-8 bytes),
``n_tokens [n]`` (int64, tokens pooled into the row), ``token_offset [n]`` (int64) and
``token_id [sum(n_tokens)]`` (the encode stage's token ids; row i's are
``token_id[token_offset[i] : token_offset[i] + n_tokens[i]]``, ascending); attributes: the
table's metadata, the LLM's, and the skip counts (JSON).

CLI: ``python -m codecprobe.speechtext run ...`` (one codec) and ``... summary ...``
(all codecs: combined table, figure, LaTeX table in the layout of the paper's Sec. 3.3).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from . import latex_provenance, source_version, with_provenance
from .arrays import group_positions, offsets
from .cka import cka_gap_bootstrap, cka_permutation, effective_dimension
from .encode import resolve_device
from .figures import latex_codec_name, latex_decimals, latex_interval
from .io import (
    CodecprobeError,
    atomic_path,
    read_table,
    readable_h5,
    run_cli,
    save_figure,
    setup_logging,
    utf8_bytes,
    utf8_text,
    write_table,
    write_text,
)
from .llm import LLM_CODEC, LLMSpec, load_llm_input

log = logging.getLogger("codecprobe.speechtext")

ESTIMATORS = ("linear", "debiased", "rbf")
SPEECH_POOLINGS = ("mean", "center")
PER_TYPE = ("mean", "one")
#: the speech side's variants: every codebook the LLM reads (the paper's number), the first
#: (MIMI's WavLM-distilled one) alone, and all but the first; names as the word-pair split's
VARIANTS = ("all", "layer1_only", "without_layer1")
#: fewer word types than this: no bootstrap CI of the gap (a resample of very few types
#: often holds fewer than 4 distinct ones, and the debiased CKA is then undefined)
MIN_BOOTSTRAP_TYPES = 20


@dataclass(frozen=True)
class CKAConfig:
    """The config's ``cka`` section. ``max_words``: word TYPES drawn (seeded), i.e. rows
    of the CKA; ``pooling``: over a token's frames; ``per_type``: over a type's tokens
    (``mean`` of all, or ``one`` drawn with ``seed``); ``split_first``: also the rows of
    the first codebook alone and of the others (:data:`VARIANTS`)."""

    max_words: int = 2000
    n_permutations: int = 1000
    n_bootstrap: int = 200
    bootstrap_permutations: int = 10
    estimators: tuple[str, ...] = ("linear", "debiased")
    pooling: str = "mean"
    per_type: str = "mean"
    seed: int = 0
    split_first: bool = True  # also layer 1 alone and layers 2..K (LLMs whose input sums codebooks: Moshi)

    def check(self) -> None:
        """Raise ``CodecprobeError`` for an unknown estimator, pooling or per_type, max_words
        below 4, a negative seed, or a count that is not a whole number (a by-hand
        ``--config`` skips the schema)."""
        if isinstance(self.estimators, str) or not all(isinstance(e, str) for e in self.estimators):
            raise CodecprobeError(f"cka.estimators: a list of estimators ({', '.join(ESTIMATORS)}), got {self.estimators!r}")
        bad = set(self.estimators) - set(ESTIMATORS)
        if bad:
            raise CodecprobeError(f"cka.estimators: unknown {sorted(bad)} (known: {', '.join(ESTIMATORS)})")
        if self.pooling not in SPEECH_POOLINGS:
            raise CodecprobeError(f"cka.pooling: {self.pooling!r} is not one of {', '.join(SPEECH_POOLINGS)}")
        if self.per_type not in PER_TYPE:
            raise CodecprobeError(f"cka.per_type: {self.per_type!r} is not one of {', '.join(PER_TYPE)}")
        for key, least in (("max_words", MIN_CKA_TYPES), ("n_permutations", 1), ("n_bootstrap", 0),
                           ("bootstrap_permutations", 1), ("seed", 0)):  # fmt: skip
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise CodecprobeError(f"cka.{key}: need a whole number >= {least}, got {value!r}")


def token_codes(path: str) -> tuple[pd.DataFrame, list[np.ndarray], dict]:
    """Word tokens ``(token_id, word, utt_id)``, each token's codes ``[K, F_i]`` and the
    file's attributes, from an encode-stage HDF5 (audio or feature slicing)."""
    with readable_h5(path, "feature file", "encode") as h:  # a dataset missing: named, not a KeyError
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h.attrs.items()}
        if "codes" not in h or "tokens" not in h:
            raise CodecprobeError(f"{path}: no codes/tokens (not written by the encode stage?)")
        t = h["tokens"]
        tokens = pd.DataFrame({
            "token_id": t["token_id"][:], "word": utf8_text(t["word"][:]), "utt_id": utf8_text(t["utt_id"][:]),
        })  # fmt: skip
        codes = h["codes"][:]
        n = t["n_frames"][:]
        if "utterances" in h:
            u = h["utterances"]
            off = dict(zip(utf8_text(u["utt_id"][:]), u["frame_offset"][:]))
            if lost := [x for x in tokens["utt_id"] if x not in off]:
                raise CodecprobeError(f"{path}: token utterance {lost[0]!r} is not in /utterances; rebuild it (rule encode)")
            start = np.array([off[x] for x in tokens["utt_id"]]) + t["utt_frame_start"][:]
        else:
            start = t["frame_offset"][:]
    return tokens, [codes[:, s : s + k] for s, k in zip(start, n)], attrs


def text_vectors(llm: Any, words: Sequence[str]) -> dict[str, np.ndarray | None]:
    """``{word: llm.text(word)}`` for each distinct word (None: it has no known text token),
    computed once and shared by :func:`usable_tokens` and :func:`embed_types`."""
    return {w: llm.text(w) for w in dict.fromkeys(str(x) for x in words)}


def usable_tokens(
    llm: Any, words: Sequence[str], codes: Sequence[np.ndarray], texts: dict[str, np.ndarray | None] | None = None
) -> tuple[np.ndarray, dict[str, int]]:
    """Mask ``[n]`` of the tokens that can be embedded (the word has text tokens, the token
    at least one frame) and the skip counts, in tokens and in types (a type is skipped
    when none of its tokens is usable). ``texts``: :func:`text_vectors` of these words, if
    already computed."""
    words = [str(w) for w in words]
    texts = text_vectors(llm, words) if texts is None else texts
    has_text = {w: texts[w] is not None for w in dict.fromkeys(words)}
    text_ok = np.array([has_text[w] for w in words], bool)
    frame_ok = np.array([c.shape[1] > 0 for c in codes], bool)
    keep = text_ok & frame_ok
    kept_types = {w for w, k in zip(words, keep) if k}
    counts = {
        "tokens skipped: word has no known text token": int((~text_ok).sum()),
        "tokens skipped: no frame": int((text_ok & ~frame_ok).sum()),
        "types skipped: word has no known text token": sum(not v for v in has_text.values()),
        "types skipped: no token with a frame": sum(v and w not in kept_types for w, v in has_text.items()),
    }  # fmt: skip
    return keep, counts


def select_types(words: Sequence[str], usable: np.ndarray, max_types: int, per_type: str = "mean", seed: int = 0,
                 token_ids: Sequence[int] | None = None) -> tuple[list[str], list[np.ndarray]]:  # fmt: skip
    """Word types (sorted by their text) and each one's token indices (rows of ``words``),
    in ascending ``token_ids`` when given (else ascending rows).

    Only ``usable`` tokens count. When there are more than ``max_types`` types, that many
    are drawn without replacement with ``np.random.default_rng(seed)``; ``per_type='one'``
    then keeps one token per type, drawn with the same generator (``'mean'`` keeps all):
    with ``token_ids`` the same token whatever the order of the rows.
    """
    if per_type not in PER_TYPE:
        raise CodecprobeError(f"cka.per_type: {per_type!r} is not one of {', '.join(PER_TYPE)}")
    if max_types < 1:
        raise CodecprobeError(f"cka.max_words: need at least 1 word type, got {max_types}")
    words = np.asarray([str(w) for w in words], dtype=object)
    usable = np.asarray(usable, bool)
    if usable.shape != (len(words),):
        raise CodecprobeError(f"usable: expected a mask of {len(words)} tokens, got shape {usable.shape}")
    idx = np.flatnonzero(usable)
    if idx.size == 0:
        raise CodecprobeError("no word token left to embed (all skipped: see the counts in the log)")
    types, inv = np.unique(words[idx].astype(str), return_inverse=True)
    members = [idx[g] for g in group_positions(inv, len(types))]
    if token_ids is not None:
        tid = np.asarray(token_ids)
        if tid.shape != (len(words),):
            raise CodecprobeError(f"token_ids: expected {len(words)} ids, got shape {tid.shape}")
        members = [m[np.argsort(tid[m], kind="stable")] for m in members]
    rng = np.random.default_rng(seed)
    if len(types) > max_types:
        pick = np.sort(rng.choice(len(types), max_types, replace=False))
        types, members = types[pick], [members[i] for i in pick]
    if per_type == "one":
        members = [m[[int(rng.integers(len(m)))]] for m in members]
    return [str(t) for t in types], members


def embed_types(llm: Any, types: Sequence[str], members: Sequence[np.ndarray], codes: Sequence[np.ndarray], pooling: str = "mean",
                texts: dict[str, np.ndarray | None] | None = None,
                codebooks: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Speech ``[n_types, H]`` and text ``[n_types, H]`` (float64), one row per type.

    Speech row of a type: ``mean over its tokens i in members`` of the token's vectors
    ``llm.speech(codes[i]) [T_i, H]`` pooled over frames (``pooling``: mean, or the middle
    vector ``T_i // 2``); with ``codebooks`` (0-based; an LLM that ``sums_codebooks``) the
    part those codebooks make. Text row: ``llm.text(word)``, read from ``texts``
    (:func:`text_vectors`) when given.
    """
    if pooling not in SPEECH_POOLINGS:
        raise CodecprobeError(f"cka.pooling: {pooling!r} is not one of {', '.join(SPEECH_POOLINGS)}")
    if len(types) != len(members):
        raise CodecprobeError(f"{len(types)} types but {len(members)} token lists")
    speech, text = [], []
    for j, (w, m) in enumerate(zip(types, members)):
        t = texts[w] if texts is not None and w in texts else llm.text(w)
        if t is None:
            raise CodecprobeError(f"word {w!r} has no known text token (filter with usable_tokens first)")
        if len(m) == 0:
            raise CodecprobeError(f"word {w!r}: no token to embed")
        per_token = []
        for i in m:
            if codes[i].shape[1] == 0:
                raise CodecprobeError(f"word {w!r}: token {i} has no frame (filter with usable_tokens first)")
            s = np.asarray(llm.speech(codes[i]) if codebooks is None else llm.speech(codes[i], codebooks), np.float64)
            per_token.append(s.mean(axis=0) if pooling == "mean" else s[s.shape[0] // 2])
        speech.append(np.mean(per_token, axis=0))
        text.append(np.asarray(t, np.float64))
        if (j + 1) % 500 == 0:
            log.info("embedded %d/%d word types", j + 1, len(types))
    if not speech:
        raise CodecprobeError("no word type to embed")
    return np.asarray(speech, np.float64), np.asarray(text, np.float64)


LIBRISPEECH_UTT = re.compile(r"^(\d+)-\d+-\d+$")


def type_speakers(utt_ids: Sequence[str], members: Sequence[np.ndarray]) -> np.ndarray | None:
    """Each word type's speaker: the one who spoke most of its tokens (``members``: token
    indices per type; ties to the smaller label), read from LibriSpeech utterance ids
    ``<speaker>-<chapter>-<n>``. ``[n_types]`` str, or ``None`` when an id is not of that
    form or every type falls in a speaker of its own (no within-speaker permutation)."""
    spk = []
    for u in utt_ids:
        m = LIBRISPEECH_UTT.match(str(u))
        if m is None:
            log.info("utterance id %r is not <speaker>-<chapter>-<n>: no within-speaker null", u)
            return None
        spk.append(m.group(1))
    spk = np.asarray(spk)
    out = []
    for m in members:
        labels, counts = np.unique(spk[np.asarray(m)], return_counts=True)
        out.append(labels[np.argmax(counts)])
    out = np.asarray(out)
    if len(np.unique(out)) == len(out):
        log.info("every word type has a speaker of its own: no within-speaker null")
        return None
    return out


def cka_rows(speech: np.ndarray, text: np.ndarray, words: np.ndarray, cfg: CKAConfig, n_tokens: np.ndarray | None = None,
             boots: dict[str, np.ndarray] | None = None, speakers: np.ndarray | None = None) -> list[dict]:  # fmt: skip
    """One row per estimator: CKA, permutation null (mean, sd, p), gap and, for
    ``debiased``, its bootstrap CI over the rows (word types; none, NaN, below
    ``MIN_BOOTSTRAP_TYPES`` rows).

    ``speakers [n]`` (each type's speaker, :func:`type_speakers`): also the null of
    permutations within speakers (``null_speaker_mean``, ``null_speaker_sd``,
    ``p_value_speaker``, ``gap_speaker``; NaN without). It keeps what a type's speaker
    alone links between the two sides (a speaker's voice in the speech rows, the topic of
    the book they read in the text rows of its rare words) and breaks the rest; the plain
    null breaks both, so its gap counts such a link as alignment. Its draws come from their
    own generator: the other columns are the same with or without it.

    Rows must be word types (``words`` unique): repeated types would give the text Gram a
    block structure that inflates CKA against its permutation null (module docstring).
    ``n_words`` = ``n_types`` = rows; ``n_tokens`` = tokens pooled into them (``n_tokens
    [n]`` per row, default one each). ``boots``, when given, receives the bootstrap gaps
    ``[n_bootstrap]`` by estimator (their draws depend on ``cfg.seed`` and the estimator
    only, so two calls on the same rows resample alike: a paired bootstrap).
    """
    bad = set(cfg.estimators) - set(ESTIMATORS)
    if bad:
        raise CodecprobeError(f"cka.estimators: unknown {sorted(bad)} (known: {', '.join(ESTIMATORS)})")
    words = np.asarray(words)
    n = len(speech)
    if words.shape != (n,):
        raise CodecprobeError(f"words: expected one word per row ({n}), got shape {words.shape}")
    n_types = len(set(words.tolist()))
    if n_types < n:
        raise CodecprobeError(
            f"{n} rows but only {n_types} word types: CKA needs one row per word type "
            "(pool each type's tokens first: select_types / embed_types)"
        )
    n_tok = n if n_tokens is None else int(np.sum(n_tokens))
    dtype = np.float64 if n <= 5000 else np.float32
    rows = []
    for est in cfg.estimators:
        rng = np.random.default_rng([cfg.seed, ESTIMATORS.index(est)])
        kernel, debiased = ("rbf", False) if est == "rbf" else ("linear", est == "debiased")
        res = cka_permutation(speech, text, cfg.n_permutations, rng, kernel=kernel, debiased=debiased, dtype=dtype)
        row = {
            "estimator": est, "n_words": n, "n_types": n_types, "n_tokens": n_tok, "cka": res.observed,
            "null_mean": res.null_mean, "null_sd": res.null_sd, "p_value": res.p_value,
            "n_permutations": cfg.n_permutations, "gap": res.gap, "gap_ci_low": np.nan, "gap_ci_high": np.nan,
            "n_bootstrap": 0, "null_speaker_mean": np.nan, "null_speaker_sd": np.nan, "p_value_speaker": np.nan,
            "gap_speaker": np.nan,
        }  # fmt: skip
        if speakers is not None:
            srng = np.random.default_rng([cfg.seed, ESTIMATORS.index(est), 1])
            sp = cka_permutation(speech, text, cfg.n_permutations, srng, groups=speakers, kernel=kernel,
                                 debiased=debiased, dtype=dtype)  # fmt: skip
            row |= {"null_speaker_mean": sp.null_mean, "null_speaker_sd": sp.null_sd, "p_value_speaker": sp.p_value,
                    "gap_speaker": sp.gap}  # fmt: skip
            log.info("%s CKA against permutations within speakers: null %.4f +- %.4f (p = %.4g)", est, sp.null_mean,
                     sp.null_sd, sp.p_value)  # fmt: skip
        if est == "debiased" and cfg.n_bootstrap >= 2 and n < MIN_BOOTSTRAP_TYPES:
            log.warning("no bootstrap CI of the gap: %d word types (< %d)", n, MIN_BOOTSTRAP_TYPES)
        elif est == "debiased" and cfg.n_bootstrap >= 2:
            boot = cka_gap_bootstrap(speech, text, cfg.n_bootstrap, rng, n_perm=cfg.bootstrap_permutations, dtype=dtype)
            row |= {"gap_ci_low": boot.ci_low, "gap_ci_high": boot.ci_high, "n_bootstrap": cfg.n_bootstrap}
            if boots is not None:
                boots[est] = boot.values
        log.info("%s CKA %.4f, permutation null %.4f +- %.4f (p = %.4g), %d word types", est, res.observed, res.null_mean, res.null_sd, res.p_value, n)
        rows.append(row)
    return rows


MIN_CKA_TYPES = 4  # the debiased estimator's least n (U-centring divides by n - 3)


def run(codec_name: str, features: str, llm_spec: LLMSpec, cfg: CKAConfig, out: str, embeddings: str | None = None, device: str = "cpu") -> pd.DataFrame:
    """The whole stage for one codec: codes -> per-type LLM input vectors -> CKA table (atomic)."""
    cfg.check()
    tokens, codes, attrs = token_codes(features)
    family = attrs.get("family")
    want = LLM_CODEC.get(llm_spec.family)
    if want is not None and family != want:
        raise CodecprobeError(f"{features}: codec family {family!r}, but llm family {llm_spec.family!r} reads {want} codes")
    llm = load_llm_input(llm_spec, device)
    texts = text_vectors(llm, tokens["word"].tolist())  # one tokenizer call per word type
    keep, counts = usable_tokens(llm, tokens["word"].tolist(), codes, texts)
    for k, v in counts.items():
        log.info("%s: %d", k, v)
    n_available = len(set(tokens["word"].to_numpy()[keep].tolist()))
    if n_available < MIN_CKA_TYPES:  # CKA of a handful of rows says nothing (and the estimators need 4)
        raise CodecprobeError(
            f"{features}: {n_available} word type(s) usable for CKA (of {len(set(tokens['word']))} encoded; counts: "
            f"{', '.join(f'{k} {v}' for k, v in counts.items())}); at least {MIN_CKA_TYPES} are needed"
        )
    types, members = select_types(tokens["word"].tolist(), keep, cfg.max_words, cfg.per_type, cfg.seed,
                                  tokens["token_id"].to_numpy())  # fmt: skip
    log.info(
        "%d of %d word types (cka.max_words %d, seed %d), %d word tokens (cka.per_type %s)",
        len(types), n_available, cfg.max_words, cfg.seed, sum(len(m) for m in members), cfg.per_type,
    )  # fmt: skip
    speech, text = embed_types(llm, types, members, codes, cfg.pooling, texts)
    n_tokens = np.array([len(m) for m in members], np.int64)
    speakers = type_speakers(tokens["utt_id"].tolist(), members)
    if speakers is not None:
        log.info("%d speakers among the %d word types (each type: the speaker of most of its tokens)",
                 len(np.unique(speakers)), len(types))  # fmt: skip
    n_books = llm.n_codebooks
    variants, books = {VARIANTS[0]: speech}, {VARIANTS[0]: f"1-{n_books}"}  # codebooks (1-based) behind each speech side
    if cfg.split_first and llm.sums_codebooks and n_books > 1:
        # the paper's reading of MIMI's higher CKA (its WavLM-distilled first codebook): that
        # codebook's part of the speech vectors alone, and the rest's
        for name, ks, label in zip(VARIANTS[1:], ([0], list(range(1, n_books))), ("1", f"2-{n_books}")):
            variants[name] = embed_types(llm, types, members, codes, cfg.pooling, texts, codebooks=ks)[0]
            books[name] = label
    elif cfg.split_first and not llm.sums_codebooks:
        log.info("cka.split_first: %s does not sum its codebooks' embeddings; no first-codebook split", llm.family)
    codec_random = bool(attrs.get("random_weights", False))
    text_eff = effective_dimension(text)
    total = float(np.sum((speech - speech.mean(0)) ** 2))  # the speech side's variance over types
    records, metas, boots = [], {}, {v: {} for v in variants}
    for variant, sp in variants.items():
        if variant != "all":
            log.info("speech side: %s", variant)
        meta = {
            "codec": codec_name, "codec_family": family, "codec_random": codec_random, "llm_family": llm.family,
            "llm_weights": llm_spec.weights, "llm_random": llm_spec.random, "tokenizer": llm.tokenizer.kind,
            "pooling": cfg.pooling, "per_type": cfg.per_type, "seed": cfg.seed, "variant": variant,
            "codebooks": books[variant],
            "speech_dim": sp.shape[1], "text_dim": text.shape[1], "speech_eff_dim": effective_dimension(sp),
            "speech_var_share": float(np.sum((sp - sp.mean(0)) ** 2)) / total if total > 0 else np.nan,
            "text_eff_dim": text_eff, "n_types_available": n_available, "n_skipped": int((~keep).sum()),
        }  # fmt: skip
        log.info("effective dimensions (participation ratio): speech %.1f of %d, text %.1f of %d",
                 meta["speech_eff_dim"], sp.shape[1], text_eff, text.shape[1])  # fmt: skip
        metas[variant] = meta
        records += [meta | r for r in cka_rows(sp, text, np.asarray(types), cfg, n_tokens, boots[variant], speakers)]
    gap_versus_all(records, boots)
    table = pd.DataFrame(records)
    if embeddings:
        import h5py

        token_id = tokens["token_id"].to_numpy()
        with atomic_path(embeddings) as tmp, h5py.File(tmp, "w") as h:
            h["speech"] = speech.astype(np.float32)
            for variant, sp in variants.items():
                if variant != "all":
                    h[f"speech_{variant}"] = sp.astype(np.float32)
            h["text"] = text.astype(np.float32)
            h["word"] = utf8_bytes(types)
            h["n_tokens"] = n_tokens
            h["token_offset"] = offsets(n_tokens)
            h["token_id"] = np.concatenate([token_id[m] for m in members])
            layout = (
                "one row per word type: speech/text/word/n_tokens/token_offset [n]; row i's token ids: "
                "token_id[token_offset[i] : token_offset[i] + n_tokens[i]]"
            )
            if len(variants) > 1:
                layout += "; speech_layer1_only, speech_without_layer1 [n]: the first codebook's part of speech, and the others'"
            meta = {k: v for k, v in metas["all"].items() if k != "variant"}
            meta |= {f"speech_eff_dim_{v}": m["speech_eff_dim"] for v, m in metas.items() if v != "all"}
            for k, v in (meta | llm.metadata() | {"counts": counts, "layout": layout, "codecprobe": source_version()}).items():
                h.attrs[k] = v if isinstance(v, (bool, int, float, str)) else json.dumps(v, default=str)
            h.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
            if codec_random or llm_spec.random:
                h.attrs["note"] = "RANDOM WEIGHTS: tests plumbing only, not a result"
    write_table(table, out)
    return table


def gap_versus_all(records: list[dict], boots: dict[str, dict[str, np.ndarray]], ci: float = 0.95) -> None:
    """Add ``gap_minus_all`` (with ``_ci_low``, ``_ci_high``) to each row of ``records``: its
    gap minus the gap of the same estimator's ``all`` row, with the percentile interval of the
    paired bootstrap (``boots[variant][estimator]``: the gaps of resamples drawn alike for
    every variant, :func:`cka_rows`). Does codebook 1 alone align with the text space more
    than every codebook together, beyond the resampling noise? NaN for the ``all`` rows; the
    interval NaN where there is no bootstrap (``linear``: plain CKA has none; too few types)."""
    gap_all = {r["estimator"]: r["gap"] for r in records if r["variant"] == VARIANTS[0]}
    for r in records:
        v, est = r["variant"], r["estimator"]
        r |= {"gap_minus_all": np.nan, "gap_minus_all_ci_low": np.nan, "gap_minus_all_ci_high": np.nan}
        if v == VARIANTS[0] or est not in gap_all:
            continue
        r["gap_minus_all"] = r["gap"] - gap_all[est]
        mine, whole = boots.get(v, {}).get(est), boots.get(VARIANTS[0], {}).get(est)
        if mine is not None and whole is not None:
            lo, hi = np.quantile(mine - whole, [(1 - ci) / 2, (1 + ci) / 2])
            r |= {"gap_minus_all_ci_low": float(lo), "gap_minus_all_ci_high": float(hi)}


# ----------------------------------------------------------------------------- summary
PAPER = {"mimi": 0.329, "mimo": 0.122}  # the paper's Sec. 3.3 CKA values, by codec family
# its legend entry: the release's speech side is not this stage's (paper_comparison: "no")
PAPER_LABEL = "paper (its speech side\ndiffers: not comparable)"


def main_variant(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the paper's number: every codebook on the speech side (variant ``all``;
    tables from before session 18 have no ``variant`` column and only such rows; combined
    with newer ones their ``variant`` is empty)."""
    return table[table["variant"].fillna("all") == "all"] if "variant" in table else table


def _shown(t: pd.DataFrame) -> list[float]:
    """The numbers of a :func:`latex_table` row made from the rows ``t``: the linear CKA, its
    baseline and gap, and the debiased gap with its interval."""
    lin = t[t["estimator"] == "linear"].iloc[:1]
    deb = t[t["estimator"] == "debiased"].iloc[:1]
    return [*lin[["cka", "null_mean", "null_sd", "gap"]].to_numpy().ravel(), *deb[["gap", "gap_ci_low", "gap_ci_high"]].to_numpy().ravel()]


def _cka_row(codec: str, t: pd.DataFrame, label: str | None = None, d: int | None = None, speakers: bool = False) -> str:
    """One codec's row of :func:`latex_table` from its rows ``t`` (one per estimator); every
    number with the decimals :func:`codecprobe.figures.latex_decimals` picks from those shown
    (or ``d``). ``label`` replaces the codec's name (the rows of its codebook split).
    ``speakers``: a last cell, the linear gap over the within-speaker null and its p."""
    lin = t[t["estimator"] == "linear"].iloc[:1]
    deb = t[t["estimator"] == "debiased"].iloc[:1]
    d = latex_decimals(_shown(t)) if d is None else d
    name = label or latex_codec_name(codec, t["codec_random"].any() or t["llm_random"].any())
    cka, base, gap = "--", "--", "--"
    if len(lin):
        r = lin.iloc[0]
        cka, base, gap = f"{r['cka']:.{d}f}", f"{r['null_mean']:.{d}f} $\\pm$ {r['null_sd']:.{d}f}", f"{r['gap']:+.{d}f}"
    dgap = latex_interval(*deb[["gap", "gap_ci_low", "gap_ci_high"]].iloc[0], f"+.{d}f") if len(deb) else "--"
    cells = [name, cka, base, gap, dgap]
    if speakers:
        r = lin.iloc[0] if len(lin) else None
        ok = r is not None and np.isfinite(r.get("gap_speaker", np.nan))
        cells.append(f"{r['gap_speaker']:+.{d}f} ($p$ = {r['p_value_speaker']:.2g})" if ok else "--")
    return " & ".join(cells) + " \\\\"


def latex_table(table: pd.DataFrame) -> str:
    """The paper's Sec. 3.3 numbers as a LaTeX tabular: per codec, linear CKA, its
    permutation baseline (mean +- sd), the gap, and the debiased CKA gap with its CI (and,
    when the tables carry the within-speaker null, the linear gap over it with its p); under
    a codec with the first-codebook split, its rows for codebook 1 alone and for codebooks
    2..K, with the codec's decimals. Decimals per codec as in the other tables (3 when its
    largest number is 0.1 or more)."""
    spk = "gap_speaker" in table and bool(table["gap_speaker"].notna().any())
    lines = [
        "% codecprobe: speech-text CKA (paper Sec. 3.3); generated, do not edit",
        r"\begin{tabular}{lcccc" + ("c}" if spk else "}"),
        r"\toprule",
        r"Codec & CKA & Permutation baseline & $\Delta$ & Debiased $\Delta$ [95\% CI]"
        + (r" & $\Delta$ within speakers \\" if spk else r" \\"),
        r"\midrule",
    ]
    for codec, t in table.groupby("codec", sort=False):
        main = main_variant(t)
        lines.append(_cka_row(str(codec), main, speakers=spk))
        if "variant" not in t:
            continue
        d = latex_decimals(_shown(main))  # the split rows print with the codec's decimals
        for variant, what in zip(VARIANTS[1:], ("codebook 1 alone", "codebooks {} only")):
            part = t[t["variant"] == variant]
            if len(part):
                lines.append(_cka_row(str(codec), part, "\\quad " + what.format(part["codebooks"].iloc[0]), d, spk))
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def cka_figure(table: pd.DataFrame, pdf: str, png: str, note: str = "") -> None:
    """Bars: CKA per codec and estimator; grey band: permutation null mean +- 2 sd; hatched
    band: the within-speaker null's (where the table has it); dots: the paper's linear CKA
    where it reports one. Every codebook on the speech side only
    (:func:`main_variant`; the split is in the table and the LaTeX)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = main_variant(table)
    codecs = list(dict.fromkeys(table["codec"]))
    ests = [e for e in ESTIMATORS if e in set(table["estimator"])]
    width = 0.8 / max(1, len(ests))
    fig_w = max(5.0, 1.6 + 1.4 * len(codecs) * max(1, len(ests)) / 2) + 2.0  # + the legend, right of the axes
    fig, ax = plt.subplots(figsize=(fig_w, 3.6))
    colors = {"linear": "#0072B2", "debiased": "#E69F00", "rbf": "#009E73"}  # Okabe-Ito: told apart with colour blindness
    labelled: set[str] = set()  # legend entries made: each on the first mark drawn, whichever codec has it

    def label(name: str) -> str | None:
        if name in labelled:
            return None
        labelled.add(name)
        return name

    for j, est in enumerate(ests):
        for i, c in enumerate(codecs):
            r = table[(table["codec"] == c) & (table["estimator"] == est)]
            if r.empty:
                continue
            r = r.iloc[0]
            x = i + (j - (len(ests) - 1) / 2) * width
            ax.bar(x, r["cka"], width * 0.9, color=colors[est], label=label(est))
            ax.fill_between([x - width / 2, x + width / 2], r["null_mean"] - 2 * r["null_sd"], r["null_mean"] + 2 * r["null_sd"], color="0.5", alpha=0.45, lw=0, label=label("permutation null\n(mean ± 2 sd)"))
            if np.isfinite(r.get("null_speaker_mean", np.nan)):
                lo, hi = r["null_speaker_mean"] - 2 * r["null_speaker_sd"], r["null_speaker_mean"] + 2 * r["null_speaker_sd"]
                ax.fill_between([x - width / 2, x + width / 2], lo, hi, facecolor="none", edgecolor="k", hatch="////", lw=0.5,
                                label=label("within-speaker null\n(mean ± 2 sd)"))  # fmt: skip
            if est == "linear" and r["codec_family"] in PAPER and not (r["codec_random"] or r["llm_random"]):
                ax.plot(x, PAPER[r["codec_family"]], "kD", ms=5, label=label(PAPER_LABEL))
    rnd = [bool(table[table["codec"] == c][["codec_random", "llm_random"]].to_numpy().any()) for c in codecs]
    ax.set_xticks(range(len(codecs)), [c + ("\n(RANDOM WEIGHTS)" if r else "") for c, r in zip(codecs, rnd)], fontsize=9)
    for tick, r in zip(ax.get_xticklabels(), rnd):
        tick.set_color("red" if r else "black")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("CKA (speech vs text)")
    title = "Speech-text alignment (LLM input embeddings)"
    if any(rnd):
        title += "\nRANDOM WEIGHTS: " + ", ".join(c for c, r in zip(codecs, rnd) if r) + " (plumbing only)"
    note = textwrap.fill(note, width=int(11 * fig_w)) if note else ""  # a long note wrapped, not cut at the figure's edge
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    save_figure(fig, pdf, png)


# ----------------------------------------------------------------------------- CLI
def _json_object(text: str, option: str, known: set[str]) -> dict:
    """``option``'s JSON object, with only ``known`` keys (the rules write them from the
    validated config; by hand, a misspelt key was dropped silently)."""
    try:
        d = json.loads(text)
    except ValueError as e:
        raise CodecprobeError(f"{option}: not JSON ({e}): {text[:80]!r}") from None
    if not isinstance(d, dict):
        raise CodecprobeError(f"{option}: a JSON object is needed, got {text[:80]!r}")
    if unknown := sorted(set(d) - known):
        raise CodecprobeError(f"{option}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return d


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Speech-text CKA through a speech LLM's input embeddings.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="one codec: embeddings and CKA table")
    r.add_argument("--codec", required=True)
    r.add_argument("--features", required=True, help="the encode stage's HDF5")
    r.add_argument("--llm", required=True, help="the codec's llm entry, as JSON")
    r.add_argument("--out", required=True, help="CKA table (CSV)")
    r.add_argument("--embeddings", default=None, help="speech and text vectors (HDF5)")
    r.add_argument("--config", default="{}", help="the cka section, as JSON")
    r.add_argument("--device", default="cpu")
    s = sub.add_parser("summary", help="all codecs: table, figure, LaTeX")
    s.add_argument("--tables", nargs="+", required=True)
    s.add_argument("--combined", required=True)
    s.add_argument("--pdf", required=True)
    s.add_argument("--png", required=True)
    s.add_argument("--latex", required=True)
    s.add_argument("--note", default="")
    for p in (r, s):
        p.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    if a.cmd == "run":
        cfg = _json_object(a.config, "--config", set(CKAConfig.__dataclass_fields__) | {"device"})
        cfg = CKAConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items() if k != "device"})
        digests = {"weights_digest", "tokenizer_digest"}  # the workflow's (config.llm_json), for planning only
        d = {k: v for k, v in _json_object(a.llm, "--llm", set(LLMSpec.__dataclass_fields__) | digests).items() if k not in digests}
        if "family" not in d:
            raise CodecprobeError(f"--llm: no family (known: {', '.join(sorted(LLM_CODEC))})")
        spec = LLMSpec(**d)
        run(a.codec, a.features, spec, cfg, a.out, a.embeddings, resolve_device(a.device))
    else:
        numbers = ("cka", "null_mean", "null_sd", "gap")
        table = pd.concat([read_table(p, required=("codec", "estimator", *numbers), numeric=numbers) for p in a.tables],
                          ignore_index=True)  # fmt: skip
        if table.empty:
            raise CodecprobeError(f"{', '.join(a.tables)}: no rows")
        write_table(with_provenance(table, a.note), a.combined)
        write_text(latex_provenance(a.note) + latex_table(table), a.latex)
        cka_figure(table, a.pdf, a.png, a.note)


if __name__ == "__main__":
    run_cli(main)
