"""CI check of the demo's science: with the melrvq baseline, near-homophone pairs are
closer than random pairs at every layer (95 % CI of the normalized distance below 0),
and same-word pairs are the closest of all."""

import sys

import pandas as pd

t = pd.read_csv(sys.argv[1] if len(sys.argv) > 1 else "results/distances/all_codecs.csv")
m = t[t.codec == "melrvq"]
hom = m[m.pair_type == "near_homophone"]
assert len(hom) > 0, "no melrvq near-homophone rows"
assert (hom.norm_ci_high < 0).all(), f"near-homophone not below random:\n{hom}"
for layer, g in m.groupby("layer"):
    g = g.set_index("pair_type")
    assert g.loc["same_word", "mean"] == g["mean"].min(), f"layer {layer}: same-word pairs are not the closest"
print(f"demo check passed: melrvq near-homophone - random = {hom.norm_mean.min():.3f} .. {hom.norm_mean.max():.3f} over {len(hom)} layers")
