"""LLM input paths (codecprobe.llm): tiny random checkpoints with the real tensor names,
written as safetensors and loaded by key name; Qwen2 stack against transformers."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import save_file  # noqa: E402

from codecprobe.io import CodecprobeError  # noqa: E402
from codecprobe.llm import (  # noqa: E402
    MIMO_AUDIO_TINY,
    MOSHI_TINY,
    HFTokenizer,
    LLMSpec,
    load_llm_input,
    mimo_audio_names,
    mimo_audio_shapes,
    qwen2_stack,
    random_mimo_audio_tensors,
    random_moshi_tensors,
    weight_files,
)

WORDS = "the big large accept except house mouse quick brown fox jumps over lazy dog".split()


def _train_spm(tmp: Path) -> Path:
    spm = pytest.importorskip("sentencepiece")
    text = tmp / "text.txt"
    text.write_text("\n".join(" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))) * 20)
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp / "spm"), vocab_size=40, model_type="unigram", minloglevel=2)
    return tmp / "spm.model"


def _train_bpe(tmp: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator([" ".join(WORDS)] * 50, trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(tmp / "tokenizer.json"))
    return tmp / "tokenizer.json"


@pytest.fixture()
def moshi_dir(tmp_path):
    """A Moshi-layout checkpoint (16 audio streams, tiny hidden size) + a SentencePiece model."""
    d = tmp_path / "moshi"
    d.mkdir()
    tensors = random_moshi_tensors(MOSHI_TINY, seed=3)
    tensors["transformer.layers.0.self_attn.in_proj_weight"] = torch.zeros(4, 4)  # an unrelated tensor
    save_file({k: v.to(torch.bfloat16) for k, v in tensors.items()}, str(d / "model.safetensors"))
    spm = _train_spm(tmp_path)
    (d / "tokenizer_spm_32k_3.model").write_bytes(spm.read_bytes())
    return d, tensors


def test_moshi_speech_is_the_sum_of_its_stream_embeddings(moshi_dir):
    d, tensors = moshi_dir
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2048, size=(32, 5))  # MIMI's 32 codebooks: Moshi reads the first 8
    for stream, first in (("moshi", 0), ("user", 8)):
        llm = load_llm_input(LLMSpec("moshi", str(d), stream=stream))
        want = sum(tensors[f"emb.{first + k}.weight"].to(torch.bfloat16).float().numpy()[codes[k]] for k in range(8))
        np.testing.assert_allclose(llm.speech(codes), want, rtol=1e-6, atol=1e-6)
        assert llm.speech(codes).shape == (5, MOSHI_TINY["hidden"])
        # a subset of codebooks (0-based): its part of the sum
        first = tensors[f"emb.{first}.weight"].to(torch.bfloat16).float().numpy()[codes[0]]
        np.testing.assert_allclose(llm.speech(codes, [0]), first, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(llm.speech(codes, range(1, 8)), want - first, rtol=1e-5, atol=1e-5)
    assert llm.sums_codebooks
    for bad in ([], [8], [-1], [0, 0]):
        with pytest.raises(CodecprobeError, match="need distinct ones among 0..7"):
            llm.speech(codes, bad)
    # text: mean of the SentencePiece tokens' rows (bf16 rows upcast exactly)
    ids = llm.tokenizer.ids("accept")
    assert ids and llm.tokenizer.kind == "sentencepiece"
    table = tensors["text_emb.weight"].to(torch.bfloat16).float().numpy()
    np.testing.assert_allclose(llm.text("accept"), table[ids].mean(0), rtol=1e-6)
    assert llm.text("") is None


def test_moshi_missing_tensor_and_bad_codes(moshi_dir, tmp_path):
    d, tensors = moshi_dir
    llm = load_llm_input(LLMSpec("moshi", str(d / "model.safetensors"), tokenizer=str(d / "tokenizer_spm_32k_3.model")))
    with pytest.raises(CodecprobeError, match="codebook 1 has codes outside"):
        llm.speech(np.full((8, 3), 2048))
    with pytest.raises(CodecprobeError, match=r"needs codes \[>= 8"):
        llm.speech(np.zeros((4, 3), int))
    del tensors["emb.5.weight"]
    bad = tmp_path / "bad"
    bad.mkdir()
    save_file(tensors, str(bad / "model.safetensors"))
    with pytest.raises(CodecprobeError, match=r"missing from the checkpoint .*emb\.5\.weight"):
        load_llm_input(LLMSpec("moshi", str(bad), tokenizer=str(d / "tokenizer_spm_32k_3.model")))
    with pytest.raises(CodecprobeError, match="no such file"):
        load_llm_input(LLMSpec("moshi", str(d), tokenizer="nope.model"))
    with pytest.raises(CodecprobeError, match="has no input path"):
        load_llm_input(LLMSpec("encodec_lm", "random"))


def test_qwen2_stack_matches_transformers():
    """Our Qwen2 stack equals transformers' Qwen2Model (causal, and bidirectional through
    an all-zero additive 4-D mask) on the same random weights."""
    from transformers import Qwen2Config, Qwen2Model

    cfg = Qwen2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, intermediate_size=128, vocab_size=10, rope_theta=5000.0, rms_norm_eps=1e-6)
    torch.manual_seed(0)
    m = Qwen2Model(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.2)
    w = {"t." + n: p.detach() for n, p in m.named_parameters()}
    x = torch.randn(3, 4, 32)
    with torch.no_grad():
        causal = m(inputs_embeds=x).last_hidden_state
        full = m(inputs_embeds=x, attention_mask=torch.zeros(3, 1, 4, 4)).last_hidden_state
        torch.testing.assert_close(qwen2_stack(x, w, "t.", 2, 4, 5000.0, 1e-6, True), causal, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(qwen2_stack(x, w, "t.", 2, 4, 5000.0, 1e-6, False), full, rtol=1e-5, atol=1e-5)
    assert (causal - full).abs().max() > 1e-3  # the two modes differ


def _write_mimo(d: Path, cfg: dict, tensors: dict, shards: int = 2) -> None:
    """A sharded MiMo-Audio-layout checkpoint: config.json, shards, index; plus a shard
    holding only unrelated (LLM body) tensors that the index lists but that is corrupt."""
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg | {"vocab_size": tensors["model.embed_tokens.weight"].shape[0]}))
    names = sorted(tensors)
    wmap = {}
    for s in range(shards):
        part = {n: tensors[n].to(torch.bfloat16) for n in names[s::shards]}
        f = f"model-{s + 1:05d}-of-{shards + 1:05d}.safetensors"
        save_file(part, str(d / f))
        wmap |= dict.fromkeys(part, f)
    body = f"model-{shards + 1:05d}-of-{shards + 1:05d}.safetensors"
    (d / body).write_bytes(b"not a safetensors file")  # never opened: holds no input-path tensor
    wmap["model.layers.0.mlp.up_proj.weight"] = body
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": wmap}))


@pytest.fixture()
def mimo_dir(tmp_path):
    cfg = dict(MIMO_AUDIO_TINY)
    tensors = random_mimo_audio_tensors(cfg | {"vocab_size": 320}, seed=5)
    for n in tensors:  # non-trivial norms and biases, so a swapped tensor would show
        if n.endswith("norm.weight") or n.endswith(".bias"):
            tensors[n] = tensors[n] + 0.1 * torch.randn(tensors[n].shape)
    d = tmp_path / "mimo_audio"
    _write_mimo(d, cfg, tensors)
    (d / "tokenizer.json").write_bytes(_train_bpe(tmp_path).read_bytes())
    return d, cfg, {n: t.to(torch.bfloat16).float() for n, t in tensors.items()}


def test_mimo_audio_speech_path_matches_an_independent_reference(mimo_dir):
    """Embeddings summed per frame, groups of 4 (the last one filled by repeating the last
    frame, as upstream's ``MimoAudio.preprocess_input`` pads an utterance), transformers'
    Qwen2Model as the patch encoder, then the downcast: same numbers."""
    from transformers import Qwen2Config, Qwen2Model

    d, cfg, t = mimo_dir
    llm = load_llm_input(LLMSpec("mimo_audio", str(d)))
    rng = np.random.default_rng(1)
    codes = np.vstack([rng.integers(0, 1024, (2, 7)), rng.integers(0, 128, (6, 7))])
    got = llm.speech(codes)
    assert got.shape == (2, cfg["hidden_size"])  # ceil(7 / 4) patches

    dl = cfg["local_dim"]
    qc = Qwen2Config(hidden_size=dl, num_hidden_layers=cfg["input_local_layers"], num_attention_heads=cfg["local_attn_heads"], num_key_value_heads=cfg["local_attn_heads"], intermediate_size=4 * dl, vocab_size=4, rope_theta=cfg["rope_theta"], rms_norm_eps=cfg["rms_norm_eps"])
    ref_model = Qwen2Model(qc).eval()
    pre = "input_local_transformer."
    ref_model.load_state_dict({k[len(pre) :]: v for k, v in t.items() if k.startswith(pre)} | {"embed_tokens.weight": torch.zeros(4, dl)})
    pad = np.hstack([codes, codes[:, 6:7]])  # frame 8 repeats frame 7
    frames = []
    for f in range(8):
        v = np.zeros(dl, np.float32)
        for i in range(8):
            v += t[f"speech_embeddings.{i}.weight"].numpy()[pad[i, f]]
        frames.append(v)
    emb = torch.as_tensor(np.stack(frames)).reshape(2, 4, dl)
    with torch.no_grad():
        h = ref_model(inputs_embeds=emb, attention_mask=torch.zeros(2, 1, 4, 4)).last_hidden_state  # full attention
    want = (h.reshape(2, 4 * dl) @ t["speech_group_downcast.weight"].T).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # no frame at all: one patch of empty tokens, which embed to zero (upstream masks them)
    with torch.no_grad():
        h0 = ref_model(inputs_embeds=torch.zeros(1, 4, dl), attention_mask=torch.zeros(1, 1, 4, 4)).last_hidden_state
    want0 = (h0.reshape(1, 4 * dl) @ t["speech_group_downcast.weight"].T).numpy()
    np.testing.assert_allclose(llm.speech(codes[:, :0]), want0, rtol=1e-4, atol=1e-5)
    # text: leading-space BPE tokens of the word, mean of their embedding rows
    ids = llm.tokenizer.ids("house")
    assert ids and llm.tokenizer.kind == "tokenizers"
    np.testing.assert_allclose(llm.text("house"), t["model.embed_tokens.weight"].numpy()[ids].mean(0), rtol=1e-6)


def test_mimo_audio_config_and_shape_errors(mimo_dir, tmp_path):
    d, cfg, t = mimo_dir
    bad_cfg = json.loads((d / "config.json").read_text())
    bad_cfg["local_dim"] = 48
    (d / "config.json").write_text(json.dumps(bad_cfg))
    with pytest.raises(CodecprobeError, match="do not match config.json"):
        load_llm_input(LLMSpec("mimo_audio", str(d)))
    del bad_cfg["group_size"]
    (d / "config.json").write_text(json.dumps(bad_cfg))
    with pytest.raises(CodecprobeError, match="no group_size"):
        load_llm_input(LLMSpec("mimo_audio", str(d)))


def test_mimo_audio_rope_scaling_is_refused_not_ignored(mimo_dir):
    """qwen2_stack computes plain rotary positions: a config.json asking for RoPE scaling
    stops with the file and the key named; null / default loads and gives the same vectors."""
    d, _, _ = mimo_dir
    base = json.loads((d / "config.json").read_text())
    codes = np.vstack([np.arange(2 * 6).reshape(2, 6) % 1024, np.arange(6 * 6).reshape(6, 6) % 128])
    want = load_llm_input(LLMSpec("mimo_audio", str(d))).speech(codes)
    for ok in ({"rope_scaling": None}, {"rope_scaling": {}}, {"rope_scaling": {"rope_type": "default"}},
               {"rope_parameters": {"rope_theta": base["rope_theta"]}}, {"rope_parameters": {"rope_type": "default", "rope_theta": base["rope_theta"]}}):  # fmt: skip
        (d / "config.json").write_text(json.dumps(base | ok))
        np.testing.assert_array_equal(load_llm_input(LLMSpec("mimo_audio", str(d))).speech(codes), want)
    # transformers 5 writes rope_theta inside rope_parameters only: it is read from there
    no_top = {k: v for k, v in base.items() if k != "rope_theta"}
    (d / "config.json").write_text(json.dumps(no_top | {"rope_parameters": {"rope_theta": base["rope_theta"]}}))
    np.testing.assert_array_equal(load_llm_input(LLMSpec("mimo_audio", str(d))).speech(codes), want)
    (d / "config.json").write_text(json.dumps(no_top | {"rope_parameters": {"rope_theta": base["rope_theta"] / 50}}))
    assert not np.allclose(load_llm_input(LLMSpec("mimo_audio", str(d))).speech(codes), want, atol=1e-4)
    for key, bad, kind in (("rope_scaling", {"type": "linear", "factor": 2.0}, "linear"),
                           ("rope_scaling", {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}, "yarn"),
                           ("rope_scaling", {"factor": 2.0}, "None"),
                           ("rope_parameters", {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}, "dynamic")):  # fmt: skip
        (d / "config.json").write_text(json.dumps(base | {key: bad}))
        with pytest.raises(CodecprobeError, match=rf"config\.json: {key} = .*type '?{kind}'? is not implemented") as e:
            load_llm_input(LLMSpec("mimo_audio", str(d)))
        assert str(d / "config.json") in str(e.value)
    (d / "config.json").write_text(json.dumps(base | {"rope_scaling": "linear"}))
    with pytest.raises(CodecprobeError, match="rope_scaling = 'linear': expected a mapping or null"):
        load_llm_input(LLMSpec("mimo_audio", str(d)))
    with pytest.raises(CodecprobeError, match=r"dims: rope_scaling = .*'linear' is not implemented"):
        load_llm_input(LLMSpec("mimo_audio", "random", dims={"rope_scaling": {"type": "linear", "factor": 2.0}}))


def test_real_names_and_shapes():
    """The key names and shapes listed in the README, from the released configs' sizes."""
    real = MIMO_AUDIO_TINY | {"hidden_size": 4096, "vocab_size": 151680, "local_dim": 1024, "local_attn_heads": 64, "input_local_layers": 6}
    shapes = mimo_audio_shapes(real)
    assert shapes["model.embed_tokens.weight"] == (151680, 4096)
    assert shapes["speech_embeddings.0.weight"] == (1025, 1024) and shapes["speech_embeddings.7.weight"] == (129, 1024)
    assert shapes["speech_group_downcast.weight"] == (4096, 4096)
    assert shapes["input_local_transformer.layers.5.mlp.down_proj.weight"] == (1024, 4096)
    assert set(shapes) == set(mimo_audio_names(8, 6)) and len(shapes) == 3 + 8 + 6 * 12


def test_random_llm_is_seeded_and_byte_tokenized():
    a = load_llm_input(LLMSpec("moshi", "random", seed=1))
    b = load_llm_input(LLMSpec("moshi", "random", seed=1))
    codes = np.arange(16).reshape(8, 2)
    np.testing.assert_array_equal(a.speech(codes), b.speech(codes))
    assert a.tokenizer.kind == "bytes" and a.metadata()["llm_random"]
    np.testing.assert_array_equal(a.text("ab"), a.text_table[[97, 98]].float().mean(0).numpy())
    m = load_llm_input(LLMSpec("mimo_audio", "random"))
    assert m.speech(np.zeros((8, 9), int)).shape == (3, MIMO_AUDIO_TINY["hidden_size"])


def test_corrupt_checkpoint_and_provenance(moshi_dir, tmp_path):
    d, _ = moshi_dir
    llm = load_llm_input(LLMSpec("moshi", str(d)))
    files = llm.metadata()["llm_files"]
    assert files == [{"file": "model.safetensors", "bytes": (d / "model.safetensors").stat().st_size, "revision": None}]
    bad = tmp_path / "corrupt"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{trunc")
    with pytest.raises(CodecprobeError, match=r"model.safetensors: not a readable safetensors file"):
        load_llm_input(LLMSpec("moshi", str(bad), tokenizer=str(d / "tokenizer_spm_32k_3.model")))


def test_llm_hub_id_is_org_slash_name_and_not_a_local_folder(tmp_path, monkeypatch):
    from codecprobe import llm

    monkeypatch.chdir(tmp_path)
    assert llm._is_hub_id("kyutai/moshiko-pytorch-bf16") and llm._is_hub_id("XiaomiMiMo/MiMo-Audio-7B-Base")
    for local in ("random", "moshi", "/abs/model", "./org/model", "a/b/c", "org/model.safetensors"):
        assert not llm._is_hub_id(local), local
    (tmp_path / "org" / "model").mkdir(parents=True)  # an existing folder of the hub-id shape
    assert not llm._is_hub_id("org/model")


def test_llm_hub_failure_says_it_is_no_local_path_either(tmp_path, monkeypatch):
    import huggingface_hub
    from codecprobe import llm

    def fail(**kwargs):
        raise OSError("cannot reach the hub")

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)
    with pytest.raises(CodecprobeError) as err:
        llm._hub_file("weights/moshi", "model.safetensors", None, "llm moshi")
    assert str(err.value) == (
        "llm moshi: cannot get 'model.safetensors' for weights 'weights/moshi': not a local path "
        f"(no {tmp_path.resolve() / 'weights' / 'moshi'}), and as a Hugging Face hub id: OSError: cannot reach the hub"
    )


def test_side_files_come_from_the_checkpoint_not_the_working_directory(mimo_dir, tmp_path, monkeypatch):
    """A config.json (or tokenizer) in the working directory must not stand in for the
    checkpoint's own: before session 22 it won, and MiMo's patch encoder silently took its
    attention mask and RoPE base."""
    d, cfg, _ = mimo_dir
    codes = np.vstack([np.arange(5)[None].repeat(2, 0), np.arange(5)[None].repeat(6, 0)])
    ref = load_llm_input(LLMSpec("mimo_audio", str(d)))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    theirs = json.loads((d / "config.json").read_text())
    (cwd / "config.json").write_text(json.dumps(theirs | {"input_full_attention": ref.causal, "rope_theta": 1e6}))  # the other mask
    (cwd / "tokenizer.json").write_text("not a tokenizer")
    monkeypatch.chdir(cwd)
    here = load_llm_input(LLMSpec("mimo_audio", str(d)))
    assert (here.causal, here.theta) == (ref.causal, ref.theta) and here.theta != 1e6
    np.testing.assert_array_equal(here.speech(codes), ref.speech(codes))
    # a path with a folder is taken as given; a bare name only from the checkpoint
    with pytest.raises(CodecprobeError, match="not a tokenizer.json"):
        load_llm_input(LLMSpec("mimo_audio", str(d), tokenizer="./tokenizer.json"))
    with pytest.raises(CodecprobeError, match=r"'other.json': no such file in the weights folder .* \(give a path, e.g. \./other\.json"):
        load_llm_input(LLMSpec("mimo_audio", str(d), tokenizer="other.json"))


def test_a_word_with_the_unknown_text_token_or_blank_has_no_text_vector(moshi_dir, mimo_dir, tmp_path):
    """Moshi's SentencePiece maps a character it never saw to <unk> (id 0), and Moshi trains
    text_emb row 0 as its padding marker: such a word has no text vector (skipped and
    counted by the stage), nor has a blank word, which tokenizer.json models would embed
    as the bare-space token."""
    d, _ = moshi_dir
    moshi = load_llm_input(LLMSpec("moshi", str(d)))
    assert moshi.tokenizer.unk_id == 0 and 0 in moshi.tokenizer.ids("héllo")
    assert moshi.text("héllo") is None and moshi.text("") is None
    assert moshi.text("house") is not None and moshi.text("house").shape == (MOSHI_TINY["hidden"],)
    dm, _, _ = mimo_dir
    mimo = load_llm_input(LLMSpec("mimo_audio", str(dm)))
    assert mimo.tokenizer.unk_id is None  # byte-level BPE: every word has known tokens
    assert mimo.tokenizer.ids("") and mimo.text("") is None and mimo.text("  ") is None
    assert mimo.text("café") is not None
    # a tokenizer.json with an unknown token: its id is read from the model
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "house": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "wl.json"))
    wl = HFTokenizer(tmp_path / "wl.json", "llm x")
    assert wl.unk_id == 0 and wl.ids("zebra") == [0] and wl.ids("house") == [1]


