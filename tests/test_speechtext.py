"""Speech-text CKA stage (codecprobe.speechtext): known answers on synthetic vectors, one
row per word type (regression: per-token rows inflate CKA), the stage end to end on a
random-weight MIMI + tiny Moshi, summary table / LaTeX / figure."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from codecprobe import source_version, speechtext
from codecprobe.cka import cka_permutation
from codecprobe.io import CodecprobeError, read_table
from codecprobe.llm import LLMSpec
from codecprobe.manifest import build_manifest
from codecprobe.speechtext import (
    CKAConfig,
    cka_rows,
    embed_types,
    latex_table,
    main,
    select_types,
    token_codes,
    usable_tokens,
)
from codecprobe.words import WordFilter, build_word_table, index_textgrids


def test_cka_rows_known_answers():
    """Speech = text rotated and scaled: linear CKA 1 and p at its floor; independent
    speech: debiased CKA near 0, null around it, gap CI covering 0."""
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(300)])
    text = rng.standard_normal((300, 20))
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    cfg = CKAConfig(n_permutations=99, n_bootstrap=50, bootstrap_permutations=5, estimators=("linear", "debiased", "rbf"))
    rows = {r["estimator"]: r for r in cka_rows(3.0 * text @ q, text, words, cfg, n_tokens=np.full(300, 2))}
    assert rows["linear"]["cka"] == pytest.approx(1.0, abs=1e-10)
    assert rows["debiased"]["cka"] == pytest.approx(1.0, abs=1e-10)
    assert rows["rbf"]["cka"] == pytest.approx(1.0, abs=1e-10)  # distances scale with the bandwidth
    assert rows["linear"]["p_value"] == pytest.approx(1 / 100)
    assert rows["linear"]["n_types"] == rows["linear"]["n_words"] == 300 and rows["linear"]["n_tokens"] == 600
    assert rows["debiased"]["gap_ci_low"] > 0.5
    indep = {r["estimator"]: r for r in cka_rows(rng.standard_normal((300, 20)), text, words, cfg)}
    d = indep["debiased"]
    assert abs(d["cka"]) < 0.05 and abs(d["null_mean"]) < 0.02 and d["p_value"] > 0.01
    assert d["gap_ci_low"] < 0 < d["gap_ci_high"]
    assert indep["linear"]["cka"] > indep["debiased"]["cka"]  # plain CKA's upward bias
    assert d["n_tokens"] == 300
    with pytest.raises(CodecprobeError, match="unknown"):
        cka_rows(text, text, words, CKAConfig(estimators=("cosine",)))
    with pytest.raises(CodecprobeError, match="one row per word type"):  # per-token rows are refused
        cka_rows(text, text, np.array([f"w{i % 150}" for i in range(300)]), cfg)


# ----------------------------------------------------------------------------- one row per word type
class FakeLLM:
    """``speech(codes [1, F]) = table[codes[0]]`` and ``text(word) = vectors[word]`` (None if absent)."""

    family = "fake"
    n_codebooks = 1
    sums_codebooks = False

    class tokenizer:
        kind = "fake"

    def __init__(self, table: np.ndarray, vectors: dict[str, np.ndarray]):
        self.table, self.vectors = table, vectors

    def text(self, word):
        return self.vectors.get(word)

    def speech(self, codes):
        return self.table[np.asarray(codes)[0]]

    def metadata(self):
        return {"llm_family": self.family}


def _write_features(path, words: list[str], n_frames: list[int], family: str = "fake") -> list[np.ndarray]:
    """An encode-stage-like HDF5 (feature slicing layout): one codebook whose code at global
    frame f is f; token i has ``n_frames[i]`` frames; token ids 100, 101, ..."""
    n_frames = np.asarray(n_frames, np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_frames)[:-1]]).astype(np.int64)
    with h5py.File(path, "w") as h:
        h.attrs["family"] = family
        h["codes"] = np.arange(int(n_frames.sum()), dtype=np.int64)[None, :]
        t = h.create_group("tokens")
        t["token_id"] = np.arange(100, 100 + len(words))
        t["word"] = np.array([w.encode() for w in words])
        t["utt_id"] = np.array([b"u0"] * len(words))
        t["n_frames"] = n_frames
        t["frame_offset"] = offsets
    return [np.arange(o, o + n)[None, :] for o, n in zip(offsets, n_frames)]


def _independent_types(seed: int = 0, n_types: int = 300, n_tok: int = 1200, dim: int = 32):
    """Zipf-distributed word tokens; text = a random vector per type; speech frames = a
    random prototype per type (independent of the text) + noise; 2 frames per token."""
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, n_types + 1)
    typ = rng.choice(n_types, n_tok, p=p / p.sum())
    text_proto, speech_proto = rng.standard_normal((n_types, dim)), rng.standard_normal((n_types, dim))
    frames = np.repeat(speech_proto[typ], 2, axis=0) + rng.standard_normal((2 * n_tok, dim))  # frame 2i, 2i+1: token i
    words = [f"w{t:03d}" for t in typ]
    return words, typ, frames, {f"w{t:03d}": text_proto[t] for t in range(n_types)}


def test_repeated_word_types_do_not_inflate_cka(tmp_path, monkeypatch):
    """Reviewer's finding as a regression: speech independent of text, many tokens per type.
    Per-token rows: a large spurious gap (p at its floor). The stage (one row per type):
    gap near 0, p not significant, n = number of types."""
    words, typ, frames, vectors = _independent_types()
    _write_features(tmp_path / "f.h5", words, [2] * len(words))
    fake = FakeLLM(frames, vectors)
    monkeypatch.setattr(speechtext, "load_llm_input", lambda spec, device="cpu": fake)
    # the defect: one row per token (identical text rows within a type)
    tok_speech = frames.reshape(len(words), 2, -1).mean(axis=1)
    tok_text = np.stack([vectors[w] for w in words])
    per_token = cka_permutation(tok_speech, tok_text, 99, np.random.default_rng(1), debiased=True)
    assert per_token.gap > 0.15 and per_token.p_value == pytest.approx(0.01)
    # the stage: one row per word type
    cfg = CKAConfig(max_words=10_000, n_permutations=199, n_bootstrap=30, bootstrap_permutations=3, seed=0)
    t = speechtext.run("fake", str(tmp_path / "f.h5"), LLMSpec("fake"), cfg, str(tmp_path / "cka.csv"), str(tmp_path / "emb.h5"))
    n_types = len(np.unique(typ))
    assert (t["n_words"] == n_types).all() and (t["n_types"] == n_types).all()
    assert (t["variant"] == "all").all() and cfg.split_first  # an input path that does not sum codebooks: no split
    for _, r in t.iterrows():
        assert abs(r["gap"]) < 0.05 and r["p_value"] > 0.1, r.to_dict()
    deb = t[t["estimator"] == "debiased"].iloc[0]
    assert deb["gap_ci_low"] < 0 < deb["gap_ci_high"] and deb["gap_ci_high"] < per_token.gap / 2
    # one token per type: the same
    cfg1 = CKAConfig(max_words=10_000, n_permutations=199, n_bootstrap=0, seed=0, per_type="one")
    t1 = speechtext.run("fake", str(tmp_path / "f.h5"), LLMSpec("fake"), cfg1, str(tmp_path / "cka1.csv"))
    assert (t1["n_words"] == n_types).all() and (t1["n_tokens"] == n_types).all()
    assert (t1["gap"].abs() < 0.05).all() and (t1["p_value"] > 0.1).all()


def test_per_type_mean_pools_exactly_its_tokens(tmp_path, monkeypatch):
    """Known answer: a type's speech row is the mean over its usable tokens of the
    per-token frame pooling; skipped tokens and types are counted; the embeddings file
    lists each row's word and token ids."""
    words = ["b", "a", "b", "c", "a", "b", "", "c", "d"]
    n_frames = [2, 1, 3, 2, 2, 1, 2, 0, 0]  # token 7 (c) and 8 (d) have no frame; "" has no text
    codes = _write_features(tmp_path / "f.h5", words, n_frames)
    rng = np.random.default_rng(0)
    table = rng.standard_normal((sum(n_frames), 5))
    vectors = {w: rng.standard_normal(5) for w in "abcd"}
    fake = FakeLLM(table, vectors)
    keep, counts = usable_tokens(fake, words, codes)
    np.testing.assert_array_equal(keep, [1, 1, 1, 1, 1, 1, 0, 0, 0])
    assert counts == {
        "tokens skipped: word has no known text token": 1, "tokens skipped: no frame": 2,
        "types skipped: word has no known text token": 1, "types skipped: no token with a frame": 1,
    }  # fmt: skip
    types, members = select_types(words, keep, 100)
    assert types == ["a", "b", "c"]
    assert [m.tolist() for m in members] == [[1, 4], [0, 2, 5], [3]]
    frame_mean = [table[c[0]].mean(axis=0) for c in codes[:6]]
    centre = [table[c[0]][c.shape[1] // 2] for c in codes[:6]]
    for pooling, per_tok in (("mean", frame_mean), ("center", centre)):
        speech, text = embed_types(fake, types, members, codes, pooling)
        want = np.stack([(per_tok[1] + per_tok[4]) / 2, (per_tok[0] + per_tok[2] + per_tok[5]) / 3, per_tok[3]])
        np.testing.assert_allclose(speech, want, rtol=1e-12)
        np.testing.assert_array_equal(text, np.stack([vectors[w] for w in types]))
    with pytest.raises(CodecprobeError, match="no word token left"):
        select_types(words, np.zeros(len(words), bool), 10)
    # through the stage: the embeddings file (4 types needed; add one)
    words2 = words + ["e", "e"]
    codes = _write_features(tmp_path / "g.h5", words2, n_frames + [1, 1])
    calls = []

    class Counting(FakeLLM):
        def text(self, word):
            calls.append(word)
            return super().text(word)

    monkeypatch.setattr(speechtext, "load_llm_input", lambda spec, device="cpu": Counting(np.vstack([table, table[:2] + 1]), vectors | {"e": np.ones(5)}))
    cfg = CKAConfig(n_permutations=5, n_bootstrap=0)
    t = speechtext.run("fake", str(tmp_path / "g.h5"), LLMSpec("fake"), cfg, str(tmp_path / "c.csv"), str(tmp_path / "e.h5"))
    assert sorted(calls) == sorted(set(words2))  # each word type's text once (it was twice before session 10)
    assert (t["n_words"] == 4).all() and (t["n_tokens"] == 8).all() and (t["n_skipped"] == 3).all()
    assert (t["n_types_available"] == 4).all() and (t["per_type"] == "mean").all()
    with h5py.File(tmp_path / "e.h5") as h:
        assert h["word"][:].astype(str).tolist() == ["a", "b", "c", "e"]
        assert h["n_tokens"][:].tolist() == [2, 3, 1, 2] and h["token_offset"][:].tolist() == [0, 2, 5, 6]
        assert h["token_id"][:].tolist() == [101, 104, 100, 102, 105, 103, 109, 110]
        np.testing.assert_allclose(h["speech"][0], (frame_mean[1] + frame_mean[4]) / 2, rtol=1e-6)
        assert "token_offset" in h.attrs["layout"]
        from codecprobe import source_version

        assert h.attrs["codecprobe"] == source_version()


def test_max_words_caps_types_with_a_fixed_seed():
    words = [f"w{i % 50:02d}" for i in range(150)]  # 50 types, 3 tokens each
    keep = np.ones(150, bool)
    types, members = select_types(words, keep, 10, seed=3)
    assert len(types) == 10 == len(set(types)) and types == sorted(types)
    for w, m in zip(types, members):
        assert m.tolist() == [i for i in range(150) if words[i] == w]  # all its tokens
    again = select_types(words, keep, 10, seed=3)
    assert again[0] == types and all(np.array_equal(a, b) for a, b in zip(again[1], members))
    assert select_types(words, keep, 10, seed=4)[0] != types
    assert len(select_types(words, keep, 100, seed=3)[0]) == 50  # cap above the number of types
    one_types, one = select_types(words, keep, 10, per_type="one", seed=3)
    assert one_types == types  # the same types; then one of each type's tokens
    assert all(len(m) == 1 and words[m[0]] == w for w, m in zip(one_types, one))
    assert [m.tolist() for m in select_types(words, keep, 10, per_type="one", seed=3)[1]] == [m.tolist() for m in one]
    with pytest.raises(CodecprobeError, match="per_type"):
        select_types(words, keep, 10, per_type="first")
    with pytest.raises(CodecprobeError, match="per_type"):
        CKAConfig(per_type="median").check()


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
    n_types = tokens["word"].nunique()
    assert n_types == 5 and len(tokens) == 9
    out, emb = tmp_path / "cka" / "mimi.csv", tmp_path / "cka" / "mimi.h5"
    cfg = {"max_words": 4, "n_permutations": 50, "n_bootstrap": 20, "bootstrap_permutations": 3, "seed": 1}
    argv = ["run", "--codec", "mimi", "--features", str(h5), "--llm", json.dumps({"family": "moshi", "weights": "random"}),
            "--out", str(out), "--embeddings", str(emb), "--config", json.dumps(cfg)]  # fmt: skip
    main(argv)
    t = read_table(out)
    # Moshi sums its codebooks' embeddings: the split rows (cka.split_first, the default) follow
    assert list(t["variant"]) == ["all", "all", "layer1_only", "layer1_only", "without_layer1", "without_layer1"]
    assert list(t["codebooks"]) == ["1-8", "1-8", "1", "1", "2-8", "2-8"]
    split, t = t[t["variant"] != "all"], t[t["variant"] == "all"]
    assert list(t["estimator"]) == ["linear", "debiased"]
    assert (t["n_words"] == 4).all() and (t["n_types"] == 4).all() and (t["n_types_available"] == 5).all()
    assert t["codec_random"].all() and t["llm_random"].all() and (t["per_type"] == "mean").all()
    assert ((t["p_value"] > 0) & (t["p_value"] <= 1)).all() and t["null_sd"].gt(0).all()
    assert t["gap_ci_low"].isna().all() and (t["n_bootstrap"] == 0).all()  # 4 types: too few to bootstrap
    with h5py.File(emb) as h:
        assert h["speech"].shape == (4, 64) and h["text"].shape == (4, 64)
        assert "RANDOM WEIGHTS" in h.attrs["note"]
        kept = h["word"][:].astype(str)
        ids, n_tok = h["token_id"][:], h["n_tokens"][:]
        # the effective dimensions of the two spaces the CKA compared (4 rows: at most 3)
        for side in ("speech", "text"):
            lam = np.linalg.eigvalsh(np.cov(h[side][:].astype(np.float64), rowvar=False))
            assert t[f"{side}_eff_dim"].tolist() == pytest.approx([lam.sum() ** 2 / np.sum(lam**2)] * 2, rel=1e-6)
            assert 1 <= t[f"{side}_eff_dim"].iloc[0] <= 3
        # the split: the two parts sum to the whole speech side; each row's CKA and effective
        # dimension are those of its saved part
        first, rest = h["speech_layer1_only"][:].astype(np.float64), h["speech_without_layer1"][:].astype(np.float64)
        np.testing.assert_allclose(first + rest, h["speech"][:], rtol=1e-5, atol=1e-6)
        assert np.abs(first).max() > 0 and np.abs(rest).max() > 0
        text = h["text"][:].astype(np.float64)
        for name, part in (("layer1_only", first), ("without_layer1", rest)):
            rows = split[split["variant"] == name].set_index("estimator")
            x, y = part - part.mean(0), text - text.mean(0)
            linear = np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
            assert rows.loc["linear", "cka"] == pytest.approx(linear, rel=1e-6)
            lam = np.linalg.eigvalsh(np.cov(part, rowvar=False))
            assert rows["speech_eff_dim"].tolist() == pytest.approx([lam.sum() ** 2 / np.sum(lam**2)] * 2, rel=1e-5)
            assert rows["text_eff_dim"].tolist() == t["text_eff_dim"].tolist()
            assert h.attrs[f"speech_eff_dim_{name}"] == pytest.approx(rows["speech_eff_dim"].iloc[0])
            whole = h["speech"][:].astype(np.float64)
            share = np.sum((part - part.mean(0)) ** 2) / np.sum((whole - whole.mean(0)) ** 2)
            assert rows["speech_var_share"].tolist() == pytest.approx([share] * 2, rel=1e-5)
        assert h.attrs["codebooks"] == "1-8" and "variant" not in h.attrs
    for name in ("layer1_only", "without_layer1"):  # 4 types: no bootstrap, so a gap difference without interval
        rows = split[split["variant"] == name].set_index("estimator")
        assert rows["gap_minus_all"].tolist() == pytest.approx((rows["gap"] - t.set_index("estimator")["gap"]).tolist())
        assert rows["gap_minus_all_ci_low"].isna().all()
    assert len(set(kept)) == 4 and len(ids) == n_tok.sum() == t["n_tokens"].iloc[0]
    word_of = dict(zip(tokens["token_id"], tokens["word"]))
    assert [word_of[i] for i in ids] == [w for w, k in zip(kept, n_tok) for _ in range(k)]
    assert sorted(ids) == sorted(tokens["token_id"][tokens["word"].isin(kept)])  # all tokens of each drawn type
    # the same seed draws the same 4 types
    main(argv)
    with h5py.File(emb) as h:
        np.testing.assert_array_equal(h["token_id"][:], ids)
    # one token per type
    main(argv[:-1] + [json.dumps(cfg | {"per_type": "one"})])
    t = read_table(out)
    assert (t["n_tokens"] == 4).all() and (t["per_type"] == "one").all()
    # an LLM that reads another codec's codes: a clear error
    with pytest.raises(CodecprobeError, match="reads mimo codes"):
        main(["run", "--codec", "mimi", "--features", str(h5), "--llm", json.dumps({"family": "mimo_audio", "weights": "random"}), "--out", str(out)])


def test_a_random_llm_marks_the_output_even_with_trained_codec_features(mimi_words, tmp_path):
    """Either side random is enough: features marked as from trained weights (attribute
    changed on a copy) read by a random-weight LLM still give a RANDOM WEIGHTS output."""
    import shutil

    h5, _ = mimi_words
    real = tmp_path / "trained.h5"
    shutil.copy(h5, real)
    with h5py.File(real, "a") as h:
        h.attrs["random_weights"] = False
    out, emb = tmp_path / "cka.csv", tmp_path / "emb.h5"
    cfg = {"max_words": 4, "n_permutations": 5, "n_bootstrap": 0, "seed": 1}
    main(["run", "--codec", "mimi", "--features", str(real), "--llm", json.dumps({"family": "moshi", "weights": "random"}),
          "--out", str(out), "--embeddings", str(emb), "--config", json.dumps(cfg)])  # fmt: skip
    t = read_table(out)
    assert not t["codec_random"].any() and t["llm_random"].all()
    with h5py.File(emb) as h:
        assert "RANDOM WEIGHTS" in h.attrs["note"]
    assert "(random weights)" in latex_table(t)


def test_words_that_tokenize_to_nothing_are_skipped_and_counted(mimi_words):
    from codecprobe.llm import load_llm_input

    h5, _ = mimi_words
    tokens, codes, _ = token_codes(str(h5))
    llm = load_llm_input(LLMSpec("moshi", "random"))
    words = tokens["word"].tolist()
    words[0] = ""
    keep, counts = usable_tokens(llm, words, codes)
    assert counts["tokens skipped: word has no known text token"] == 1 and not keep[0] and keep[1:].all()
    assert counts["types skipped: word has no known text token"] == 1
    types, members = select_types(words, keep, 100)
    speech, text = embed_types(llm, types, members, codes)
    assert "" not in types and speech.shape == text.shape == (len(set(words)) - 1, 64)
    with pytest.raises(CodecprobeError, match="no word token left"):
        select_types(words, usable_tokens(llm, [""] * len(words), codes)[0], 100)


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
    main(["summary", "--tables", *map(str, paths), "--combined", str(out["csv"]), "--pdf", str(out["pdf"]), "--png", str(out["png"]),
          "--latex", str(out["tex"]), "--note", "SYNTHETIC  DEMO\nDATA"])  # fmt: skip
    combined = read_table(out["csv"])
    assert len(combined) == 3 and out["png"].stat().st_size > 5000
    # where the table comes from: the code version and the data label, in the CSV and the LaTeX
    assert (combined["codecprobe"] == source_version()).all() and (combined["data_label"] == "SYNTHETIC  DEMO\nDATA").all()
    assert out["tex"].read_text() == f"% written by codecprobe {source_version()}\n% data: SYNTHETIC DEMO DATA\n" + tex


def test_summary_with_the_first_codebook_split(tmp_path, monkeypatch):
    """Split rows (variant layer1_only / without_layer1) go under their codec in the LaTeX,
    with the codec's decimals; the figure draws the variant ``all`` only."""
    base = {"codec": "mimi", "codec_family": "mimi", "codec_random": False, "llm_random": False, "gap_ci_low": np.nan, "gap_ci_high": np.nan}
    rows = []
    for variant, books, cka in (("all", "1-8", 0.329), ("layer1_only", "1", 0.41), ("without_layer1", "2-8", 0.2)):
        rows.append(base | {"variant": variant, "codebooks": books, "estimator": "linear", "cka": cka, "null_mean": 0.2, "null_sd": 0.01, "gap": cka - 0.2})
        rows.append(base | {"variant": variant, "codebooks": books, "estimator": "debiased", "cka": cka / 4, "null_mean": 0.0,
                            "null_sd": 0.01, "gap": cka / 4, "gap_ci_low": cka / 4 - 0.01, "gap_ci_high": cka / 4 + 0.01})  # fmt: skip
    table = pd.DataFrame(rows)
    tex = latex_table(table).splitlines()
    assert tex[5] == r"MIMI & 0.329 & 0.200 $\pm$ 0.010 & +0.129 & +0.082 [+0.072, +0.092] \\"
    assert tex[6] == r"\quad codebook 1 alone & 0.410 & 0.200 $\pm$ 0.010 & +0.210 & +0.102 [+0.092, +0.112] \\"
    assert tex[7] == r"\quad codebooks 2-8 only & 0.200 & 0.200 $\pm$ 0.010 & +0.000 & +0.050 [+0.040, +0.060] \\"
    assert tex[8] == r"\bottomrule"
    assert latex_table(table[table["variant"] == "all"]).splitlines()[6] == r"\bottomrule"
    # a codec's table from before the split, combined with a newer one: empty variant, still its row
    old = table[table["variant"] == "all"].drop(columns=["variant", "codebooks"]).assign(codec="old")
    both = pd.concat([table, old], ignore_index=True)
    assert latex_table(both).splitlines()[8] == r"OLD & 0.329 & 0.200 $\pm$ 0.010 & +0.129 & +0.082 [+0.072, +0.092] \\"
    # the split rows take the decimals of the codec's row, whatever else the table holds
    rbf = table[table["estimator"] == "linear"].assign(estimator="rbf", cka=0.5)
    small = pd.concat([table.assign(**{c: table[c] / 10 for c in ("cka", "null_mean", "null_sd", "gap", "gap_ci_low", "gap_ci_high")}), rbf])
    lines = latex_table(small).splitlines()
    assert lines[5].startswith(r"MIMI & 0.0329 &") and lines[6].startswith(r"\quad codebook 1 alone & 0.0410 &")
    import matplotlib.axes

    heights = []
    bar = matplotlib.axes.Axes.bar
    monkeypatch.setattr(matplotlib.axes.Axes, "bar", lambda self, x, h, *a, **k: heights.append(float(h)) or bar(self, x, h, *a, **k))
    from codecprobe.speechtext import cka_figure

    cka_figure(table, str(tmp_path / "f.pdf"), str(tmp_path / "f.png"))
    assert heights == pytest.approx([0.329, 0.329 / 4])
    heights.clear()
    cka_figure(both, str(tmp_path / "f.pdf"), str(tmp_path / "f.png"))
    assert heights == pytest.approx([0.329, 0.329, 0.329 / 4, 0.329 / 4])  # per estimator: mimi, old


class ScaledSumLLM(FakeLLM):
    """Two codebooks summed: codebook 1 gives ``table[codes[0]]``, codebook 2 half of that."""

    n_codebooks = 2
    sums_codebooks = True

    def speech(self, codes, codebooks=None):
        part = self.table[np.asarray(codes)[0]]
        return sum((1.0 if k == 0 else 0.5) * part for k in (range(2) if codebooks is None else codebooks))


def test_split_variants_share_permutations_and_bootstrap(tmp_path, monkeypatch):
    """Every speech side a multiple of the others (CKA is scale-free): the three variants'
    rows are equal, CKA, null, p and bootstrap interval alike, only if they use the same
    permutations and resamples; the variance shares are 1, (1/1.5)^2 and (0.5/1.5)^2."""
    words, _, frames, vectors = _independent_types(n_types=60, n_tok=200)
    _write_features(tmp_path / "f.h5", words, [2] * len(words))
    monkeypatch.setattr(speechtext, "load_llm_input", lambda spec, device="cpu": ScaledSumLLM(frames, vectors))
    cfg = CKAConfig(max_words=10_000, n_permutations=49, n_bootstrap=20, bootstrap_permutations=2, seed=3)
    t = speechtext.run("fake", str(tmp_path / "f.h5"), LLMSpec("fake"), cfg, str(tmp_path / "cka.csv"))
    assert list(t["variant"]) == ["all", "all", "layer1_only", "layer1_only", "without_layer1", "without_layer1"]
    assert list(t["codebooks"]) == ["1-2", "1-2", "1", "1", "2-2", "2-2"]
    cols = ["cka", "null_mean", "null_sd", "p_value", "gap", "gap_ci_low", "gap_ci_high", "speech_eff_dim"]
    for variant in ("layer1_only", "without_layer1"):
        np.testing.assert_allclose(t[t["variant"] == variant][cols].to_numpy(), t[t["variant"] == "all"][cols].to_numpy(), rtol=1e-9)
    assert t.groupby("variant", sort=False)["speech_var_share"].first().tolist() == pytest.approx([1, 1 / 1.5**2, 0.25 / 1.5**2])
    # the paired bootstrap of the gap against all codebooks: the same resamples, so exactly 0
    deb = t[(t["estimator"] == "debiased") & (t["variant"] != "all")]
    assert np.allclose(deb[["gap_minus_all", "gap_minus_all_ci_low", "gap_minus_all_ci_high"]].to_numpy(), 0, atol=1e-12)
    assert t[t["variant"] == "all"]["gap_minus_all"].isna().all() and t[t["estimator"] == "linear"]["gap_minus_all_ci_low"].isna().all()


def test_gap_versus_all_known_answer():
    """Hand-made rows: the gap minus the same estimator's ``all`` gap; the interval the 2.5 and
    97.5 % quantiles of the differences of the paired bootstrap gaps; none without them."""
    from codecprobe.speechtext import gap_versus_all

    records = [{"variant": v, "estimator": e, "gap": g} for v, e, g in
               (("all", "linear", 0.10), ("all", "debiased", 0.05), ("layer1_only", "linear", 0.25), ("layer1_only", "debiased", 0.08))]  # fmt: skip
    boots = {"all": {"debiased": np.linspace(0.0, 0.1, 41)}, "layer1_only": {"debiased": np.linspace(0.0, 0.1, 41) + np.linspace(0.0, 0.04, 41)}}
    gap_versus_all(records, boots)
    lin, deb = records[2], records[3]
    assert lin["gap_minus_all"] == pytest.approx(0.15) and np.isnan(lin["gap_minus_all_ci_low"])
    assert deb["gap_minus_all"] == pytest.approx(0.03)
    assert (deb["gap_minus_all_ci_low"], deb["gap_minus_all_ci_high"]) == pytest.approx(tuple(np.quantile(np.linspace(0, 0.04, 41), [0.025, 0.975])))
    assert all(np.isnan(r["gap_minus_all"]) for r in records[:2])


def test_split_only_where_the_input_sums_codebooks(mimi_words, tmp_path):
    """``cka.split_first: false`` gives the rows of every codebook only, and no split vectors."""
    h5, _ = mimi_words
    out, emb = tmp_path / "c.csv", tmp_path / "c.h5"
    cfg = {"max_words": 4, "n_permutations": 20, "n_bootstrap": 0, "split_first": False}
    main(["run", "--codec", "mimi", "--features", str(h5), "--llm", json.dumps({"family": "moshi", "weights": "random"}),
          "--out", str(out), "--embeddings", str(emb), "--config", json.dumps(cfg)])  # fmt: skip
    t = read_table(out)
    assert list(t["variant"]) == ["all", "all"] and list(t["codebooks"]) == ["1-8", "1-8"]
    with h5py.File(emb) as h:
        assert "speech_layer1_only" not in h and "speech_eff_dim_layer1_only" not in h.attrs
    from codecprobe.llm import MimoAudioInput

    assert not MimoAudioInput.sums_codebooks  # its local transformer mixes the codebooks: no split


def test_cka_figure_draws_the_values_of_its_table(tmp_path, monkeypatch):
    """Bars at each CKA, the grey band from null_mean - 2 sd to null_mean + 2 sd over the
    bar's slot, the paper's value as a dot for trained weights only."""
    import matplotlib

    matplotlib.use("Agg")
    from codecprobe.speechtext import cka_figure
    from matplotlib.axes import Axes

    drawn = {"bar": [], "band": [], "dot": []}
    bar, band, plot = Axes.bar, Axes.fill_between, Axes.plot

    def rec_bar(self, x, h, *a, **k):
        drawn["bar"].append((float(x), float(h)))
        return bar(self, x, h, *a, **k)

    def rec_band(self, xs, lo, hi, *a, **k):
        drawn["band"].append((list(xs), float(lo), float(hi)))
        return band(self, xs, lo, hi, *a, **k)

    def rec_plot(self, *a, **k):
        if len(a) == 3 and a[2] == "kD":
            drawn["dot"].append((float(a[0]), float(a[1])))
        return plot(self, *a, **k)

    monkeypatch.setattr(Axes, "bar", rec_bar)
    monkeypatch.setattr(Axes, "fill_between", rec_band)
    monkeypatch.setattr(Axes, "plot", rec_plot)
    titles = []
    set_title = Axes.set_title

    def rec_title(self, t, *a, **k):
        titles.append(t)
        return set_title(self, t, *a, **k)

    monkeypatch.setattr(Axes, "set_title", rec_title)
    table = pd.DataFrame([
        {"codec": "mimi", "estimator": "linear", "cka": 0.4, "null_mean": 0.1, "null_sd": 0.02,
         "codec_family": "mimi", "codec_random": False, "llm_random": False},
        {"codec": "mimo", "estimator": "linear", "cka": 0.2, "null_mean": 0.05, "null_sd": 0.01,
         "codec_family": "mimo", "codec_random": True, "llm_random": False},
    ])  # fmt: skip
    cka_figure(table, str(tmp_path / "f.pdf"), str(tmp_path / "f.png"))
    assert drawn["bar"] == [(0.0, 0.4), (1.0, 0.2)]
    assert drawn["band"][0] == ([-0.4, 0.4], pytest.approx(0.06), pytest.approx(0.14))
    assert drawn["band"][1] == ([0.6, 1.4], pytest.approx(0.03), pytest.approx(0.07))
    assert drawn["dot"] == [(0.0, 0.329)]  # mimo's random weights: no paper dot
    assert "RANDOM WEIGHTS: mimo (plumbing only)" in titles[0]  # mimo's, not mimi's


def test_cka_figure_legend_names_marks_whichever_codec_has_them(tmp_path, monkeypatch):
    """The first codec has random weights (no paper diamond) and no debiased row: the paper's
    diamonds of the next codecs and their debiased bars still get their legend entries
    (before session 22 only the first codec's marks were labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    from codecprobe import speechtext

    figs = []
    monkeypatch.setattr(speechtext, "save_figure", lambda fig, pdf, png: figs.append(fig))
    row = {"null_mean": 0.1, "null_sd": 0.01, "codec_random": False, "llm_random": False}
    table = pd.DataFrame([
        row | {"codec": "mimi_rand", "codec_family": "mimi", "estimator": "linear", "cka": 0.3, "codec_random": True},
        row | {"codec": "mimi", "codec_family": "mimi", "estimator": "linear", "cka": 0.33},
        row | {"codec": "mimi", "codec_family": "mimi", "estimator": "debiased", "cka": 0.05},
        row | {"codec": "mimo", "codec_family": "mimo", "estimator": "linear", "cka": 0.12},
    ])  # fmt: skip
    speechtext.cka_figure(table, str(tmp_path / "f.pdf"), str(tmp_path / "f.png"))
    (fig,) = figs
    names = [t.get_text() for leg in fig.legends + [a.get_legend() for a in fig.axes if a.get_legend()] for t in leg.get_texts()]
    assert {speechtext.PAPER_LABEL, "linear", "debiased", "permutation null\n(mean ± 2 sd)"} <= set(names), names
    assert "speech side\ndiffers" in speechtext.PAPER_LABEL  # the paper's number is not the same quantity
    assert len(names) == len(set(names))  # each entry once


def test_type_speakers_by_hand():
    from codecprobe.speechtext import type_speakers

    utts = ["11-100-0000", "22-200-0000", "22-200-0001", "33-300-0000"]
    members = [np.array([0, 1, 2]), np.array([0, 3]), np.array([1])]  # 22 twice; 11 vs 33 tied; 22
    assert type_speakers(utts, members).tolist() == ["22", "11", "22"]
    assert type_speakers(utts, [np.array([0]), np.array([3])]) is None  # each type a speaker of its own
    assert type_speakers(["utt_a", "utt_b"], [np.array([0, 1])]) is None  # not LibriSpeech ids


def test_within_speaker_null_keeps_what_the_speaker_alone_links():
    """Speech rows that hold only their speaker's voice, text rows only the topic of the book
    that speaker reads (rare words: one speaker each): no word-level alignment at all. The
    plain null breaks the speaker-book link and calls it alignment (p = 0.01); permuting
    within speakers keeps it, and finds nothing beyond it."""
    g = np.random.default_rng(0)
    n_spk, per = 20, 15
    voice, topic = g.normal(size=(n_spk, 16)), g.normal(size=(n_spk, 16))
    who = np.repeat(np.arange(n_spk), per)
    speech = voice[who] + g.normal(size=(len(who), 16))
    text = topic[who] + g.normal(size=(len(who), 16))
    words = np.array([f"w{i}" for i in range(len(who))])
    cfg = CKAConfig(n_permutations=99, n_bootstrap=0, estimators=("linear", "debiased"))
    for r in cka_rows(speech, text, words, cfg, speakers=who.astype(str)):
        assert r["p_value"] == 0.01 and r["gap"] > 0.05, r
        assert r["p_value_speaker"] > 0.05 and abs(r["gap_speaker"]) < r["gap"] / 3, r
    plain = cka_rows(speech, text, words, cfg)  # without speakers: the same other columns, NaN here
    with_spk = cka_rows(speech, text, words, cfg, speakers=who.astype(str))
    for a, b in zip(plain, with_spk):
        assert np.isnan(a["p_value_speaker"]) and a["cka"] == b["cka"] and a["p_value"] == b["p_value"]


def test_debiased_cka_of_a_representation_constant_but_for_one_word_is_an_error():
    """Its U-centred Gram is zero: the debiased CKA is undefined, and says so (rounding gave
    about 8e-18 and p = 1 without a word)."""
    x = np.ones((10, 3))
    x[0] += 1.0
    y = np.random.default_rng(0).normal(size=(10, 4))
    with pytest.raises(CodecprobeError, match="CKA is undefined"):
        cka_permutation(x, y, 9, np.random.default_rng(1), debiased=True)
    cka_permutation(x, y, 9, np.random.default_rng(1))  # plain CKA of the same is defined


def test_latex_table_gives_the_within_speaker_gap_when_the_tables_have_it():
    base = {"codec": "mimi", "codec_family": "mimi", "codec_random": False, "llm_random": False, "variant": "all", "codebooks": "1-8"}
    lin = base | {"estimator": "linear", "cka": 0.329, "null_mean": 0.2, "null_sd": 0.01, "gap": 0.129, "gap_ci_low": np.nan,
                  "gap_ci_high": np.nan, "gap_speaker": 0.031, "p_value_speaker": 0.004}  # fmt: skip
    deb = base | {"estimator": "debiased", "cka": 0.08, "null_mean": 0.0, "null_sd": 0.01, "gap": 0.08, "gap_ci_low": 0.07,
                  "gap_ci_high": 0.09, "gap_speaker": 0.02, "p_value_speaker": 0.01}  # fmt: skip
    tex = latex_table(pd.DataFrame([lin, deb])).splitlines()
    assert tex[1] == r"\begin{tabular}{lccccc}" and tex[3].endswith(r"& $\Delta$ within speakers \\")
    assert tex[5] == r"MIMI & 0.329 & 0.200 $\pm$ 0.010 & +0.129 & +0.080 [+0.070, +0.090] & +0.031 ($p$ = 0.004) \\"
    without = latex_table(pd.DataFrame([lin, deb]).assign(gap_speaker=np.nan)).splitlines()  # ids not LibriSpeech's
    assert without[1] == r"\begin{tabular}{lcccc}" and without[5].endswith(r"[+0.070, +0.090] \\")
    head = r"Codec & CKA & Permutation baseline & $\Delta$ & Debiased $\Delta$ [95\% CI]"
    assert tex[3] == head + r" & $\Delta$ within speakers \\" and without[3] == head + r" \\"
    assert tex[2] == without[2] == r"\toprule" and tex[4] == without[4] == r"\midrule"


def test_cka_figure_draws_the_within_speaker_null_where_the_table_has_it(monkeypatch):
    from codecprobe import speechtext as st

    drawn = []
    monkeypatch.setattr(st, "save_figure", lambda fig, pdf, png: drawn.append(fig))
    row = {"codec": "mimi", "codec_family": "mimi", "codec_random": False, "llm_random": False, "variant": "all",
           "estimator": "linear", "cka": 0.33, "null_mean": 0.24, "null_sd": 0.01}  # fmt: skip
    st.cka_figure(pd.DataFrame([row | {"null_speaker_mean": 0.29, "null_speaker_sd": 0.01}]), "f.pdf", "f.png")
    st.cka_figure(pd.DataFrame([row]), "f.pdf", "f.png")  # a table from before session 23
    legends = [[t.get_text() for t in f.axes[0].get_legend().get_texts()] for f in drawn]
    assert "within-speaker null\n(mean ± 2 sd)" in legends[0] and not any("within" in t for t in legends[1])
    hatched = [c for c in drawn[0].axes[0].collections if c.get_hatch()]
    assert len(hatched) == 1 and np.allclose(hatched[0].get_paths()[0].vertices[:, 1].min(), 0.27)


def test_type_speakers_needs_the_whole_librispeech_id():
    """Only ids ``<speaker>-<chapter>-<n>`` (digits, whole id) name a speaker: dates such as
    ``2024-05`` or ``2024-05-rec`` give no within-speaker null, although their leading
    digits would name the same "speaker" for both types."""
    from codecprobe.speechtext import type_speakers

    two = [np.array([0]), np.array([1])]
    assert type_speakers(["2024-05", "2024-06"], two) is None
    assert type_speakers(["2024-05-rec", "2024-06-rec"], two) is None
    assert type_speakers(["2024-05-01x", "2024-05-02x"], two) is None
    got = type_speakers(["84-121123-0000", "84-121123-0001"], two)
    assert got is not None and got.tolist() == ["84", "84"]


def test_bootstrap_ci_does_not_depend_on_the_within_speaker_null():
    """The within-speaker null draws from its own generator: the debiased gap's bootstrap CI
    (and its draws) are the same with and without ``speakers`` (40 types, 8 speakers)."""
    g = np.random.default_rng(3)
    who = np.repeat(np.arange(8), 5).astype(str)
    text = g.normal(size=(40, 6))
    speech = text @ g.normal(size=(6, 6)) + g.normal(size=(40, 6))
    words = np.array([f"w{i}" for i in range(40)])
    cfg = CKAConfig(n_permutations=19, n_bootstrap=20, bootstrap_permutations=2, estimators=("debiased",))
    b_plain: dict[str, np.ndarray] = {}
    b_spk: dict[str, np.ndarray] = {}
    (plain,) = cka_rows(speech, text, words, cfg, boots=b_plain)
    (spk,) = cka_rows(speech, text, words, cfg, boots=b_spk, speakers=who)
    assert np.isnan(plain["gap_speaker"]) and np.isfinite(spk["gap_speaker"])
    assert plain["n_bootstrap"] == spk["n_bootstrap"] == 20 and np.isfinite(plain["gap_ci_low"])
    assert spk["gap_ci_low"] == plain["gap_ci_low"] and spk["gap_ci_high"] == plain["gap_ci_high"]
    np.testing.assert_array_equal(b_spk["debiased"], b_plain["debiased"])


def test_too_few_word_types_is_an_error_naming_the_features(mimi_words, tmp_path):
    """Fewer than 4 usable word types: one line naming the feature file and the counts
    (the estimators' own "need at least 4 words, got 3" named neither)."""
    from codecprobe.codecs import CodecSpec, load_codec
    from codecprobe.encode import EncodeConfig, run

    _, words = mimi_words
    words = words[words["word"].isin(sorted(set(words["word"]))[:3])]
    h5 = tmp_path / "three.h5"
    run(load_codec(CodecSpec("mimi", "mimi", weights="random", n_layers=8)), words, None, str(h5), EncodeConfig())
    cfg = {"n_permutations": 20, "n_bootstrap": 0}
    argv = ["run", "--codec", "mimi", "--features", str(h5), "--llm", json.dumps({"family": "moshi", "weights": "random"}),
            "--out", str(tmp_path / "c.csv"), "--config", json.dumps(cfg)]  # fmt: skip
    with pytest.raises(CodecprobeError, match=rf"{h5}: 3 word type\(s\) usable for CKA \(of 3 encoded; counts: .*at least 4 are needed"):
        main(argv)
    assert not (tmp_path / "c.csv").exists()
    # none usable (every word unknown to the tokenizer): the same message, with the file and the counts
    blank = tmp_path / "blank.h5"
    run(load_codec(CodecSpec("mimi", "mimi", weights="random", n_layers=8)), words.assign(word=""), None, str(blank), EncodeConfig())
    with pytest.raises(CodecprobeError, match=rf"{blank}: 0 word type\(s\) usable for CKA \(of 1 encoded; counts: "
                                              r".*tokens skipped: word has no known text token \d+.*at least 4 are needed"):  # fmt: skip
        main([*argv[:4], str(blank), *argv[5:]])


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--config", "{max_words: 5}", r"--config: not JSON"),
        ("--config", '{"max_word": 5}', r"--config: unknown key\(s\) max_word \(known: .*max_words"),
        ("--llm", '{"family": "moshi", "weight": "random"}', r"--llm: unknown key\(s\) weight \(known: .*weights"),
        ("--llm", '["moshi"]', r"--llm: a JSON object is needed"),
        ("--llm", '{"weights": "random"}', r"--llm: no family \(known: mimo_audio, moshi\)"),
    ],
)
def test_the_run_options_json_is_checked(tmp_path, option, value, message):
    """By hand, a misspelt key of --llm was dropped silently (random weights instead of the
    ones meant) and malformed JSON gave a traceback."""
    args = {"--config": "{}", "--llm": json.dumps({"family": "moshi", "weights": "random"}), option: value}
    argv = ["run", "--codec", "m", "--features", str(tmp_path / "f.h5"), "--out", str(tmp_path / "o.csv")]
    argv += [x for k, v in args.items() for x in (k, v)]
    with pytest.raises(CodecprobeError, match=message):
        main(argv)


def test_summary_names_a_table_it_cannot_use(tmp_path):
    """By hand: a CKA table without rows drew an empty figure; one without its numbers failed
    on a KeyError after the combined table was written."""
    pd.DataFrame(columns=["codec", "estimator", "cka", "null_mean", "null_sd", "gap"]).to_csv(tmp_path / "e.csv", index=False)
    out = ["--combined", str(tmp_path / "all.csv"), "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png"),
           "--latex", str(tmp_path / "t.tex")]  # fmt: skip
    with pytest.raises(CodecprobeError, match=r"e.csv: no rows"):
        main(["summary", "--tables", str(tmp_path / "e.csv"), *out])
    pd.DataFrame({"codec": ["m"], "estimator": ["linear"], "cka": [0.3]}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(CodecprobeError, match=r"p.csv: no column\(s\) null_mean, null_sd, gap"):
        main(["summary", "--tables", str(tmp_path / "p.csv"), *out])
    assert not (tmp_path / "all.csv").exists()


def test_per_type_one_keeps_the_same_token_whatever_the_row_order():
    """``per_type: one`` drew a position in each type's list of rows: the same tokens in
    another row order kept other tokens (20 of 20 types). With the token ids, the draw
    is over the tokens in id order."""
    rng = np.random.default_rng(0)
    words = np.repeat([f"w{i:02d}" for i in range(20)], 10)
    ids = np.arange(200)
    keep = np.ones(200, bool)
    _, members = select_types(words, keep, 100, "one", seed=5, token_ids=ids)
    order = rng.permutation(200)
    _, shuffled = select_types(words[order], keep, 100, "one", seed=5, token_ids=ids[order])
    assert [ids[m].tolist() for m in members] == [ids[order][m].tolist() for m in shuffled]
    _, plain = select_types(words, keep, 100, "one", seed=5)  # rows in id order: the same draw as before
    assert [m.tolist() for m in plain] == [m.tolist() for m in members]
    with pytest.raises(CodecprobeError, match="token_ids: expected 200 ids"):
        select_types(words, keep, 100, "one", token_ids=ids[:5])


@pytest.mark.parametrize("key, value", [("n_permutations", 0), ("bootstrap_permutations", 0), ("n_bootstrap", -1),
                                        ("n_permutations", 2.5), ("n_bootstrap", True), ("max_words", 3),
                                        ("max_words", 5.5), ("max_words", "10"), ("seed", -1)])  # fmt: skip
def test_cka_counts_are_checked_without_the_schema(key, value):
    """A by-hand ``--config`` skips the workflow's schema: ``bootstrap_permutations: 0``
    gave a NaN interval while ``n_bootstrap`` said 5."""
    with pytest.raises(CodecprobeError, match=rf"cka\.{key}: need a whole number >= \d, got {value!r}"):
        CKAConfig(**{key: value}).check()
    CKAConfig().check()


def test_cka_estimators_must_be_a_list():
    """A string was taken letter by letter: "unknown ['a', 'e', 'i', 'l', 'n', 'r']"."""
    with pytest.raises(CodecprobeError, match=r"cka\.estimators: a list of estimators \(linear, debiased, rbf\), got 'linear'"):
        CKAConfig(estimators="linear").check()
    CKAConfig(estimators=("linear",)).check()


def test_a_feature_file_missing_a_dataset_is_named(tmp_path):
    """A dataset the stage reads missing, or a token's utterance not in /utterances: an error
    naming the file (it was a bare KeyError traceback)."""
    words = ["a", "b", "a"]
    _write_features(tmp_path / "f.h5", words, [2, 1, 2])
    tokens, codes, _ = token_codes(str(tmp_path / "f.h5"))
    assert tokens["word"].tolist() == words and [c.tolist() for c in codes] == [[[0, 1]], [[2]], [[3, 4]]]
    with h5py.File(tmp_path / "f.h5", "a") as h:
        del h["tokens/n_frames"]
    with pytest.raises(CodecprobeError, match=rf"{tmp_path / 'f.h5'}: not a readable feature file \(.*\); rebuild it \(rule encode\)"):
        token_codes(str(tmp_path / "f.h5"))
    _write_features(tmp_path / "g.h5", words, [2, 1, 2])
    with h5py.File(tmp_path / "g.h5", "a") as h:  # the audio-slicing layout names utterances
        h["tokens/utt_frame_start"] = np.zeros(3, np.int64)
        h["utterances/utt_id"] = np.array([b"u9"])
        h["utterances/frame_offset"] = np.zeros(1, np.int64)
    with pytest.raises(CodecprobeError, match=rf"{tmp_path / 'g.h5'}: token utterance 'u0' is not in /utterances"):
        token_codes(str(tmp_path / "g.h5"))
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(CodecprobeError, match=r"bad.h5: not a readable feature file"):
        token_codes(str(tmp_path / "bad.h5"))


def test_the_workflows_digests_in_llm_are_ignored(tmp_path):
    """config.llm_json adds weights_digest / tokenizer_digest for planning; the stage reads
    past them (to the feature file here), not "unknown key"."""
    llm = {"family": "moshi", "weights": "random", "weights_digest": "0" * 16, "tokenizer_digest": "1" * 16}
    argv = ["run", "--codec", "m", "--features", str(tmp_path / "none.h5"), "--out", str(tmp_path / "o.csv"),
            "--config", "{}", "--llm", json.dumps(llm)]  # fmt: skip
    with pytest.raises(CodecprobeError, match=r"none.h5: not a readable feature file"):
        main(argv)
