"""Adding a codec family is one adapter file (issue 3): the workflow learns a family, its
backends, conda env, device use and weights form from the adapter files' ``FAMILY``
declarations (read without importing them), and a new file is all a new family needs.
The contract every adapter keeps is checked on a toy family written into a copy of the
package, as a user would add one (README, "Writing a codec adapter")."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import textwrap

import pytest
from codecprobe.codecs import base
from codecprobe.io import CodecprobeError
from conftest import REPO

TOY = '''
"""A toy residual VQ over framed audio (random weights only): the template of an adapter."""

from __future__ import annotations

import numpy as np

from .base import Codec, CodecSpec, register

FAMILY = {"family": "toyrvq", "backend": "codecprobe", "default": True, "conda_env": "analysis.yaml", "device": False,
          "hub_ids": None}


@register
class ToyRVQ(Codec):
    family = "toyrvq"
    uses_torch = False
    pad_invariant = True  # frames see only their own samples

    def __init__(self, spec: CodecSpec, device: str = "cpu"):
        self.spec, self.device = spec, "cpu"
        rng = np.random.default_rng(spec.seed)
        self.sample_rate, self.hop_length, self.dim = 16000, 320, 16
        self.frame_rate = self.sample_rate / self.hop_length
        self.n_layers = spec.n_layers or 4
        self.proj = rng.standard_normal((self.hop_length, self.dim)).astype(np.float32)
        self.books = (rng.standard_normal((self.n_layers, 32, self.dim)) / np.arange(1, self.n_layers + 1)[:, None, None]).astype(np.float32)

    def encode(self, wav) -> np.ndarray:
        wav = np.atleast_2d(np.asarray(wav, np.float32))
        f = -(-wav.shape[1] // self.hop_length)
        x = np.pad(wav, ((0, 0), (0, f * self.hop_length - wav.shape[1]))).reshape(len(wav), f, self.hop_length) @ self.proj
        res, codes = x.reshape(-1, self.dim), []
        for book in self.books:
            c = ((res[:, None] - book[None]) ** 2).sum(-1).argmin(1)
            codes.append(c)
            res = res - book[c]
        return np.stack(codes).reshape(self.n_layers, len(wav), f).transpose(1, 0, 2).copy()

    def codebook_vectors(self, layer: int) -> np.ndarray:
        return self.books[layer]

    def quantized(self, codes) -> np.ndarray:
        codes = np.asarray(codes)
        return sum(self.books[k][codes[:, k]] for k in range(codes.shape[1]))
'''


def check_contract(codec) -> None:
    """What every adapter must satisfy (the identities the issue names, on its own encoder):
    codes ``[B, K, F]`` with ``F = n_frames(T)``; the accumulated feature at the last layer
    equals the codec's own quantizer output; layer 1 is the first codebook's vector; a
    clip's codes in a batch equal its codes alone; metadata marks random weights."""
    import numpy as np
    from codecprobe.encode import encode_batch

    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (codec.sample_rate // 2, codec.sample_rate // 3)]
    codes = codec.encode(np.stack([clips[0][: len(clips[1])], clips[1]]))
    assert codes.shape == (2, codec.n_layers, codec.n_frames(len(clips[1])))
    layers = codec.layer_vectors(codes)  # [B, K, F, D]: what the stage accumulates
    np.testing.assert_allclose(layers.sum(axis=1), codec.quantized(codes), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layers[:, 0], np.asarray(codec.codebook_vectors(0))[codes[:, 0]])
    assert len({int(c) for c in codes[:, 0].ravel()}) > 1  # not one code everywhere (a zero codebook)
    for c, alone in zip(encode_batch(codec, clips), [encode_batch(codec, [c])[0] for c in clips]):
        np.testing.assert_array_equal(c, alone)
    meta = codec.metadata()
    assert meta["family"] == codec.family and meta["random_weights"] == codec.spec.random


def test_declarations_agree_with_the_registered_adapters():
    decls = base.adapter_declarations()
    # the paper's families and the baseline; a family added by an adapter file keeps this test (README: one file)
    assert {d["family"] for d in decls.values()} == base.KNOWN_FAMILIES >= {"encodec", "dac", "mimi", "mimo", "melrvq"}
    for module, d in decls.items():
        pytest.importorskip("torch") if d["device"] else None
        if module.endswith("_package"):
            continue  # their packages live in their own env (tests/test_codecs_package.py)
        importlib.import_module(f"codecprobe.codecs.{module}")
        cls = base.REGISTRY[base.registry_key(d["family"], "default" if d["default"] else d["backend"])]
        assert cls.family == d["family"] and cls.uses_torch == d["device"], module
        assert (REPO / "envs" / d["conda_env"]).is_file(), module


def test_declarations_are_read_without_importing_and_checked(tmp_path):
    (tmp_path / "toyrvq.py").write_text(TOY)
    (tmp_path / "_helper.py").write_text("FAMILY = 'not an adapter'\n")  # private modules are not adapters
    decls = base.adapter_declarations(tmp_path)
    assert list(decls) == ["toyrvq"] and decls["toyrvq"]["conda_env"] == "analysis.yaml"
    assert "codecprobe.codecs.toyrvq" not in sys.modules
    (tmp_path / "bad.py").write_text('FAMILY = {"family": "bad"}\n')
    with pytest.raises(CodecprobeError, match=r"bad\.py: FAMILY must be a dict with keys"):
        base.adapter_declarations(tmp_path)
    (tmp_path / "bad.py").write_text("FAMILY = dict(family='bad')\n")
    with pytest.raises(CodecprobeError, match=r"bad\.py: FAMILY must be a literal dict"):
        base.adapter_declarations(tmp_path)
    (tmp_path / "bad.py").write_text(TOY.replace("ToyRVQ", "Toy2"))
    with pytest.raises(CodecprobeError, match=r"family 'toyrvq': two default adapters, bad\.py and toyrvq\.py"):
        base._families(base.adapter_declarations(tmp_path))


def test_melrvq_keeps_the_contract():
    from codecprobe.codecs import CodecSpec, load_codec

    check_contract(load_codec(CodecSpec("m", "melrvq", weights="random")))


def test_a_new_family_is_one_adapter_file(tmp_path):
    """A copy of the package with one file added, codecs/toyrvq.py: the family loads, keeps
    the contract, and the workflow's start-up checks, env, GPU request and weights form
    come from its declaration. A module that declares FAMILY but registers nothing is an
    error saying what is missing."""
    pkg = tmp_path / "codecprobe"
    shutil.copytree(REPO / "workflow" / "codecprobe", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "codecs" / "toyrvq.py").write_text(TOY)
    (pkg / "codecs" / "halfdone.py").write_text(
        'FAMILY = {"family": "halfdone", "backend": "codecprobe", "default": True, "conda_env": "analysis.yaml",'
        ' "device": False, "hub_ids": None}\n'
    )  # fmt: skip
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        sys.path.insert(0, {str(REPO / "tests")!r})
        from codecprobe.codecs import CodecSpec, load_codec
        from codecprobe.config import check_codecs, codec_env, encode_gpu
        from codecprobe.io import CodecprobeError
        from test_adapter_contract import check_contract
        check_contract(load_codec(CodecSpec("t", "toyrvq", weights="random")))
        entry = {{"name": "t", "family": "toyrvq", "weights": "random"}}
        check_codecs({{"codecs": [entry]}})
        print(codec_env(entry), encode_gpu({{}}, entry))
        try:
            check_codecs({{"codecs": [{{"name": "x", "family": "toyrqv"}}]}})
        except CodecprobeError as e:
            print(e)
        try:
            load_codec(CodecSpec("h", "halfdone", weights="random"))
        except CodecprobeError as e:
            print(e)
    """)  # fmt: skip
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "analysis.yaml 0"
    known = ", ".join(sorted(base.KNOWN_FAMILIES | {"halfdone", "toyrvq"}))  # with any family added by a file since
    assert lines[1].startswith(f"config: codecs[x].family: 'toyrqv' is not a codec family (known: {known}; a family is "
                               "an adapter file")  # fmt: skip
    assert lines[2] == ("codec 'h': codecs/halfdone.py declares family 'halfdone' but registers no adapter for it "
                        "(a Codec subclass decorated with @register, family = 'halfdone')")  # fmt: skip


def test_a_family_without_a_default_adapter_is_an_error(tmp_path):
    """A family whose adapters all say ``"default": False`` has no implementation for a
    config that names no backend: an error naming it, not a family accepted half-declared."""
    (tmp_path / "toyrvq.py").write_text(TOY.replace('"default": True', '"default": False'))
    decls = base.adapter_declarations(tmp_path)
    assert decls["toyrvq"]["default"] is False
    with pytest.raises(CodecprobeError) as e:
        base._families(decls)
    assert str(e.value) == "families ['toyrvq']: other backends but no default adapter (\"default\": True)"
    (tmp_path / "toyrvq_default.py").write_text(TOY.replace('"backend": "codecprobe"', '"backend": "own"'))
    default_backend, default_module, others, _ = base._families(base.adapter_declarations(tmp_path))
    assert default_backend == {"toyrvq": "own"} and default_module == {"toyrvq": "toyrvq_default"}
    assert others == {"toyrvq": {"codecprobe": "toyrvq"}}


def test_a_declaration_with_an_extra_key_is_an_error(tmp_path):
    """A FAMILY with a key the workflow does not read (a typo, or ``"gpu"`` for ``"device"``)
    is refused, naming the keys wanted and those given: it was silently ignored."""
    (tmp_path / "toyrvq.py").write_text(TOY.replace('"hub_ids": None}', '"hub_ids": None, "gpu": True}'))
    with pytest.raises(CodecprobeError) as e:
        base.adapter_declarations(tmp_path)
    assert str(e.value) == (
        f"{tmp_path / 'toyrvq.py'}: FAMILY must be a dict with keys "
        "['backend', 'conda_env', 'default', 'device', 'family', 'hub_ids'], "
        "got ['backend', 'conda_env', 'default', 'device', 'family', 'gpu', 'hub_ids']"
    )


@pytest.mark.parametrize("old, new, why", [
    ('"device": False', '"device": "cpu"', "'device'] must be True or False, got 'cpu'"),
    ('"hub_ids": None', '"hub_ids": "hub"', "'hub_ids'] must be None, \"hf\" or \"org_name\", got 'hub'"),
    ('"conda_env": "analysis.yaml"', '"conda_env": "analysis"', "'conda_env'] must name a file in envs/"),
    ('"family": "toyrvq"', '"family": ""', "'family'] must be a non-empty string, got ''"),
])  # fmt: skip
def test_a_declaration_value_of_the_wrong_kind_is_an_error(tmp_path, old, new, why):
    """Only the keys were checked: "device": "cpu" (a true string) made the encode jobs ask
    for a GPU, an unknown hub_ids read as "hf"."""
    assert old in TOY
    (tmp_path / "toyrvq.py").write_text(TOY.replace(old, new))
    with pytest.raises(CodecprobeError) as e:
        base.adapter_declarations(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'toyrvq.py'}: FAMILY[{why}")
    (tmp_path / "toyrvq.py").write_text(TOY)
    assert base.adapter_declarations(tmp_path)["toyrvq"]["family"] == "toyrvq"


def test_a_default_adapter_may_name_its_declared_backend(monkeypatch):
    """A default adapter class whose ``backend`` repeats its declaration's (copied from
    FAMILY) registered under ``family:backend``, and loading the family said its file
    "registers no adapter"; it is the family's default, as with ``backend`` unset."""
    from codecprobe.codecs import CodecSpec, load_codec
    from codecprobe.codecs.melrvq import MelRVQ

    monkeypatch.setattr(base, "REGISTRY", dict(base.REGISTRY))
    assert base.DEFAULT_BACKEND["melrvq"] == "codecprobe"

    @base.register
    class Named(MelRVQ):
        backend = "codecprobe"

    assert base.REGISTRY["melrvq"] is Named and "melrvq:codecprobe" not in base.REGISTRY
    assert type(load_codec(CodecSpec("m", "melrvq", weights="random"))) is Named
    # every output names the implementation (a second backend's outputs said only the family)
    assert load_codec(CodecSpec("m", "melrvq", weights="random")).metadata()["backend"] == "codecprobe"

    @base.register
    class Second(MelRVQ):
        backend = "fast"

    monkeypatch.setitem(base.OTHER_BACKENDS, "melrvq", {"fast": "melrvq"})
    assert load_codec(CodecSpec("m", "melrvq", weights="random", options={"backend": "fast"})).metadata()["backend"] == "fast"
