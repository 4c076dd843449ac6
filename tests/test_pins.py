"""The pip files (quick start, tests, CI) and the conda envs (workflow runs) pin the same
releases: each package pinned in more than one of ``requirements*.txt`` and ``envs/*.yaml``
has one version everywhere, but for the one documented split (torch and torchaudio: the
package backends' conda envs pin the pair 2.9.1, the pip venvs torch 2.13.0 and, in the
package test venv, torchaudio's Python part of 2.11.0; README *Codecs*).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)(==|=)([0-9][0-9A-Za-z.+!]*)$")
# the only packages allowed two versions, and where each version is pinned
SPLIT = {
    "torch": {
        "2.13.0": {"requirements-codecs.txt", "requirements-packages.txt", "envs/codec-hf.yaml", "envs/codec-mimo.yaml"},
        "2.9.1": {"envs/codec-encodec.yaml", "envs/codec-dac.yaml"},
    },
    "torchaudio": {
        "2.11.0": {"requirements-packages-nodeps.txt"},
        "2.9.1": {"envs/codec-encodec.yaml", "envs/codec-dac.yaml"},
    },
}


def _name(name: str) -> str:
    """PEP 503 normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pin(line: str, where: str) -> tuple[str, str]:
    """``name==version`` (pip) or ``name=version`` (conda) -> ``(normalized name, version)``."""
    m = PIN.match(line.strip())
    if m is None:
        raise ValueError(f"{where}: not an exact pin: {line.strip()!r}")
    return _name(m[1]), m[3]


def pins_of_requirements(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = parse_pin(line, path.name)
            out[name] = version
    return out


def pins_of_env(path: Path) -> dict[str, str]:
    out = {}
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        for line in dep["pip"] if isinstance(dep, dict) else [dep]:
            name, version = parse_pin(line, path.name)
            out[name] = version
    return out


def all_pins(repo: Path) -> dict[str, dict[str, str]]:
    """``{package: {file (relative to repo): version}}`` over the pip files and conda envs."""
    pins: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(repo.glob("requirements*.txt")):
        for name, version in pins_of_requirements(path).items():
            pins[name][path.name] = version
    for path in sorted((repo / "envs").glob("*.yaml")):
        for name, version in pins_of_env(path).items():
            pins[name][f"envs/{path.name}"] = version
    return dict(pins)


def disagreements(pins: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The packages pinned to more than one version, apart from :data:`SPLIT` as documented."""
    out = {}
    for name, where in pins.items():
        if name in SPLIT:
            expected = {f: v for v, files in SPLIT[name].items() for f in files}
            if where != expected:
                out[name] = where
        elif len(set(where.values())) > 1:
            out[name] = where
    return out


def test_every_line_of_the_pip_files_and_envs_is_an_exact_pin():
    pins = all_pins(REPO)
    # the files are read at all: the main pins are there
    assert pins["numpy"]["requirements.txt"] == pins["numpy"]["envs/analysis.yaml"]
    assert {"requirements-codecs.txt", "envs/codec-hf.yaml"} <= set(pins["transformers"])
    assert pins["python"] == {f"envs/{p.name}": "3.11" for p in (REPO / "envs").glob("*.yaml")}


def test_pip_files_and_conda_envs_pin_the_same_releases():
    assert disagreements(all_pins(REPO)) == {}


def test_a_pin_out_of_step_is_found(tmp_path):
    (tmp_path / "envs").mkdir()
    (tmp_path / "requirements.txt").write_text("# comment\nnumpy==2.4.6  # why\nscipy==1.17.1\n")
    (tmp_path / "envs" / "a.yaml").write_text("dependencies:\n  - python=3.11\n  - pip:\n      - numpy==2.4.5\n")
    assert disagreements(all_pins(tmp_path)) == {
        "numpy": {"requirements.txt": "2.4.6", "envs/a.yaml": "2.4.5"}
    }
    # the documented split must be exactly as documented: torch 2.9.1 in another env is not
    (tmp_path / "envs" / "a.yaml").write_text("dependencies:\n  - pip:\n      - numpy==2.4.6\n      - Torch==2.9.1\n")
    assert disagreements(all_pins(tmp_path)) == {"torch": {"envs/a.yaml": "2.9.1"}}


@pytest.mark.parametrize("line", ["numpy>=2.4", "numpy", "numpy==2.4.*", "numpy==2.4.6; python_version>'3'", "-e ."])
def test_a_line_that_is_not_an_exact_pin_is_refused_by_file(tmp_path, line):
    (tmp_path / "requirements-x.txt").write_text(f"scipy==1.17.1\n{line}\n")
    with pytest.raises(ValueError, match="requirements-x.txt: not an exact pin"):
        all_pins(tmp_path)
