"""Config checks with one clear message per problem, and the CLI arguments each rule passes on.

The Snakefile validates the config against ``workflow/schemas/config.schema.yaml`` with
``snakemake.utils.validate`` (which also fills defaults). Before that,
:func:`check_config` runs the same schema itself so that a typo gives one short line
naming the key (``config: librispeech: unknown key 'subets' (did you mean 'subsets'?)``)
instead of a schema dump, then checks that the paths the run needs exist (weights: a path
or a hub id as each loader reads them, :mod:`codecprobe.hub`) and that settings a later job
would trip over agree: ``distances.pooling`` among ``encode.pooling``, a codec's
``n_layers`` within its model's layers where known before loading.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from . import hub
from .codecs.base import (
    DEFAULT_BACKEND,
    KNOWN_FAMILIES,
    OTHER_BACKENDS,
    family_facts,
    known_n_layers,
)
from .io import CodecprobeError, file_digest, repeated, tree_fingerprint
from .manifest import AUDIO_EXTS

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


class _OneKeyOnceLoader(yaml.FullLoader):
    """The loader Snakemake reads YAML config files with (``yte``: PyYAML's ``FullLoader``),
    refusing a mapping that sets a key twice (PyYAML, and so Snakemake, keep the last value
    silently: a second ``encode:`` section at a file's end would drop the first one's
    settings without a word)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *anchor" may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    hash(key)
                except TypeError:  # a list or mapping as a key: PyYAML's own error follows
                    continue
                if key in seen:
                    raise CodecprobeError(
                        f"key {key!r} is set twice, on lines {seen[key]} and {line} (YAML would keep only the "
                        "second, silently); merge the two"
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def check_config_file(path: str | Path) -> None:
    """Raise :class:`CodecprobeError` naming ``path`` when the config file is not UTF-8,
    not valid JSON or YAML (with the line and column of the problem: Snakemake says only
    "Config file is not valid JSON or YAML") or sets a key twice in one mapping. A missing
    file is left to Snakemake's own message. JSON is read as Snakemake reads it first."""
    import json

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except UnicodeDecodeError as e:
        raise CodecprobeError(f"{path}: not UTF-8 text (at byte offset {e.start})") from None
    except OSError as e:
        raise CodecprobeError(f"{path}: cannot read ({e.strerror or e})") from None

    def one_key_once(pairs: list) -> dict:
        if twice := repeated(k for k, _ in pairs):
            raise CodecprobeError(f"key {twice[0]!r} is set twice in one object (JSON would keep only the second); merge "
                                  "the two")  # fmt: skip
        return dict(pairs)

    try:
        try:
            json.loads(text, object_pairs_hook=one_key_once)
            return
        except ValueError:  # not JSON: YAML, as Snakemake tries next
            pass
        yaml.load(text, Loader=_OneKeyOnceLoader)  # FullLoader, as Snakemake (yte) reads it
    except CodecprobeError as e:
        raise CodecprobeError(f"{path}: {e}") from None
    except yaml.MarkedYAMLError as e:

        def at(text, mark) -> str:
            return f"{text} (line {mark.line + 1}, column {mark.column + 1})" if mark else str(text)

        what = "; ".join(at(t, m) for t, m in ((e.context, e.context_mark), (e.problem, e.problem_mark)) if t)
        tabs = "; a tab cannot indent YAML, use spaces" if r"'\t'" in what else ""
        raise CodecprobeError(f"{path}: not valid YAML: {what}{tabs}") from None
    except yaml.YAMLError as e:
        raise CodecprobeError(f"{path}: not valid YAML: {e}") from None


def _key_path(path) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def schema_errors(config: dict, schema_path: str | Path = SCHEMA) -> list[str]:
    """All schema violations of ``config``, one readable line each (empty when valid)."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    # a misspelt required key is also a missing one: its unknown-key line, which names the
    # key it was meant to be, says all (no second "'subsets' is a required property" line)
    suggested = {(where, hint) for where, _, hint in _unknown_keys(errors) if hint is not None}
    out = [f"config: {_key_path(path)}: .nan is not a number (a YAML NaN passes every bound)" for path in _nan_keys(config)]
    for err in errors:
        where = _key_path(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = list(err.schema.get("properties", {}))
            for _, k, hint in _unknown_keys([err]):
                tip = f" (did you mean {hint!r}?)" if hint is not None else f" (known keys: {', '.join(allowed)})"
                out.append(f"config: {where}: unknown key {k!r}{tip}")
        elif err.validator == "required" and any(
            (where, k) in suggested and err.message == f"{k!r} is a required property" for k in err.validator_value
        ):
            continue
        elif (tip := _codec_entry_problem(config, where, err)) is not None:
            out.append(tip)
        elif err.validator == "pattern" and where in ("encode.device", "cka.device"):
            known = "auto, cpu, cuda, cuda:N or mps" if where == "encode.device" else "auto, cpu, cuda or cuda:N"
            out.append(f"config: {where}: {err.instance!r} is not a device ({known})")
        elif err.validator == "not" and re.fullmatch(r"rtmri\.(lag|regions)\.layers\[\d+\]", where):
            out.append(f"config: {where}: 0 is no layer: layers count from 1 (the first codebook), negative ones "
                       "from the end (-1: the last)")  # fmt: skip
        elif _is_textgrids_missing(where, err):
            out.append("config: alignment.textgrids: alignment.source: textgrids needs the folder of the imported "
                       "TextGrids here (it is empty or null); or set alignment.source: mfa to align with MFA")  # fmt: skip
        elif err.validator == "type" and _yaml_text_number(err.instance):
            types = [err.validator_value] if isinstance(err.validator_value, str) else list(err.validator_value)
            if "number" not in types and "integer" in types and float(err.instance).is_integer():
                how = f"write it out, {int(float(err.instance))}"
            else:
                how = f"write it with a decimal point and a signed exponent, e.g. {_yaml_float(err.instance)}"
            out.append(f"config: {where}: {err.instance!r} is text to YAML, not a number: {how}")
        elif err.validator == "type" and (meant := _text_for(err.instance, err.validator_value)) is not None:
            out.append(f"config: {where}: {err.instance!r} is text, not {meant} (quoted in the YAML, or given inside a "
                       "nested --config, whose values Snakemake reads as text: set it in a --configfile)")  # fmt: skip
        else:  # required, type, enum, ...: jsonschema's message, at its key path
            out.append(f"config: {where}: {err.message}")
    return out


def _text_for(value: Any, types: str | list[str]) -> str | None:
    """What a string ``value`` would be as YAML reads it unquoted (``"4"``: an integer,
    ``"true"``: a boolean, ``"null"``: null), when that is one of the schema's ``types``;
    else None."""
    if not isinstance(value, str):
        return None
    wanted = [types] if isinstance(types, str) else list(types)
    try:
        read = yaml.safe_load(value) if value.strip() else value
    except yaml.YAMLError:  # "{", ": x": no value of any type
        return None
    for kind, ok in (("an integer", "integer"), ("a number", "number"), ("true or false", "boolean"), ("null", "null")):
        if ok in wanted and _is_json_type(read, ok):
            return kind
    return None


def _is_json_type(value: Any, kind: str) -> bool:
    """``value`` (a Python value read from YAML) is of the JSON schema type ``kind``."""
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _yaml_text_number(value: Any) -> bool:
    """A string that Python reads as a number but YAML 1.1 (PyYAML, Snakemake) read as
    text: ``1e-6`` (no decimal point), ``1.0e6`` (no exponent sign)."""
    if not isinstance(value, str):
        return False
    try:
        return math.isfinite(float(value)) and any(c in value for c in "eE")
    except ValueError:
        return False


def _yaml_float(text: str) -> str:
    """``text``'s number as YAML 1.1 reads a float: ``1e-6`` -> ``1.0e-06``."""
    mantissa, exponent = f"{float(text):e}".split("e")
    mantissa = mantissa.rstrip("0")
    return f"{mantissa}0e{exponent}" if mantissa.endswith(".") else f"{mantissa}e{exponent}"


def _nan_keys(value: Any, path: tuple = ()) -> list[tuple]:
    """Key paths of the NaN floats in a config (YAML ``.nan``): NaN compares false with any
    bound, so the schema's ``minimum`` lets it through (``rtmri.length_tolerance: .nan``
    turned the audio length check off)."""
    if isinstance(value, float) and math.isnan(value):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nan_keys(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nan_keys(v, (*path, i))]
    return []


def _unknown_keys(errors) -> list[tuple[str, str, str | None]]:
    """``(key path, unknown key, the known key it most resembles or None)`` of each key that
    an ``additionalProperties`` error among ``errors`` rejects."""
    out = []
    for err in errors:
        if err.validator == "additionalProperties":
            allowed = list(err.schema.get("properties", {}))
            for k in err.instance:
                if k not in allowed:
                    hint = difflib.get_close_matches(k, allowed, n=1)
                    out.append((_key_path(err.absolute_path), k, hint[0] if hint else None))
    return out


def _codec_entry_problem(config: dict, where: str, err) -> str | None:
    """One line for the codec list's common mistakes, or None: no codec at all (the run
    would build the word table and pairs and stop, with no figure), a codec or LLM entry
    without ``weights`` (a silent default of random weights once cost a paper run its GPU
    job), a name that is no plain folder name (``..`` put outputs outside results/'s folders)."""
    if (err.validator == "required" and where == "<top level>" and "'codecs'" in err.message) or (
        err.validator == "minItems" and where == "codecs"
    ):
        return ("config: codecs: no codec given: nothing would be encoded and no figure built; add at least one "
                "entry (README 'Codecs'; e.g. the demo's {name: melrvq, family: melrvq, weights: fit})")  # fmt: skip
    if err.validator == "required" and "'weights'" in err.message and where.startswith("codecs["):
        entry = config["codecs"][err.absolute_path[1]]
        name = entry.get("name", "?") if isinstance(entry, dict) else "?"
        what = "llm.weights" if where.endswith(".llm") else "weights"
        return (f"config: {where}.weights (codec {name}): {what} not given: set a hub id or local path (README "
                "'Codecs' names each family's), 'random' for a plumbing test (real architecture, random weights, "
                "marked in every output)" + ("" if what == "llm.weights" else ", or 'fit' for melrvq"))  # fmt: skip
    if err.validator == "pattern" and where.startswith("codecs[") and where.endswith(".name"):
        return (f"config: {where}: {err.instance!r} is not a plain folder name (it names folders under "
                "results/): letters, digits, _ . -, starting with a letter or digit")  # fmt: skip
    return None


def _is_textgrids_missing(where: str, err) -> bool:
    """The schema's if/then for ``alignment.source: textgrids`` failing on a missing or null
    ``alignment.textgrids`` (``config/paper.yaml`` ships it null, with ``source: mfa``)."""
    if err.validator == "required" and where == "alignment":
        return "'textgrids'" in err.message
    if where != "alignment.textgrids":
        return False
    return (err.validator == "type" and err.instance is None) or err.validator == "minLength"  # null, or ""


def _need(path: Any, key: str, base: Path, kind: str = "any") -> None:
    """``path`` (relative to ``base``, taken literally, as the stages read the data paths)
    must exist and be a ``kind``: ``"file"``, ``"dir"`` or ``"any"``. Weights paths, where
    ``~`` is the home folder: :func:`_need_weights`."""
    p = Path(str(path))
    if not p.is_absolute():
        p = base / p
    if not p.exists():
        tip = " (data paths are read literally: write the home folder out, not ~)" if str(path).startswith("~") else ""
        raise CodecprobeError(f"config: {key}: {path} does not exist{tip}")
    if kind == "dir" and not p.is_dir():
        raise CodecprobeError(f"config: {key}: {path} is a file, not a folder")
    if kind == "file" and p.is_dir():
        raise CodecprobeError(f"config: {key}: {path} is a folder, not a file")


def codec_hub_rule(entry: dict) -> Callable[[str], bool] | None:
    """The hub-id form of the loader that reads a codec entry's weights
    (:mod:`codecprobe.hub`), or None when it reads local files only (``backend: package``,
    melrvq): the adapter's declared ``hub_ids`` (:func:`codecprobe.codecs.base.adapter_declarations`)."""
    form = family_facts(entry["family"], entry.get("backend"))["hub_ids"]
    if form is None:
        return None
    if form == "org_name":
        return hub.org_name_shaped  # codecs.mimo: org/name, as the LLM loader
    return hub.hub_id_shaped  # codecs._torchutil.is_hub_id (from_pretrained)


def _need_weights(
    weights: str, key: str, base: Path, hub_rule: Callable[[str], bool] | None, revision: str | None = None
) -> None:
    """``weights`` must be ``random``, an existing file or folder (``~`` is the home folder),
    or, where the loader takes hub ids (``hub_rule``), of that loader's hub-id form. A hub id
    is resolved when loaded, except offline (:func:`codecprobe.hub.offline_var`), where the
    Hugging Face cache must already serve it at ``revision`` (None: main)."""
    if weights == "random":
        return
    local = hub.local_path(weights, base)
    if local.exists():
        return
    if hub_rule is None or not hub_rule(weights):
        form = "" if hub.path_shaped(weights) or hub_rule is None else " (nor a hub id of the form org/name)"
        raise CodecprobeError(f"config: {key}: {weights} does not exist{form}")
    var = hub.offline_var()
    if var and (why := hub.hub_cache_problem(weights, revision)):
        raise CodecprobeError(
            f"config: {key}: {weights} is {hub.not_local(weights, base)}, and {var} is set but the "
            f"Hugging Face cache {hub.hub_cache_dir()} {why}"
        )


def _need_mfa_models(mfa: dict, base: Path) -> None:
    """MFA models given as file paths (``~`` is the home folder) must exist: the job built the
    MFA corpus and then failed on them. Model names are fetched by the job."""
    from .align import is_model_path

    for key in ("dictionary", "acoustic_model"):
        model = str(mfa.get(key, "english_us_arpa"))
        if is_model_path(model) and not hub.local_path(model, base).exists():
            raise CodecprobeError(
                f"config: alignment.mfa.{key}: {model} does not exist (a path to an MFA model file; or give a "
                "model name such as english_us_arpa, which the job fetches with mfa model download)"
            )


def _need_pooling(config: dict) -> None:
    """The pooling the distances stage reads must be one that the encode stage writes."""
    written = config.get("encode", {}).get("pooling", ["mean"])
    read = config.get("distances", {}).get("pooling", "mean")
    if read not in written:
        raise CodecprobeError(
            f"config: distances.pooling: {read} is not one of encode.pooling ({', '.join(written)}): "
            f"the encode stage writes no {read} features"
        )


def _need_n_layers(entry: dict) -> None:
    """A codec's ``n_layers`` must not exceed its model's layers, where known before loading
    (:func:`codecprobe.codecs.base.known_n_layers`)."""
    n, weights = entry.get("n_layers"), str(entry.get("weights", "random"))
    most = known_n_layers(entry["family"], weights, entry.get("backend"))
    if n is not None and most is not None and n > most:
        raise CodecprobeError(
            f"config: codecs[{entry['name']}].n_layers: {n}, but the {entry['family']} model of weights "
            f"{weights!r} has only {most} quantizer layers"
        )


def check_config(config: dict, base: str | Path = ".") -> None:
    """Raise :class:`CodecprobeError` on the schema violations (all of them, a line each),
    else on the corpus and data paths that are missing (all of them: a new config, such as
    ``config/paper.yaml`` before the data are in place, names every one at once, not one per
    run), else on the first other problem.

    Relative paths are taken relative to ``base`` (the working directory of the run).
    """
    errors = schema_errors(config)
    if errors:
        raise CodecprobeError("\n".join(errors))
    if twice := repeated(by_speaker(config)):  # the schema's uniqueItems tells 9001 from "9001"
        raise CodecprobeError(f"config: pairs.by_speaker: speaker {twice[0]} given more than once (as a number and as "
                              "text?): its pairs would count twice")  # fmt: skip
    base = Path(base)
    missing: list[str] = []

    def need(path: Any, key: str, kind: str = "any") -> bool:
        """:func:`_need`, its problem kept for the one error at the end; whether it is there."""
        try:
            _need(path, key, base, kind)
            return True
        except CodecprobeError as e:
            missing.append(str(e))
            return False

    ls = config["librispeech"]
    if need(ls["root"], "librispeech.root", "dir"):  # (under a missing root, every subset is missing too)
        for s in ls["subsets"]:
            need(Path(ls["root"]) / s, f"librispeech.subsets ({s!r} under {ls['root']})", "dir")
    al = config["alignment"]
    if al["source"] == "textgrids":
        need(al["textgrids"], "alignment.textgrids", "dir")
    w = config.get("words", {})
    if w.get("drop_stopwords"):
        need(w.get("stopwords", "resources/stopwords_en.txt"), "words.stopwords", "file")
    lx = config.get("lexicon", {})
    if lx.get("cmudict"):
        need(lx["cmudict"], "lexicon.cmudict", "file")
    wordnet = lx.get("wordnet", "auto") != "auto" and need(lx["wordnet"], "lexicon.wordnet", "dir")
    rt = config.get("rtmri")
    if rt:
        roots = need(rt["root"], "rtmri.root", "dir"), need(rt["annot16"], "rtmri.annot16", "dir")
        for spk in rt["speakers"] if all(roots) else []:
            need(Path(rt["annot16"]) / spk / "track", f"rtmri.speakers ({spk!r}: its Annot-16 track folder)", "dir")
            need(Path(rt["root"]) / spk / "2drt" / "audio", f"rtmri.speakers ({spk!r}: its 75-Speaker audio folder)", "dir")
        if rt.get("grid"):
            need(rt["grid"], "rtmri.grid", "dir")
    if missing:
        raise CodecprobeError("\n".join(missing))
    if al["source"] != "textgrids":
        _need_mfa_models(al.get("mfa") or {}, base)
    _need_pooling(config)
    if wordnet:
        from .lexicon import find_wordnet

        wn = Path(str(lx["wordnet"]))
        try:  # its files, as the pairs job will look for them (a few stat calls)
            find_wordnet(str(wn if wn.is_absolute() else base / wn))
        except CodecprobeError as e:
            raise CodecprobeError(f"config: {e}") from None
    check_codecs(config, base)
    if rt:
        lag = lag_config(config)
        if lag:
            from .articulatory import lag_grid

            try:
                lag_grid(*_lag_span(lag))
            except CodecprobeError as e:
                raise CodecprobeError(f"config: {e}") from None
        _need_lag_region_layers(config)


def _need_lag_region_layers(config: dict) -> None:
    """``rtmri.lag.layers`` and ``rtmri.regions.layers`` must exist in every codec whose
    ``n_layers`` the config gives (others: in their jobs, once the features say how many);
    else the lag or region job stopped on it after the codec's fit and encode jobs."""
    from .articulatory import pick_layers

    for key, section in (("rtmri.lag.layers", lag_config(config)), ("rtmri.regions.layers", regions_config(config))):
        if section is None:
            continue
        for c in codecs_by_name(config).values():
            if c.get("n_layers"):
                try:
                    pick_layers(section.get("layers", [1, -1]), int(c["n_layers"]), c["name"], key)
                except CodecprobeError as e:
                    raise CodecprobeError(f"config: {e}") from None


def mfa_settings(config: dict) -> str:
    """The ``alignment.mfa`` settings that change the alignment (dictionary, acoustic model,
    extra arguments; not threads) as one string: rule ``mfa_align``'s recorded param."""
    m = config.get("alignment", {}).get("mfa") or {}
    return shlex.join([m.get("dictionary", "english_us_arpa"), m.get("acoustic_model", "english_us_arpa"),
                       m.get("extra_args", "")])  # fmt: skip


def comparison_run_json(config: dict) -> str:
    """The run's word-pair settings the paper comparison checks against the release's
    (:data:`codecprobe.reference.RELEASE_WORD_PAIRS`) as JSON, with the schema's defaults."""
    import json

    d, e = config.get("distances", {}), config.get("encode", {})
    return json.dumps({"metric": d.get("metric", "euclidean"), "standardize": bool(d.get("standardize", False)),
                       "pooling": d.get("pooling", "mean"), "slicing": e.get("slicing", "audio")}, sort_keys=True)  # fmt: skip


def words_args(config: dict) -> str:
    """CLI arguments of ``codecprobe.words`` from the ``words`` section."""
    w = config.get("words", {})
    args = ["--min-duration", str(w.get("min_duration", 0.0)), "--min-count", str(w.get("min_count", 1))]
    if w.get("alphabetic_only"):
        args.append("--alphabetic-only")
    if w.get("drop_stopwords"):  # with the list's digest: an edit of the list reruns the words
        stopwords = w.get("stopwords", "resources/stopwords_en.txt")
        args += ["--stopwords", stopwords, "--stopwords-digest", file_digest(stopwords)]
    if w.get("strict"):
        args.append("--strict")
    return shlex.join(args)


def _lexicon_args(config: dict) -> list[str]:
    """The ``lexicon`` section's arguments of ``codecprobe.pairs`` (pairs and token list alike)."""
    lx = config.get("lexicon", {})
    args = ["--lowercase-lemmas"] if lx.get("lowercase_lemmas", False) else []
    args += ["--wordnet", str(lx.get("wordnet", "auto"))]
    if lx.get("cmudict"):  # with its digest: an edit of the file reruns the pairs
        args += ["--cmudict", str(lx["cmudict"]), "--cmudict-digest", file_digest(lx["cmudict"])]
    return args


def tokens_args(config: dict) -> str:
    """CLI arguments of ``codecprobe.pairs --tokens``: only the settings the token list
    depends on (``pairs.n_tokens``, ``seeds``, ``require_synonym``, ``by_speaker``; the
    lexicon), so that a change of the pair types, thresholds or caps reruns no encode job."""
    p = config.get("pairs", {})
    args = ["--n-tokens", str(p.get("n_tokens", 10000)), "--seeds", *map(str, p.get("seeds", [0, 1, 2, 3, 4]))]
    if not p.get("require_synonym", True):
        args.append("--no-require-synonym")
    args += _lexicon_args(config)
    speakers = by_speaker(config)
    if speakers:
        args += ["--by-speaker", *speakers]
    return shlex.join(args)


def pairs_args(config: dict, by_speaker: bool = False) -> str:
    """CLI arguments of ``codecprobe.pairs`` from the ``pairs`` and ``lexicon`` sections.
    ``by_speaker``: those of the speaker-dependent variant, which samples no tokens and
    shuffles with the first seed only: ``n_tokens`` and the other seeds are not passed, so
    changing them does not rerun it."""
    p = config.get("pairs", {})
    seeds = list(p.get("seeds", [0, 1, 2, 3, 4]))
    args = [] if by_speaker else ["--n-tokens", str(p.get("n_tokens", 10000))]
    args += ["--threshold", str(p.get("homophone_threshold", 0.4))]
    args += ["--seeds", *map(str, seeds[:1] if by_speaker else seeds)]
    args += ["--types", *p.get("types", ["random", "synonym", "near_homophone", "same_word", "same_speaker"])]
    if not p.get("homophone_inclusive", True):
        args.append("--exclusive")
    if not p.get("require_synonym", True):
        args.append("--no-require-synonym")
    if p.get("max_pairs_per_type"):
        args += ["--max-pairs-per-type", str(p["max_pairs_per_type"])]
    if not p.get("ordered", True):
        args.append("--unordered")
    if p.get("max_word_pairs"):
        args += ["--max-word-pairs", str(p["max_word_pairs"])]
    if not p.get("distinct_partners", True):
        args.append("--any-partner")
    args += _lexicon_args(config)
    return shlex.join(args)


def _any_case(ext: str) -> str:
    """A name pattern for files ending in ``ext`` in any case (``.flac`` -> ``*.[fF][lL][aA][cC]``):
    the manifest reads ``.FLAC`` and ``.wav`` files as well (:data:`codecprobe.manifest.AUDIO_EXTS`)."""
    return "*." + "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in ext.lstrip("."))


CORPUS_FILES = {  # what each corpus-reading rule reads: file name patterns (fnmatch, case-sensitive)
    "librispeech": (*(_any_case(e) for e in AUDIO_EXTS), "*.trans.txt"),
    "textgrids": ("*.TextGrid",),
    "annot16": ("*.mat",),
    "rtmri_audio": ("*.wav",),
}


def corpus_roots(config: dict, kind: str, speaker: str | None = None) -> list[str]:
    """The folders holding the corpus files of ``kind`` (:data:`CORPUS_FILES`) that a rule
    reads: ``librispeech`` the configured subsets; ``textgrids`` the imported TextGrid
    folder (none when MFA writes them: that folder is a workflow output); ``annot16`` one
    speaker's track folder; ``rtmri_audio`` the audio folders of the configured speakers."""
    if kind == "librispeech":
        ls = config["librispeech"]
        return [f"{ls['root']}/{s}" for s in ls["subsets"]]
    if kind == "textgrids":
        al = config["alignment"]
        return [al["textgrids"]] if al.get("source") == "textgrids" else []
    if kind == "annot16":
        return [f"{config['rtmri']['annot16']}/{speaker}/track"]
    if kind == "rtmri_audio":
        return [f"{config['rtmri']['root']}/{s}/2drt/audio" for s in config["rtmri"]["speakers"]]
    raise ValueError(f"corpus_roots: unknown kind {kind!r} ({', '.join(CORPUS_FILES)})")


DIGEST_CACHE = "results/.corpus_digests"  # tree_fingerprint's cache of content digests


def corpus_fingerprint(config: dict, kind: str, speaker: str | None = None) -> str:
    """A rule param that changes whenever a corpus file the rule reads is added, removed,
    replaced or edited (:func:`codecprobe.io.tree_fingerprint`), so Snakemake reruns it."""
    return tree_fingerprint(corpus_roots(config, kind, speaker), CORPUS_FILES[kind], DIGEST_CACHE)


def local_digest(value: str | None, base: str | Path = ".") -> str | None:
    """The content fingerprint (:func:`codecprobe.io.tree_fingerprint`, cached) of the local
    file or folder ``value`` names (a codec's or LLM's ``weights``, an LLM ``tokenizer``
    path), so that a checkpoint replaced at the same path reruns the jobs that read it;
    None for ``random``, ``fit`` (the fitted melrvq model: a rule's output, which Snakemake
    tracks), a hub id and a path that does not exist (the start-up checks name it)."""
    if value is None or value in ("random", "fit"):
        return None
    path = hub.local_path(str(value), base)
    return tree_fingerprint([path], ("*",), DIGEST_CACHE) if path.exists() else None


def rtmri_label(config: dict) -> str:
    """The label of the rt-MRI outputs (the Fig. 3, lag and region tables, figures and
    captions): ``rtmri.data_label``, else the run's ``data_label`` (in the demo both data
    sets are synthetic; in a paper run the word analysis's LibriSpeech label would name the
    wrong corpus)."""
    return str((config.get("rtmri") or {}).get("data_label") or config.get("data_label", ""))


NULL_MEANS_OFF = (("rtmri", "lag"), ("rtmri", "regions"))  # optional analyses: null, as omitted, turns them off


def drop_null_options(config: dict) -> None:
    """Remove the optional sections of :data:`NULL_MEANS_OFF` set to ``null`` (off, as when
    omitted) from ``config``, in place: Snakemake's schema validation fills the defaults of
    their keys into the value and fails on ``None``."""
    for section, key in NULL_MEANS_OFF:
        part = config.get(section)
        if isinstance(part, dict) and key in part and part[key] is None:
            del part[key]


def lag_config(config: dict) -> dict | None:
    """The ``rtmri.lag`` section (PWCCA against time lag), or None when it is off (no
    ``rtmri`` section, no ``lag`` key, or ``lag: null``)."""
    return (config.get("rtmri") or {}).get("lag") or None


def _lag_span(lag: dict) -> tuple[float, float]:
    """``(max_seconds, step_seconds)`` of the ``rtmri.lag`` section, with the schema's defaults."""
    return lag.get("max_seconds", 0.12), lag.get("step_seconds", 0.02)


def lag_args(config: dict) -> str:
    """CLI arguments of ``codecprobe.artstage lag`` from ``rtmri.lag`` (and ``rtmri.variates``)."""
    lag = lag_config(config) or {}
    max_seconds, step_seconds = _lag_span(lag)
    args = ["--max-seconds", str(max_seconds), "--step-seconds", str(step_seconds)]
    args += ["--layers", *[str(k) for k in lag.get("layers", [1, -1])]]
    rt = config["rtmri"]
    args += ["--variates", rt.get("variates", "canonical"), *_epsilon_args(rt), *_pwcca_method_args()]
    return shlex.join(args)


def _epsilon_args(rt: dict) -> list[str]:
    """``--epsilon`` when ``rtmri.epsilon`` differs from the PWCCA default
    (:data:`codecprobe.pwcca.EPSILON`): so a run that leaves it at the default, or sets the
    default, keeps its arguments and reruns no PWCCA job."""
    from .pwcca import EPSILON

    eps = float(rt.get("epsilon", 1e-10))
    return [] if eps == EPSILON else ["--epsilon", repr(eps)]


def _pwcca_method_args() -> list[str]:
    """``--pwcca-method`` with :data:`codecprobe.pwcca.METHOD_VERSION`: in the arguments of
    every PWCCA rule, so that a change of the method reruns their jobs (Snakemake records
    params), and the job checks it was planned with the code it runs."""
    from .pwcca import METHOD_VERSION

    return ["--pwcca-method", str(METHOD_VERSION)]


def regions_config(config: dict) -> dict | None:
    """The ``rtmri.regions`` section (PWCCA per tract region), or None when it is off."""
    return (config.get("rtmri") or {}).get("regions") or None


def region_args(config: dict) -> str:
    """CLI arguments of ``codecprobe.artstage region-pwcca`` from ``rtmri.regions`` and the
    baseline keys of ``rtmri`` (shuffles, blocks, seed, variates), as Fig. 3 uses them."""
    rt = config["rtmri"]
    args = ["--layers", *[str(k) for k in (regions_config(config) or {}).get("layers", [1, -1])]]
    args += ["--n-shuffles", str(rt.get("n_shuffles", 10)), *_block_args(rt)]
    args += ["--seed", str(rt.get("seed", 0)), "--variates", rt.get("variates", "canonical"), *_epsilon_args(rt)]
    args += _pwcca_method_args()
    return shlex.join(args)


def by_speaker(config: dict) -> list[str]:
    """The speakers of the speaker-dependent variant (``pairs.by_speaker``), as text; [] = none."""
    return [str(s) for s in config.get("pairs", {}).get("by_speaker") or []]


# ----------------------------------------------------------------------------- codecs
def codec_env(entry: dict) -> str:
    """The conda env file (in ``envs/``) of a codec's encode jobs: its adapter's declared
    ``conda_env`` (``backend: package``: the original package's own env, each with its own
    torch/torchaudio pair)."""
    return family_facts(entry["family"], entry.get("backend"))["conda_env"]


# names of the summary outputs beside the per-codec ones (results/distances/all_codecs.csv
# beside results/distances/<codec>.csv; results/cka/cka_all_codecs.csv): no codec may take them
RESERVED_CODEC_NAMES = ("all_codecs", "cka_all_codecs")


def codecs_by_name(config: dict) -> dict[str, dict]:
    """The config's ``codecs`` list keyed by name (names must be unique, and none of
    :data:`RESERVED_CODEC_NAMES`)."""
    out: dict[str, dict] = {}
    for c in config.get("codecs", []) or []:
        if c["name"] in RESERVED_CODEC_NAMES:
            raise CodecprobeError(
                f"config: codecs: the name {c['name']!r} is taken by the summary tables of all codecs: choose another"
            )
        if c["name"] in out:
            raise CodecprobeError(f"config: codecs: two entries named {c['name']!r}")
        out[c["name"]] = c
    return out


def random_weight_codecs(config: dict) -> list[str]:
    """Codecs (or their LLM input paths, ``name.llm``) on random weights: plumbing only. The
    Snakefile names them at start-up, before any job runs; their outputs say so too."""
    out = []
    for c in config.get("codecs") or []:
        if str(c.get("weights")) == "random":
            out.append(c["name"])
        if c.get("llm") and str(c["llm"].get("weights")) == "random":
            out.append(f"{c['name']}.llm")
    return out


def split_codecs(config: dict) -> tuple[list[str], str]:
    """The codecs whose word-pair distances get MIMI's first-layer split (layer 1 alone
    against layers 2..k, the word-pair analogue of Fig. 4), and why the others of family
    ``mimi`` do not (``""`` when none is left out). The split needs a pooling that commutes
    with the sum over layers (``distances.pooling`` mean or center, not centroid) and more
    than one layer (``n_layers``)."""
    names, why = [], []
    pooling = config.get("distances", {}).get("pooling", "mean")
    for c in config.get("codecs", []) or []:
        if c["family"] != "mimi":
            continue
        if pooling == "centroid":
            why.append(f"{c['name']}: distances.pooling: centroid does not commute with the sum over layers")
        elif c.get("n_layers") == 1:
            why.append(f"{c['name']}: n_layers: 1 leaves no layers 2..k")
        else:
            names.append(c["name"])
    return names, "; ".join(why)


def check_codecs(config: dict, base: str | Path = ".") -> None:
    """Local weights paths must exist (hub ids are checked when loaded, or offline against
    the cache); backend, weights, vectors and n_layers must suit the family."""
    for c in codecs_by_name(config).values():
        if c["family"] not in KNOWN_FAMILIES:  # families are the adapter files' (not a schema list)
            raise CodecprobeError(
                f"config: codecs[{c['name']}].family: {c['family']!r} is not a codec family (known: "
                f"{', '.join(sorted(KNOWN_FAMILIES))}; a family is an adapter file in workflow/codecprobe/codecs/ "
                "declaring FAMILY: README, 'Writing a codec adapter')"
            )
        w = str(c.get("weights", "random"))
        if w == "fit" and c["family"] != "melrvq":
            raise CodecprobeError(f"config: codecs[{c['name']}].weights: 'fit' is only for family melrvq")
        backend = c.get("backend")
        known = [DEFAULT_BACKEND[c["family"]], *OTHER_BACKENDS.get(c["family"], {})]
        if backend is not None and backend not in known:
            raise CodecprobeError(
                f"config: codecs[{c['name']}].backend: family {c['family']} has no backend {backend!r} "
                f"(known: {', '.join(known)})"
            )
        if "max_attention_elements" in c and c["family"] != "mimo":  # other adapters would not read it
            raise CodecprobeError(f"config: codecs[{c['name']}].max_attention_elements: MiMo's only, not for family {c['family']}")
        vectors = c.get("vectors", "decoded")
        if vectors != "decoded" and c["family"] != "dac":
            raise CodecprobeError(
                f"config: codecs[{c['name']}].vectors: {vectors} is DAC's release variant, not for family {c['family']}"
            )
        if w == "pretrained" and backend != "package":
            raise CodecprobeError(
                f"config: codecs[{c['name']}].weights: 'pretrained' (the package's own download) needs backend: package"
            )
        if w not in ("fit", "pretrained"):
            _need_weights(w, f"codecs[{c['name']}].weights", Path(base), codec_hub_rule(c))
        if c["family"] == "melrvq" and w not in ("fit", "random") and hub.local_path(w, base).is_dir():
            raise CodecprobeError(f"config: codecs[{c['name']}].weights: {w} is a folder; melrvq takes 'fit', 'random' or "
                                  "a model file (the .npz rule fit_melrvq writes)")  # fmt: skip
        _need_n_layers(c)
        llm = c.get("llm")
        if llm:
            from .llm import LLM_CODEC

            if LLM_CODEC[llm["family"]] != c["family"]:
                raise CodecprobeError(
                    f"config: codecs[{c['name']}].llm: {llm['family']} reads {LLM_CODEC[llm['family']]} codes, "
                    f"not {c['family']} (codecs with an LLM input path: {', '.join(sorted(set(LLM_CODEC.values())))})"
                )
            key = f"codecs[{c['name']}].llm.weights"
            _need_weights(str(llm.get("weights", "random")), key, Path(base), hub.org_name_shaped,  # as llm._is_hub_id
                          llm.get("revision"))  # fmt: skip
            _need_llm_tokenizer(llm, f"codecs[{c['name']}].llm.tokenizer", Path(base))


def _need_llm_tokenizer(llm: dict, key: str, base: Path) -> None:
    """The LLM's tokenizer file, where it can be known before the CKA job (which otherwise
    stops on it after the encoding): a path (a name with a folder in it) must be a file; a
    bare name (or the family's default) must be in a local weights folder. A hub repo's
    own file is fetched by the job."""
    from .llm import DEFAULT_TOKENIZER, names_a_path, weights_folder

    weights, name = str(llm.get("weights", "random")), llm.get("tokenizer")
    if name is None and weights == "random":
        return  # random weights without a tokenizer: a stand-in tokenizer
    name = str(name or DEFAULT_TOKENIZER[llm["family"]])
    if names_a_path(name):  # as the CKA job resolves it (llm._resolve_aux)
        _need(Path(name).expanduser(), key, base, "file")
        return
    if weights == "random":  # no folder or hub repo to find a bare name in (the job said "no such file")
        raise CodecprobeError(f"config: {key}: {name!r}: with weights: random there is no weights folder to find it in "
                              f"(give a path, e.g. ./{name}, or leave tokenizer out for the stand-in tokenizer)")  # fmt: skip
    folder = weights_folder(hub.local_path(weights, base))
    if folder is not None and not (folder / name).is_file():
        raise CodecprobeError(f"config: {key}: {name!r} is not in the weights folder {folder} (give a path, e.g. ./{name}, "
                              "for a file elsewhere)")  # fmt: skip


def melrvq_model_path(results: str, name: str) -> str:
    return f"{results}/codecs/{name}/melrvq.npz"


def codec_json(config: dict, name: str, results: str = "results") -> str:
    """The codec's config entry as the JSON the encode stage reads (``fit`` -> the fitted model)."""
    import json

    c = dict(codecs_by_name(config)[name])
    c.setdefault("weights", "random")
    if c.get("vectors") == "decoded":  # the schema's default: left out, so that the key
        del c["vectors"]  # alone changes no encode job's params
    # read by other rules, not by the codec: `llm` by the CKA rule (changing it must not
    # rerun the encode jobs), `codebook_size` by fit_melrvq (the schema fills it into every
    # entry; MiMo refuses options it does not know). Dropping them (session 8) changed the
    # params of every encode job but melrvq's once, so results made before rerun once.
    c.pop("llm", None)
    if c["family"] != "melrvq":
        c.pop("codebook_size", None)
    if (digest := local_digest(c["weights"])) is not None:  # a local checkpoint: its contents (a hub id: its name)
        c["weights_digest"] = digest
    if c["weights"] == "fit":
        c["weights"] = melrvq_model_path(results, name)
    return json.dumps(c, sort_keys=True)


def encode_args(config: dict, feature: bool = False, codec: dict | None = None) -> str:
    """CLI arguments of ``codecprobe.encode`` from the ``encode`` section that can change
    its output (a rule's params: changing one reruns the job). The chunk context (feature
    slicing only) is passed when the job slices features (``encode.slicing: feature``), so
    that it reruns no audio-slicing job. The device stays here: a GPU's kernels can flip
    near-tie codes. Batching is :func:`encode_run_args`.

    ``feature``: the rt-MRI job's arguments, which always slices features and whose pooled
    word features no analysis reads: neither ``encode.slicing`` nor ``encode.pooling`` nor
    ``encode.dtype`` (the pooled features' storage type), settings of the word analysis, is
    passed (before session 24 changing the first two, before session 30 the third, reran
    every rt-MRI encode job and all PWCCA after it); its pooled features stay float32.

    ``codec``: the job's config entry; an adapter that never uses a device (declared
    ``device: False``: melrvq) gets ``--device auto`` whatever ``encode.device`` says, so
    that changing it reruns none of its jobs (its features cannot change)."""
    e = config.get("encode", {})
    if feature:
        args = ["--slicing", "feature"]
    else:
        args = ["--slicing", e.get("slicing", "audio"), "--pooling", *e.get("pooling", ["mean"])]
    dtype = "float32" if feature else e.get("dtype", "float32")
    args += ["--chunk-seconds", str(e.get("chunk_seconds", 60)), "--dtype", dtype]
    if feature or e.get("slicing", "audio") == "feature":
        args += ["--chunk-context-seconds", str(e.get("chunk_context_seconds", 1.0))]
    on_device = codec is None or family_facts(codec["family"], codec.get("backend"))["device"]
    args += ["--device", e.get("device", "auto") if on_device else "auto"]
    return shlex.join(args)


def encode_run_args(config: dict) -> str:
    """CLI arguments of ``codecprobe.encode`` that only set its pace: batching
    (``encode.batch_seconds``, ``max_batch``, ``shard_words``). A word's codes do not depend
    on its batch (tested; mean pooling may differ by float32 rounding, about 2e-7), so the
    rules pass these as a resource (``encode_run``), which, unlike a param, reruns nothing
    when it changes, as ``encode.threads`` (the job's threads)."""
    e = config.get("encode", {})
    args = ["--batch-seconds", str(e.get("batch_seconds", 60)), "--max-batch", str(e.get("max_batch", 64))]
    args += ["--shard-words", str(e.get("shard_words", 1024))]
    return shlex.join(args)


def encode_gpu(config: dict, codec: dict) -> int:
    """GPUs an encode job asks for: none for an adapter that never uses one (declared
    ``device: False``: melrvq, NumPy) or with ``encode.device: cpu``."""
    if not family_facts(codec["family"], codec.get("backend"))["device"]:
        return 0
    return int(config.get("encode", {}).get("device", "auto") != "cpu")


def cka_gpu(config: dict, codec: dict) -> int:
    """GPUs a CKA job asks for: one only for an LLM input path that computes on the device
    (its class's ``uses_device``: MiMo-Audio's patch encoder) and ``cka.device`` other than
    cpu; Moshi's is a NumPy table look-up, which reserved the GPU for nothing (holding back
    the encode jobs)."""
    from .llm import FAMILIES

    family = (codec.get("llm") or {}).get("family")
    device = config.get("cka", {}).get("device", "cpu")
    return int(device != "cpu" and family in FAMILIES and FAMILIES[family].uses_device)


def llm_json(config: dict, name: str) -> str:
    """The codec's ``llm`` entry as the JSON the CKA stage reads, with the content digests
    (:func:`local_digest`; ``weights_digest``, ``tokenizer_digest``, which the stage ignores)
    of local ``weights`` and of a ``tokenizer`` given as a path, so that replacing either at
    the same path reruns the CKA job."""
    import json

    from .llm import names_a_path

    llm = dict(codecs_by_name(config)[name]["llm"])
    tokenizer = llm.get("tokenizer")
    tokenizer_path = tokenizer if tokenizer and names_a_path(str(tokenizer)) else None  # a bare name: in the weights
    for key, value in (("weights", llm.get("weights")), ("tokenizer", tokenizer_path)):
        if (digest := local_digest(value)) is not None:
            llm[f"{key}_digest"] = digest
    return json.dumps(llm, sort_keys=True)


def cka_json(config: dict) -> str:
    """The ``cka`` section (defaults filled by the stage) as JSON."""
    import json

    return json.dumps({k: v for k, v in (config.get("cka") or {}).items() if k != "device"}, sort_keys=True)


def distances_args(config: dict) -> str:
    """CLI arguments of ``codecprobe.distances`` from the ``distances`` section."""
    d = config.get("distances", {})
    args = ["--metric", d.get("metric", "euclidean"), "--pooling", d.get("pooling", "mean")]
    args += ["--n-boot", str(d.get("n_boot", 1000)), "--seed", str(d.get("seed", 0))]
    args += ["--aggregate", d.get("aggregate", "word_types")]
    if d.get("standardize"):
        args.append("--standardize")
    return shlex.join(args)


def vtd_args(config: dict, speaker: str) -> str:
    """CLI arguments of ``codecprobe.artstage vtd`` for one speaker."""
    rt = config["rtmri"]
    args = ["--skip-tasks", *rt.get("skip_tasks", ["vcv", "bvt"]), "--n-gridlines", str(rt.get("n_gridlines", 120))]
    args += ["--nan-policy", rt.get("nan_policy", "interpolate"), "--bad-frames", rt.get("bad_frames", "skip")]
    args += ["--bad-tracks", rt.get("bad_tracks", "skip"), *_max_gap_args(rt)]
    if rt.get("grid"):
        folder = Path(rt["grid"])
        grid = next((folder / f"{speaker}{ext}" for ext in (".npy", ".mat") if (folder / f"{speaker}{ext}").exists()), None)
        if grid is None:
            raise CodecprobeError(f"config: rtmri.grid: no {speaker}.npy or {speaker}.mat in {folder}")
        args += ["--grid", str(grid), "--grid-digest", file_digest(grid)]  # an edit of the grid reruns the VTD
    return shlex.join(args)


def regions_gap_args(config: dict) -> str:
    """``--max-gap-frames`` of ``codecprobe.artstage regions`` when ``rtmri.bad_frames`` is
    ``interpolate`` (the longest run of bad frames rebuilt, as for the VTD); empty with
    ``skip``, which it does not change."""
    rt = config["rtmri"]
    if rt.get("bad_frames", "skip") != "interpolate":
        return ""
    return shlex.join(_max_gap_args(rt))


def _max_gap_args(rt: dict) -> list[str]:
    """``--max-gap-frames`` of ``rtmri.max_gap_frames`` (default 10; ``null``: -1, every gap)."""
    max_gap = rt.get("max_gap_frames", 10)
    return ["--max-gap-frames", str(-1 if max_gap is None else max_gap)]


def pwcca_args(config: dict, family: str) -> str:
    """CLI arguments of ``codecprobe.artstage pwcca`` (MIMI also gets the Fig. 4 split)."""
    rt = config["rtmri"]
    args = ["--n-shuffles", str(rt.get("n_shuffles", 10)), *_block_args(rt)]
    args += ["--seed", str(rt.get("seed", 0)), "--variant", "without_first" if family == "mimi" else "accumulated"]
    args += ["--variates", rt.get("variates", "canonical"), *_epsilon_args(rt), *_pwcca_method_args()]
    return shlex.join(args)


def _block_args(rt: dict) -> list[str]:
    """The shuffle block of the PWCCA baselines: ``rtmri.block_seconds`` when set, else
    ``rtmri.block_len`` frames; only the one used is passed, so a change of the other
    reruns nothing."""
    if rt.get("block_seconds") is not None:
        return ["--block-seconds", str(rt["block_seconds"])]
    return ["--block-len", str(rt.get("block_len", 25))]
