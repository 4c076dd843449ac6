"""The schema's defaults are the defaults of the code: a key left out of the config, a
section left out, and a stage run by hand (``python -m codecprobe.<stage>`` without the
option) all compute the same thing.

Why: Snakemake's ``validate`` fills the schema's defaults into every section the config
has, but the rules' helpers (``codecprobe.config.*_args``) fall back on their own
``.get(key, default)`` when a whole section is left out, and each stage's argparse has
its own defaults. ``distances.aggregate`` once defaulted to ``word_types`` in the schema
(Choi et al.'s script, which made the paper's Fig. 2) but to ``seeds`` in the distances
stage and in ``distances_args``: a config without a ``distances`` section, and the stage
run by hand, aggregated differently from the documented default.

What: for every stage whose options come from the config, the options parsed (by the
stage's own parser, stopped right after parsing) from (a) the arguments a config with the
schema's defaults filled in gives, (b) those a config leaving the sections out gives, and
(c) no optional arguments at all, must be equal; the stages' config dataclasses
(``PairConfig``, ``EncodeConfig``, ``CKAConfig``, ``LLMSpec``) must carry the schema's
defaults; every literal ``.get("key", default)`` in the rules and in
``codecprobe.config`` must use a default that the schema gives a key of that name; and
the options that the rules fill from a config key directly have the schema's default as
their argparse default.
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml
from codecprobe import config as C
from conftest import REPO

SCHEMA = yaml.safe_load(C.SCHEMA.read_text())


class Parsed(Exception):
    """Raised in place of a stage's work, with the namespace its parser returned."""


def parse(module: str, argv: list[str]) -> dict:
    """``module.main(argv)`` stopped right after its parser has parsed ``argv``."""
    orig = argparse.ArgumentParser.parse_args

    def stop(self, args=None, namespace=None):
        raise Parsed(orig(self, args, namespace))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.ArgumentParser, "parse_args", stop)
        with pytest.raises(Parsed) as e:
            importlib.import_module(module).main(argv)
    return vars(e.value.args[0])


