"""A random-weight codec says so in every output it touches: the speaker summaries of Fig. 3
(``pwcca_summary.csv``, ``lag_summary.csv``, ``lag_best.csv``, ``region_summary.csv``) carry
``random_weights`` per codec, and the panel titles of Fig. 2, Fig. 3, the lag and the region
figures read RANDOM WEIGHTS (in red) exactly when a codec they draw has random weights."""

import pandas as pd
import pytest
from codecprobe import artstage, figures
from codecprobe.io import read_table, write_table
from codecprobe.vtd import REGIONS

SPEAKERS = (("a", 0.0), ("b", 0.02))
CODECS = {"trained": False, "rnd": True}


def _per_speaker(kind: str, codec: str, random: bool) -> pd.DataFrame:
    """Hand-made per-speaker rows of one codec as ``artstage pwcca|lag|region-pwcca`` write them."""
    base = {"codec": codec, "shuffled_mean": 0.3, "random_weights": random}
    if kind == "pwcca":
        keys = [{"variant": "accumulated", "layer": k} for k in (1, 2)]
    elif kind == "lag":
        keys = [{"layer": k, "lag_s": s} for k in (1, 2) for s in (-0.02, 0.0, 0.02)]
    else:
        keys = [{"region": r, "layer": k} for r in REGIONS for k in (1, 2)]
    return pd.DataFrame([base | key | {"speaker": spk, "pwcca": 0.5 + bump + 0.01 * i}
                         for spk, bump in SPEAKERS for i, key in enumerate(keys)])  # fmt: skip


def _run(kind: str, codecs: dict[str, bool], tmp_path, monkeypatch) -> tuple[dict[str, pd.DataFrame], list]:
    """Write each codec's table, run the figure step of ``kind`` (figures, lag-figure,
    region-figure); the summary tables it writes and the figure it draws (not saved)."""
    tables = []
    for codec, random in codecs.items():
        tables.append(str(tmp_path / f"{kind}_{codec}.csv"))
        write_table(_per_speaker(kind, codec, random), tables[-1])
    drawn = []
    monkeypatch.setattr(artstage, "save_figure", lambda fig, pdf, png: drawn.append(fig))
    out = {k: str(tmp_path / f"{kind}_{k}.csv") for k in ("combined", "summary", "best")}
    cmd = {"pwcca": "figures", "lag": "lag-figure", "regions": "region-figure"}[kind]
    extra = ["--best", out["best"]] if kind == "lag" else []
    artstage.main([cmd, "--tables", *tables, "--combined", out["combined"], "--summary", out["summary"], *extra,
                   "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")])  # fmt: skip
    names = ["summary", "best"] if kind == "lag" else ["summary"]
    return {k: read_table(out[k]) for k in names}, drawn


def _titles(fig) -> list[tuple[str, str]]:
    """Each panel's title and its color."""
    from matplotlib.colors import to_hex

    return [(ax.get_title(), to_hex(ax.title.get_color())) for ax in fig.axes if ax.get_title()]


@pytest.mark.parametrize("kind", ["pwcca", "lag", "regions"])
def test_summaries_carry_random_weights(kind, tmp_path, monkeypatch):
    """Every row of every summary says whether its codec has random weights, as the per-speaker rows do."""
    tables, _ = _run(kind, CODECS, tmp_path, monkeypatch)
    for name, t in tables.items():
        assert "random_weights" in t, name
        assert t.groupby("codec")["random_weights"].agg(set).to_dict() == {"trained": {False}, "rnd": {True}}, name
        assert t["random_weights"].dtype == bool


@pytest.mark.parametrize("kind", ["lag", "regions"])
def test_per_codec_panels_marked(kind, tmp_path, monkeypatch):
    """One panel per codec: the random codec's title RANDOM WEIGHTS in red, the trained one's plain."""
    _, drawn = _run(kind, CODECS, tmp_path, monkeypatch)
    assert _titles(drawn[0]) == [("trained", "#000000"), ("rnd (RANDOM WEIGHTS)", "#ff0000")]
    _, drawn = _run(kind, {"trained": False}, tmp_path, monkeypatch)
    assert _titles(drawn[0]) == [("trained", "#000000")]


