"""This run's numbers beside the paper's: the shipped reference table and the comparison."""

import json

import numpy as np
import pandas as pd
import pytest
from codecprobe.io import CodecprobeError, read_table
from codecprobe.reference import compare, layer_span, load_reference, main


def test_shipped_reference_holds_the_notes_numbers():
    ref = load_reference()
    assert set(ref["family"]) == {"encodec", "dac", "mimi", "mimo"}
    key = ref.set_index(["family", "quantity", "layers", "stat"])["value"]
    assert key["encodec", "random_mean", "1", "value"] == 6.74 and key["encodec", "random_mean", "16", "value"] == 5.88
    assert key["mimo", "near_homophone_minus_random", "1", "value"] == -6.0
    assert key["dac", "random_mean", "32", "value"] == 8.87
    assert key["mimi", "near_homophone_rel_percent", "1", "value"] == -23
    assert key["mimi", "cka_linear", "", "value"] == 0.329 and key["mimo", "cka_gap", "", "value"] == 0.054
    assert key["mimi", "pwcca", "32", "value"] == 0.674
    # Table 1: 24 kHz in for all four; 12, 24, 4.4 and 1.55 kbps out
    assert {f: key[f, "bitrate_bps", f"1-{k}", "value"] for f, k in (("encodec", 16), ("dac", 32), ("mimi", 32), ("mimo", 8))} == {
        "encodec": 12000, "dac": 24000, "mimi": 4400, "mimo": 1550,
    }  # fmt: skip
    assert (ref.loc[ref["quantity"] == "input_sample_rate_hz", "value"] == 24000).sum() == 4


def test_layer_span():
    assert layer_span("3") == [3] and layer_span("2-5") == [2, 3, 4, 5] and layer_span("") == []


def _dist(codec: str, k: int, random: bool = False, aggregation: str = "word_types") -> pd.DataFrame:
    """Distances of one codec over layers 1..k: random mean 6 + layer / 100; synonym minus
    random = layer / 100; near-homophone minus random = -layer / 10 (rel: -layer %)."""
    rows = []
    for layer in range(1, k + 1):
        rows += [
            {"pair_type": "random", "mean": 6 + layer / 100, "norm_mean": 0.0, "rel_mean": 0.0},
            {"pair_type": "synonym", "mean": 0.0, "norm_mean": layer / 100, "rel_mean": 0.0},
            {"pair_type": "near_homophone", "mean": 0.0, "norm_mean": -layer / 10, "rel_mean": -layer / 100},
        ]
        for r in rows[-3:]:
            r.update(codec=codec, layer=layer)
    return pd.DataFrame(rows).assign(variant="accumulated", random_weights=random, aggregation=aggregation)


def _row(out: pd.DataFrame, codec: str, quantity: str, layers: str, stat: str = "value") -> pd.Series:
    (i,) = np.flatnonzero((out["codec"] == codec) & (out["quantity"] == quantity) & (out["layers"] == layers)
                          & (out["stat"] == stat))  # fmt: skip
    return out.iloc[i]


