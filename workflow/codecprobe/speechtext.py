"""Speech-text alignment (paper Sec. 2.5, 3.3): CKA between a codec's speech tokens and
its LLM's text tokens, both as the LLM embeds them before its transformer.

Per word token of the codec's feature file (``results/features/<codec>/words.h5``):
speech = the LLM's audio input path applied to the word's codes (:mod:`codecprobe.llm`),
pooled over the word; text = the mean input embedding of the word's sub-word tokens.
Tokens whose word tokenizes to nothing, or that have no frame, are skipped and counted.
Up to ``max_words`` tokens are drawn (seeded) before embedding.

CKA (:mod:`codecprobe.cka`) of speech ``[n, H]`` against text ``[n, H]``, per estimator:
``linear`` (Kornblith et al. 2019; the paper's number), ``debiased`` (unbiased HSIC),
optional ``rbf``; each against ``n_permutations`` row permutations of the speech side
(mean, sd, p-value), and for ``debiased`` a bootstrap CI of the gap (CKA - null mean)
over word tokens (permutations, in the baseline and in each resample, move rows freely
across all words; ``codecprobe.cka``'s grouped mode would permute only within word types
and is not used here).

CLI: ``python -m codecprobe.speechtext run ...`` (one codec) and ``... summary ...``
(all codecs: combined table, figure, LaTeX table in the layout of the paper's Sec. 3.3).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from . import __version__
from .cka import cka_gap_bootstrap, cka_permutation
from .encode import resolve_device
from .io import CodecprobeError, atomic_path, read_table, run_cli, save_figure, setup_logging, write_table, write_text
from .llm import LLM_CODEC, LLMInput, LLMSpec, load_llm_input

log = logging.getLogger("codecprobe.speechtext")

ESTIMATORS = ("linear", "debiased", "rbf")
SPEECH_POOLINGS = ("mean", "center")


@dataclass(frozen=True)
class CKAConfig:
    """The config's ``cka`` section."""

    max_words: int = 2000
    n_permutations: int = 1000
    n_bootstrap: int = 200
    bootstrap_permutations: int = 10
    estimators: tuple[str, ...] = ("linear", "debiased")
    pooling: str = "mean"
    seed: int = 0


def token_codes(path: str) -> tuple[pd.DataFrame, list[np.ndarray], dict]:
    """Word tokens ``(token_id, word, utt_id)``, each token's codes ``[K, F_i]`` and the
    file's attributes, from an encode-stage HDF5 (audio or feature slicing)."""
    import h5py

    try:
        h = h5py.File(path, "r")
    except OSError as e:
        raise CodecprobeError(f"{path}: not a readable HDF5 feature file ({e})") from None
    with h:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h.attrs.items()}
        if "codes" not in h or "tokens" not in h:
            raise CodecprobeError(f"{path}: no codes/tokens (not written by the encode stage?)")
        t = h["tokens"]
        tokens = pd.DataFrame({
            "token_id": t["token_id"][:], "word": t["word"][:].astype(str), "utt_id": t["utt_id"][:].astype(str),
        })  # fmt: skip
        codes = h["codes"][:]
        n = t["n_frames"][:]
        if "utterances" in h:
            u = h["utterances"]
            off = dict(zip(u["utt_id"][:].astype(str), u["frame_offset"][:]))
            start = np.array([off[x] for x in tokens["utt_id"]]) + t["utt_frame_start"][:]
        else:
            start = t["frame_offset"][:]
    return tokens, [codes[:, s : s + k] for s, k in zip(start, n)], attrs


