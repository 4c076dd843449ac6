"""CI check of the demo's science.

* Word pairs: with the melrvq baseline, near-homophone pairs are closer than random pairs
  at every layer (95 % CI of the normalized distance below 0), and same-word pairs are
  the closest of all.
  Synonym and near-homophone pairs are the same in every seed of the demo: their bands
  are bootstraps over word types (not zero wide), and their normalized bands
  are wider still (the random pairs' variation added).
* Word pairs within single speakers (when built): the same, with the intervals over the
  speakers.
* Articulatory (when the config has an rtmri section): melrvq features correlate with
  the synthetic VTD well above the time-shuffled baseline at every layer (mean over
  speakers, and the lower end of its 95 % interval above the shuffled mean); the time-lag
  curve peaks at exactly 0 ms (the demo's tract and melrvq's frames share one clock) and
  is symmetric one step either side; every tract region is above its baseline.
* Every output the config asks for exists (the by-speaker, lag and region tables were
  checked only when present), whole: every layer of the codec (its ``n_layers``) and every
  pair type of ``pairs.types`` in the distance tables, every layer in the PWCCA summary,
  the config's lag layers in the lag tables; and the combined tables and the LaTeX tables
  the config asks for carry the config's synthetic-data label (a table of layer 1 alone,
  or without a pair type, passed every check above: they test the rows that are there).
* Every figure the config asks for exists as a PDF (no creation date: the same bytes on
  every run) and a PNG that is a real image (at least 600 x 400 pixels, over 4 % of them
  not white: empty panels with their axes and a title have about 3 %), so that a figure
  step that drew nothing fails here.
"""

import re
import sys
from pathlib import Path

import pandas as pd
import yaml
from codecprobe.config import rtmri_label

results = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
rtmri = config.get("rtmri") or {}
wanted = {  # outputs the demo config builds: each must exist
    "by_speaker": bool((config.get("pairs") or {}).get("by_speaker")),
    "pwcca": bool(rtmri),
    "lag": bool(rtmri.get("lag")),
    "regions": bool(rtmri.get("regions")),
}
codec = next(c for c in config["codecs"] if c["name"] == "melrvq")
n_layers = int(codec.get("n_layers") or 8)
layers = set(range(1, n_layers + 1))
types = set((config.get("pairs") or {}).get("types") or ["random", "synonym", "near_homophone", "same_word",
                                                          "same_speaker"])  # fmt: skip


def whole(rows: pd.DataFrame, what: str, kinds: set[str] | None = None, want: set[int] = layers) -> None:
    """Every layer of ``want`` in ``rows``, and with ``kinds`` every pair type at every one of them."""
    got = set(rows["layer"])
    assert got == want, f"{what}: layers {sorted(got)}, the config's are {sorted(want)}"
    if kinds is not None:
        missing = {(ty, k) for ty in kinds for k in want} - set(zip(rows["pair_type"], rows["layer"]))
        assert not missing, f"{what}: no rows of {sorted(missing)[:4]} (pairs.types: {sorted(kinds)})"


t = pd.read_csv(results / "distances" / "all_codecs.csv")
m = t[t.codec == "melrvq"]
whole(m[m.variant == "accumulated"], "distances/all_codecs.csv, melrvq", types)
hom = m[m.pair_type == "near_homophone"]
assert len(hom) > 0, "no melrvq near-homophone rows"
assert (hom.norm_ci_high < 0).all(), f"near-homophone not below random:\n{hom}"
for layer, g in m.groupby("layer"):
    g = g.set_index("pair_type")
    assert g.loc["same_word", "mean"] == g["mean"].min(), f"layer {layer}: same-word pairs are not the closest"
print(f"word pairs: melrvq near-homophone - random = {hom.norm_mean.min():.3f} .. {hom.norm_mean.max():.3f} over {len(hom)} layers")
# near-homophone minus synonym: below 0, and the difference of the two normalized curves (same seeds)
acc = m[m.variant == "accumulated"].set_index(["pair_type", "layer"])
diff = acc.loc["near_homophone", "norm_mean"] - acc.loc["synonym", "norm_mean"]
contrast = acc.loc["near_homophone", "minus_synonym"]
assert ((contrast - diff).abs() < 1e-9).all() and (contrast < 0).all(), f"near-homophone - synonym:\n{contrast}\n{diff}"
# every seed holds the same synonym and near-homophone pairs here: one replicate, so their
# bands are bootstraps over word pairs, not t-intervals of zero width
for kind in ("synonym", "near_homophone"):
    r = acc.loc[kind]
    assert (r.ci_method.str.startswith("bootstrap over word types (every seed the same)")).all(), r.ci_method
    assert ((r.ci_high - r.ci_low) > 0.1).all() and ((r.norm_ci_high - r.norm_ci_low) > (r.ci_high - r.ci_low)).all(), r