def test_compare_values_and_what_compares():
    ref = load_reference()
    dist = pd.concat([
        _dist("enc", 16), _dist("enc_rand", 16, random=True), _dist("dac_zq", 32), _dist("dac_8d", 32),
        _dist("mimo8", 8), _dist("enc_tok", 16, aggregation="seeds"), _dist("mimi", 32),
    ])  # fmt: skip
    codecs = {
        "enc": {"family": "encodec"}, "enc_rand": {"family": "encodec"}, "dac_zq": {"family": "dac"},
        "dac_8d": {"family": "dac", "vectors": "release_8d"}, "mimo8": {"family": "mimo"},
        "enc_tok": {"family": "encodec"}, "mimi": {"family": "mimi"}, "mel": {"family": "melrvq"},
    }  # fmt: skip
    out = compare(ref, codecs, dist=dist)
    assert "mel" not in set(out["codec"])  # no reference numbers for melrvq
    r = _row(out, "enc", "random_mean", "1")
    assert (r.paper, r.ours, r.comparable) == (6.74, pytest.approx(6.01), "yes")
    assert r.difference == pytest.approx(6.01 - 6.74)
    assert _row(out, "enc", "random_mean", "16").ours == pytest.approx(6.16)
    assert _row(out, "enc", "synonym_minus_random", "2-16", "min").ours == pytest.approx(0.02)
    assert _row(out, "enc", "synonym_minus_random", "2-16", "max").ours == pytest.approx(0.16)
    assert _row(out, "enc", "near_homophone_minus_random", "1").ours == pytest.approx(-0.1)
    assert _row(out, "enc_rand", "random_mean", "1").comparable == "no: random weights (plumbing, not a result)"
    assert _row(out, "dac_zq", "random_mean", "1").comparable.startswith("no: the release summed DAC's 8-d")
    # the release's 8-d sums, but also its compress() of DAC's input (loudness), which this run does not do
    assert _row(out, "dac_8d", "random_mean", "32").comparable.startswith("approximately: the release encoded DAC's input")
    m = _row(out, "mimo8", "random_mean", "20")
    assert m.comparable == "no: layer 20 not encoded (this run: layers 1-8)" and np.isnan(m.ours)
    assert _row(out, "mimo8", "random_mean", "1").comparable == "yes"
    assert _row(out, "mimo8", "synonym_minus_random", "1-20", "min").comparable.startswith("no: layer 9 not encoded")
    assert _row(out, "enc_tok", "random_mean", "1").comparable == "approximately: aggregated as seeds; the paper's: word_types"
    mi = _row(out, "mimi", "near_homophone_rel_percent", "1")
    assert mi.ours == pytest.approx(-1.0) and mi.comparable.startswith("approximately: the release passed MIMI")
    assert _row(out, "mimi", "synonym_rel_percent", "1-32").ours == pytest.approx(0.0)  # the mean over the layers


def test_a_quantity_the_run_lacks_is_a_row_without_value(tmp_path, caplog):
    """A distances table without synonym and near-homophone rows (pairs.types: [random]):
    their reference rows stay, without a value, saying so (before session 22 they vanished);
    an analysis the run does not have (no table given) gives no rows."""
    d = _dist("enc", 16)
    out = compare(load_reference(), {"enc": {"family": "encodec"}}, dist=d[d.pair_type == "random"])
    assert len(out) == 8 and set(out["analysis"]) == {"word_pairs"}
    r = _row(out, "enc", "synonym_minus_random", "1")
    assert np.isnan(r.ours) and r.comparable == "no: not computed in this run (no synonym_minus_random of enc)"
    assert (out.loc[out.quantity == "random_mean", "comparable"] == "yes").all()
    # without random pairs (pairs.types leaves it out) the normalized columns are NaN: not
    # computed, as a missing type (they read "yes" beside an empty value)
    no_random = d[d.pair_type != "random"].assign(norm_mean=np.nan)
    out = compare(load_reference(), {"enc": {"family": "encodec"}}, dist=no_random)
    normalized = out[out.quantity.str.endswith("_minus_random")]
    assert len(normalized) >= 4 and normalized["ours"].isna().all()
    assert (normalized["comparable"] == normalized["quantity"].map(
        lambda q: f"no: not computed in this run ({q} of enc is empty in its table)")).all()  # fmt: skip
    assert (out.loc[out.quantity.str.endswith("_rel_percent"), "comparable"] == "yes").all()
    with caplog.at_level("INFO", logger="codecprobe.reference"):
        main(["--codecs", json.dumps({"enc": {"family": "encodec"}}), "--out", str(tmp_path / "c.csv")])
    assert "no table given for the codecs of ['encodec']" in caplog.text


