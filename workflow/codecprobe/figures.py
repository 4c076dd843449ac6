"""Figures. Fig. 2: per-layer word-pair distances, absolute (top) and normalized (bottom);
its first-layer split for MIMI (the word-pair analogue of Fig. 4)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from . import latex_provenance, with_provenance
from .distances import CONTRAST_COLUMNS as CONTRAST
from .io import (
    CodecprobeError,
    read_table,
    run_cli,
    save_figure,
    setup_logging,
    write_table,
    write_text,
)

log = logging.getLogger("codecprobe.figures")

# One color and one marker per pair type, everywhere: the Okabe-Ito palette (told apart
# with red-green colour blindness) and a distinct marker, so that the types also read in
# grey print. Grey for the random pairs, the baseline the others are measured against.
PAIR_STYLE = {
    "random": ("#7f7f7f", "random"),
    "synonym": ("#0072B2", "synonym"),
    "near_homophone": ("#D55E00", "near-homophone"),
    "same_word": ("#009E73", "same word"),
    "same_speaker": ("#CC79A7", "same speaker"),
}
PAIR_MARKER = {"random": "o", "synonym": "s", "near_homophone": "^", "same_word": "D", "same_speaker": "v"}


def accumulated_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``variant`` ``accumulated`` (the layer-k sums of codebooks 1..k), not
    MIMI's split rows; an empty variant (a table from before the column, combined with
    newer ones) counts as accumulated; a table without the column is all accumulated."""
    return table[table["variant"].fillna("accumulated") == "accumulated"] if "variant" in table else table


def layer_ticks(k: int, most: int = 8) -> list[int]:
    """Ticks for layers 1..``k`` (1-based, as the paper): all of them up to ``most`` layers;
    else 1 and the multiples of a round step (one that divides ``k`` when one gives at most
    ``most`` ticks), ``k`` always last. E.g. 16 -> 1, 4, 8, 12, 16; 32 -> 1, 8, 16, 24, 32."""
    k = max(1, int(k))
    if k <= most:
        return list(range(1, k + 1))
    fits = [s for s in (2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128) if len(range(s, k + 1, s)) + 1 + (k % s != 0) <= most]
    step = next((s for s in fits if k % s == 0), fits[0] if fits else k)
    ticks = [1, *(t for t in range(step, k + 1, step) if k - t >= step / 2)]
    return ticks + [k] if ticks[-1] != k else ticks


def band_text(method: str) -> str:
    """What a ``ci_method`` of the distance table means, for a figure title."""
    if "; normalized: " in method:
        plain, norm = method.split("; normalized: ", 1)
        return f"{band_text(plain)}; normalized: {band_text(norm)}"
    if " + bootstrap over " in method:  # a t-interval widened by one type's bootstrap (distances.summarize)
        t_part, boot_part = method.split(" + ", 1)
        return f"{band_text(t_part)}, widened by the {band_text(boot_part).removeprefix('mean, ')}"
    if method.startswith("t over "):
        unit = method.removeprefix("t over ")
        return f"mean over {unit}, 95% t-interval over {unit}"
    if method.startswith("bootstrap over "):
        return f"mean, 95% bootstrap CI over {method.removeprefix('bootstrap over ')}"
    return method


NORMALIZED = {
    "difference": (("norm_mean", "norm_ci_low", "norm_ci_high"), "distance - random"),
    "relative": (("rel_mean", "rel_ci_low", "rel_ci_high"), "distance / random - 1 (%)"),
}


def normalized_view(table: pd.DataFrame, normalized: str) -> tuple[pd.DataFrame, tuple[str, str, str], str]:
    """The bottom row's columns and axis label for ``normalized`` (``difference``, the
    paper's, or ``relative`` in percent), and the table with them (relative scaled by 100)."""
    if normalized not in NORMALIZED:
        raise CodecprobeError(f"normalized: {normalized!r} is not one of {', '.join(NORMALIZED)}")
    cols, label = NORMALIZED[normalized]
    if normalized == "relative":
        if not set(cols) <= set(table.columns):
            raise CodecprobeError("normalized: relative needs the rel_* columns: rebuild the distance tables (--forcerun distances)")
        table = table.assign(**{c: 100 * table[c] for c in cols})
    return table, cols, label


