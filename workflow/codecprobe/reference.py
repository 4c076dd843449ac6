"""This run's numbers beside the paper's (``results/tables/paper_comparison.csv``).

The reference numbers (``resources/paper_reference.csv``) are those the seed paper's
figures were drawn from: its release's caches for Fig. 2 (word-pair distances, 5 seeds x
10,000 tokens) and Fig. 3 (PWCCA per layer), the CKA values of its Sec. 3.3, and its
Table 1 (input sample rate and bitrate of each codec). One row
per number: ``analysis`` (``word_pairs``, ``pwcca``, ``cka``, ``codec``), codec ``family``,
``quantity``, ``layers`` (one layer, a range ``a-b``, or empty for CKA; for Table 1's
bitrate the layers it counts, ``1-K``), ``stat``
(``value``; ``min``/``max`` over the range's layers), ``value``, ``settings`` (what the
release did that a run must match for the number to compare, see :data:`SETTINGS`; several
joined by ``;``) and ``source``.

Quantities: ``random_mean`` (the random pairs' mean distance), ``<type>_minus_random``
(``norm_mean``), ``<type>_rel_percent`` (``rel_mean`` x 100; over a range: the mean over
its layers), ``pwcca`` (the mean over speakers), ``cka_linear`` and ``cka_gap`` (linear
CKA and its gap over the permutation baseline), ``input_sample_rate_hz`` and
``bitrate_bps`` (from :mod:`codecprobe.codectable`: the codec's rate and its codes' bits per
second over the layers the run encoded).

For every codec of the run whose family has reference rows, :func:`compare` gives this
run's value beside the paper's and says whether they compare (``comparable``: ``yes``,
``approximately: <why>`` or ``no: <why>``): random weights, a layer the run did not
encode, a bitrate over another number of layers, a quantity the run did not compute (a
row with no value; analyses the run does not have give no rows), and each documented departure from the release (README, *Where codecprobe departs
from the seed paper's release*) are named.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .figures import accumulated_rows
from .io import CodecprobeError, read_table, run_cli, setup_logging, write_table

REFERENCE = Path(__file__).resolve().parents[2] / "resources" / "paper_reference.csv"
COLUMNS = ["analysis", "codec", "family", "quantity", "layers", "stat", "paper", "ours", "difference",
           "comparable", "source"]  # fmt: skip
# What the release did that this run may not: (test on the codec entry, why when it differs,
# "no" or "approximately").
SETTINGS = {
    "dac_8d": (
        lambda c: c.get("vectors") == "release_8d",
        "the release summed DAC's 8-d codebook rows (vectors: release_8d); this run: decoded",
        "no",
    ),
    "dac_compress": (
        lambda c: False,
        "the release encoded DAC's input through compress() (loudness to -16 dB, 1 s windows); this run: the samples as they are",
        "approximately",
    ),
    "mimi_upsampled": (
        lambda c: False,
        "the release passed MIMI's features through the codec's upsampling layer (about a per-channel scaling)",
        "approximately",
    ),
    "mimi_upsampled_scale": (
        lambda c: False,
        (
            "the release's MIMI distances are of features through the codec's upsampling layer, on another scale: "
            "only relative values compare"
        ),
        "no",
    ),
    "release_pwcca": (
        lambda c: False,
        "the release's PWCCA: buckets of clips, frame-start times (README: departures)",
        "approximately",
    ),
    "cka_speech_side": (
        lambda c: False,
        "the release's speech side: the codec's last layer pooled, 500 words; this run: the LLM's input space",
        "no",
    ),
}
ANALYSES = ("word_pairs", "pwcca", "cka", "codec")
CODEC_QUANTITIES = {"input_sample_rate_hz": "sample_rate", "bitrate_bps": "bitrate_bps"}  # Table 1 -> codecs.csv column
log = logging.getLogger("codecprobe.reference")


REFERENCE_COLUMNS = ["analysis", "family", "quantity", "layers", "stat", "value", "settings", "source"]
FAMILIES = ("encodec", "dac", "mimi", "mimo")  # the paper's codecs


def settings_of(row) -> list[str]:
    """The row's :data:`SETTINGS` keys (``settings``: empty, or keys joined by ``;``)."""
    return [s for s in str(row["settings"]).split(";") if s]


