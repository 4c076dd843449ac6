"""What the figures say, read back from the matplotlib Figure objects with the paper's four
codecs (EnCodec 16 layers, DAC 32, MIMI 32 with its first-layer split, MiMo 8): panels and
their titles, 1-based layer ticks, complete legends outside the panels, the bands explained
in the titles, colour-blind-safe pair colours with distinct markers."""

import numpy as np
import pandas as pd
import pytest
from codecprobe import artstage, figures, speechtext
from codecprobe.articulatory import summarize_speakers
from codecprobe.vtd import REGIONS

K = {"encodec": 16, "dac": 32, "mimi": 32, "mimo": 8}
TYPES = ("random", "synonym", "near_homophone", "same_word", "same_speaker")


@pytest.fixture
def drawn(monkeypatch):
    """The figures drawn (not saved), in order."""
    out = []
    for mod in (figures, artstage, speechtext):
        monkeypatch.setattr(mod, "save_figure", lambda fig, pdf, png: out.append(fig))
    return out


def _distances(types_of=lambda codec: TYPES) -> pd.DataFrame:
    rows = []
    for codec, k in K.items():
        for variant, layers in [("accumulated", range(1, k + 1))] + ([("layer1_only", [1]), ("without_layer1", range(2, k + 1))] if codec == "mimi" else []):
            for layer in layers:
                for i, ty in enumerate(types_of(codec)):
                    m = 5.0 - 0.2 * i + 0.01 * layer
                    rows.append({"codec": codec, "layer": layer, "pair_type": ty, "mean": m, "ci_low": m - 0.1, "ci_high": m + 0.1,
                                 "norm_mean": -0.2 * i, "norm_ci_low": -0.2 * i - 0.1, "norm_ci_high": -0.2 * i + 0.1,
                                 "metric": "euclidean", "random_weights": codec == "mimo", "ci_method": "t over seeds",
                                 "variant": variant})  # fmt: skip
    return pd.DataFrame(rows)


def _pwcca() -> pd.DataFrame:
    rows = []
    for codec, k in K.items():
        for variant, layers in [("accumulated", range(1, k + 1))] + ([("layer1_only", [1]), ("without_layer1", range(2, k + 1))] if codec == "mimi" else []):
            for layer in layers:
                for spk, bump in (("a", 0.0), ("b", 0.02), ("c", 0.01)):
                    rows.append({"codec": codec, "speaker": spk, "variant": variant, "layer": layer, "pwcca": 0.5 + bump + 0.001 * layer,
                                 "shuffled_mean": 0.3, "random_weights": codec == "mimo"})  # fmt: skip
    return pd.DataFrame(rows)


def _texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def test_layer_ticks_one_based_and_end_at_k():
    assert figures.layer_ticks(8) == list(range(1, 9))
    assert figures.layer_ticks(16) == [1, 4, 8, 12, 16]
    assert figures.layer_ticks(32) == [1, 8, 16, 24, 32]
    for k in range(1, 130):
        t = figures.layer_ticks(k)
        assert t[0] == 1 and t[-1] == k and len(t) <= 8 and t == sorted(set(t)), k


def _cell(ax) -> tuple:
    """Where a panel sits: its block (subfigure), grid row and column."""
    s = ax.get_subplotspec()
    return id(ax.get_figure(root=False)), s.rowspan.start, s.colspan.start


def _by_codec(fig) -> tuple[list, list]:
    """Fig. 2's (top, bottom) panels in codec order: each codec's top panel has the title, its
    bottom panel sits right under it (same block and column, next grid row)."""
    shown = [ax for ax in fig.axes if ax.get_visible()]
    top = [ax for ax in shown if ax.get_title()]
    at = {_cell(ax): ax for ax in shown}
    return top, [at[(b, r + 1, c)] for b, r, c in map(_cell, top)]


def test_fig2_four_codecs(drawn):
    """The paper's four codecs in two blocks of two columns (8.5 inches wide, not 15), each
    codec's two panels sharing its layer axis, the row labels on each block's first column."""
    figures.fig2(_distances(), "f.pdf", "f.png", "SYNTHETIC DEMO DATA")
    fig = drawn[0]
    top, bottom = _by_codec(fig)
    assert [ax.get_title() for ax in top] == ["encodec", "dac", "mimi", "mimo (RANDOM WEIGHTS)"]
    assert [ax.get_subplotspec().colspan.start for ax in top] == [0, 1, 0, 1]
    assert tuple(fig.get_size_inches()) == pytest.approx((8.5, 11.6))
    assert [list(ax.get_xticks()) for ax in bottom] == [figures.layer_ticks(k) for k in K.values()]
    assert [ax.get_xlim() for ax in top] == [ax.get_xlim() for ax in bottom]
    assert [ax.get_xlabel() for ax in bottom] == ["codebook layer"] * 4
    assert [ax.get_ylabel() for ax in top] == ["distance (euclidean)", "", "distance (euclidean)", ""]
    assert [ax.get_ylabel() for ax in bottom] == ["distance - random", "", "distance - random", ""]
    assert _texts(fig.legends[0]) == ["random", "synonym", "near-homophone", "same word", "same speaker"]
    assert "95% t-interval over seeds" in fig._suptitle.get_text() and "SYNTHETIC DEMO DATA" in fig._suptitle.get_text()