def test_a_missing_tokenizers_package_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(CodecprobeError, match=r"llm x: the tokenizers package is needed for tokenizer.json"):
        HFTokenizer(tmp_path / "tokenizer.json", "llm x")


def _hub(monkeypatch, tmp_path, missing: dict):
    """hf_hub_download that raises ``missing[filename]`` or returns a path under tmp_path."""
    import huggingface_hub

    calls = []

    def fake(repo_id, filename, revision=None, **kwargs):
        calls.append(filename)
        if filename in missing:
            raise missing[filename]
        return str(tmp_path / filename)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    return calls


def test_hub_weights_fall_back_to_one_file_only_when_the_index_is_absent(tmp_path, monkeypatch):
    """A repo without model.safetensors.index.json holds one model.safetensors; but a failed
    download of the index (network, auth) is reported as it is, not as a missing
    model.safetensors, which hid the real cause."""
    from huggingface_hub.errors import EntryNotFoundError

    spec, names = LLMSpec("mimo_audio", "Org/Model"), ["a.weight"]
    calls = _hub(monkeypatch, tmp_path, {"model.safetensors.index.json": EntryNotFoundError("404 index")})
    assert weight_files(spec, names, "llm m") == {"a.weight": tmp_path / "model.safetensors"}
    assert calls == ["model.safetensors.index.json", "model.safetensors"]
    calls = _hub(monkeypatch, tmp_path, {"model.safetensors.index.json": ConnectionError("Read timed out")})
    with pytest.raises(CodecprobeError, match=r"'model.safetensors.index.json'.*ConnectionError: Read timed out") as e:
        weight_files(spec, names, "llm m")
    assert calls == ["model.safetensors.index.json"] and "'model.safetensors'" not in str(e.value)
    missing = {n: EntryNotFoundError(f"404 {n}") for n in ("model.safetensors.index.json", "model.safetensors")}
    _hub(monkeypatch, tmp_path, missing)
    with pytest.raises(CodecprobeError, match=r"'model.safetensors'.*404 model.safetensors; nor its shard index .*404 model"):
        weight_files(spec, names, "llm m")