def load_reference(path: str | Path = REFERENCE) -> pd.DataFrame:
    """The reference table, checked: its columns, known analyses, families, stats and
    settings, numeric values, layers as ``k`` or ``a-b``, no number given twice; a
    :class:`CodecprobeError` names the file, the row and the bad value."""
    try:
        ref = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise CodecprobeError(f"{path}: cannot read the reference table ({e})") from None
    missing = [c for c in REFERENCE_COLUMNS if c not in ref.columns]
    if missing:
        raise CodecprobeError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(REFERENCE_COLUMNS)})")
    known = {"analysis": set(ANALYSES), "family": set(FAMILIES), "stat": {"value", "min", "max"}}
    for i, r in ref.iterrows():
        where = f"{path}, row {i + 2}"
        for col, ok in known.items():
            if r[col] not in ok:
                raise CodecprobeError(f"{where}: unknown {col} {r[col]!r} (known: {', '.join(sorted(ok))})")
        bad = [s for s in settings_of(r) if s not in SETTINGS]
        if bad:
            raise CodecprobeError(f"{where}: unknown settings {bad[0]!r} (known: {', '.join(SETTINGS)})")
        if r["layers"] and not re.fullmatch(r"\d+(-\d+)?", r["layers"]):
            raise CodecprobeError(f"{where}: layers {r['layers']!r} is not a layer k or a range a-b")
        if r["layers"] and not layer_span(r["layers"]):
            raise CodecprobeError(f"{where}: layers {r['layers']!r} is a range with its first layer after its last")
        try:
            float(r["value"])
        except ValueError:
            raise CodecprobeError(f"{where}: value {r['value']!r} is not a number") from None
    twice = ref.duplicated(["analysis", "family", "quantity", "layers", "stat"], keep=False)
    if twice.any():
        r = ref[twice].iloc[0]
        raise CodecprobeError(f"{path}: {r['analysis']} {r['family']} {r['quantity']} {r['layers']} {r['stat']} given twice")
    odd = sorted(set(ref.loc[ref["analysis"] == "codec", "quantity"]) - set(CODEC_QUANTITIES))
    if odd:
        raise CodecprobeError(f"{path}: unknown codec quantity {odd[0]!r} (known: {', '.join(CODEC_QUANTITIES)})")
    return ref.assign(value=ref["value"].astype(float))


def layer_span(layers: str) -> list[int]:
    """``"3"`` -> ``[3]``; ``"2-16"`` -> ``[2, ..., 16]``; ``""`` -> ``[]``."""
    if not layers:
        return []
    a, _, b = layers.partition("-")
    return list(range(int(a), int(b or a) + 1))


def _series(row: pd.Series, dist: pd.DataFrame | None, pwcca: pd.DataFrame | None, cka: pd.DataFrame | None,
            codec: str, codecs: pd.DataFrame | None = None) -> pd.Series | None:  # fmt: skip
    """This run's values of the row's quantity, indexed by layer (CKA and the codec table:
    one value, index 0)."""
    q = row["quantity"]
    if row["analysis"] == "codec" and codecs is not None:
        g = codecs[codecs["codec"] == codec]
        col = CODEC_QUANTITIES[q]
        return None if g.empty else pd.Series([float(g[col].iloc[0])], index=[0])
    if row["analysis"] == "word_pairs" and dist is not None:
        d = accumulated_rows(dist)
        d = d[d["codec"] == codec]
        if q == "random_mean":
            t, col, scale = "random", "mean", 1.0
        elif q.endswith("_minus_random"):
            t, col, scale = q[: -len("_minus_random")], "norm_mean", 1.0
        else:
            t, col, scale = q[: -len("_rel_percent")], "rel_mean", 100.0
        g = d[d["pair_type"] == t]
        return None if g.empty or col not in g else pd.Series(g[col].to_numpy() * scale, index=g["layer"].to_numpy())
    if row["analysis"] == "pwcca" and pwcca is not None:
        g = accumulated_rows(pwcca)
        g = g[g["codec"] == codec]
        return None if g.empty else pd.Series(g["pwcca"].to_numpy(), index=g["layer"].to_numpy())
    if row["analysis"] == "cka" and cka is not None:
        from .speechtext import main_variant

        # the paper's number: every codebook on the speech side (not the first-codebook split)
        g = main_variant(cka[(cka["codec"] == codec) & (cka["estimator"] == "linear")])
        col = "cka" if q == "cka_linear" else "gap"
        return None if g.empty else pd.Series([float(g[col].iloc[0])], index=[0])
    return None