def test_fig3_panels_marked(tmp_path, monkeypatch):
    """Fig. 3 draws one panel per codec (as the paper's Fig. 3 (a)-(d)): the random codec's
    panel title RANDOM WEIGHTS in red, the trained one's plain."""
    _, drawn = _run("pwcca", CODECS, tmp_path, monkeypatch)
    assert _titles(drawn[0]) == [("trained", "#000000"), ("rnd (RANDOM WEIGHTS)", "#ff0000")]
    _, drawn = _run("pwcca", {"trained": False}, tmp_path, monkeypatch)
    assert _titles(drawn[0]) == [("trained", "#000000")]


def test_fig2_columns_marked(monkeypatch):
    """Fig. 2 (the mechanism the others reuse): each codec column's title marked exactly when random."""
    rows = [{"codec": c, "layer": k, "pair_type": ty, "mean": 1.0, "ci_low": 0.9, "ci_high": 1.1, "norm_mean": 0.0,
             "norm_ci_low": -0.1, "norm_ci_high": 0.1, "metric": "euclidean", "random_weights": r}
            for c, r in CODECS.items() for k in (1, 2) for ty in ("random", "synonym")]  # fmt: skip
    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, pdf, png: drawn.append(fig))
    figures.fig2(pd.DataFrame(rows), "f.pdf", "f.png")
    assert _titles(drawn[0]) == [("trained", "#000000"), ("rnd (RANDOM WEIGHTS)", "#ff0000")]


def test_marked_title():
    assert figures.marked_title("x", True) == ("x (RANDOM WEIGHTS)", "red")
    assert figures.marked_title("x", False) == ("x", "black")


@pytest.mark.parametrize("kind", ["pwcca", "lag", "regions"])
def test_tables_without_the_flag_are_marked_random(kind, tmp_path, monkeypatch):
    """A per-speaker table without ``random_weights`` (from elsewhere, or older than the flag)
    is marked as random, not presented as a result: the figure's panel and the summaries
    (the figure step stopped with a KeyError after writing the summary without the column)."""
    monkeypatch.setattr(artstage, "save_figure", lambda fig, pdf, png: drawn.append(fig))
    drawn = []
    write_table(_per_speaker(kind, "old", False).drop(columns="random_weights"), tmp_path / "old.csv")
    write_table(_per_speaker(kind, "trained", False), tmp_path / "new.csv")
    out = {k: str(tmp_path / f"{k}.csv") for k in ("combined", "summary", "best")}
    cmd = {"pwcca": "figures", "lag": "lag-figure", "regions": "region-figure"}[kind]
    extra = ["--best", out["best"]] if kind == "lag" else []
    artstage.main([cmd, "--tables", str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), "--combined", out["combined"],
                   "--summary", out["summary"], *extra, "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")])  # fmt: skip
    assert _titles(drawn[0]) == [("old (RANDOM WEIGHTS)", "#ff0000"), ("trained", "#000000")]
    for name in ["summary", "best"] if kind == "lag" else ["summary"]:
        t = read_table(out[name])
        assert t.groupby("codec")["random_weights"].agg(set).to_dict() == {"old": {True}, "trained": {False}}, name
    # the old table alone: no column at all in the combined table
    artstage.main([cmd, "--tables", str(tmp_path / "old.csv"), "--combined", out["combined"], "--summary", out["summary"],
                   *extra, "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")])  # fmt: skip
    assert _titles(drawn[1]) == [("old (RANDOM WEIGHTS)", "#ff0000")]
    assert read_table(out["summary"])["random_weights"].tolist() == [True] * len(read_table(out["summary"]))