def test_fig2_draws_every_pair_type_with_its_colour_values_and_band(drawn):
    """Each codec's panels draw every pair type in its own colour and marker (the same in every
    column), the top row the table's mean with its ci_low..ci_high band, the bottom row the
    normalized mean with its band, and a dashed zero line (the random pairs) under it."""
    from matplotlib.colors import to_rgba

    table = _distances()
    table = table.assign(ci_low=table["mean"] - 0.05 * table["layer"], norm_ci_high=table["norm_mean"] + 0.3)
    figures.fig2(table, "f.pdf", "f.png")
    top, bottom = _by_codec(drawn[0])
    for codec, ax_top, ax_bottom in zip(K, top, bottom):
        t = table[(table.codec == codec) & (table.variant == "accumulated")]
        for ax, (m, lo, hi) in ((ax_top, ("mean", "ci_low", "ci_high")), (ax_bottom, ("norm_mean", "norm_ci_low", "norm_ci_high"))):
            lines = {ln.get_label(): ln for ln in ax.get_lines()}
            bands = ax.collections
            assert len(bands) == len(TYPES), (codec, len(bands))
            for ty, band in zip(TYPES, bands):
                colour, label = figures.PAIR_STYLE[ty]
                g = t[t.pair_type == ty].sort_values("layer")
                ln = lines[label]
                assert to_rgba(ln.get_color()) == to_rgba(colour) and ln.get_marker() == figures.PAIR_MARKER[ty]
                np.testing.assert_allclose(ln.get_xdata(), g["layer"])
                np.testing.assert_allclose(ln.get_ydata(), g[m])
                assert to_rgba(band.get_facecolor()[0])[:3] == to_rgba(colour)[:3]
                y = band.get_paths()[0].vertices[:, 1]
                assert y.min() == pytest.approx(g[lo].min()) and y.max() == pytest.approx(g[hi].max()), (codec, ty)
        zero = [ln for ln in ax_bottom.get_lines() if ln.get_linestyle() == "--"]
        assert len(zero) == 1 and list(zero[0].get_ydata()) == [0, 0]
        assert to_rgba(zero[0].get_color()) == to_rgba(figures.PAIR_STYLE["random"][0])


