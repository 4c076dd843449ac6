import copy
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from codecprobe.config import (
    check_config,
    check_config_file,
    corpus_fingerprint,
    pairs_args,
    schema_errors,
    words_args,
)
from codecprobe.io import CodecprobeError, file_digest
from conftest import REPO

DEMO = yaml.safe_load((REPO / "config.yaml").read_text())
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())


def test_both_configs_are_valid():
    assert schema_errors(DEMO) == []
    assert schema_errors(PAPER) == []


def test_shipped_config_files_pass_the_file_check():
    for f in [REPO / "config.yaml", *sorted((REPO / "config").glob("*.yaml"))]:
        check_config_file(f)


@pytest.mark.parametrize(
    "text, message",
    [
        # an unclosed list: where it opens and where the parser gave up (Snakemake: no line)
        ("a: 1\nencode:\n  slicing: [audio\nb: 2\n",
         (r"c\.yaml: not valid YAML: while parsing a flow sequence \(line 3, column 12\); "
          r"expected ',' or '\]', but got ':' \(line 4, column 2\)$")),
        ("a: 1\nb:\n\t- 1\n", r"\(line 3, column 1\); a tab cannot indent YAML, use spaces$"),
        # YAML keeps the second silently: the first section's settings would be lost
        ("encode:\n  slicing: audio\nb: 2\nencode:\n  device: cpu\n",
         r"c\.yaml: key 'encode' is set twice, on lines 1 and 4 \(YAML would keep only the second"),
        ("codecs:\n  - name: a\n    family: melrvq\n    name: b\n", r"key 'name' is set twice, on lines 2 and 4"),
        ('{"a": {"b": 1, "b": 2}}', r"c\.yaml: key 'b' is set twice in one object \(JSON"),
        ("? [a, b]\n: 1\n", r"c\.yaml: not valid YAML: while constructing a mapping .*found unhashable key \(line 1"),
    ],
)  # fmt: skip
def test_config_file_errors_name_line_and_key(tmp_path, text, message):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(CodecprobeError, match=message):
        check_config_file(p)