def embed_tokens(llm: LLMInput, words: list[str], codes: list[np.ndarray], pooling: str = "mean") -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Speech ``[n_kept, H]`` and text ``[n_kept, H]`` vectors, the kept mask ``[n]`` and skip counts."""
    if pooling not in SPEECH_POOLINGS:
        raise CodecprobeError(f"cka.pooling: {pooling!r} is not one of {', '.join(SPEECH_POOLINGS)}")
    text_cache: dict[str, np.ndarray | None] = {}
    speech, text, keep = [], [], np.zeros(len(words), bool)
    counts = {"skipped: word tokenizes to nothing": 0, "skipped: no frame": 0}
    for i, (w, c) in enumerate(zip(words, codes)):
        if w not in text_cache:
            text_cache[w] = llm.text(w)
        if text_cache[w] is None:
            counts["skipped: word tokenizes to nothing"] += 1
            continue
        if c.shape[1] == 0:
            counts["skipped: no frame"] += 1
            continue
        s = llm.speech(c)
        speech.append(s.mean(axis=0) if pooling == "mean" else s[s.shape[0] // 2])
        text.append(text_cache[w])
        keep[i] = True
        if (i + 1) % 1000 == 0:
            log.info("embedded %d/%d tokens", i + 1, len(words))
    if not speech:
        raise CodecprobeError("no word token left to embed (all skipped: see the counts in the log)")
    return np.asarray(speech, np.float64), np.asarray(text, np.float64), keep, counts


def cka_rows(speech: np.ndarray, text: np.ndarray, words: np.ndarray, cfg: CKAConfig) -> list[dict]:
    """One row per estimator: CKA, permutation null (mean, sd, p), gap and, for
    ``debiased``, its bootstrap CI over word tokens."""
    bad = set(cfg.estimators) - set(ESTIMATORS)
    if bad:
        raise CodecprobeError(f"cka.estimators: unknown {sorted(bad)} (known: {', '.join(ESTIMATORS)})")
    n = len(speech)
    dtype = np.float64 if n <= 5000 else np.float32
    rows = []
    for est in cfg.estimators:
        rng = np.random.default_rng([cfg.seed, ESTIMATORS.index(est)])
        kernel, debiased = ("rbf", False) if est == "rbf" else ("linear", est == "debiased")
        res = cka_permutation(speech, text, cfg.n_permutations, rng, kernel=kernel, debiased=debiased, dtype=dtype)
        row = {
            "estimator": est, "n_words": n, "n_types": len(set(words)), "cka": res.observed,
            "null_mean": res.null_mean, "null_sd": res.null_sd, "p_value": res.p_value,
            "n_permutations": cfg.n_permutations, "gap": res.gap, "gap_ci_low": np.nan, "gap_ci_high": np.nan,
            "n_bootstrap": 0,
        }  # fmt: skip
        if est == "debiased" and cfg.n_bootstrap >= 2:
            boot = cka_gap_bootstrap(speech, text, cfg.n_bootstrap, rng, n_perm=cfg.bootstrap_permutations, dtype=dtype)
            row |= {"gap_ci_low": boot.ci_low, "gap_ci_high": boot.ci_high, "n_bootstrap": cfg.n_bootstrap}
        log.info("%s CKA %.4f, permutation null %.4f +- %.4f (p = %.4g)", est, res.observed, res.null_mean, res.null_sd, res.p_value)
        rows.append(row)
    return rows


def run(codec_name: str, features: str, llm_spec: LLMSpec, cfg: CKAConfig, out: str, embeddings: str | None = None, device: str = "cpu") -> pd.DataFrame:
    """The whole stage for one codec: codes -> LLM input vectors -> CKA table (atomic)."""
    tokens, codes, attrs = token_codes(features)
    family = attrs.get("family")
    want = LLM_CODEC.get(llm_spec.family)
    if want is not None and family != want:
        raise CodecprobeError(f"{features}: codec family {family!r}, but llm family {llm_spec.family!r} reads {want} codes")
    if len(tokens) > cfg.max_words:
        pick = np.sort(np.random.default_rng(cfg.seed).choice(len(tokens), cfg.max_words, replace=False))
        log.info("%d of %d word tokens drawn (cka.max_words, seed %d)", cfg.max_words, len(tokens), cfg.seed)
        tokens, codes = tokens.iloc[pick].reset_index(drop=True), [codes[i] for i in pick]
    llm = load_llm_input(llm_spec, device)
    speech, text, keep, counts = embed_tokens(llm, tokens["word"].tolist(), codes, cfg.pooling)
    for k, v in counts.items():
        log.info("%s: %d", k, v)
    words = tokens["word"].to_numpy()[keep]
    rows = cka_rows(speech, text, words, cfg)
    codec_random = bool(attrs.get("random_weights", False))
    meta = {
        "codec": codec_name, "codec_family": family, "codec_random": codec_random, "llm_family": llm.family,
        "llm_weights": llm_spec.weights, "llm_random": llm_spec.random, "tokenizer": llm.tokenizer.kind,
        "pooling": cfg.pooling, "seed": cfg.seed, "speech_dim": speech.shape[1], "text_dim": text.shape[1],
        "n_skipped": int((~keep).sum()),
    }  # fmt: skip
    table = pd.DataFrame([meta | r for r in rows])
    if embeddings:
        import h5py

        with atomic_path(embeddings) as tmp, h5py.File(tmp, "w") as h:
            h["speech"] = speech.astype(np.float32)
            h["text"] = text.astype(np.float32)
            h["token_id"] = tokens["token_id"].to_numpy()[keep]
            h["word"] = words.astype("S")
            for k, v in (meta | llm.metadata() | {"counts": counts, "codecprobe": __version__}).items():
                h.attrs[k] = v if isinstance(v, (bool, int, float, str)) else json.dumps(v, default=str)
            h.attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            if codec_random or llm_spec.random:
                h.attrs["note"] = "RANDOM WEIGHTS: tests plumbing only, not a result"
    write_table(table, out)
    return table


# ----------------------------------------------------------------------------- summary
PAPER = {"mimi": 0.329, "mimo": 0.122}  # the paper's Sec. 3.3 CKA values, by codec family


def latex_table(table: pd.DataFrame) -> str:
    """The paper's Sec. 3.3 numbers as a LaTeX tabular: per codec, linear CKA, its
    permutation baseline (mean +- sd), the gap, and the debiased CKA gap with its CI."""
    lines = [
        "% codecprobe: speech-text CKA (paper Sec. 3.3); generated, do not edit",
        r"\begin{tabular}{lcccc}",
        r"\toprule",
        r"Codec & CKA & Permutation baseline & $\Delta$ & Debiased $\Delta$ [95\% CI] \\",
        r"\midrule",
    ]
    for codec, t in table.groupby("codec", sort=False):
        lin = t[t["estimator"] == "linear"]
        deb = t[t["estimator"] == "debiased"]
        rnd = " (random weights)" if (t["codec_random"].any() or t["llm_random"].any()) else ""
        name = str(codec).replace("_", r"\_").upper() + rnd
        cka = f"{lin['cka'].iloc[0]:.3f}" if len(lin) else "--"
        base = f"{lin['null_mean'].iloc[0]:.3f} $\\pm$ {lin['null_sd'].iloc[0]:.3f}" if len(lin) else "--"
        gap = f"{lin['gap'].iloc[0]:+.3f}" if len(lin) else "--"
        if len(deb) and np.isfinite(deb["gap_ci_low"].iloc[0]):
            d = deb.iloc[0]
            dgap = f"{d['gap']:+.3f} [{d['gap_ci_low']:+.3f}, {d['gap_ci_high']:+.3f}]"
        elif len(deb):
            dgap = f"{deb['gap'].iloc[0]:+.3f}"
        else:
            dgap = "--"
        lines.append(f"{name} & {cka} & {base} & {gap} & {dgap} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def cka_figure(table: pd.DataFrame, pdf: str, png: str, note: str = "") -> None:
    """Bars: CKA per codec and estimator; grey band: permutation null mean +- 2 sd; dots:
    the paper's linear CKA where it reports one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codecs = list(dict.fromkeys(table["codec"]))
    ests = [e for e in ESTIMATORS if e in set(table["estimator"])]
    width = 0.8 / max(1, len(ests))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 + 1.4 * len(codecs) * max(1, len(ests)) / 2), 3.6))
    colors = {"linear": "#1f77b4", "debiased": "#ff7f0e", "rbf": "#2ca02c"}
    for j, est in enumerate(ests):
        for i, c in enumerate(codecs):
            r = table[(table["codec"] == c) & (table["estimator"] == est)]
            if r.empty:
                continue
            r = r.iloc[0]
            x = i + (j - (len(ests) - 1) / 2) * width
            ax.bar(x, r["cka"], width * 0.9, color=colors[est], label=est if i == 0 else None)
            ax.fill_between([x - width / 2, x + width / 2], r["null_mean"] - 2 * r["null_sd"], r["null_mean"] + 2 * r["null_sd"], color="0.5", alpha=0.45, lw=0, label="permutation null (mean +- 2 sd)" if i == 0 and j == 0 else None)
            if est == "linear" and r["codec_family"] in PAPER and not (r["codec_random"] or r["llm_random"]):
                ax.plot(x, PAPER[r["codec_family"]], "kD", ms=5, label="paper" if i == 0 else None)
    rnd = [bool(table[table["codec"] == c][["codec_random", "llm_random"]].to_numpy().any()) for c in codecs]
    ax.set_xticks(range(len(codecs)), [c + ("\n(RANDOM WEIGHTS)" if r else "") for c, r in zip(codecs, rnd)], fontsize=9)
    for tick, r in zip(ax.get_xticklabels(), rnd):
        tick.set_color("red" if r else "black")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("CKA (speech vs text)")
    title = "Speech-text alignment (LLM input embeddings)"
    if any(rnd):
        title += "\nRANDOM WEIGHTS: " + ", ".join(c for c, r in zip(codecs, rnd) if r) + " (plumbing only)"
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    save_figure(fig, pdf, png)


# ----------------------------------------------------------------------------- CLI
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
        cfg = json.loads(a.config)
        cfg = CKAConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items() if k != "device"})
        d = json.loads(a.llm)
        spec = LLMSpec(**{k: v for k, v in d.items() if k in LLMSpec.__dataclass_fields__})
        run(a.codec, a.features, spec, cfg, a.out, a.embeddings, resolve_device(a.device))
    else:
        table = pd.concat([read_table(p) for p in a.tables], ignore_index=True)
        write_table(table, a.combined)
        write_text(latex_table(table), a.latex)
        cka_figure(table, a.pdf, a.png, a.note)


if __name__ == "__main__":
    run_cli(main)