def section(path: str) -> dict:
    """The schema of a section, e.g. ``"rtmri.lag"`` or ``"codecs[].llm"``."""
    s = SCHEMA
    for part in path.split("."):
        s = s["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            s = s["items"]
    return s


def schema_defaults(path: str) -> dict:
    return {k: v["default"] for k, v in section(path)["properties"].items() if "default" in v}


def config(**sections) -> dict:
    """A config with every section a stage reads; ``sections`` replace the given ones."""
    c = {
        "librispeech": {"root": "x", "subsets": ["a"]},
        "alignment": {"source": "mfa"},
        "words": {},
        "lexicon": {},
        "pairs": {},
        "codecs": [{"name": "m", "family": "melrvq", "weights": "random"}],
        "rtmri": {"root": "r", "annot16": "a", "speakers": ["sub001"], "lag": {"max_seconds": 0.12}, "regions": {"max_frames": 400}},
    }
    c.update(sections)
    return c


def filled(c: dict) -> dict:
    """``c`` with the schema's defaults filled in, as the Snakefile's ``validate`` does."""
    from snakemake.utils import validate

    c = copy.deepcopy(c)
    validate(c, str(C.SCHEMA))
    return c


# stage: (module, the required arguments, the helper building the rule's other arguments)
STAGES = {
    "words": ("codecprobe.words", "--manifest m --textgrids t --out o --skipped s --counts c", C.words_args),
    "pairs": ("codecprobe.pairs", "--words w --pairs p --summary s", C.pairs_args),
    "pairs --tokens": ("codecprobe.pairs", "--words w --tokens t", C.tokens_args),
    "distances": ("codecprobe.distances", "--codec c --features f --pairs p --out o", C.distances_args),
    "encode": ("codecprobe.encode", "--codec {} --words w --out o", lambda c: C.encode_args(c) + " " + C.encode_run_args(c)),
    "encode (feature slicing)": (  # the rt-MRI job: feature slicing is its own choice, not encode.slicing's
        "codecprobe.encode", "--codec {} --words w --out o --slicing feature", lambda c: C.encode_args(c, feature=True) + " " + C.encode_run_args(c)
    ),
    "artstage vtd": ("codecprobe.artstage", "vtd --annot16 a --speaker s --out o --figure f", lambda c: C.vtd_args(c, "sub001")),
    "artstage pwcca": ("codecprobe.artstage", "pwcca --codec c --features f --vtd v --out o", lambda c: C.pwcca_args(c, "dac")),
    "artstage lag": ("codecprobe.artstage", "lag --codec c --features f --vtd v --out o", C.lag_args),
    "artstage region-pwcca": ("codecprobe.artstage", "region-pwcca --codec c --features f --vtd v --regions r --out o", C.region_args),
}
# sections a config may leave out (the helpers then fall back on their own defaults)
OPTIONAL = ["words", "lexicon", "pairs", "encode", "distances", "cka"]
# options the workflow passes that are checks, not settings (the code version it planned with)
CHECKS = {"pwcca_method"}


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_defaults_are_the_schema_defaults(stage):
    module, required, args = STAGES[stage]
    required = shlex.split(required)
    by_hand = parse(module, required)
    full = filled(config(**{s: {} for s in OPTIONAL}))
    bare = config()
    for s in OPTIONAL:
        bare.pop(s, None)
    for label, c in (("the schema's defaults", full), ("sections left out", bare)):
        got = parse(module, required + shlex.split(args(c)))
        diff = {k: (by_hand[k], v) for k, v in got.items() if v != by_hand[k] and k not in CHECKS}
        assert not diff, f"{stage}: by hand vs the workflow with {label} ({{option: (by hand, workflow)}}): {diff}"


def _fields(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def _same(a, b) -> bool:
    return (list(a) == list(b)) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else a == b


@pytest.mark.parametrize(
    "cls, path, other",
    [  # other: fields named as a key but holding something else
        ("codecprobe.pairs:PairConfig", "pairs", set()),
        ("codecprobe.encode:EncodeConfig", "encode", set()),
        ("codecprobe.speechtext:CKAConfig", "cka", set()),
        ("codecprobe.llm:LLMSpec", "codecs[].llm", set()),
        ("codecprobe.words:WordFilter", "words", {"stopwords"}),  # the words read from words.stopwords
    ],
)
def test_config_dataclasses_carry_the_schema_defaults(cls, path, other):
    module, name = cls.split(":")
    fields = _fields(getattr(importlib.import_module(module), name))
    defaults = schema_defaults(path)
    shared = sorted(set(fields) & set(defaults) - other)
    assert shared, f"{cls}: no field named as a key of {path}"
    diff = {k: (fields[k], defaults[k]) for k in shared if not _same(fields[k], defaults[k])}
    assert not diff, f"{cls} vs the schema's {path} ({{key: (code, schema)}}): {diff}"


@pytest.mark.parametrize(
    "module, argv, dest, key",
    [  # options the rules fill from a config key themselves (workflow/rules/*.smk)
        ("codecprobe.artstage", "utterances --root r --vtd v --out o", "tolerance", "rtmri.length_tolerance"),
        ("codecprobe.artstage", "regions --annot16 a --speaker s --vtd v --out o", "max_frames", "rtmri.regions.max_frames"),
        ("codecprobe.artstage", "regions --annot16 a --speaker s --vtd v --out o", "skip_tasks", "rtmri.skip_tasks"),
        ("codecprobe.artstage", "regions --annot16 a --speaker s --vtd v --out o", "bad_frames", "rtmri.bad_frames"),
        ("codecprobe.artstage", "regions --annot16 a --speaker s --vtd v --out o", "bad_tracks", "rtmri.bad_tracks"),
        ("codecprobe.figures", "--tables t --pdf p --png q", "normalized", "distances.normalized"),
        ("codecprobe.speechtext", "run --codec c --features f --llm {} --out o", "device", "cka.device"),
        ("codecprobe.codecs.melrvq", "--manifest m --out o", "codebook_size", "codecs[].codebook_size"),
        ("codecprobe.codecs.melrvq", "--manifest m --out o", "seed", "codecs[].seed"),
    ],
)
def test_rule_filled_options_default_to_the_schema(module, argv, dest, key):
    path, name = key.rsplit(".", 1)
    assert _same(parse(module, shlex.split(argv))[dest], schema_defaults(path)[name])


def _defaults_by_name(s: dict, out: dict) -> dict:
    """Every key name of the schema with the defaults given to keys of that name."""
    for k, v in (s.get("properties") or {}).items():
        if "default" in v:
            out.setdefault(k, []).append(v["default"])
        _defaults_by_name(v, out)
    if isinstance(s.get("items"), dict):
        _defaults_by_name(s["items"], out)
    return out


GET = re.compile(r"""\.get\(\s*["'](\w+)["']\s*,\s*(\[[^\]]*\]|\([^()]*\)|"[^"]*"|'[^']*'|[-\w.]+)\s*\)""")


def test_literal_fallbacks_in_the_rules_are_schema_defaults():
    """``.get("key", default)`` in the rules and in ``codecprobe.config``: the default is
    the schema's default of a key of that name (the fallback used when a section is left
    out must compute what the schema documents)."""
    names = _defaults_by_name(SCHEMA, {})
    files = [*sorted((REPO / "workflow" / "rules").glob("*.smk")), Path(C.__file__)]
    seen, bad = 0, []
    for f in files:
        for m in GET.finditer(f.read_text()):
            key, text = m[1], m[2]
            if key not in names:
                continue  # a section ({}), or not a config key
            value = ast.literal_eval(text)
            seen += 1
            if not any(_same(value, d) for d in names[key]):
                bad.append(f"{f.name}: .get({key!r}, {text}) but the schema's default of {key!r}: {names[key]}")
    assert seen > 30  # the pattern still finds the fallbacks
    assert not bad, "\n".join(bad)


def _schema_keys(s: dict, prefix: str = "") -> list[str]:
    """Every leaf key of the schema as a dotted path (``codecs[].llm.family``)."""
    out = []
    for k, v in (s.get("properties") or {}).items():
        items = v.get("items") if isinstance(v.get("items"), dict) else {}
        if "properties" in items:
            out += _schema_keys(items, f"{prefix}{k}[].")
        elif "properties" in v:
            out += _schema_keys(v, f"{prefix}{k}.")
        else:
            out.append(prefix + k)
    return out


def test_every_schema_key_is_in_the_readme_configuration_table():
    """README, *Configuration*: the table names every key of the schema (``a.{b,c}``
    stands for ``a.b`` and ``a.c``), and no key the schema lacks."""
    text = (REPO / "README.md").read_text()
    table = text[text.index("\n## Configuration\n") :]
    table = table[: table.index("\n### ")]
    named = set()
    for cell in re.findall(r"^\| (.+?) \|", table, re.MULTILINE):
        for code in re.findall(r"`([^`]+)`", cell):
            m = re.fullmatch(r"(.*?)\{([^}]*)\}", code)
            named |= {m[1] + x.strip() for x in m[2].split(",")} if m else {code}
    named -= {"key"}
    keys = _schema_keys(SCHEMA)
    assert sorted(k for k in keys if k not in named) == []
    assert sorted(n for n in named if n not in keys) == []


def test_python_api_defaults_are_the_schemas():
    """Called from Python (a notebook), ``distances.codec_distances`` aggregates and pools as
    the config's defaults do: it once defaulted to ``seeds`` while the schema, the rules and
    the CLI used ``word_types``."""
    import inspect

    from codecprobe import distances

    params = inspect.signature(distances.codec_distances).parameters
    section = SCHEMA["properties"]["distances"]["properties"]
    for key in ("aggregate", "pooling", "metric"):
        if key in section and "default" in section[key] and key in params:
            assert params[key].default == section[key]["default"], key
    assert params["aggregate"].default == section["aggregate"]["default"] == "word_types"


def test_the_paper_settings_keep_at_least_1000_permutations():
    """Issue 6: the CKA permutation baseline uses at least 1,000 permutations by default and
    in the paper's config (the schema allows fewer, for a quick look)."""
    from codecprobe.speechtext import CKAConfig

    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert schema_defaults("cka")["n_permutations"] >= 1000
    assert CKAConfig().n_permutations >= 1000
    assert paper["cka"]["n_permutations"] >= 1000