by_speaker = results / "distances" / "by_speaker" / "all_codecs.csv"
assert by_speaker.exists() or not wanted["by_speaker"], f"{by_speaker} missing though pairs.by_speaker is set"
if by_speaker.exists():
    b = pd.read_csv(by_speaker)
    b = b[b.codec == "melrvq"]
    whole(b[b.variant == "accumulated"], "by_speaker/all_codecs.csv, melrvq", types - {"same_speaker"})
    assert (b.ci_method == "t over speakers").all() and (b.n_seeds >= 2).all(), f"not over speakers:\n{b}"
    bh = b[b.pair_type == "near_homophone"]
    assert len(bh) > 0 and (bh.norm_ci_high < 0).all(), f"within speakers, near-homophone not below random:\n{bh}"
    for layer, g in b.groupby("layer"):
        g = g.set_index("pair_type")
        assert g.loc["same_word", "mean"] == g["mean"].min(), f"by speaker, layer {layer}: same-word not the closest"
    print(f"within speakers: near-homophone - random = {bh.norm_mean.min():.3f} .. {bh.norm_mean.max():.3f}")
    assert (bh.minus_synonym_ci_high < 0).all(), f"within speakers, near-homophone not below synonym:\n{bh}"
    print(f"within speakers: near-homophone - synonym = {bh.minus_synonym.min():.3f} .. {bh.minus_synonym.max():.3f}")

summary = results / "rtmri" / "pwcca_summary.csv"
assert summary.exists() or not wanted["pwcca"], f"{summary} missing though the config has rtmri"
if summary.exists():
    s = pd.read_csv(summary)
    s = s[(s.codec == "melrvq") & (s.get("variant", "accumulated") == "accumulated")]
    assert len(s) > 0, "no melrvq PWCCA rows"
    whole(s, "pwcca_summary.csv, melrvq")
    assert (s.ci_low > s.shuffled_mean + 0.05).all(), f"PWCCA not above the shuffled baseline:\n{s}"
    print(f"articulatory: melrvq PWCCA {s.pwcca.min():.3f} .. {s.pwcca.max():.3f} vs shuffled {s.shuffled_mean.max():.3f}")
lag = results / "rtmri" / "lag_best.csv"
assert lag.exists() or not wanted["lag"], f"{lag} missing though rtmri.lag is set"
if lag.exists():  # melrvq's frames are centred on their analysis windows: no lag to find
    b = pd.read_csv(lag)
    b = b[b.codec == "melrvq"]
    lag_layers = {k if k > 0 else n_layers + 1 + k for k in rtmri["lag"].get("layers", [1, -1])}
    whole(b, "lag_best.csv, melrvq", want=lag_layers)
    assert len(b) > 0 and (b.best_lag_s.abs() < 1e-9).all() and not b.at_edge.any(), f"melrvq's best lag not at 0:\n{b}"
    curve = pd.read_csv(results / "rtmri" / "lag_summary.csv")
    # one grid step either side of 0: equal within 0.005 (a 6 ms clock error, a frame-centre
    # slip, would tilt the peak by about 0.02 on this curve)
    for layer, g in curve[curve.codec == "melrvq"].groupby("layer"):
        steps = g.set_index("lag_s")["pwcca"].sort_index()
        step = float(pd.Series(steps.index).diff().dropna().min())
        lags = pd.Series(steps.index, index=steps.index)
        left, right = steps[(lags + step).round(9) == 0], steps[(lags - step).round(9) == 0]
        assert len(left) == len(right) == 1, f"layer {layer}: the lag curve lacks a point one step either side of 0"
        assert abs(float(left.iloc[0]) - float(right.iloc[0])) < 0.005, (
            f"layer {layer}: lag curve not symmetric about 0 ({float(left.iloc[0]):.4f} vs {float(right.iloc[0]):.4f})"
        )
    far = curve[(curve.codec == "melrvq") & (curve.lag_s.abs() == curve.lag_s.abs().max())]
    assert (far.pwcca < b.best_pwcca.min() - 0.03).all(), f"PWCCA at the largest lags not below the peak:\n{far}"
    print(f"time lag: melrvq best lag {b.best_lag_s.abs().max() * 1000:.0f} ms, PWCCA {b.best_pwcca.min():.3f} .. "
          f"{b.best_pwcca.max():.3f}, {far.pwcca.max():.3f} at +-{1000 * far.lag_s.abs().max():.0f} ms")
regions = results / "rtmri" / "region_summary.csv"
assert regions.exists() or not wanted["regions"], f"{regions} missing though rtmri.regions is set"
if regions.exists():  # every region of the synthetic tract moves with the phones: all above their baselines
    r = pd.read_csv(regions)
    r = r[r.codec == "melrvq"]
    assert set(r.region) == {"lips", "palate", "velum", "pharynx"}, f"regions missing:\n{r}"
    assert (r.ci_low > r.shuffled_mean + 0.05).all(), f"a region's PWCCA not above its baseline:\n{r}"
    print(f"regions: melrvq PWCCA {r.pwcca.min():.3f} .. {r.pwcca.max():.3f} vs shuffled {r.shuffled_mean.max():.3f}")