def test_compare_pwcca_and_cka():
    ref = load_reference()
    pwcca = pd.DataFrame({"codec": "enc", "layer": [1, 2], "pwcca": [0.2, 0.3], "random_weights": False})
    cka = pd.DataFrame({"codec": "mimi", "estimator": ["linear", "debiased"], "cka": [0.31, 0.2], "gap": [0.09, 0.05],
                        "codec_random": False, "llm_random": False})  # fmt: skip
    out = compare(ref, {"enc": {"family": "encodec"}, "mimi": {"family": "mimi"}}, pwcca=pwcca, cka=cka)
    p = _row(out, "enc", "pwcca", "1")
    assert (p.ours, p.paper) == (0.2, 0.176) and p.comparable.startswith("approximately: the release's PWCCA")
    # a summary with Fig. 4's rows (variant) compares the accumulated ones
    fig4 = pd.concat([pwcca.assign(variant="accumulated"), pwcca.assign(variant="layer1_only", pwcca=[0.9, 0.9])])
    assert _row(compare(ref, {"enc": {"family": "encodec"}}, pwcca=fig4), "enc", "pwcca", "1").ours == 0.2
    assert _row(out, "enc", "pwcca", "16").comparable == "no: layer 16 not encoded (this run: layers 1-2)"
    c = _row(out, "mimi", "cka_linear", "")
    assert (c.ours, c.paper) == (0.31, 0.329) and c.comparable.startswith("no: the release's speech side")
    assert _row(out, "mimi", "cka_gap", "").ours == 0.09
    # with the first-codebook split, the paper's number is that of every codebook (variant all)
    split = pd.concat([cka.assign(variant="layer1_only", cka=[0.5, 0.3], gap=[0.2, 0.1]), cka.assign(variant="all")])
    out = compare(ref, {"mimi": {"family": "mimi"}}, cka=split)
    assert (_row(out, "mimi", "cka_linear", "").ours, _row(out, "mimi", "cka_gap", "").ours) == (0.31, 0.09)
    older = pd.concat([split.iloc[:2], cka.assign(variant=np.nan)])  # a table from before the split: empty variant
    assert _row(compare(ref, {"mimi": {"family": "mimi"}}, cka=older), "mimi", "cka_linear", "").ours == 0.31


def test_cli_and_bad_reference(tmp_path):
    d = tmp_path / "d.csv"
    _dist("enc", 16).to_csv(d, index=False)
    out = tmp_path / "cmp.csv"
    main(["--codecs", json.dumps({"enc": {"family": "encodec"}}), "--distances", str(d), "--out", str(out)])
    t = read_table(out)
    assert set(t["analysis"]) == {"word_pairs"} and (t["comparable"] == "yes").all() and len(t) == 8
    bad = tmp_path / "ref.csv"
    load_reference().assign(settings="dac_16d").to_csv(bad, index=False)
    with pytest.raises(CodecprobeError, match=r"ref.csv, row 2: unknown settings 'dac_16d' \(known: dac_8d, "):
        load_reference(bad)
    ref = load_reference()
    ref.loc[ref["quantity"] == "bitrate_bps", "quantity"] = "bitrate_kbps"
    ref.to_csv(bad, index=False)
    with pytest.raises(CodecprobeError, match="unknown codec quantity 'bitrate_kbps' \\(known: input_sample_rate_hz, bitrate_bps\\)"):
        load_reference(bad)