@pytest.mark.parametrize("n, rows, cols, hidden", [(1, 1, 1, 0), (3, 1, 3, 0), (4, 2, 2, 0), (5, 2, 3, 1), (7, 3, 3, 2)])
def test_codec_grid_wraps_into_balanced_blocks(n, rows, cols, hidden):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = figures.codec_grid(plt, n, 2, 3.6, 2.6, 0.8, 1.2, 8.5)
    assert axes.shape == (2, n) and len(fig.axes) == 2 * rows * cols
    assert tuple(fig.get_size_inches()) == pytest.approx((max(3.6 * cols + 0.8, 8.5), 2.6 * 2 * rows + 1.2))
    assert sum(not ax.get_visible() for ax in fig.axes) == 2 * hidden
    blocks = []  # the subfigures, in the order of their first codec
    for j in range(n):  # codec j: block j // cols, column j % cols, its two panels one under the other
        (fa, ra, ca), (fb, rb, cb) = _cell(axes[0, j]), _cell(axes[1, j])
        if fa not in blocks:
            blocks.append(fa)
        assert (blocks.index(fa), ra, ca) == (j // cols, 0, j % cols) and (fb, rb, cb) == (fa, 1, ca)
        axes[1, j].set_xlim(0, j + 1)
        assert axes[0, j].get_xlim() == (0, j + 1)  # shared within the codec, not down the grid column
    plt.close(fig)


def test_fig2_legend_names_a_type_missing_from_the_first_codec(drawn):
    """Same-speaker pairs only for the later codecs: the legend still names them."""
    figures.fig2(_distances(lambda c: TYPES if c != "encodec" else TYPES[:4]), "f.pdf", "f.png")
    assert _texts(drawn[0].legends[0])[-1] == "same speaker"


def test_pair_types_told_apart_without_colour():
    """Every pair type has its own marker and its own colour, none of the red-green pair of the default cycle."""
    assert len({figures.PAIR_MARKER[t] for t in TYPES}) == len(TYPES)
    colors = [figures.PAIR_STYLE[t][0].lower() for t in TYPES]
    assert len(set(colors)) == len(TYPES) and not {"#d62728", "#2ca02c"} & set(colors)


def test_fig3_one_panel_per_codec_and_fig4(drawn):
    artstage.fig3(_pwcca(), "f.pdf", "f.png", "SYNTHETIC DEMO DATA")
    fig = drawn[0]
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["encodec", "dac", "mimi", "mimo (RANDOM WEIGHTS)", "Fig. 4: mimi, layer 1 vs layers 2..k"]
    assert [ax.title.get_color() for ax in shown][3] == "red"
    assert [list(ax.get_xticks()) for ax in shown] == [figures.layer_ticks(k) for k in (16, 32, 32, 8, 32)]
    assert _texts(fig.legends[0]) == ["layers 1..k (accumulated)", "time-shuffled VTD baseline", "layers 2..k (without layer 1)",
                                          "layer 1 alone: time-shuffled baseline", "layer 1 alone"]
    assert all(ax.get_legend() is None for ax in shown)  # one legend, under the panels
    assert "95% t-interval over speakers" in fig._suptitle.get_text()
    assert len({ax.get_ylim() for ax in shown}) == 1  # one y scale: Fig. 4 reads against Fig. 3


def test_lag_and_region_titles_explain_the_intervals(drawn):
    lag = pd.DataFrame([{"codec": c, "speaker": s, "layer": layer, "lag_s": lag, "pwcca": 0.5 + b - abs(lag), "shuffled_mean": 0.3,
                         "random_weights": False}
                        for c, k in K.items() for s, b in (("a", 0.0), ("b", 0.01)) for layer in (1, k)
                        for lag in np.round(np.arange(-0.04, 0.041, 0.02), 3)])  # fmt: skip
    s = summarize_speakers(lag, by=("codec", "layer", "lag_s"))
    best = s.loc[s.groupby(["codec", "layer"])["pwcca"].idxmax()].rename(columns={"lag_s": "best_lag_s", "pwcca": "best_pwcca"})
    artstage.fig3_lag(s, best, "f.pdf", "f.png", "note")
    reg = pd.DataFrame([{"codec": c, "speaker": s, "region": r, "layer": layer, "pwcca": 0.5 + b, "shuffled_mean": 0.3, "random_weights": False}
                        for c, k in K.items() for s, b in (("a", 0.0), ("b", 0.01)) for r in REGIONS for layer in (1, k)])  # fmt: skip
    artstage.fig3_regions(summarize_speakers(reg, by=("codec", "region", "layer")), "f.pdf", "f.png", "note")
    for fig in drawn:
        assert "95% t-interval over speakers" in fig._suptitle.get_text()
        assert [ax.get_title() for ax in fig.axes] == list(K)
    # the lag lines say over how many speakers they are (the lag run can keep fewer than Fig. 3)
    assert _texts(drawn[0].axes[0].get_legend()) == ["layer 1 (2 speakers)", f"layer {K['encodec']} (2 speakers)"]


def test_cka_note_wrapped_and_legend_beside_the_bars(drawn):
    t = pd.DataFrame([{"codec": c, "codec_family": c, "estimator": e, "cka": 0.3, "null_mean": 0.05, "null_sd": 0.01,
                       "codec_random": False, "llm_random": False} for c in ("mimi", "mimo") for e in ("linear", "debiased")])  # fmt: skip
    note = "SYNTHETIC DEMO DATA (espeak-ng speech): for trying the workflow, not for conclusions, a long note " * 2
    speechtext.cka_figure(t, "f.pdf", "f.png", note)
    fig = drawn[0]
    fig.canvas.draw()
    ax = fig.axes[0]
    title = ax.title.get_window_extent()
    assert title.x0 >= 0 and title.x1 <= fig.bbox.width  # not cut at the figure's edge
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1  # right of the axes
    assert [p.get_x() + p.get_width() / 2 for p in ax.patches[:2]] != [0.0, 0.0]


def test_one_codec_titles_inside_the_figure(drawn):
    """With one codec (the demo) every figure's title lines fit the figure's width."""
    one = {"encodec": 16}
    figures.fig2(_distances()[lambda t: t["codec"] == "encodec"], "f.pdf", "f.png", "SYNTHETIC DEMO DATA (espeak-ng speech): for trying the workflow, not for conclusions")
    # the demo's mix (its seeds hold the same synonym pairs): three ways of making a band, wrapped
    mixed = _distances()[lambda t: t["codec"] == "encodec"].assign(aggregation="word_types")
    how = "bootstrap over word types (every seed the same); normalized: t over seeds"
    mixed = mixed.assign(ci_method=np.where(mixed["pair_type"].isin(["synonym", "near_homophone"]), how, "t over seeds"))
    figures.fig2(mixed, "f.pdf", "f.png", "SYNTHETIC DEMO DATA (espeak-ng speech): for trying the workflow, not for conclusions")
    text = drawn[-1]._suptitle.get_text().replace("\n", " ")
    assert "synonym, near-homophone: mean, 95% bootstrap CI over word types (every seed the same)" in text
    assert "random, same word, same speaker: mean over seeds, 95% t-interval over seeds" in text
    artstage.fig3(_pwcca()[lambda t: t["codec"].isin(one)], "f.pdf", "f.png", "SYNTHETIC DEMO DATA (espeak-ng speech): for trying the workflow, not for conclusions")
    for fig in drawn:
        fig.canvas.draw()
        box = fig._suptitle.get_window_extent()
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width, fig._suptitle.get_text()


def test_codec_grid_shares_one_y_scale_when_asked():
    """The lag and region figures: one panel per codec, every panel on one y scale, the tick
    labels on each block's first column only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = figures.codec_grid(plt, 5, 1, 4.6, 3.4, 0.0, 0.8, 6.5, sharey=True)
    axes[0, 4].set_ylim(0.2, 0.7)
    assert {ax.get_ylim() for ax in axes[0]} == {(0.2, 0.7)}
    fig.canvas.draw()
    labelled = [any(t.get_visible() and t.get_text() for t in ax.get_yticklabels()) for ax in axes[0]]
    assert labelled == [True, False, False, True, False]
    plt.close(fig)


@pytest.mark.parametrize("which", ["fig2", "fig2_split"])
def test_a_long_data_label_is_wrapped_inside_the_figure(drawn, which):
    """Fig. 2 and its first-layer split put the data label under the title unwrapped: with
    one codec (8.5 in) a 150-character label was cut at both edges ("SYNTHETIC" lost)."""
    note = ("SYNTHETIC DEMO DATA (espeak-ng speech, tones and a made-up tract; plumbing only, never "
            "for conclusions about any codec) -- a label of about one hundred and sixty characters")  # fmt: skip
    t = _distances()
    t = t[t.codec == "mimi"]
    if which == "fig2":
        figures.fig2(t, "a.pdf", "a.png", title_note=note)
    else:
        figures.fig2_split(t, "a.pdf", "a.png", title_note=note)
    fig = drawn[-1]
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (box, fig.bbox)
    assert " ".join(fig._suptitle.get_text().split()).endswith(" ".join(note.split()))


def test_one_speaker_draws_no_interval_bar(drawn):
    """With one speaker the t-interval is undefined (NaN): the region figure and Fig. 4's
    "layer 1 alone" marker drew it as a zero-width bar (an exact-looking value under a
    title promising 95 % intervals); now no bar, as Fig. 3's band."""
    reg = pd.DataFrame([{"codec": "mimi", "speaker": "a", "region": r, "layer": 1, "pwcca": 0.5, "shuffled_mean": 0.3,
                         "random_weights": False} for r in REGIONS])  # fmt: skip
    artstage.fig3_regions(summarize_speakers(reg, by=("codec", "region", "layer")), "f.pdf", "f.png", "note")
    one = _pwcca()
    artstage.fig3(one[(one["codec"] == "mimi") & (one["speaker"] == "a")], "g.pdf", "g.png", "note")
    for fig in drawn:
        bars = [c for ax in fig.axes for c in ax.collections if type(c).__name__ == "LineCollection"]
        drawn_bars = [seg for c in bars for seg in c.get_segments() if seg.size and np.isfinite(seg).all()]
        assert bars and not drawn_bars, (fig._suptitle.get_text(), drawn_bars)


def test_layer_ticks_drop_a_step_tick_too_close_to_the_last_layer():
    """A step tick less than half a step before ``k`` is left out, so that it does not
    crowd the label of ``k``: 17 layers (step 4) -> 1, 4, 8, 12, 17 (not ..., 16, 17); one
    half a step or more before ``k`` stays: 18 layers -> 1, 4, 8, 12, 16, 18."""
    assert figures.layer_ticks(17) == [1, 4, 8, 12, 17]
    assert figures.layer_ticks(18) == [1, 4, 8, 12, 16, 18]
