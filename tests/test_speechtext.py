"""Speech-text CKA stage (codecprobe.speechtext): known answers on synthetic vectors, the
stage end to end on a random-weight MIMI + tiny Moshi, summary table / LaTeX / figure."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from codecprobe.io import CodecprobeError, read_table
from codecprobe.manifest import build_manifest
from codecprobe.speechtext import CKAConfig, cka_rows, latex_table, main, token_codes
from codecprobe.words import WordFilter, build_word_table, index_textgrids


def test_cka_rows_known_answers():
    """Speech = text rotated and scaled: linear CKA 1 and p at its floor; independent
    speech: debiased CKA near 0, null around it, gap CI covering 0."""
    rng = np.random.default_rng(0)
    words = np.array([f"w{i % 150}" for i in range(300)])
    types = {w: rng.standard_normal(20) for w in set(words)}
    text = np.stack([types[w] for w in words])
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    cfg = CKAConfig(n_permutations=99, n_bootstrap=50, bootstrap_permutations=5, estimators=("linear", "debiased", "rbf"))
    rows = {r["estimator"]: r for r in cka_rows(3.0 * text @ q, text, words, cfg)}
    assert rows["linear"]["cka"] == pytest.approx(1.0, abs=1e-10)
    assert rows["debiased"]["cka"] == pytest.approx(1.0, abs=1e-10)
    assert rows["rbf"]["cka"] == pytest.approx(1.0, abs=1e-10)  # distances scale with the bandwidth
    assert rows["linear"]["p_value"] == pytest.approx(1 / 100)
    assert rows["linear"]["n_types"] == 150 and rows["linear"]["n_words"] == 300
    assert rows["debiased"]["gap_ci_low"] > 0.5
    indep = {r["estimator"]: r for r in cka_rows(rng.standard_normal((300, 20)), text, words, cfg)}
    d = indep["debiased"]
    assert abs(d["cka"]) < 0.05 and abs(d["null_mean"]) < 0.02 and d["p_value"] > 0.01
    assert d["gap_ci_low"] < 0 < d["gap_ci_high"]
    assert indep["linear"]["cka"] > indep["debiased"]["cka"]  # plain CKA's upward bias
    with pytest.raises(CodecprobeError, match="unknown"):
        cka_rows(text, text, words, CKAConfig(estimators=("cosine",)))


@pytest.fixture(scope="module")
def mimi_words(tmp_path_factory):
    """The encode stage's HDF5 for a random-weight MIMI (8 codebooks) on the test corpus."""
    pytest.importorskip("torch")
    from codecprobe.codecs import CodecSpec, load_codec
    from codecprobe.encode import EncodeConfig, run

    from conftest import make_corpus

    tmp_path = tmp_path_factory.mktemp("mimi")
    corpus = make_corpus(tmp_path)
    m, _ = build_manifest(corpus[0], ["dev-clean"])
    words = build_word_table(m, index_textgrids(corpus[1]), WordFilter())[0]
    out = tmp_path / "mimi.h5"
    run(load_codec(CodecSpec("mimi", "mimi", weights="random", n_layers=8)), words, None, str(out), EncodeConfig())
    return out, words


