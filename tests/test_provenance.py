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
    (code / "stage.py").write_text("x = 1\n")
    (code / "notes.txt").write_text("")  # an untracked file that is not code does not count
    source_version.cache_clear()
    assert source_version(str(code)) == f"{__version__}+g{sha}"
    (code / "codecs").mkdir()
    (code / "codecs" / "toy.py").write_text("")  # a new adapter file (found by the registry): code not in the commit
    source_version.cache_clear()
    assert source_version(str(code)) == f"{__version__}+g{sha}.dirty"
    (repo / ".gitignore").write_text("toy.py\n")  # ignored by git: not counted
    source_version.cache_clear()
    assert source_version(str(code)) == f"{__version__}+g{sha}"


def test_outside_a_checkout_the_version_alone(tmp_path):
    assert source_version(str(tmp_path)) == __version__
    assert source_version(str(tmp_path / "missing")) == __version__


def test_a_checkout_git_cannot_read_says_unknown(tmp_path, monkeypatch, caplog):
    """A checkout owned by another user ("dubious ownership"), or no git at all: the commit
    is lost; "0.1.0" alone (what a release says) took it for a release, with no word."""
    code = tmp_path / "repo" / "workflow"
    code.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()  # a checkout
    monkeypatch.setenv("PATH", str(tmp_path / "no-git"))  # git not found
    source_version.cache_clear()
    with caplog.at_level("WARNING", logger="codecprobe"):
        assert source_version(str(code)) == f"{__version__}+unknown"
    assert "is a git checkout, but git cannot read it" in caplog.text
    source_version.cache_clear()


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