def test_config_file_check_lets_yaml_merge_keys_and_missing_files_through(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 5\n")  # an override of a merged key is no repeat
    check_config_file(p)
    assert yaml.safe_load(p.read_text())["c"] == {"x": 5, "y": 2}
    p.write_text("a: !!python/tuple [1, 2]\n")  # read as Snakemake reads it (yte: PyYAML's FullLoader)
    check_config_file(p)
    check_config_file(tmp_path / "none.yaml")  # Snakemake's own message for a missing file
    p.write_bytes(b"a: caf\xe9\n")
    with pytest.raises(CodecprobeError, match=r"c\.yaml: not UTF-8 text \(at byte offset 6\)"):
        check_config_file(p)


def test_typo_names_the_key_and_suggests():
    c = copy.deepcopy(DEMO)
    c["librispeech"]["subets"] = c["librispeech"].pop("subsets")
    # one line: the required 'subsets' it was meant to be is not reported missing as well
    assert schema_errors(c) == ["config: librispeech: unknown key 'subets' (did you mean 'subsets'?)"]
    # a required key missing without a look-alike is still reported
    c = copy.deepcopy(DEMO)
    c["librispeech"]["zzz"] = c["librispeech"].pop("subsets")
    errs = schema_errors(c)
    assert any(e.startswith("config: librispeech: unknown key 'zzz' (known keys: ") for e in errs), errs
    assert "config: librispeech: 'subsets' is a required property" in errs
    # a look-alike that is not the missing key leaves the missing key's line
    c = copy.deepcopy(DEMO)
    del c["librispeech"]["subsets"]
    c["librispeech"]["rooot"] = "x"
    errs = schema_errors(c)
    assert "config: librispeech: unknown key 'rooot' (did you mean 'root'?)" in errs
    assert "config: librispeech: 'subsets' is a required property" in errs
    c = copy.deepcopy(DEMO)
    c["pairz"] = c.pop("pairs")
    assert "config: <top level>: unknown key 'pairz' (did you mean 'pairs'?)" in schema_errors(c)


def test_a_value_given_as_text_says_so():
    """Snakemake reads the values of a nested ``--config`` as text (``encode={threads: 4}``
    gives '4'): jsonschema's "'4' is not of type 'integer'" blamed the value."""
    c = copy.deepcopy(DEMO)
    c.setdefault("encode", {})["threads"] = "4"
    c.setdefault("distances", {})["standardize"] = "true"
    c["pairs"]["max_word_pairs"] = "null"
    c["data_label"] = 5  # not text where text belongs: jsonschema's own line
    c["words"]["min_count"] = "{"  # text no YAML reads as a value: jsonschema's own line
    tail = "(quoted in the YAML, or given inside a nested --config, whose values Snakemake reads as text: set it in a --configfile)"
    assert schema_errors(c) == [
        "config: data_label: 5 is not of type 'string'",
        f"config: distances.standardize: 'true' is text, not true or false {tail}",
        f"config: encode.threads: '4' is text, not an integer {tail}",
        f"config: pairs.max_word_pairs: 'null' is text, not null {tail}",
        "config: words.min_count: '{' is not of type 'integer'",
    ]


def test_a_yaml_nan_is_refused_wherever_it_is():
    """``.nan`` passes every ``minimum``/``maximum`` of the schema (NaN compares false):
    ``rtmri.length_tolerance: .nan`` silently turned the audio length check off."""
    c = copy.deepcopy(DEMO)
    c["rtmri"]["length_tolerance"] = float("nan")
    c["pairs"]["seeds"] = [0, float("nan")]
    errs = schema_errors(c)
    assert "config: rtmri.length_tolerance: .nan is not a number (a YAML NaN passes every bound)" in errs
    assert any(e.startswith("config: pairs.seeds[1]: .nan is not a number") for e in errs), errs
    assert schema_errors(DEMO) == []


def test_a_speaker_given_as_number_and_text_is_one_speaker(tmp_path):
    """The schema's uniqueItems holds 9001 and "9001" apart: the speaker's pairs were made
    and counted twice (n 520 for 390)."""
    c = copy.deepcopy(DEMO)
    c["pairs"]["by_speaker"] = [9001, "9001", 9002]
    assert schema_errors(c) == []
    with pytest.raises(CodecprobeError, match=r"config: pairs.by_speaker: speaker 9001 given more than once \(as a number and as text\?\)"):
        check_config(c, REPO)
    c["pairs"]["by_speaker"] = [9001, 9002]
    check_config(c, REPO)


def test_an_empty_path_is_refused_before_any_job():
    """An empty string resolved to the working directory, which exists: ``alignment.textgrids:
    ""`` passed the start-up check (Snakemake then planned nothing, or a missing input), and
    an empty MFA dictionary ran ``mfa align ... ''``."""
    def errs(edit):
        c = copy.deepcopy(DEMO)
        edit(c)
        return schema_errors(c)

    assert errs(lambda c: c["alignment"].update(textgrids="")) == [
        (
            "config: alignment.textgrids: alignment.source: textgrids needs the folder of the imported TextGrids here "
            "(it is empty or null); or set alignment.source: mfa to align with MFA"
        )
    ]
    assert errs(lambda c: c["alignment"].update(source="mfa", mfa={"dictionary": ""})) == [
        "config: alignment.mfa.dictionary: '' should be non-empty"
    ]
    assert errs(lambda c: c["librispeech"].update(root="")) == ["config: librispeech.root: '' should be non-empty"]
    assert errs(lambda c: c["codecs"][0].update(weights="")) == ["config: codecs[0].weights: '' should be non-empty"]
    assert errs(lambda c: c["rtmri"].update(grid="")) == ["config: rtmri.grid: '' should be non-empty"]
    assert errs(lambda c: c["rtmri"].update(grid=None)) == []


def test_a_negative_seed_is_refused_before_any_job():
    """NumPy's generators take seeds >= 0: ``cka.seed: -1`` passed the schema and stopped the
    CKA job, after loading the LLM, with NumPy's "expected non-negative integer"."""
    c = copy.deepcopy(DEMO)
    c.setdefault("cka", {})["seed"] = -1
    c.setdefault("pairs", {})["seeds"] = [0, -2]
    c["codecs"][0]["seed"] = -3
    c.setdefault("distances", {})["seed"] = -4
    c.setdefault("rtmri", {})["seed"] = -5
    assert sorted(schema_errors(c)) == [
        "config: cka.seed: -1 is less than the minimum of 0",
        "config: codecs[0].seed: -3 is less than the minimum of 0",
        "config: distances.seed: -4 is less than the minimum of 0",
        "config: pairs.seeds[1]: -2 is less than the minimum of 0",
        "config: rtmri.seed: -5 is less than the minimum of 0",
    ]


def test_codec_list_mistakes_have_their_own_line():
    """No codec at all (the run built the word table and pairs and stopped without a figure
    or a word of why), a codec or LLM entry without weights (the schema's default was random
    weights: a paper run spent its GPU job on them silently), a name that is no plain folder
    name ('..' planned results/features/../words.h5)."""
    from codecprobe.config import random_weight_codecs

    def errs(edit):
        c = copy.deepcopy(DEMO)
        edit(c)
        return schema_errors(c)

    none = "config: codecs: no codec given: nothing would be encoded and no figure built"
    assert [e[: len(none)] for e in errs(lambda c: c.pop("codecs"))] == [none]
    assert [e[: len(none)] for e in errs(lambda c: c.update(codecs=[]))] == [none]
    e = errs(lambda c: c["codecs"].append({"name": "enc", "family": "encodec"}))
    assert e == [
        (
            "config: codecs[1].weights (codec enc): weights not given: set a hub id or local path (README 'Codecs' "
            "names each family's), 'random' for a plumbing test (real architecture, random weights, marked in every "
            "output), or 'fit' for melrvq"
        )
    ]
    e = errs(lambda c: c["codecs"].append({"name": "m", "family": "mimi", "weights": "kyutai/mimi", "llm": {"family": "moshi"}}))
    assert len(e) == 1 and e[0].startswith("config: codecs[1].llm.weights (codec m): llm.weights not given") and "melrvq" not in e[0]
    for bad in ("..", ".", ".hidden", "-x", "a/b"):
        e = errs(lambda c, bad=bad: c["codecs"][0].update(name=bad))
        assert e == [
            (
                f"config: codecs[0].name: {bad!r} is not a plain folder name (it names folders under results/): "
                "letters, digits, _ . -, starting with a letter or digit"
            )
        ], bad
    for good in ("mimi.v2", "enc_24k", "0dac", "DAC-44"):
        assert errs(lambda c, good=good: c["codecs"][0].update(name=good)) == [], good
    c = copy.deepcopy(DEMO)
    c["codecs"] += [{"name": "e", "family": "encodec", "weights": "random"},
                    {"name": "m", "family": "mimi", "weights": "kyutai/mimi", "llm": {"family": "moshi", "weights": "random"}}]  # fmt: skip
    assert random_weight_codecs(c) == ["e", "m.llm"]
    assert random_weight_codecs(DEMO) == []  # melrvq: fit


def test_devices_and_layer_lists_are_checked_at_start_up():
    """encode.device: gpu passed start-up (melrvq ignored it; each torch encode job then
    failed); rtmri.lag.layers: [0] gave "0 should not be valid under {'const': 0}"; a lag or
    region layer beyond a codec's n_layers stopped the lag/region job after fit and encode."""
    c = copy.deepcopy(DEMO)
    c["encode"]["device"] = "gpu"
    assert schema_errors(c) == ["config: encode.device: 'gpu' is not a device (auto, cpu, cuda, cuda:N or mps)"]
    for ok in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        c["encode"]["device"] = ok
        assert schema_errors(c) == [], ok
    c = copy.deepcopy(DEMO)
    c["cka"] = {"device": "cuda0"}
    assert schema_errors(c) == ["config: cka.device: 'cuda0' is not a device (auto, cpu, cuda or cuda:N)"]
    c = copy.deepcopy(DEMO)
    c["rtmri"]["lag"]["layers"] = [1, 0]
    assert schema_errors(c) == [
        (
            "config: rtmri.lag.layers[1]: 0 is no layer: layers count from 1 (the first codebook), negative ones "
            "from the end (-1: the last)"
        )
    ]
    for key in ("lag", "regions"):
        c = copy.deepcopy(DEMO)  # melrvq, n_layers: 8
        c["rtmri"][key]["layers"] = [1, 9]
        with pytest.raises(CodecprobeError) as err:
            check_config(c, REPO)
        assert str(err.value) == (
            f"config: rtmri.{key}.layers: layer 9 does not exist in melrvq with 8 layers (1 .. n, or -1 for the last)"
        )
        c["rtmri"][key]["layers"] = [1, -8, 8]
        check_config(c, REPO)
        c["rtmri"][key]["layers"] = [-9]
        with pytest.raises(CodecprobeError, match=rf"rtmri.{key}.layers: layer -9 does not exist in melrvq"):
            check_config(c, REPO)
        c["codecs"][0]["n_layers"] = None  # its count is known only to its jobs
        check_config(c, REPO)


@pytest.mark.parametrize(
    "path, value, msg",
    [
        (("pairs", "homophone_threshold"), 1.5, "config: pairs.homophone_threshold: 1.5 is greater than the maximum of 1"),
        (("pairs", "types"), ["synonyms"], "config: pairs.types[0]: 'synonyms' is not one of"),
        (("alignment", "source"), "nfa", "config: alignment.source: 'nfa' is not one of"),
        (("pairs", "seeds"), "0", "config: pairs.seeds: '0' is not of type 'array'"),
        (("rtmri", "nan_policy"), "keep", "config: rtmri.nan_policy: 'keep' is not one of"),  # PWCCA needs finite VTD
        # a repeated entry would silently count twice: every utterance of a subset, a seed
        # as two replicates of the t-interval, a speaker in Fig. 3's mean
        (("librispeech", "subsets"), ["dev-clean", "dev-clean"], "config: librispeech.subsets: ['dev-clean', 'dev-clean'] has non-unique elements"),
        (("pairs", "seeds"), [0, 1, 0], "config: pairs.seeds: [0, 1, 0] has non-unique elements"),
        (("pairs", "types"), ["random", "random"], "config: pairs.types: ['random', 'random'] has non-unique elements"),
        (("encode", "pooling"), ["mean", "mean"], "config: encode.pooling: ['mean', 'mean'] has non-unique elements"),
        (("rtmri", "speakers"), ["sub901", "sub901"], "config: rtmri.speakers: ['sub901', 'sub901'] has non-unique elements"),
    ],
)
def test_bad_values(path, value, msg):
    c = copy.deepcopy(DEMO)
    c[path[0]][path[1]] = value
    errs = schema_errors(c)
    assert any(e.startswith(msg) for e in errs), errs


def test_textgrid_source_needs_folder():
    """Missing, or null as config/paper.yaml ships it beside source: mfa (a user switching
    only the source got "None is not of type 'string'")."""
    want = ("config: alignment.textgrids: alignment.source: textgrids needs the folder of the imported TextGrids here "
            "(it is empty or null); or set alignment.source: mfa to align with MFA")  # fmt: skip
    c = copy.deepcopy(DEMO)
    del c["alignment"]["textgrids"]
    assert schema_errors(c) == [want]
    paper = copy.deepcopy(PAPER)
    assert paper["alignment"]["source"] == "mfa" and paper["alignment"]["textgrids"] is None
    paper["alignment"]["source"] = "textgrids"
    assert schema_errors(paper) == [want]
    c["alignment"]["textgrids"] = 3  # another type: jsonschema's own message
    assert "config: alignment.textgrids: 3 is not of type 'string', 'null'" in schema_errors(c)


def test_every_missing_data_path_is_named_at_once(tmp_path):
    """config/paper.yaml before the data are in place: its missing paths one per run (root,
    then a subset, then rtmri.root ...); now all in one error, a line each, without the
    subsets and speakers under a missing root."""
    with pytest.raises(CodecprobeError) as e:
        check_config(copy.deepcopy(PAPER), tmp_path)
    assert str(e.value).splitlines() == [
        f"config: librispeech.root: {PAPER['librispeech']['root']} does not exist",
        f"config: rtmri.root: {PAPER['rtmri']['root']} does not exist",
        f"config: rtmri.annot16: {PAPER['rtmri']['annot16']} does not exist",
    ]
    c = copy.deepcopy(DEMO)  # the roots there, two things under them not
    c["librispeech"]["subsets"] = ["dev-clean", "test-other"]
    c["rtmri"]["speakers"] = [*c["rtmri"]["speakers"], "sub999"]
    with pytest.raises(CodecprobeError) as e:
        check_config(c, REPO)
    lines = str(e.value).splitlines()
    assert len(lines) == 3 and "librispeech.subsets ('test-other'" in lines[0]
    assert "rtmri.speakers ('sub999': its Annot-16 track folder)" in lines[1] and "('sub999': its 75-Speaker audio" in lines[2]


def test_missing_paths_name_the_key(tmp_path):
    c = copy.deepcopy(DEMO)
    check_config(c, REPO)  # the demo's paths exist
    c["librispeech"]["root"] = str(tmp_path / "nowhere")
    with pytest.raises(CodecprobeError, match="config: librispeech.root: .*nowhere does not exist"):
        check_config(c, REPO)
    c = copy.deepcopy(DEMO)
    c["librispeech"]["subsets"] = ["dev-clean", "test-other"]
    with pytest.raises(CodecprobeError, match="librispeech.subsets \\('test-other'"):
        check_config(c, REPO)
    c = copy.deepcopy(DEMO)
    c["lexicon"]["cmudict"] = "no/such/cmudict.dict"
    with pytest.raises(CodecprobeError, match="config: lexicon.cmudict: no/such/cmudict.dict does not exist"):
        check_config(c, REPO)
    c = copy.deepcopy(DEMO)
    c["librispeech"]["root"] = "~/" + c["librispeech"]["root"]  # data paths are read literally
    with pytest.raises(CodecprobeError, match=r"config: librispeech.root: ~/.* does not exist \(data paths are read literally: write the home folder out, not ~\)"):
        check_config(c, REPO)
    c = copy.deepcopy(DEMO)
    c["librispeech"]["root"] = "config.yaml"  # a file where a folder is needed
    with pytest.raises(CodecprobeError, match="config: librispeech.root: config.yaml is a file, not a folder"):
        check_config(c, REPO)
    c = copy.deepcopy(DEMO)  # rtmri.root one level too high: every speaker's audio folder is missing
    c["rtmri"]["root"] = str(Path(c["rtmri"]["root"]).parent)
    spk = c["rtmri"]["speakers"][0]
    with pytest.raises(CodecprobeError, match=rf"config: rtmri.speakers \('{spk}': its 75-Speaker audio folder\): "
                       rf"\S+/{spk}/2drt/audio does not exist"):  # fmt: skip
        check_config(c, REPO)
    c = copy.deepcopy(DEMO)  # a speaker with audio but no Annot-16 annotations (the audio root holds no track/)
    c["rtmri"]["annot16"] = c["rtmri"]["root"]
    with pytest.raises(CodecprobeError, match=rf"config: rtmri.speakers \('{spk}': its Annot-16 track folder\): "
                       rf"\S+/{spk}/track does not exist"):  # fmt: skip
        check_config(c, REPO)
    c = copy.deepcopy(DEMO)
    c["lexicon"]["cmudict"] = c["librispeech"]["root"]  # a folder where a file is needed
    with pytest.raises(CodecprobeError, match=r"config: lexicon.cmudict: \S+ is a folder, not a file"):
        check_config(c, REPO)
    c = copy.deepcopy(DEMO)
    c["lexicon"]["wordnet"] = c["librispeech"]["root"]  # a folder, but not a WordNet database
    with pytest.raises(CodecprobeError, match=r"config: lexicon.wordnet: \S+ is not a WordNet 3.0 database folder \(missing data.noun"):
        check_config(c, REPO)


def test_local_weights_paths_are_checked_at_start_up(tmp_path, monkeypatch):
    """A codec's or its LLM's weights given as a path must exist (a file or a folder); hub
    ids are resolved later by the libraries."""
    from codecprobe.config import check_codecs

    p = copy.deepcopy(PAPER)
    check_codecs(p, REPO)  # hub ids only
    entry = next(c for c in p["codecs"] if c.get("llm"))
    entry["weights"] = str(tmp_path / "none")
    with pytest.raises(CodecprobeError, match=rf"config: codecs\[{entry['name']}\]\.weights: .*none does not exist"):
        check_codecs(p, REPO)
    (tmp_path / "w.safetensors").write_bytes(b"")
    for weights in (str(tmp_path), str(tmp_path / "w.safetensors")):  # a folder or a file
        entry["weights"] = weights
        check_codecs(p, REPO)
    monkeypatch.setenv("HOME", str(tmp_path))  # ~ is the home folder for weights
    entry["weights"] = "~/w.safetensors"
    check_codecs(p, REPO)
    entry["llm"]["weights"] = "./no/such/llm"
    with pytest.raises(CodecprobeError, match=rf"config: codecs\[{entry['name']}\]\.llm\.weights: ./no/such/llm does not"):
        check_codecs(p, REPO)
    # the LLM's tokenizer: in a local weights folder, or a path; checked before the CKA job
    # (which stopped on it only after the encoding)
    llm_dir = tmp_path / "llm"
    llm_dir.mkdir()
    entry["llm"] = {"family": entry["llm"]["family"], "weights": str(llm_dir)}
    default = {"moshi": "tokenizer_spm_32k_3.model", "mimo_audio": "tokenizer.json"}[entry["llm"]["family"]]
    with pytest.raises(CodecprobeError, match=rf"llm\.tokenizer: '{re.escape(default)}' is not in the weights folder {llm_dir}"):
        check_codecs(p, REPO)
    (llm_dir / default).write_bytes(b"")
    check_codecs(p, REPO)
    entry["llm"]["tokenizer"] = str(tmp_path / "elsewhere" / "tok.model")
    with pytest.raises(CodecprobeError, match=r"llm\.tokenizer: .*elsewhere/tok.model does not exist"):
        check_codecs(p, REPO)
    entry["llm"]["tokenizer"] = "tok.model"  # a bare name: the weights folder's
    with pytest.raises(CodecprobeError, match=r"'tok.model' is not in the weights folder"):
        check_codecs(p, REPO)
    entry["llm"] = {"family": entry["llm"]["family"], "weights": "random"}  # the stand-in tokenizer
    check_codecs(p, REPO)
    # random weights with a bare name: no folder to find it in (the CKA job stopped on it after the encoding)
    entry["llm"]["tokenizer"] = "tok.model"
    with pytest.raises(CodecprobeError, match=r"llm\.tokenizer: 'tok.model': with weights: random there is no weights "
                                              r"folder to find it in \(give a path, e.g. ./tok.model,"):  # fmt: skip
        check_codecs(p, REPO)
    entry["llm"]["tokenizer"] = str(llm_dir / default)  # a path: used with random weights
    check_codecs(p, REPO)


def test_rule_arguments():
    assert words_args(DEMO) == "--min-duration 0.0 --min-count 1"
    c = copy.deepcopy(DEMO)
    c["words"].update(alphabetic_only=True, drop_stopwords=True, strict=True, min_count=3)
    digest = file_digest("resources/stopwords_en.txt")
    assert digest == hashlib.sha256((REPO / "resources/stopwords_en.txt").read_bytes()).hexdigest()[:16]
    assert words_args(c) == (
        f"--min-duration 0.0 --min-count 3 --alphabetic-only --stopwords resources/stopwords_en.txt --stopwords-digest {digest} "
        "--strict"
    )
    p = copy.deepcopy(PAPER)
    p["pairs"].update(homophone_inclusive=False, max_pairs_per_type=500)
    assert pairs_args(p) == (
        "--n-tokens 10000 --threshold 0.4 --seeds 0 1 2 3 4 "
        "--types random synonym near_homophone same_word same_speaker --exclusive --max-pairs-per-type 500 "
        "--max-word-pairs 1001 --wordnet auto"
    )
    p["pairs"]["ordered"], p["lexicon"]["lowercase_lemmas"] = False, True
    p["pairs"]["max_word_pairs"], p["pairs"]["distinct_partners"] = None, False
    assert pairs_args(p).endswith("--max-pairs-per-type 500 --unordered --any-partner --lowercase-lemmas --wordnet auto")
    # the speaker-dependent variant samples no tokens and shuffles with the first seed only
    one = pairs_args(p, by_speaker=True)
    assert one.startswith("--threshold 0.4 --seeds 0 --types ") and "--n-tokens" not in one
    q = copy.deepcopy(p)
    q["pairs"].update(n_tokens=500, seeds=[0, 7])
    assert pairs_args(q, by_speaker=True) == one and pairs_args(q) != pairs_args(p)
    p["pairs"]["max_word_pairs"] = 0
    assert any("max_word_pairs" in e for e in schema_errors(p))
    from codecprobe.config import distances_args

    # both configs aggregate as Choi et al.'s script, which made the paper's Fig. 2
    assert distances_args(DEMO) == "--metric euclidean --pooling mean --n-boot 1000 --seed 0 --aggregate word_types"
    assert distances_args(PAPER).endswith("--aggregate word_types")
    d = copy.deepcopy(DEMO)
    d["distances"]["aggregate"] = "pooled"
    assert "--aggregate pooled" in distances_args(d)
    d["distances"]["aggregate"] = "pooledd"
    assert any("aggregate" in e for e in schema_errors(d))
    d["distances"].update(aggregate="word_types", metric="cosine", standardize=True)  # the optional distances
    assert distances_args(d) == "--metric cosine --pooling mean --n-boot 1000 --seed 0 --aggregate word_types --standardize"
    assert not schema_errors(d)
    from codecprobe.config import encode_args

    e = copy.deepcopy(PAPER)
    assert "--chunk-context-seconds" not in encode_args(e)  # audio slicing: the key would only rerun its jobs
    assert "--chunk-context-seconds 1.0 " in encode_args(e, feature=True)  # the rt-MRI job
    e["encode"].update(slicing="feature", chunk_context_seconds=2.5)
    assert "--chunk-context-seconds 2.5 " in encode_args(e)
    e["encode"]["chunk_context_seconds"] = -1
    assert any("chunk_context_seconds" in m for m in schema_errors(e))
    # the rt-MRI job reads neither the word analysis's slicing nor its pooling: changing them
    # reran every rt-MRI encode job and all PWCCA after it
    rt = encode_args(PAPER, feature=True)
    for edit in ({"slicing": "feature"}, {"pooling": ["center", "centroid"]}, {"dtype": "float16"}):
        changed = copy.deepcopy(PAPER)
        changed["encode"].update(edit)
        assert encode_args(changed, feature=True) == rt and encode_args(changed) != encode_args(PAPER), edit
    assert rt.startswith("--slicing feature --chunk-seconds 60 --dtype float32 ") and "--pooling" not in rt
    # encode.device reaches the codecs that run on a device, not melrvq (NumPy on the host):
    # changing it reran melrvq's encode jobs and all after them for the same features
    cpu = copy.deepcopy(PAPER)
    cpu["encode"]["device"] = "cpu"
    mel, enc = {"family": "melrvq"}, {"family": "encodec", "backend": "package"}
    for feature in (False, True):
        assert encode_args(cpu, feature, mel) == encode_args(PAPER, feature, mel) == encode_args(PAPER, feature)
        assert encode_args(cpu, feature, enc).endswith("--device cpu") and encode_args(PAPER, feature, enc).endswith("--device auto")


def test_codec_backend_selects_the_env_and_is_checked():
    from codecprobe.config import codec_env

    assert codec_env({"family": "encodec"}) == "codec-hf.yaml"
    assert codec_env({"family": "encodec", "backend": "transformers"}) == "codec-hf.yaml"
    assert codec_env({"family": "encodec", "backend": "package"}) == "codec-encodec.yaml"
    assert codec_env({"family": "dac", "backend": "package"}) == "codec-dac.yaml"
    assert codec_env({"family": "mimo"}) == "codec-mimo.yaml"
    assert [codec_env(c) for c in PAPER["codecs"]][:2] == ["codec-encodec.yaml", "codec-dac.yaml"]
    for entry, msg in [
        ({"name": "m", "family": "mimi", "backend": "package", "weights": "random"}, r"codecs\[m\].backend: family mimi has no backend 'package' \(known: transformers\)"),
        ({"name": "m", "family": "mimo", "backend": "transformers", "weights": "random"}, r"codecs\[m\].backend: family mimo has no backend 'transformers'"),
        ({"name": "e", "family": "encodec", "weights": "pretrained"}, r"codecs\[e\].weights: 'pretrained' .* needs backend: package"),
    ]:
        c = copy.deepcopy(DEMO)
        c["codecs"] = [entry]
        with pytest.raises(CodecprobeError, match=msg):
            check_config(c, REPO)
    c = copy.deepcopy(DEMO)
    c["codecs"] = [{"name": "e", "family": "encodec", "backend": "pakage", "weights": "random"}]
    with pytest.raises(CodecprobeError, match=r"codecs\[e\].backend: family encodec has no backend 'pakage' \(known: transformers, package\)"):
        check_config(c, REPO)
    # the backends are the adapters' declarations, not a schema list: melrvq's own is accepted
    # (the start-up check named it, and the schema then refused it)
    c["codecs"] = [{"name": "mel", "family": "melrvq", "backend": "codecprobe", "weights": "random"}]
    check_config(c, REPO)


def test_mimos_attention_budget_can_be_set_in_the_config():
    """The out-of-memory message told to lower MiMo's options.max_attention_elements, which
    the schema refused in every spelling: it is a MiMo codec entry's key, passed to the
    adapter (and refused for other families, whose adapters would not read it)."""
    import json

    from codecprobe.codecs.mimo import OPTIONS
    from codecprobe.config import check_codecs, codec_json
    from codecprobe.encode import spec_from_json

    c = copy.deepcopy(DEMO)
    c["codecs"] = [{"name": "mo", "family": "mimo", "weights": "random", "max_attention_elements": 2**24}]
    assert schema_errors(c) == []
    check_codecs(c, REPO)
    spec = spec_from_json(codec_json(c, "mo"))
    assert spec.options["max_attention_elements"] == 2**24 and set(spec.options) <= OPTIONS
    c["codecs"] = [{"name": "e", "family": "encodec", "weights": "random", "max_attention_elements": 5}]
    with pytest.raises(CodecprobeError, match=r"codecs\[e\].max_attention_elements: MiMo's only, not for family encodec"):
        check_codecs(c, REPO)
    c["codecs"] = [{"name": "mo", "family": "mimo", "weights": "random", "options": {"max_attention_elements": 5}}]
    assert any("unknown key 'options'" in e for e in schema_errors(c))
    assert json.loads(codec_json(DEMO, "melrvq")).get("max_attention_elements") is None


def test_codec_vectors_is_dac_only_and_checked():
    import json

    from codecprobe.config import codec_json

    c = copy.deepcopy(DEMO)
    c["codecs"] = [
        {"name": "d", "family": "dac", "vectors": "release_8d", "weights": "random"},
        {"name": "dp", "family": "dac", "backend": "package", "vectors": "release_8d", "weights": "random"},
        {"name": "e", "family": "encodec", "vectors": "decoded", "weights": "random"},
    ]
    assert schema_errors(c) == []
    check_config(c, REPO)
    assert json.loads(codec_json(c, "d"))["vectors"] == "release_8d"
    assert "vectors" not in json.loads(codec_json(c, "e"))  # the default is left out of the job's params
    # snakemake's validate fills the default into every entry; it is left out of the encode
    # jobs' params (the entry's JSON), so the key alone reruns nothing
    from snakemake.utils import validate

    p = copy.deepcopy(PAPER)
    validate(p, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert {e["vectors"] for e in p["codecs"]} == {"decoded"}
    assert all("vectors" not in json.loads(codec_json(p, e["name"])) for e in p["codecs"])
    for fam in ("encodec", "mimi", "mimo", "melrvq"):
        c["codecs"] = [{"name": "x", "family": fam, "vectors": "release_8d", "weights": "random"}]
        with pytest.raises(
            CodecprobeError, match=rf"^config: codecs\[x\]\.vectors: release_8d is DAC's release variant, not for family {fam}$"
        ):
            check_config(c, REPO)
    c["codecs"] = [{"name": "d", "family": "dac", "vectors": "8d", "weights": "random"}]
    assert any(e.startswith("config: codecs[0].vectors: '8d' is not one of ['decoded', 'release_8d']") for e in schema_errors(c))
    with pytest.raises(CodecprobeError, match="vectors"):
        check_config(c, REPO)


def test_encode_job_spec_of_every_paper_codec_is_accepted_by_its_codec():
    """The JSON each encode job passes (after snakemake's validate fills the schema's
    defaults into every entry) holds only what the codec reads: no `llm` (the CKA rule's),
    no `codebook_size` except for melrvq. MiMo refuses unknown options, so before this it
    failed on config/paper.yaml with "unknown option(s) codebook_size, llm"."""
    import json

    from snakemake.utils import validate

    from codecprobe.codecs.mimo import OPTIONS
    from codecprobe.config import codec_json
    from codecprobe.encode import spec_from_json

    p = copy.deepcopy(PAPER)
    validate(p, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    for e in p["codecs"]:
        d = json.loads(codec_json(p, e["name"]))
        assert "llm" not in d
        assert ("codebook_size" in d) == (e["family"] == "melrvq")
        spec = spec_from_json(codec_json(p, e["name"]))
        if e["family"] == "mimo":
            assert set(spec.options) <= OPTIONS, spec.options


def test_local_weights_and_tokenizer_carry_their_content_digest(tmp_path, monkeypatch):
    """A local checkpoint (file or folder) and an LLM tokenizer path put their content digest
    in the job's params (a file replaced at the same path reran nothing); random, fit and
    hub ids do not (their params are as before); the stages ignore the digests."""
    import json

    from codecprobe.config import codec_json, llm_json
    from codecprobe.encode import spec_from_json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"one")
    (tmp_path / "tok.model").write_bytes(b"tok")
    c = {"codecs": [
        {"name": "f", "family": "encodec", "weights": str(tmp_path / "ckpt" / "model.safetensors")},
        {"name": "d", "family": "dac", "weights": "ckpt"},
        {"name": "h", "family": "encodec", "weights": "facebook/encodec_24khz"},
        {"name": "r", "family": "melrvq", "weights": "random"},
        {"name": "m", "family": "melrvq", "weights": "fit"},
        {"name": "mi", "family": "mimi", "weights": "random",
         "llm": {"family": "moshi", "weights": "ckpt", "tokenizer": "./tok.model"}},
        {"name": "mi2", "family": "mimi", "weights": "random", "llm": {"family": "moshi", "weights": "random",
                                                                      "tokenizer": "tokenizer_spm_32k_3.model"}},
    ]}  # fmt: skip
    digests = {e["name"]: json.loads(codec_json(c, e["name"])).get("weights_digest") for e in c["codecs"]}
    assert len(digests["f"]) == len(digests["d"]) == 16  # (one file, and the folder holding just it)
    assert digests["h"] is digests["r"] is digests["m"] is digests["mi"] is None
    llm = json.loads(llm_json(c, "mi"))
    assert llm["weights_digest"] == digests["d"] and len(llm["tokenizer_digest"]) == 16
    assert set(json.loads(llm_json(c, "mi2"))) == {"family", "weights", "tokenizer"}  # a bare name: the folder's
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"two")  # replaced in place
    assert json.loads(codec_json(c, "f"))["weights_digest"] not in (digests["f"], None)
    assert json.loads(codec_json(c, "d"))["weights_digest"] != digests["d"]
    spec = spec_from_json(codec_json(c, "f"))
    assert spec.options == {} and spec.weights.endswith("model.safetensors")


def test_rtmri_epsilon_reaches_every_pwcca_job_only_when_it_is_not_the_default():
    from codecprobe.config import lag_args, pwcca_args, region_args

    c = copy.deepcopy(PAPER)
    c["rtmri"].setdefault("lag", {"max_seconds": 0.1, "step_seconds": 0.05})
    plain = [pwcca_args(c, "dac"), pwcca_args(c, "mimi"), lag_args(c), region_args(c)]
    assert not any("--epsilon" in a for a in plain)
    c["rtmri"]["epsilon"] = 1e-10  # the default, written out: the same arguments, no rerun
    assert [pwcca_args(c, "dac"), pwcca_args(c, "mimi"), lag_args(c), region_args(c)] == plain
    c["rtmri"]["epsilon"] = 1e-6
    for a in (pwcca_args(c, "dac"), pwcca_args(c, "mimi"), lag_args(c), region_args(c)):
        assert "--epsilon 1e-06" in a, a
    for bad in (-1e-6, 0.5):
        c["rtmri"]["epsilon"] = bad
        assert any(e.startswith("config: rtmri.epsilon: ") for e in schema_errors(c)), bad


def test_a_number_yaml_reads_as_text_gets_a_hint():
    """PyYAML (YAML 1.1, as Snakemake) reads ``1e-6`` as the text '1e-6': the schema's type
    error now says how to write it."""
    c = copy.deepcopy(DEMO)
    c["rtmri"]["epsilon"] = yaml.safe_load("x: 1e-6")["x"]
    assert c["rtmri"]["epsilon"] == "1e-6"
    assert schema_errors(c) == [
        ("config: rtmri.epsilon: '1e-6' is text to YAML, not a number: write it with a decimal point and a signed "
         "exponent, e.g. 1.0e-06")
    ]  # fmt: skip
    assert yaml.safe_load("x: 1.0e-06")["x"] == 1e-6
    c["rtmri"]["n_shuffles"] = "1e3"  # an integer key: the whole number to write
    assert "config: rtmri.n_shuffles: '1e3' is text to YAML, not a number: write it out, 1000" in schema_errors(c)
    c["rtmri"]["n_shuffles"] = 10
    c["rtmri"]["epsilon"] = "small"  # other text: jsonschema's own message
    assert schema_errors(c) == ["config: rtmri.epsilon: 'small' is not of type 'number'"]


def test_pwcca_args_block_seconds():
    from codecprobe.config import pwcca_args, region_args

    c = copy.deepcopy(PAPER)
    assert "--block-seconds 0.5" in pwcca_args(c, "dac")
    # block_len is read only when block_seconds is null: not passed, so changing it reruns nothing
    assert "--block-len" not in pwcca_args(c, "dac") and "--block-len" not in region_args(c)
    c["rtmri"]["block_len"] = 50
    assert pwcca_args(c, "dac") == pwcca_args(PAPER, "dac") and region_args(c) == region_args(PAPER)
    c["rtmri"]["block_seconds"] = None
    assert "--block-seconds" not in pwcca_args(c, "dac") and "--block-len 50" in pwcca_args(c, "dac")
    c["rtmri"]["block_seconds"] = 0
    assert any("block_seconds" in e for e in schema_errors(c))


def test_paper_config_never_inherits_the_demo_alignments():
    """Should config/paper.yaml be merged over config.yaml (``snakemake --configfile
    config.yaml config/paper.yaml``; a lone --configfile replaces config.yaml), with
    alignment.source switched to textgrids but no folder given, the run must stop, not
    read the demo's TextGrids (config.yaml's alignment.textgrids)."""
    import yaml
    from snakemake.utils import update_config

    merged = yaml.safe_load((REPO / "config.yaml").read_text())
    paper = copy.deepcopy(PAPER)
    paper["alignment"]["source"] = "textgrids"
    update_config(merged, paper)
    assert merged["alignment"]["textgrids"] is None
    assert any("textgrids" in e for e in schema_errors(merged))


def test_rtmri_lag_is_checked_and_passed_on():
    from codecprobe.config import lag_args, lag_config

    assert lag_args(PAPER) == "--max-seconds 0.16 --step-seconds 0.02 --layers 1 -1 --variates canonical --pwcca-method 2"
    c = copy.deepcopy(DEMO)
    c["rtmri"]["lag"] = None
    assert lag_config(c) is None and schema_errors(c) == []
    del c["rtmri"]["lag"]
    assert lag_config(c) is None and schema_errors(c) == []
    for key, value, msg in (
        ("layers", [1, 0], "config: rtmri.lag.layers[1]: 0 is no layer: layers count from 1"),
        ("step_seconds", 0, "config: rtmri.lag.step_seconds: 0 is less than or equal to the minimum of 0"),
        ("max_secs", 0.1, "config: rtmri.lag: unknown key 'max_secs' (did you mean 'max_seconds'?)"),
    ):
        c = copy.deepcopy(DEMO)
        c["rtmri"]["lag"][key] = value
        errs = schema_errors(c)
        assert any(e.startswith(msg) for e in errs), errs
    c = copy.deepcopy(DEMO)
    c["rtmri"]["lag"].update(max_seconds=5.0, step_seconds=0.001)  # valid values, but 10,001 lags
    with pytest.raises(CodecprobeError, match=r"^config: rtmri.lag: 10001 lags .* at most 401"):
        check_config(c, REPO)


def test_rtmri_regions_args():
    from codecprobe.config import region_args, regions_config

    assert region_args(PAPER) == (
        "--layers 1 -1 --n-shuffles 10 --block-seconds 0.5 --seed 0 --variates canonical --pwcca-method 2"
    )
    c = copy.deepcopy(DEMO)
    c["rtmri"]["regions"] = None
    assert regions_config(c) is None and schema_errors(c) == []
    c["rtmri"]["regions"] = {"layers": [0]}
    assert any(e.startswith("config: rtmri.regions.layers[0]: 0 is no layer: layers count from 1") for e in schema_errors(c))
    c["rtmri"]["regions"] = {"max_frame": 10}
    assert "config: rtmri.regions: unknown key 'max_frame' (did you mean 'max_frames'?)" in schema_errors(c)


def test_corpus_roots_of_both_configs():
    from codecprobe.config import corpus_roots

    assert corpus_roots(DEMO, "librispeech") == ["resources/demo/LibriSpeech/dev-clean"]
    assert corpus_roots(PAPER, "librispeech") == [
        f"{PAPER['librispeech']['root']}/dev-clean", f"{PAPER['librispeech']['root']}/test-clean",
    ]  # fmt: skip
    assert corpus_roots(DEMO, "textgrids") == [DEMO["alignment"]["textgrids"]]
    assert corpus_roots(PAPER, "textgrids") == []  # MFA writes them: a workflow output
    assert corpus_roots(PAPER, "annot16", "sub009") == [f"{PAPER['rtmri']['annot16']}/sub009/track"]
    assert corpus_roots(DEMO, "rtmri_audio") == [
        f"{DEMO['rtmri']['root']}/{s}/2drt/audio" for s in DEMO["rtmri"]["speakers"]
    ]
    with pytest.raises(ValueError, match="unknown kind"):
        corpus_roots(DEMO, "flac")


def test_corpus_fingerprint_follows_every_audio_file_the_manifest_reads(tmp_path):
    # the manifest reads .wav and upper-case .FLAC too: adding or editing one must rerun it
    chapter = tmp_path / "LS" / "dev-clean" / "1" / "10"
    chapter.mkdir(parents=True)
    (chapter / "1-10.trans.txt").write_text("1-10-0000 A\n1-10-0001 B\n1-10-0002 C\n")
    c = copy.deepcopy(DEMO)
    c["librispeech"] = {"root": str(tmp_path / "LS"), "subsets": ["dev-clean"]}
    seen = [corpus_fingerprint(c, "librispeech")]
    for name in ("1-10-0000.flac", "1-10-0001.wav", "1-10-0002.FLAC"):
        sf.write(chapter / name, np.zeros(160, np.float32), 16000, format="FLAC" if "flac" in name.lower() else "WAV")
        seen.append(corpus_fingerprint(c, "librispeech"))
    sf.write(chapter / "1-10-0001.wav", np.zeros(320, np.float32), 16000)  # edited
    seen.append(corpus_fingerprint(c, "librispeech"))
    assert len(set(seen)) == len(seen)
    (chapter / "notes.txt").write_text("not read by the manifest")
    assert corpus_fingerprint(c, "librispeech") == seen[-1]


@pytest.fixture
def online(monkeypatch):
    """No offline mode from the caller's environment."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def _codecs(*entries):
    c = copy.deepcopy(DEMO)
    c["codecs"] = list(entries)
    return c


@pytest.mark.parametrize(
    "entry, msg",
    [  # path-shaped: more than one '/', a leading '.', '~' or '/', a weights-file suffix
        ({"family": "encodec", "weights": "weights/encodec/24khz"}, "weights/encodec/24khz does not exist"),
        ({"family": "dac", "weights": ".cache/dac_24khz"}, ".cache/dac_24khz does not exist"),
        ({"family": "mimi", "weights": "~/no/such/mimi"}, "~/no/such/mimi does not exist"),
        ({"family": "encodec", "weights": "weights/encodec.safetensors"}, "weights/encodec.safetensors does not exist"),
        ({"family": "mimo", "weights": "mimo/tokenizer.safetensors"}, "mimo/tokenizer.safetensors does not exist"),
        # loaders without hub ids: every string is a path
        ({"family": "encodec", "backend": "package", "weights": "weights/encodec"}, "weights/encodec does not exist"),
        ({"family": "dac", "backend": "package", "weights": "dac_24khz"}, "dac_24khz does not exist"),
        ({"family": "melrvq", "weights": "models/melrvq"}, "models/melrvq does not exist"),
        # MiMo's hub ids are org/name (as the LLM loader's)
        ({"family": "mimo", "weights": "mimo"}, "mimo does not exist (nor a hub id of the form org/name)"),
    ],
)
def test_path_shaped_weights_must_exist_at_start_up(entry, msg, tmp_path, monkeypatch, online):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(CodecprobeError, match=rf"^config: codecs\[c\]\.weights: {re.escape(msg)}$"):
        check_config(_codecs({"name": "c", **entry}), REPO)


def test_hub_id_shaped_weights_pass_start_up_unless_offline_and_uncached(tmp_path, monkeypatch, online):
    """`org/name` is a valid hub id, so a missing local folder of that shape is taken as one
    (its loader says both when it fails); offline, the hub id must be in the HF cache."""
    from codecprobe.config import check_codecs

    for entry in (
        {"name": "e", "family": "encodec", "weights": "weights/encodec_24khz"},
        {"name": "e", "family": "encodec", "weights": "encodec_24khz"},  # from_pretrained takes a bare name
        {"name": "m", "family": "mimo", "weights": "weights/mimo"},
        {"name": "m", "family": "mimi", "weights": "kyutai/mimi", "llm": {"family": "moshi", "weights": "org/moshi"}},
    ):
        check_codecs(_codecs(entry), tmp_path)
    llm = {"name": "m", "family": "mimi", "weights": "kyutai/mimi", "llm": {"family": "moshi", "weights": "moshi"}}
    with pytest.raises(CodecprobeError, match=r"^config: codecs\[m\]\.llm\.weights: moshi does not exist \(nor a hub id"):
        check_codecs(_codecs(llm), tmp_path)
    (tmp_path / "weights" / "encodec_24khz").mkdir(parents=True)  # a local folder of that name is a path
    check_codecs(_codecs({"name": "e", "family": "encodec", "weights": "weights/encodec_24khz"}), tmp_path)

    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = {"name": "e", "family": "encodec", "weights": "weights/encodec_24khz"}
    base = tmp_path / "run"
    with pytest.raises(CodecprobeError) as err:
        check_codecs(_codecs(entry), base)
    assert str(err.value) == (
        f"config: codecs[e].weights: weights/encodec_24khz is not a local path (no {base.resolve() / 'weights/encodec_24khz'}), "
        f"and HF_HUB_OFFLINE is set but the Hugging Face cache {cache} holds no hub repo weights/encodec_24khz"
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    check_codecs(_codecs(entry), base)  # online: resolved when loaded
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")  # huggingface_hub reads it too
    with pytest.raises(CodecprobeError, match="TRANSFORMERS_OFFLINE is set"):
        check_codecs(_codecs(entry), base)
    repo = cache / "models--weights--encodec_24khz"
    commit = "0123abcd" * 5
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    # a snapshot downloaded by commit has no refs/main: huggingface_hub offline finds it only by that commit
    with pytest.raises(CodecprobeError) as err:
        check_codecs(_codecs(entry), base)
    assert str(err.value).endswith(
        f"Hugging Face cache {cache} holds weights/encodec_24khz without the ref refs/main (snapshots: {commit}; "
        "downloaded by commit? give that commit as the revision, or download the repo again without --revision)"
    )
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    check_codecs(_codecs(entry), base)  # cached: loads offline
    (repo / "snapshots" / commit / "config.json").unlink()
    with pytest.raises(CodecprobeError, match=rf"holds no files of weights/encodec_24khz at main \(snapshot {commit}\)$"):
        check_codecs(_codecs(entry), base)


def test_offline_llm_weights_are_checked_at_their_revision(tmp_path, monkeypatch):
    """llm.revision: a commit is looked for as a snapshot, a branch or tag through its ref;
    the start-up check passed on any snapshot, and the LLM job failed offline."""
    from codecprobe import hub
    from codecprobe.config import check_codecs

    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    main, other = "c" * 40, "d" * 40
    repo = cache / "models--org--moshi"
    (repo / "snapshots" / main).mkdir(parents=True)
    (repo / "snapshots" / main / "model.safetensors").write_text("x")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(main + "\n")

    def entry(revision):
        return {"name": "m", "family": "mimi", "weights": "random",
                "llm": {"family": "moshi", "weights": "org/moshi", "revision": revision}}  # fmt: skip

    check_codecs(_codecs(entry(None)), tmp_path)
    check_codecs(_codecs(entry(main)), tmp_path)
    with pytest.raises(CodecprobeError) as err:
        check_codecs(_codecs(entry(other)), tmp_path)
    assert str(err.value).startswith("config: codecs[m].llm.weights: org/moshi is not a local path")
    assert str(err.value).endswith(f"holds no files of org/moshi at {other} (snapshot {other})")
    with pytest.raises(CodecprobeError, match=r"holds org/moshi without the ref refs/v2 \(snapshots: c{40};"):
        check_codecs(_codecs(entry("v2")), tmp_path)
    (repo / "refs" / "v2").write_text(main)
    check_codecs(_codecs(entry("v2")), tmp_path)
    assert hub.hub_cache_problem("org/moshi", "v2") is None and hub.hub_cache_problem("org/moshi", other) is not None
    assert hub.hub_cache_problem("org/none") == "holds no hub repo org/none"


def test_hub_id_forms_agree_with_the_loaders(tmp_path, monkeypatch):
    """The start-up check reads a weights string as its loader does: the transformers
    adapters take any non-path string as a hub id, the LLM (and MiMo) loader org/name only."""
    from codecprobe import hub, llm
    from codecprobe.codecs import _torchutil as tu

    monkeypatch.chdir(tmp_path)
    strings = [
        "kyutai/mimi", "weights/encodec_24khz", "encodec_24khz", "Qwen/Qwen2.5-7B", "a/b/c", "./a/b", "../a",
        ".a/b", "~/a", "/abs/a", "org/w.safetensors", "org/w.PTH", "w.npz", "random", "",
    ]
    for s in strings:
        assert tu.is_hub_id(s) == hub.hub_id_shaped(s), s
        assert llm._is_hub_id(s) == hub.org_name_shaped(s), s
    assert [s for s in strings if hub.hub_id_shaped(s)] == ["kyutai/mimi", "weights/encodec_24khz", "encodec_24khz", "Qwen/Qwen2.5-7B"]
    assert [s for s in strings if hub.org_name_shaped(s)] == ["kyutai/mimi", "weights/encodec_24khz", "Qwen/Qwen2.5-7B"]


def test_hub_cache_dir_and_offline_mode_as_huggingface_hub_reads_them(tmp_path):
    from codecprobe import hub

    assert hub.hub_cache_dir({}) == Path("~/.cache/huggingface/hub").expanduser()  # the home folder: this process's
    assert hub.hub_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/huggingface/hub")
    assert hub.hub_cache_dir({"HF_HOME": "/hf", "XDG_CACHE_HOME": "/x"}) == Path("/hf/hub")
    assert hub.hub_cache_dir({"HUGGINGFACE_HUB_CACHE": "/old", "HF_HOME": "/hf"}) == Path("/old")
    assert hub.hub_cache_dir({"HF_HUB_CACHE": "/new", "HUGGINGFACE_HUB_CACHE": "/old"}) == Path("/new")
    assert hub.offline_var({}) is None and hub.offline_var({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}) is None
    assert hub.offline_var({"HF_HUB_OFFLINE": "true"}) == "HF_HUB_OFFLINE"
    assert hub.offline_var({"HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "ON"}) == "TRANSFORMERS_OFFLINE"
    constants = pytest.importorskip("huggingface_hub.constants")
    assert hub.hub_cache_dir() == Path(constants.HF_HUB_CACHE)  # both read this process's environment
    assert (hub.offline_var() is not None) == constants.HF_HUB_OFFLINE


def test_distances_pooling_must_be_written_by_encode():
    c = copy.deepcopy(DEMO)
    c["distances"]["pooling"] = "center"
    with pytest.raises(
        CodecprobeError,
        match=r"^config: distances\.pooling: center is not one of encode\.pooling \(mean\): the encode stage writes no center features$",
    ):
        check_config(c, REPO)
    c["encode"]["pooling"] = ["mean", "center"]
    check_config(c, REPO)
    del c["encode"], c["distances"]  # both defaults: mean
    check_config(c, REPO)


@pytest.mark.parametrize(
    "entry, most",
    [
        ({"family": "encodec", "weights": "random"}, 32),
        ({"family": "encodec", "weights": "facebook/encodec_24khz"}, 32),
        ({"family": "encodec", "backend": "package", "weights": "pretrained"}, 32),
        ({"family": "dac", "weights": "descript/dac_24khz"}, 32),
        ({"family": "dac", "backend": "package", "weights": "pretrained"}, 32),
        ({"family": "mimi", "weights": "kyutai/mimi"}, 32),
        ({"family": "mimo", "weights": "XiaomiMiMo/MiMo-Audio-Tokenizer"}, 20),
    ],
)
def test_n_layers_beyond_the_model_stops_at_start_up(entry, most, online):
    c = _codecs({"name": "c", "n_layers": most, **entry})
    check_config(c, REPO)
    c["codecs"][0]["n_layers"] = most + 1
    weights = entry.get("weights", "random")
    with pytest.raises(CodecprobeError) as err:
        check_config(c, REPO)
    assert str(err.value) == (
        f"config: codecs[c].n_layers: {most + 1}, but the {entry['family']} model of weights {weights!r} "
        f"has only {most} quantizer layers"
    )


def test_n_layers_unknown_before_loading_is_left_to_the_loader(tmp_path, online):
    """A local checkpoint of another shape may have more layers; melrvq fits as many as asked.
    An EnCodec file of backend: package is loaded strictly into the released model."""
    from codecprobe.config import check_codecs

    (tmp_path / "w.pth").write_bytes(b"")
    for entry in (
        {"family": "dac", "backend": "package", "weights": "w.pth"},
        {"family": "dac", "weights": "other/dac_44khz"},
        {"family": "mimi", "weights": "."},
        {"family": "melrvq", "weights": "fit"},
    ):
        check_codecs(_codecs({"name": "c", "n_layers": 64, **entry}), tmp_path)
    with pytest.raises(CodecprobeError, match=r"^config: codecs\[c\]\.n_layers: 33, but the encodec model of weights 'w.pth'"):
        check_codecs(_codecs({"name": "c", "family": "encodec", "backend": "package", "n_layers": 33, "weights": "w.pth"}), tmp_path)


def test_released_mimo_layers_are_the_random_build_s():
    """RELEASES (the start-up check's layer counts) against MiMo's own architecture file
    (the transformers families: tests/test_codecs_hf.py; the packages: test_codecs_package.py)."""
    import json

    from codecprobe.codecs.base import RELEASES

    assert json.loads((REPO / "resources" / "mimo_tokenizer_config.json").read_text())["num_quantizers"] == RELEASES["mimo"].n_layers


def test_a_lexicon_file_named_in_the_config_reruns_its_rules_when_edited(tmp_path, monkeypatch):
    """The stop-word list and a CMUdict file reach their rules as paths only, so an edit of
    either reran nothing (stale words and pairs); their contents' digest is now in the rule's
    arguments, and a job refuses a file edited after the workflow was planned."""
    from codecprobe import pairs, words

    monkeypatch.chdir(tmp_path)
    Path("stop.txt").write_text("the\n")
    Path("cmu.dict").write_text("THE  DH AH0\n")
    c = copy.deepcopy(DEMO)
    c["words"].update(drop_stopwords=True, stopwords="stop.txt")
    c["lexicon"]["cmudict"] = "cmu.dict"
    before = words_args(c), pairs_args(c)
    assert before == (words_args(c), pairs_args(c))  # the same contents: the same arguments
    Path("stop.txt").write_text("the\na\n")
    Path("cmu.dict").write_text("THE  DH AH0\nA  AH0\n")
    after = words_args(c), pairs_args(c)
    assert after[0] != before[0] and after[1] != before[1]
    assert f"--cmudict cmu.dict --cmudict-digest {file_digest('cmu.dict')}" in after[1]
    planned = before[0].split("--stopwords-digest ")[1].split()[0]
    with pytest.raises(CodecprobeError, match=r"words.stopwords: stop.txt changed since the workflow was planned"):
        words.main(["--manifest", "m.csv", "--textgrids", "t", "--out", "o.csv", "--skipped", "s.csv", "--counts",
                    "c.csv", "--stopwords", "stop.txt", "--stopwords-digest", planned])  # fmt: skip
    planned = before[1].split("--cmudict-digest ")[1].split()[0]
    with pytest.raises(CodecprobeError, match=r"lexicon.cmudict: cmu.dict changed since the workflow was planned"):
        pairs.main(["--words", "w.csv", "--tokens", "t.csv", "--cmudict", "cmu.dict", "--cmudict-digest", planned])


def test_regions_follow_max_gap_with_interpolated_bad_frames_and_a_grid_file_is_tracked(tmp_path):
    """With bad_frames: interpolate the regions job rebuilt bad-frame runs of any length,
    which the VTD job now refuses; a precomputed grid file was tracked by path only."""
    from codecprobe.config import regions_gap_args, vtd_args

    c = copy.deepcopy(PAPER)
    assert regions_gap_args(c) == ""  # skip (the default): nothing to pass, nothing reruns
    c["rtmri"].update(bad_frames="interpolate", max_gap_frames=7)
    assert regions_gap_args(c) == "--max-gap-frames 7"
    c["rtmri"]["max_gap_frames"] = None
    assert regions_gap_args(c) == "--max-gap-frames -1"
    (tmp_path / "sub009.npy").write_bytes(b"grid one")
    c["rtmri"]["grid"] = str(tmp_path)
    before = vtd_args(c, "sub009")
    assert f"--grid {tmp_path / 'sub009.npy'} --grid-digest {file_digest(tmp_path / 'sub009.npy')}" in before
    (tmp_path / "sub009.npy").write_bytes(b"grid two")
    assert vtd_args(c, "sub009") != before