def _band(ax, x, g: pd.DataFrame, m: str, lo: str, hi: str, color: str, label: str | None, marker: str = "o") -> None:
    """One pair type's line ``g[m]`` over ``x`` with its interval ``g[lo]..g[hi]`` as a band."""
    ax.plot(x, g[m], color=color, label=label, lw=1.6, marker=marker, ms=3.5 if len(x) <= 16 else 2.5)
    ax.fill_between(x, g[lo], g[hi], color=color, alpha=0.2, lw=0)


RANDOM_MARK = " (RANDOM WEIGHTS)"


def has_random_weights(table: pd.DataFrame) -> bool:
    """Whether any row of ``table`` (its ``random_weights`` column) comes from a random-weight
    codec. A table without the column, or a row with it empty (a table from elsewhere, or
    one older than the flag), counts as random: an output that cannot say its weights were
    trained is not presented as a result."""
    return "random_weights" not in table or bool(table["random_weights"].astype(bool).any())


def marked_title(title: str, random: bool) -> tuple[str, str]:
    """A panel title and its color: ``title`` with `` (RANDOM WEIGHTS)`` in red when ``random``
    (a random-weight codec tests plumbing, not a result), as is in black otherwise. Every
    figure's panels take their titles from here (Fig. 2 and its split, Fig. 3/4, lag, regions)."""
    return (title + RANDOM_MARK, "red") if random else (title, "black")


def set_marked_title(ax, title: str, table: pd.DataFrame, fontsize: float = 10) -> None:
    """Title ``ax`` with :func:`marked_title`, marked when ``table`` (the rows the panel draws) has random weights."""
    text, color = marked_title(title, has_random_weights(table))
    ax.set_title(text, fontsize=fontsize, color=color)


MAX_CODEC_COLUMNS = 3  # codecs side by side before the panels wrap into another block