def _ours(row: pd.Series, values: pd.Series) -> float:
    """The row's ``stat`` of this run's values over its layers (CKA and Table 1: the one value)."""
    if row["analysis"] == "codec":
        return float(values.iloc[0])
    span = layer_span(row["layers"]) or [0]
    v = values.reindex(span).to_numpy(dtype=float)
    if row["stat"] == "min":
        return float(np.min(v))
    if row["stat"] == "max":
        return float(np.max(v))
    return float(np.mean(v))  # one layer; a range: the mean over it


# The release's word-pair settings (Choi et al.'s): run setting -> (the release's value, what it is)
RELEASE_WORD_PAIRS = {
    "metric": ("euclidean", "distances by {}; the paper's: euclidean"),
    "standardize": (False, "features standardized per dimension; the paper's: not"),
    "pooling": ("mean", "words pooled by {}; the paper's: mean over frames"),
    "slicing": ("audio", "{} slicing; the paper's: audio slicing (each word encoded alone)"),
}


def comparability(
    row: pd.Series, entry: dict, values: pd.Series, random: bool, aggregation: str | None, n_layers: int | None = None,
    run: dict | None = None,
) -> str:  # fmt: skip
    """``yes``, or ``no: <why>`` / ``approximately: <why>`` for one reference row and one codec.
    ``n_layers``: the layers the run encoded (Table 1's rows, whose ``layers`` are those the
    paper's number counts: a bitrate of 16 layers does not compare with one of 20).
    ``run``: the run's word-pair settings (:data:`RELEASE_WORD_PAIRS`' keys); one that differs
    from the release's makes a word-pair row ``no``. ``entry["weights"] == "random"`` counts
    as random weights as the tables' flags do."""
    if random or entry.get("weights") == "random":
        return "no: random weights (plumbing, not a result)"
    if row["analysis"] == "word_pairs":
        for key, (release, text) in RELEASE_WORD_PAIRS.items():
            if run and key in run and run[key] is not None and run[key] != release:
                return f"no: {text.format(run[key])}"
    if row["analysis"] == "codec":
        span = layer_span(row["layers"])
        if span and n_layers is not None and n_layers != len(span):
            return f"no: the paper's number counts layers {row['layers']}; this run encoded 1-{n_layers}"
        span = []
    else:
        span = layer_span(row["layers"])
    missing = [k for k in span if k not in values.index]
    if missing:
        return f"no: layer {missing[0]} not encoded (this run: layers {int(values.index.min())}-{int(values.index.max())})"
    why = []
    for key in settings_of(row):
        test, text, level = SETTINGS[key]
        if not test(entry):
            if level == "no":
                return f"no: {text}"
            why.append(text)
    if row["analysis"] == "word_pairs" and aggregation and aggregation != "word_types":
        why.append(f"aggregated as {aggregation}; the paper's: word_types")
    return f"approximately: {'; '.join(why)}" if why else "yes"


