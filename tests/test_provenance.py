"""``codecprobe.source_version``: the code version recorded in the feature, VTD and CKA files."""

import shutil
import subprocess

import pytest
from codecprobe import __version__, source_version

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def _git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()


@needs_git
def test_commit_and_dirty_flag_of_a_checkout(tmp_path):
    repo = tmp_path / "repo"
    code = repo / "workflow"
    code.mkdir(parents=True)
    (code / "stage.py").write_text("x = 1\n")
    (repo / "config.yaml").write_text("a: 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    sha = _git(repo, "rev-parse", "--short=12", "HEAD")
    assert source_version(str(code)) == f"{__version__}+g{sha}"
    (repo / "config.yaml").write_text("a: 2\n")  # the user's config is not code
    source_version.cache_clear()
    assert source_version(str(code)) == f"{__version__}+g{sha}"
    (code / "stage.py").write_text("x = 2\n")
    source_version.cache_clear()
    assert source_version(str(code)) == f"{__version__}+g{sha}.dirty"
    (code / "new.py").write_text("")  # untracked files do not count
    (code / "stage.py").write_text("x = 1\n")
    source_version.cache_clear()
    assert source_version(str(code)) == f"{__version__}+g{sha}"


def test_outside_a_checkout_the_version_alone(tmp_path):
    assert source_version(str(tmp_path)) == __version__
    assert source_version(str(tmp_path / "missing")) == __version__


@needs_git
def test_this_checkout():
    source_version.cache_clear()
    v = source_version()
    assert v.startswith(__version__)
    try:
        head = _git(__import__("pathlib").Path(__file__).parent, "rev-parse", "--short=12", "HEAD")
    except subprocess.CalledProcessError:  # a copy without .git
        assert v == __version__
    else:
        assert v.split("+g")[1].removesuffix(".dirty") == head