# the synthetic-data label on the combined tables and the LaTeX tables
label = " ".join(str(config.get("data_label", "")).split())
mri_label = " ".join(rtmri_label(config).split())  # the rt-MRI outputs'
assert label.startswith("SYNTHETIC") and mri_label.startswith("SYNTHETIC"), (
    f"the demo config's data labels do not say SYNTHETIC: {label!r}, {mri_label!r}"
)
combined = sorted(results.rglob("*all_codecs.csv")) + [results / "tables" / "codecs.csv"]
assert len(combined) > 1, "no combined (*all_codecs.csv) table"
for f in combined:
    want = mri_label if f.parent.name == "rtmri" else label
    got = set(pd.read_csv(f, keep_default_na=False)["data_label"].astype(str).map(lambda s: " ".join(s.split())))
    assert got == {want}, f"{f}: data_label {got} is not the config's {want!r}"
tex = ["word_pairs.tex"] + ["pwcca.tex"] * wanted["pwcca"]  # the LaTeX tables the config asks for
absent = [n for n in tex if not (results / "tables" / n).exists()]
assert not absent, f"LaTeX tables missing: {absent}"
for f in sorted((results / "tables").glob("*.tex")):
    want = mri_label if f.name == "pwcca.tex" else label
    assert f"% data: {want}" in f.read_text(), f"{f}: no '% data: {want[:20]}...' line"
print(f"labels: {len(combined)} combined tables and {len(list((results / 'tables').glob('*.tex')))} LaTeX tables say "
      f"{label[:22]}...")
# the figures: each one the config asks for, as a PDF and a PNG with something drawn
from PIL import Image  # (matplotlib's own dependency)

figures = ["fig2_word_pairs"] + ["fig2_word_pairs_by_speaker"] * wanted["by_speaker"] + ["fig3_articulatory"] * wanted[
    "pwcca"
] + ["fig3_lag"] * wanted["lag"] + ["fig3_regions"] * wanted["regions"]  # fmt: skip
for name in figures:
    pdf, png = results / "figures" / f"{name}.pdf", results / "figures" / f"{name}.png"
    assert pdf.exists() and png.exists(), f"{name}: {pdf.name} or {png.name} missing"
    head = pdf.read_bytes()
    assert head.startswith(b"%PDF") and b"/CreationDate" not in head, f"{pdf}: not a PDF, or it carries a creation date"
    with Image.open(png) as im:
        w, h = im.size
        hist = im.convert("L").histogram()
    inked = sum(hist[:250]) / (w * h)  # share of pixels not white: empty panels with axes and a title have 3 %
    assert w >= 600 and h >= 400 and inked > 0.04, f"{png}: {w} x {h} pixels, {100 * inked:.1f} % not white: nothing drawn?"
print(f"figures: {len(figures)} PDF and PNG pairs drawn")
# the HTML report (second argument, when given): every figure and summary table the config
# builds, the captions filled with the data label and the codecs' weights
if len(sys.argv) > 2:
    html = Path(sys.argv[2]).read_text()
    items = ["fig2_word_pairs.png", "distances/all_codecs.csv", "word_pairs.tex", "pair_summary.csv", "codecs.csv",
             "paper_comparison.csv"]  # fmt: skip
    items += ["fig2_word_pairs_by_speaker.png", "by_speaker/all_codecs.csv"] * wanted["by_speaker"]
    items += ["fig3_articulatory.png", "pwcca_all_codecs.csv", "pwcca_summary.csv", "pwcca.tex"] * wanted["pwcca"]
    items += [f"{s}_grid.png" for s in rtmri.get("speakers") or []] if wanted["pwcca"] else []
    items += ["fig3_lag.png", "lag_best.csv", "lag_summary.csv", "lag_all_codecs.csv"] * wanted["lag"]
    items += ["fig3_regions.png", "region_summary.csv", "region_pwcca_all_codecs.csv"] * wanted["regions"]
    # a report item is an entry with its file name (a rule's outputs are also listed in its provenance)
    entries = re.findall(r'"filename": "([^"]+)"', html)
    missing = [i for i in items if i.rsplit("/", 1)[-1] not in entries]
    assert entries.count("all_codecs.csv") == 1 + wanted["by_speaker"], f"{sys.argv[2]}: {entries}"
    assert not missing, f"{sys.argv[2]}: not in the report: {missing}"
    weights = "Codecs and weights: " + "; ".join(f"{c['name']} = {c['weights']}" for c in config["codecs"])
    of_codecs = [i for i in items if i != "pair_summary.csv" and not i.endswith("_grid.png")]  # the rest: no codec
    assert html.count(weights) >= len(of_codecs), f"{sys.argv[2]}: {html.count(weights)} captions say {weights!r}, " \
        f"{len(of_codecs)} items come from the codecs"
    assert label[:40] in html, f"{sys.argv[2]}: the data label is not in the captions"
    print(f"report: {len(items)} items, their captions with the data label and the codecs' weights")
print("demo check passed")