def test_what_the_release_did_differently_is_named_per_row():
    """From an audit of the comparison: the release's DAC PWCCA is of its 8-d sums (and its
    compress()), MIMI's PWCCA and distances of upsampled features (absolute distances on
    another scale); a cosine metric, standardized or otherwise pooled features, feature
    slicing, and weights: random in the config all read 'yes' or 'approximately' before."""
    ref = load_reference()
    key = ref.set_index(["family", "quantity", "layers", "stat"])["value"]
    assert key["mimi", "pwcca", "2", "value"] == 0.642 and key["mimi", "pwcca", "3", "value"] == 0.655
    assert key["mimo", "pwcca", "2", "value"] == 0.469 and key["mimo", "pwcca", "20", "value"] == 0.543
    assert key["mimi", "near_homophone_rel_percent", "2-32", "value"] == -10
    assert key["dac", "synonym_minus_random", "12", "value"] == 0.0
    pwcca = pd.DataFrame({"codec": ["dac"] * 32 + ["mimi"] * 32, "layer": list(range(1, 33)) * 2, "pwcca": 0.3,
                          "random_weights": False})  # fmt: skip
    out = compare(ref, {"dac": {"family": "dac"}, "mimi": {"family": "mimi"}}, pwcca=pwcca)
    assert _row(out, "dac", "pwcca", "1").comparable.startswith("no: the release summed DAC's 8-d")
    assert "upsampling" in _row(out, "mimi", "pwcca", "2").comparable and "PWCCA" in _row(out, "mimi", "pwcca", "2").comparable
    out = compare(ref, {"mimi": {"family": "mimi"}}, dist=_dist("mimi", 32))
    assert _row(out, "mimi", "random_mean", "1").comparable.startswith("no: the release's MIMI distances are of features")
    assert _row(out, "mimi", "near_homophone_rel_percent", "1").comparable.startswith("approximately")
    # the run's word-pair settings
    enc = {"enc": {"family": "encodec"}}
    assert _row(compare(ref, enc, dist=_dist("enc", 16)), "enc", "random_mean", "1").comparable == "yes"
    cos = _row(compare(ref, enc, dist=_dist("enc", 16).assign(metric="cosine")), "enc", "random_mean", "1")
    assert cos.comparable == "no: distances by cosine; the paper's: euclidean"
    for run, why in (({"standardize": True}, "features standardized"), ({"pooling": "centroid"}, "pooled by centroid"),
                     ({"slicing": "feature"}, "feature slicing; the paper's: audio")):  # fmt: skip
        r = _row(compare(ref, enc, dist=_dist("enc", 16), run=run), "enc", "random_mean", "1")
        assert r.comparable.startswith("no: ") and why in r.comparable, run
    same = {"metric": "euclidean", "standardize": False, "pooling": "mean", "slicing": "audio"}
    assert _row(compare(ref, enc, dist=_dist("enc", 16), run=same), "enc", "random_mean", "1").comparable == "yes"
    rand = {"enc": {"family": "encodec", "weights": "random"}}  # a table without the flag: the config says so
    r = _row(compare(ref, rand, dist=_dist("enc", 16).drop(columns="random_weights")), "enc", "random_mean", "1")
    assert r.comparable == "no: random weights (plumbing, not a result)"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.drop(columns="settings"), r"no column settings"),
        (lambda r: r.assign(value=["x"] + list(r["value"][1:])), r"row 2: value 'x' is not a number"),
        (lambda r: r.assign(layers=["16-"] + list(r["layers"][1:])), r"row 2: layers '16-' is not a layer k or a range"),
        (lambda r: r.assign(layers=["16-2"] + list(r["layers"][1:])), r"row 2: layers '16-2' is a range with its first layer after its last"),
        (lambda r: r.assign(family=["EnCodec"] + list(r["family"][1:])), r"row 2: unknown family 'EnCodec'"),
        (lambda r: r.assign(stat=["mean"] + list(r["stat"][1:])), r"row 2: unknown stat 'mean'"),
        (lambda r: pd.concat([r, r.iloc[:1]]), r"word_pairs encodec random_mean 1 value given twice"),
    ],
)  # fmt: skip
def test_a_bad_reference_table_names_the_row_and_value(tmp_path, edit, message):
    bad = tmp_path / "ref.csv"
    edit(load_reference().astype({"value": str})).to_csv(bad, index=False)
    with pytest.raises(CodecprobeError, match=message):
        load_reference(bad)


def test_an_empty_variant_reads_as_accumulated_in_every_summary():
    """A codec table from before the ``variant`` column, combined with newer ones, has an
    empty variant: Fig. 2 drew it, but ``word_pairs.tex`` left the codec out and the paper
    comparison said it was not computed."""
    import pandas as pd
    from codecprobe.figures import latex_table
    from codecprobe.reference import compare, load_reference

    def tab(codec, variant=True):
        rows = [{"codec": codec, "layer": layer, "pair_type": t, "mean": m, "ci_low": m - 0.1, "ci_high": m + 0.1,
                 "norm_mean": m - 6, "norm_ci_low": m - 6.1, "norm_ci_high": m - 5.9, "rel_mean": m / 6 - 1,
                 "random_weights": False, "metric": "euclidean", "aggregation": "word_types"}
                for layer in (1, 2) for t, m in (("random", 6.0), ("synonym", 5.9), ("near_homophone", 5.5))]  # fmt: skip
        d = pd.DataFrame(rows)
        return d.assign(variant="accumulated") if variant else d

    both = pd.concat([tab("enc_new"), tab("enc_old", variant=False)], ignore_index=True)
    assert both["variant"].isna().sum() == 6
    tex = latex_table(both)
    assert "ENC\\_NEW" in tex and "ENC\\_OLD" in tex
    out = compare(load_reference(), {"enc_new": {"family": "encodec"}, "enc_old": {"family": "encodec"}}, dist=both)
    rows = out[(out.quantity == "random_mean") & (out.layers == "1")].set_index("codec")
    assert rows.loc["enc_old", "ours"] == rows.loc["enc_new", "ours"] == 6.0