def test_stage_end_to_end_on_random_weights(mimi_words, tmp_path):
    h5, words = mimi_words
    tokens, codes, attrs = token_codes(str(h5))
    assert len(tokens) == len(words) and attrs["family"] == "mimi"
    assert all(c.shape[0] == 8 and c.shape[1] >= 1 for c in codes)
    out, emb = tmp_path / "cka" / "mimi.csv", tmp_path / "cka" / "mimi.h5"
    cfg = {"max_words": 7, "n_permutations": 50, "n_bootstrap": 20, "bootstrap_permutations": 3, "seed": 1}
    argv = ["run", "--codec", "mimi", "--features", str(h5), "--llm", json.dumps({"family": "moshi", "weights": "random"}),
            "--out", str(out), "--embeddings", str(emb), "--config", json.dumps(cfg)]  # fmt: skip
    main(argv)
    t = read_table(out)
    assert list(t["estimator"]) == ["linear", "debiased"]
    assert (t["n_words"] == 7).all() and t["codec_random"].all() and t["llm_random"].all()
    assert ((t["p_value"] > 0) & (t["p_value"] <= 1)).all() and t["null_sd"].gt(0).all()
    with h5py.File(emb) as h:
        assert h["speech"].shape == (7, 64) and h["text"].shape == (7, 64)
        assert "RANDOM WEIGHTS" in h.attrs["note"]
        ids = h["token_id"][:]
    # the same seed draws the same 7 tokens
    main(argv)
    with h5py.File(emb) as h:
        np.testing.assert_array_equal(h["token_id"][:], ids)
    # an LLM that reads another codec's codes: a clear error
    with pytest.raises(CodecprobeError, match="reads mimo codes"):
        main(["run", "--codec", "mimi", "--features", str(h5), "--llm", json.dumps({"family": "mimo_audio", "weights": "random"}), "--out", str(out)])


def test_words_that_tokenize_to_nothing_are_skipped_and_counted(mimi_words, caplog):
    from codecprobe.llm import LLMSpec, load_llm_input
    from codecprobe.speechtext import embed_tokens

    h5, _ = mimi_words
    tokens, codes, _ = token_codes(str(h5))
    llm = load_llm_input(LLMSpec("moshi", "random"))
    words = tokens["word"].tolist()
    words[0] = ""
    speech, text, keep, counts = embed_tokens(llm, words, codes)
    assert counts["skipped: word tokenizes to nothing"] == 1 and not keep[0] and keep[1:].all()
    assert speech.shape == text.shape == (len(words) - 1, 64)
    with pytest.raises(CodecprobeError, match="no word token left"):
        embed_tokens(llm, [""] * len(words), codes)


def test_summary_latex_and_figure(tmp_path):
    base = {"codec_family": "mimi", "codec_random": False, "llm_random": False, "n_words": 100, "n_types": 60,
            "p_value": 0.001, "n_permutations": 1000}  # fmt: skip
    rows = [
        base | {"codec": "mimi", "estimator": "linear", "cka": 0.329, "null_mean": 0.21, "null_sd": 0.01, "gap": 0.119, "gap_ci_low": np.nan, "gap_ci_high": np.nan},
        base | {"codec": "mimi", "estimator": "debiased", "cka": 0.05, "null_mean": 0.0, "null_sd": 0.01, "gap": 0.05, "gap_ci_low": 0.03, "gap_ci_high": 0.07},
        base | {"codec": "mimo", "codec_family": "mimo", "llm_random": True, "estimator": "linear", "cka": 0.122, "null_mean": 0.1, "null_sd": 0.005, "gap": 0.022, "gap_ci_low": np.nan, "gap_ci_high": np.nan},
    ]  # fmt: skip
    tex = latex_table(pd.DataFrame(rows))
    assert r"MIMI & 0.329 & 0.210 $\pm$ 0.010 & +0.119 & +0.050 [+0.030, +0.070] \\" in tex
    assert r"MIMO (random weights) & 0.122 & 0.100 $\pm$ 0.005 & +0.022 & -- \\" in tex
    paths = [tmp_path / f"t{i}.csv" for i in range(2)]
    pd.DataFrame(rows[:2]).to_csv(paths[0], index=False)
    pd.DataFrame(rows[2:]).to_csv(paths[1], index=False)
    out = {k: tmp_path / f"cka.{k}" for k in ("csv", "pdf", "png", "tex")}
    main(["summary", "--tables", *map(str, paths), "--combined", str(out["csv"]), "--pdf", str(out["pdf"]), "--png", str(out["png"]), "--latex", str(out["tex"])])
    assert len(read_table(out["csv"])) == 3 and out["png"].stat().st_size > 5000 and out["tex"].read_text() == tex