def compare(ref: pd.DataFrame, codecs: dict[str, dict], dist: pd.DataFrame | None = None,
            pwcca: pd.DataFrame | None = None, cka: pd.DataFrame | None = None,
            codec_table: pd.DataFrame | None = None, run: dict | None = None) -> pd.DataFrame:  # fmt: skip
    """This run's numbers beside the paper's, one row per (codec of the run, reference row of
    its family) whose analysis the run has (its table given; a quantity missing from it gives
    a row without value); :data:`COLUMNS`. ``codecs``: name -> config entry;
    ``codec_table``: :func:`codecprobe.codectable.codec_table` (Table 1's quantities);
    ``run``: the run's word-pair settings (:func:`comparability`; the distance table's own
    ``metric`` column, when there, is the metric)."""
    rows = []
    for name, entry in codecs.items():
        for _, r in ref[ref["family"] == entry["family"]].iterrows():
            table = {"word_pairs": dist, "pwcca": pwcca, "cka": cka, "codec": codec_table}[r["analysis"]]
            if table is None:  # the analysis is not part of this run
                continue
            values = _series(r, dist, pwcca, cka, name, codec_table)
            if values is None:  # run, but without this codec's quantity: say so rather than drop the row
                ours, ok = np.nan, f"no: not computed in this run (no {r['quantity']} of {name})"
            else:
                mine = table[table["codec"] == name]
                random = bool(mine[[c for c in ("random_weights", "codec_random", "llm_random") if c in mine]].astype(bool).any().any())
                agg = str(mine["aggregation"].iloc[0]) if "aggregation" in mine and len(mine) else None
                n_layers = int(mine["n_layers"].iloc[0]) if r["analysis"] == "codec" and "n_layers" in mine else None
                settings = dict(run or {})
                if r["analysis"] == "word_pairs" and "metric" in mine and len(mine):
                    settings["metric"] = str(mine["metric"].iloc[0])
                ok = comparability(r, entry, values, random, agg, n_layers, settings)
                ours = _ours(r, values) if not ok.startswith("no: layer") else np.nan
                if not np.isfinite(ours) and not ok.startswith("no:"):  # e.g. *_minus_random without random pairs
                    ok = f"no: not computed in this run ({r['quantity']} of {name} is empty in its table)"
            rows.append({
                "analysis": r["analysis"], "codec": name, "family": entry["family"], "quantity": r["quantity"],
                "layers": r["layers"], "stat": r["stat"], "paper": float(r["value"]), "ours": ours,
                "difference": ours - float(r["value"]), "comparable": ok, "source": r["source"],
            })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="This run's numbers beside the paper's.")
    ap.add_argument("--codecs", required=True, help="JSON: codec name -> config entry")
    ap.add_argument("--distances", default=None, help="results/distances/all_codecs.csv")
    ap.add_argument("--pwcca", default=None, help="results/rtmri/pwcca_summary.csv")
    ap.add_argument("--cka", default=None, help="results/cka/cka_all_codecs.csv")
    ap.add_argument("--codec-table", default=None, help="results/tables/codecs.csv (Table 1's quantities)")
    ap.add_argument("--reference", default=str(REFERENCE))
    ap.add_argument("--run", default=None, help="JSON: the run's word-pair settings (metric, standardize, pooling, slicing)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    given = (("dist", a.distances), ("pwcca", a.pwcca), ("cka", a.cka), ("codec_table", a.codec_table))
    tables = {k: read_table(p) if p else None for k, p in given}
    ref = load_reference(a.reference)
    out = compare(ref, json.loads(a.codecs), **tables, run=json.loads(a.run) if a.run else None)
    for r in out.itertuples():
        log.info("%s %s %s %s: paper %.6g, ours %.6g (%s)", r.analysis, r.codec, r.quantity, r.layers or "", r.paper,
                 r.ours, r.comparable)  # fmt: skip
    if out.empty:
        families = {c["family"] for c in json.loads(a.codecs).values()} & set(ref["family"])
        log.info("no number to compare: %s", f"no table given for the codecs of {sorted(families)}" if families
                 else f"no codec of this run has a family the paper reports ({', '.join(dict.fromkeys(ref['family']))})")  # fmt: skip
    write_table(out, a.out)


if __name__ == "__main__":
    run_cli(main)