def codec_grid(
    plt, n: int, rows_per_codec: int, panel_w: float, panel_h: float, pad_w: float, pad_h: float, min_w: float,
    sharey: bool = False, max_cols: int = MAX_CODEC_COLUMNS,
):  # fmt: skip
    """A figure with ``rows_per_codec`` panels (stacked, sharing the codec's x axis; only the
    bottom one labels its ticks) for each of ``n`` codecs, the codecs side by side in blocks
    of at most ``max_cols`` columns, the blocks balanced (4 codecs: 2 blocks of 2; 5: 3 + 2),
    so that the paper's four codecs and a reference row stay readable on a printed page.
    Each block is a subfigure: a codec's panels sit close together, the blocks apart. The
    layout is matplotlib's constrained layout (no ``tight_layout``; a figure legend goes
    ``loc="outside lower center"``). Size: ``panel_w`` x columns + ``pad_w`` (at least
    ``min_w``) by ``panel_h`` x panel rows + ``pad_h`` inches. ``sharey``: every panel on
    one y scale, tick labels on each block's first column only. Returns ``(fig, axes)``,
    ``axes[r, j]`` the r-th panel of codec j (an object array ``[rows_per_codec, n]``);
    grid cells left over are hidden."""
    blocks = -(-n // max_cols)
    ncols = -(-n // blocks)
    size = (max(panel_w * ncols + pad_w, min_w), panel_h * rows_per_codec * blocks + pad_h)
    fig = plt.figure(figsize=size, layout="constrained")
    subs = fig.subfigures(blocks, 1, squeeze=False)[:, 0] if blocks > 1 else [fig]
    grids = [sub.subplots(rows_per_codec, ncols, squeeze=False, sharex="col") for sub in subs]
    axes = np.empty((rows_per_codec, n), dtype=object)
    for j in range(n):
        b, c = divmod(j, ncols)
        axes[:, j] = grids[b][:, c]
    for grid in grids:
        for ax in grid.ravel():
            if not any(ax is a for a in axes.ravel()):
                ax.set_visible(False)
            elif sharey and ax is not axes[0, 0]:
                ax.sharey(axes[0, 0])
                if not ax.get_subplotspec().is_first_col():
                    ax.tick_params(labelleft=False)
    return fig, axes


def _codec_column(axes, j: int, codec: str, t: pd.DataFrame, xlabel: str) -> None:
    """Column ``j``'s title (RANDOM WEIGHTS in red), the zero line of the normalized row,
    the x label and up to 8 layer ticks."""
    set_marked_title(axes[0, j], codec, t)
    axes[1, j].axhline(0.0, color=PAIR_STYLE["random"][0], lw=1, ls="--")
    axes[1, j].set_xlabel(xlabel)
    axes[1, j].set_xticks(layer_ticks(int(t["layer"].max())))


def legend_entries(axes) -> tuple[list, list[str]]:
    """The legend handles and labels of all ``axes``, each label once, in the order first drawn
    (a pair type missing from the first codec's panel is still named)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    return list(seen.values()), list(seen)


def _finish(fig, axes, metric: str, norm_label: str, sup: str, title_note: str, pdf: str, png: str) -> None:
    """Row labels, the pair-type legend, the title (and ``title_note`` under it), saved."""
    for j in range(axes.shape[1]):  # the first codec of each block of columns
        if axes[0, j].get_subplotspec().is_first_col():
            axes[0, j].set_ylabel(f"distance ({metric})")
            axes[1, j].set_ylabel(norm_label)
    handles, labels = legend_entries(axes.ravel())
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=9)
    fig.suptitle(f"{sup}\n{wrap_note(title_note, fig)}" if title_note else sup, fontsize=11)
    save_figure(fig, pdf, png)


def wrap_note(note: str, fig, chars_per_inch: float = 10.5) -> str:
    """``note`` (e.g. the data label) wrapped to the width of ``fig`` (about 10.5 characters
    per inch at 11 pt, as :func:`titled`), so that a long label is never cut at the
    figure's edges."""
    import textwrap

    return textwrap.fill(note, width=max(20, int(chars_per_inch * fig.get_figwidth())), break_on_hyphens=False)


def fig2(
    table: pd.DataFrame, pdf: str, png: str, title_note: str = "", title: str = "Word-pair distances per codebook layer",
    normalized: str = "difference",
) -> None:  # fmt: skip
    """Draw Fig. 2 from the combined distance table (columns of ``distances.TABLE_COLUMNS``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = accumulated_rows(table)  # MIMI's split rows are drawn by fig2_split
    table, norm_cols, norm_label = normalized_view(table, normalized)
    codecs = list(dict.fromkeys(table["codec"]))
    fig, axes = codec_grid(plt, len(codecs), 2, 3.6, 2.6, 0.8, 1.2, 8.5)
    for j, codec in enumerate(codecs):
        t = table[table["codec"] == codec]
        for t_name, (color, label) in PAIR_STYLE.items():
            g = t[t["pair_type"] == t_name].sort_values("layer")
            if g.empty:
                continue
            x = g["layer"].to_numpy()
            for row, cols in enumerate((("mean", "ci_low", "ci_high"), norm_cols)):
                _band(axes[row, j], x, g, *cols, color, label, PAIR_MARKER[t_name])
        _codec_column(axes, j, codec, t, "codebook layer")
    if "aggregation" in table and (table["aggregation"] == "word_types").any():
        title = f"{title} (word-type pairs weighted equally)"
    _finish(fig, axes, table["metric"].iloc[0], norm_label, titled(title, bands(table)), title_note, pdf, png)


def bands(table: pd.DataFrame) -> list[str]:
    """How the bands of a distance table were made (:func:`band_text`), one entry per
    ``ci_method``; with more than one, each says which pair types it is for."""
    if "ci_method" not in table:
        return [band_text("bootstrap over pairs")]
    by_method = table.groupby("ci_method", sort=True)["pair_type"].unique()
    if len(by_method) == 1:
        return [band_text(by_method.index[0])]
    named = []
    for method, types in by_method.items():
        order = [t for t in PAIR_STYLE if t in set(types)] + sorted(set(types) - set(PAIR_STYLE))
        named.append(f"{', '.join(PAIR_STYLE[t][1] if t in PAIR_STYLE else t for t in order)}: {band_text(method)}")
    return named


def titled(title: str, how: list[str], width: int = 90, inline: bool = True) -> str:
    """``title (how)`` on one line if ``how`` is one entry, ``inline`` and it fits ``width``
    characters (an 8.5-inch figure at 11 pt); else each entry of ``how`` on lines of at most
    ``width`` under the title (a single one in parentheses)."""
    import textwrap

    if len(how) == 1 and inline and len(title) + len(how[0]) + 3 <= width:
        return f"{title} ({how[0]})"
    entries = [f"({how[0]})"] if len(how) == 1 else how
    return "\n".join([title, *(line for h in entries for line in textwrap.wrap(h, width, break_on_hyphens=False))])


def fig2_split(table: pd.DataFrame, pdf: str, png: str, title_note: str = "", normalized: str = "difference") -> None:
    """The word-pair analogue of Fig. 4: for each codec with split rows (MIMI), the accumulated
    layers 2..k without layer 1 (solid), layer 1 alone (open marker at layer 1, its interval
    as a bar) and all layers (thin dashed); absolute (top) and normalized (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    split = table[table["variant"].isin(["layer1_only", "without_layer1"])] if "variant" in table else table.iloc[:0]
    codecs = list(dict.fromkeys(split["codec"]))
    if not codecs:
        raise CodecprobeError(
            "fig2_split: no rows of variant layer1_only / without_layer1 in the tables (distances --split-first;"
            " not computed with distances.pooling: centroid or one layer)"
        )
    fig, axes = codec_grid(plt, len(codecs), 2, 4.2, 2.6, 0.8, 1.2, 8.5)
    table, norm_cols, norm_label = normalized_view(table, normalized)
    cols = (("mean", "ci_low", "ci_high"), norm_cols)
    for j, codec in enumerate(codecs):
        t = table[table["codec"] == codec]
        for t_name, (color, label) in PAIR_STYLE.items():
            of_type = t[t["pair_type"] == t_name]
            g = {v: of_type[of_type["variant"] == v].sort_values("layer") for v in ("accumulated", "without_layer1", "layer1_only")}
            if g["without_layer1"].empty:
                continue
            for r, (m, lo, hi) in enumerate(cols):
                ax = axes[r, j]
                w = g["without_layer1"]
                _band(ax, w["layer"], w, m, lo, hi, color, label, PAIR_MARKER[t_name])
                ax.plot(g["accumulated"]["layer"], g["accumulated"][m], color=color, lw=0.8, ls="--", alpha=0.6)
                one = g["layer1_only"]
                if len(one):
                    err = [one[m] - one[lo], one[hi] - one[m]]
                    ax.errorbar(one["layer"], one[m], yerr=err, color=color, marker=PAIR_MARKER[t_name], mfc="white", ms=6, capsize=3, lw=1)
        _codec_column(axes, j, codec, t, "codebook layer (open marker: layer 1 alone; solid: layers 2..k; dashed: 1..k)")
    sup = titled("Word pairs: first layer vs layers 2..k (as Fig. 4)", bands(split), inline=False)
    _finish(fig, axes, table["metric"].iloc[0], norm_label, sup, title_note, pdf, png)


def latex_decimals(values: Iterable[float], sig: int = 3, least: int = 3, most: int = 9) -> int:
    """Decimals for one codec's block of LaTeX cells: enough to give the largest finite
    magnitude among ``values`` ``sig`` significant digits, but at least ``least`` (so values of
    0.1 and above print with 3 decimals, as always) and at most ``most``; ``least`` when no
    value is finite and non-zero. E.g. ``[-0.5, 0.02] -> 3``, ``[-2.1e-3, 1e-4] -> 5``."""
    a = np.abs(np.asarray(list(values), dtype=float))
    a = a[np.isfinite(a) & (a > 0)]
    if not a.size:
        return least
    return int(min(most, max(least, sig - 1 - np.floor(np.log10(a.max())))))


def latex_interval(m: float, lo: float, hi: float, fmt: str = "+.3f") -> str:
    """A LaTeX table cell ``m [lo, hi]`` (``fmt``); ``m`` alone without a finite interval, ``--`` without ``m``."""
    if not np.isfinite(m):
        return "--"
    return f"{m:{fmt}}" + (f" [{lo:{fmt}}, {hi:{fmt}}]" if np.isfinite(lo) and np.isfinite(hi) else "")


def latex_codec_name(codec: str, random: bool) -> str:
    """A codec's row label in the LaTeX tables: upper case, ``_`` escaped, ``(random weights)`` when so."""
    return str(codec).replace("_", r"\_").upper() + (" (random weights)" if random else "")


def _percent(rows: pd.DataFrame, layer: int, decimals: int) -> str:
    """The relative-distance cell (``rel_mean`` at ``layer`` in percent, ``decimals``); ``--`` without it."""
    if "rel_mean" not in rows or not np.isfinite(rows.loc[layer, "rel_mean"]):
        return "--"
    return f"{100 * rows.loc[layer, 'rel_mean']:+.{decimals}f}\\%"


def latex_table(
    table: pd.DataFrame, types: tuple[str, ...] = ("synonym", "near_homophone", "same_word", "same_speaker")
) -> str:
    """Fig. 2 in numbers, as a LaTeX tabular: per codec and pair type, the type's mean distance
    minus random's (``norm_mean``, 95 % interval) at layer 1 and at the codec's last layer, and
    the relative distance there (``rel_mean``, %; ``--`` for tables without it); then per codec
    the near-homophone distance minus the synonym one (``minus_synonym``, the paper's
    phonetic-versus-semantic contrast; below 0: near-homophones closer; left out for tables
    without it). Accumulated features only; codecs with random weights are marked; a rule
    between codecs. Same-speaker pairs (different words of one speaker) are shown too: how
    far a codec keeps the speaker.

    Decimals are chosen per codec (:func:`latex_decimals`) so that its cells are readable at
    its own scale and line up: the differences get 3 significant digits of the codec's largest
    one (3 decimals at least, as for distances of order 0.1-10), the percentages 2 (1 decimal at least)."""
    t = accumulated_rows(table)
    norm = ["norm_mean", "norm_ci_low", "norm_ci_high"]
    lines = [
        "% codecprobe: word-pair distances (paper Fig. 2), type minus random; generated, do not edit",
        r"\begin{tabular}{llccc}",
        r"\toprule",
        r"Codec & Pair type & $\Delta$ layer 1 [95\% CI] & $\Delta$ last layer [95\% CI] & last layer vs random \\",
        r"\midrule",
    ]
    for i, (codec, g) in enumerate(t.groupby("codec", sort=False)):
        if i:
            lines.append(r"\midrule")
        last = int(g["layer"].max())
        name = latex_codec_name(codec, has_random_weights(g))
        shown = g[g["pair_type"].isin(types) & g["layer"].isin([1, last])]
        fmt = f"+.{latex_decimals(shown[norm].to_numpy().ravel())}f"
        pct = latex_decimals(100 * shown.loc[shown["layer"] == last, "rel_mean"], 2, 1) if "rel_mean" in shown else 1
        for ty in types:
            rows = g[g["pair_type"] == ty].set_index("layer")
            if rows.empty:
                continue
            cells = [latex_interval(*rows.loc[k, norm], fmt) for k in (1, last)]
            lines.append(f"{name} (K = {last}) & {ty.replace('_', '-')} & {cells[0]} & {cells[1]} & {_percent(rows, last, pct)} \\\\")
        hom = g[g["pair_type"] == "near_homophone"].set_index("layer")
        if CONTRAST[0] in g and not hom.empty and np.isfinite(hom[CONTRAST[0]]).any():
            # the paper's claim (more phonetic than semantic): near-homophone minus synonym
            cfmt = f"+.{latex_decimals(hom.loc[[1, last], CONTRAST].to_numpy().ravel())}f"
            cells = [latex_interval(*hom.loc[k, CONTRAST], cfmt) for k in (1, last)]
            lines.append(f"{name} (K = {last}) & near-homophone $-$ synonym & {cells[0]} & {cells[1]} & -- \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def one_metric(table: pd.DataFrame, paths: list[str]) -> None:
    """Stop if the tables hold distances of more than one ``metric`` (e.g. ``euclidean`` and
    ``cosine``, or ``euclidean+std``): Fig. 2 and its LaTeX table put them on one axis and one
    label. The workflow's tables share the config's metric; this catches tables combined by
    hand, or an old one left from a run with another metric."""
    if "metric" not in table:
        raise CodecprobeError(f"{', '.join(paths)}: no column metric (not a distance table of codecprobe.distances)")
    by_metric = table.groupby("metric", sort=True)["codec"].unique()
    if len(by_metric) > 1:
        which = "; ".join(f"{m}: {', '.join(map(str, c))}" for m, c in by_metric.items())
        raise CodecprobeError(f"{', '.join(paths)}: distances of more than one metric ({which}): one figure draws one metric")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fig. 2 from per-codec distance tables.")
    ap.add_argument("--tables", nargs="+", required=True)
    ap.add_argument("--combined", default=None, help="output: all codecs' table (CSV)")
    ap.add_argument("--split", action="store_true", help="draw the first-layer split (fig2_split) instead of Fig. 2")
    ap.add_argument("--pdf", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--note", default="", help="a line under the title (e.g. synthetic demo data)")
    ap.add_argument("--title", default="Word-pair distances per codebook layer")
    ap.add_argument(
        "--normalized", default="difference", choices=list(NORMALIZED),
        help="bottom row: the type minus random (the paper) or the type over random - 1, in percent",
    )  # fmt: skip
    ap.add_argument("--latex", default=None, help="output: Fig. 2's numbers at layer 1 and the last layer (LaTeX)")
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    numbers = ("layer", "mean", "ci_low", "ci_high", "norm_mean", "norm_ci_low", "norm_ci_high")
    table = pd.concat([read_table(p, required=("codec", "pair_type", *numbers), numeric=numbers) for p in a.tables],
                      ignore_index=True)  # fmt: skip
    if table.empty:
        raise CodecprobeError(f"{', '.join(a.tables)}: no rows to draw")
    key = [c for c in ("codec", "variant", "layer", "pair_type") if c in table]
    if table.duplicated(key).any():  # a codec's table given twice, or two codecs of one name
        r = table[table.duplicated(key)].iloc[0]
        raise CodecprobeError(f"{', '.join(a.tables)}: codec {r['codec']!r}, layer {r['layer']}, {r['pair_type']} twice: "
                              "each codec's table once")  # fmt: skip
    one_metric(table, a.tables)
    if a.combined:
        write_table(with_provenance(table, a.note), a.combined)
    if a.latex:
        write_text(latex_provenance(a.note) + latex_table(table), a.latex)
    if a.split:
        fig2_split(table, a.pdf, a.png, a.note, a.normalized)
    else:
        fig2(table, a.pdf, a.png, a.note, a.title, a.normalized)


if __name__ == "__main__":
    run_cli(main)
