"""The LaTeX tables beside Fig. 2 and Fig. 3 (``results/tables/word_pairs.tex``, ``pwcca.tex``):
hand-made tables in, the exact lines out."""

import numpy as np
import pandas as pd
from codecprobe import artstage, figures


def test_word_pairs_table_by_hand():
    rows = []
    for layer in (1, 2, 3):
        for ty, norm in (("random", 0.0), ("synonym", -0.1 * layer), ("near_homophone", -0.5)):
            rows.append({"codec": "mimi_a", "layer": layer, "pair_type": ty, "norm_mean": norm, "norm_ci_low": norm - 0.05,
                         "norm_ci_high": norm + 0.05, "rel_mean": norm / 4, "random_weights": True, "variant": "accumulated"})  # fmt: skip
    rows.append(rows[-1] | {"variant": "without_layer1", "norm_mean": 9.0})  # split rows are not Fig. 2's
    t = pd.DataFrame(rows)
    t.loc[(t.pair_type == "near_homophone") & (t.layer == 1), ["norm_ci_low", "norm_ci_high"]] = np.nan  # one seed
    tex = figures.latex_table(t).splitlines()
    assert tex[5] == r"MIMI\_A (random weights) (K = 3) & synonym & -0.100 [-0.150, -0.050] & -0.300 [-0.350, -0.250] & -7.5\% \\"
    assert tex[6] == r"MIMI\_A (random weights) (K = 3) & near-homophone & -0.500 & -0.500 [-0.550, -0.450] & -12.5\% \\"
    assert tex[7] == r"\bottomrule" and len(tex) == 9  # no same-word rows in the table: none printed
    no_rel = figures.latex_table(t.drop(columns=["rel_mean"])).splitlines()
    assert no_rel[5].endswith(r"& -- \\")


def test_pwcca_table_by_hand():
    """Means and t-intervals over two speakers; MIMI's split as a second row."""
    rows = []
    for spk, bump in (("s1", 0.0), ("s2", 0.02)):
        for layer, v in ((1, 0.50), (2, 0.60), (3, 0.55)):
            rows.append({"codec": "mimi", "speaker": spk, "variant": "accumulated", "layer": layer, "pwcca": v + bump,
                         "shuffled_mean": 0.3, "random_weights": False})  # fmt: skip
        rows.append({"codec": "mimi", "speaker": spk, "variant": "layer1_only", "layer": 1, "pwcca": 0.5 + bump,
                     "shuffled_mean": 0.3, "random_weights": False})  # fmt: skip
        for layer in (2, 3):
            rows.append({"codec": "mimi", "speaker": spk, "variant": "without_layer1", "layer": layer,
                         "pwcca": 0.40 + 0.01 * layer + bump, "shuffled_mean": 0.3, "random_weights": False})  # fmt: skip
    tex = artstage.latex_table(pd.DataFrame(rows)).splitlines()
    half = 12.706205 * np.std([0.0, 0.02], ddof=1) / np.sqrt(2)  # t(0.975, 1 df) x sd / sqrt(2) = 0.127
    lo, hi = 0.51 - half, 0.51 + half
    assert tex[5] == (f"MIMI (K = 3) & 0.510 [{lo:.3f}, {hi:.3f}] & 0.560 [{lo + 0.05:.3f}, {hi + 0.05:.3f}] & "
                      f"2: 0.610 [{lo + 0.1:.3f}, {hi + 0.1:.3f}] & 0.300 & 2 \\\\")  # fmt: skip
    assert tex[6] == f"\\quad layer 1 alone / 2..K & 0.510 [{lo:.3f}, {hi:.3f}] & 0.440 [{lo - 0.07:.3f}, {hi - 0.07:.3f}] & & & \\\\"