def test_hub_weights_download_only_the_shards_holding_the_names(tmp_path, monkeypatch):
    """A sharded hub repo: the index, then only the shards that hold the tensors asked for
    (an LLM's input embeddings live in one or two of its many multi-GB shards), each once."""
    import json

    spec = LLMSpec("mimo_audio", "Org/Model")
    calls = _hub(monkeypatch, tmp_path, {})
    weight_map = {"a.weight": "model-00001-of-00003.safetensors", "b.weight": "model-00002-of-00003.safetensors",
                  "c.weight": "model-00003-of-00003.safetensors", "d.weight": "model-00001-of-00003.safetensors"}  # fmt: skip
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    got = weight_files(spec, ["d.weight", "c.weight", "a.weight", "not.there"], "llm m")
    assert got == {n: tmp_path / weight_map[n] for n in ("d.weight", "c.weight", "a.weight")}
    assert calls == ["model.safetensors.index.json", "model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors"]


def test_a_cuda_device_without_cuda_is_a_clear_error(mimo_dir, monkeypatch):
    """``cka.device: cuda`` where torch sees no GPU: one line naming the setting (MiMo-Audio's
    patch encoder ran into torch's "Torch not compiled with CUDA enabled")."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CodecprobeError, match=r"device 'cuda' \(cka.device\) requested but no such CUDA device is available"):
        load_llm_input(LLMSpec("mimo_audio", str(mimo_dir[0])), "cuda")
    with pytest.raises(CodecprobeError, match=r"invalid device 'gpu0' \(cka.device\)"):
        load_llm_input(LLMSpec("mimo_audio", str(mimo_dir[0])), "gpu0")
