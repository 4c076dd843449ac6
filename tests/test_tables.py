"""The LaTeX tables beside Fig. 2, Fig. 3 and the CKA (``results/tables/word_pairs.tex``,
``pwcca.tex``, ``cka.tex``): hand-made tables in, the exact lines out, with each codec's
decimals chosen from its own magnitude (values ~1e-3 stay readable)."""

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
    two = figures.latex_table(pd.concat([t, t.assign(codec="dac", random_weights=False)])).splitlines()
    assert two[7] == r"\midrule" and two[8].startswith("DAC (K = 3) & synonym & -0.100") and two[10] == r"\bottomrule"
    spk = t[(t.pair_type == "synonym") & (t.variant == "accumulated")].assign(pair_type="same_speaker", norm_mean=-0.2)
    with_spk = figures.latex_table(pd.concat([t, spk])).splitlines()
    assert with_spk[7].startswith(r"MIMI\_A (random weights) (K = 3) & same-speaker & -0.200")
    no_rel = figures.latex_table(t.drop(columns=["rel_mean"])).splitlines()
    assert no_rel[5].endswith(r"& -- \\")
    # near-homophone minus synonym: a last row per codec, its own decimals, NaN rows left out
    hom = t.pair_type == "near_homophone"
    c = t.assign(minus_synonym=np.where(hom, -0.5 + 0.1 * t.layer, np.nan))
    c = c.assign(minus_synonym_ci_low=c.minus_synonym - 0.0123, minus_synonym_ci_high=c.minus_synonym + 0.0123)
    ct = figures.latex_table(c).splitlines()
    assert ct[7] == r"MIMI\_A (random weights) (K = 3) & near-homophone $-$ synonym & -0.400 [-0.412, -0.388] & -0.200 [-0.212, -0.188] & -- \\"
    assert ct[8] == r"\bottomrule" and len(ct) == 10
    small = figures.latex_table(c.assign(**{k: c[k] * 1e-3 for k in ("minus_synonym", "minus_synonym_ci_low", "minus_synonym_ci_high")}))
    assert r"& -0.000400 [-0.000412, -0.000388] & -0.000200 [-0.000212, -0.000188] & --" in small
    assert figures.latex_table(c.assign(minus_synonym=np.nan)) == figures.latex_table(t)  # no contrast: no row


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


def test_latex_decimals_known_answers():
    """3 significant digits of the largest magnitude, at least 3 decimals (values of 0.1-10 print
    as before), at most 9; zeros and NaN do not count."""
    assert figures.latex_decimals([-0.5, 0.02]) == 3
    assert figures.latex_decimals([1.2, -7.0]) == 3
    assert figures.latex_decimals([-2.1e-3, 1e-4]) == 5
    assert figures.latex_decimals([9.99e-4, np.nan]) == 6
    assert figures.latex_decimals([0.0, np.nan]) == figures.latex_decimals([]) == 3
    assert figures.latex_decimals([3e-15]) == 9
    assert figures.latex_decimals([12.5, -0.05], sig=2, least=1) == 1  # the percent column
    assert figures.latex_decimals([-0.06], sig=2, least=1) == 3


def test_word_pairs_table_small_distances_readable():
    """A codec whose differences are ~1e-3 (MIMI's scale) gets 5 decimals in every cell of its
    own (not -0.001 [-0.001, -0.001]); a codec of order 0.1 in the same table keeps 3."""
    rows = []
    for codec, scale in (("mimi", 1e-3), ("enc", 0.1)):
        for layer, norm in ((1, -1.234), (2, -2.1)):
            for ty, v in (("random", 0.0), ("synonym", norm)):
                rows.append({"codec": codec, "layer": layer, "pair_type": ty, "norm_mean": v * scale,
                             "norm_ci_low": (v - 0.3) * scale, "norm_ci_high": (v + 0.3) * scale,
                             "rel_mean": -0.0006 if codec == "mimi" else -0.125, "random_weights": codec == "mimi"})  # fmt: skip
    tex = figures.latex_table(pd.DataFrame(rows)).splitlines()
    assert tex[5] == r"MIMI (random weights) (K = 2) & synonym & -0.00123 [-0.00153, -0.00093] & -0.00210 [-0.00240, -0.00180] & -0.060\% \\"
    assert tex[6] == r"\midrule"
    assert tex[7] == r"ENC (K = 2) & synonym & -0.123 [-0.153, -0.093] & -0.210 [-0.240, -0.180] & -12.5\% \\"


def test_pwcca_table_small_values_readable():
    """PWCCA of order 0.01 (two speakers 0.002 apart): 4 decimals for that codec, baseline too."""
    rows = [{"codec": "tiny", "speaker": spk, "variant": "accumulated", "layer": layer, "pwcca": v + bump,
             "shuffled_mean": 0.005, "random_weights": True}
            for spk, bump in (("s1", 0.0), ("s2", 0.002)) for layer, v in ((1, 0.020), (2, 0.030), (3, 0.025))]  # fmt: skip
    tex = artstage.latex_table(pd.DataFrame(rows)).splitlines()
    assert tex[5] == (r"TINY (random weights) (K = 3) & 0.0210 [0.0083, 0.0337] & 0.0260 [0.0133, 0.0387] & "
                      r"2: 0.0310 [0.0183, 0.0437] & 0.0050 & 2 \\")  # fmt: skip


def test_cka_table_small_values_readable():
    """A random-weight codec's CKA of order 1e-3: 5 decimals in its row."""
    from codecprobe.speechtext import latex_table

    base = {"codec": "mimi", "codec_random": True, "llm_random": False}
    rows = [base | {"estimator": "linear", "cka": 0.004, "null_mean": 0.003, "null_sd": 0.0005, "gap": 0.001,
                    "gap_ci_low": np.nan, "gap_ci_high": np.nan},
            base | {"estimator": "debiased", "cka": 0.0008, "null_mean": 0.0, "null_sd": 0.0005, "gap": 0.0008,
                    "gap_ci_low": -0.0002, "gap_ci_high": 0.0018}]  # fmt: skip
    tex = latex_table(pd.DataFrame(rows)).splitlines()
    assert tex[5] == r"MIMI (random weights) & 0.00400 & 0.00300 $\pm$ 0.00050 & +0.00100 & +0.00080 [-0.00020, +0.00180] \\"


def test_latex_decimals_ignore_infinite_values():
    """An infinite value (e.g. a ratio over a zero baseline) does not count toward the
    decimals: with it kept, log10(inf) gave the minimum 3 decimals, and 1e-4 printed as 0.000."""
    assert figures.latex_decimals([1e-4]) == 6
    assert figures.latex_decimals([np.inf, 1e-4]) == 6
    assert figures.latex_decimals([-np.inf, 1e-4, np.nan]) == 6
