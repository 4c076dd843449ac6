import os
import shlex

import pandas as pd
import pytest

from codecprobe.align import mfa_commands, mfa_shell, prepare_mfa_corpus
from codecprobe.io import CodecprobeError
from codecprobe.manifest import build_manifest


def test_mfa_command_with_model_names():
    cmds = mfa_commands("res/corpus", "english_us_arpa", "english_us_arpa", "res/out", jobs=8, temp_dir="res/tmp")
    assert cmds == [
        ["mfa", "model", "download", "dictionary", "english_us_arpa"],
        ["mfa", "model", "download", "acoustic", "english_us_arpa"],
        ["mfa", "align", "--clean", "--output_format", "long_textgrid", "-j", "8", "--temporary_directory", "res/tmp",
         "res/corpus", "english_us_arpa", "english_us_arpa", "res/out"],
    ]  # fmt: skip


def test_mfa_command_with_local_models_and_extra_args(tmp_path):
    d = tmp_path / "my dict.dict"
    d.write_text("a AH0\n")
    cmds = mfa_commands("c", str(d), "/models/english_mfa.zip", "o", jobs=2, extra_args="--beam 100 --retry_beam 400")
    assert len(cmds) == 1  # nothing to download
    assert cmds[0][-4:] == ["c", str(d), "/models/english_mfa.zip", "o"]
    assert cmds[0][cmds[0].index("--beam") + 1] == "100" and "--retry_beam" in cmds[0]
    s = mfa_shell("c", str(d), "/models/english_mfa.zip", "o", jobs=2)
    assert shlex.split(s) == mfa_commands("c", str(d), "/models/english_mfa.zip", "o", jobs=2)[0]
    assert "'" in s  # the space in the path is quoted


def test_mfa_model_paths_expand_the_home_folder_and_are_checked_at_start_up(tmp_path, monkeypatch):
    """``~/mfa/english.dict`` reached MFA quoted ('~/...'), which it does not expand: the job
    built the MFA corpus and then failed. A model path that does not exist was never
    checked before the job."""
    import copy

    import yaml
    from codecprobe.config import check_config
    from conftest import REPO

    home = tmp_path / "home"
    (home / "mfa").mkdir(parents=True)
    (home / "mfa" / "english.dict").write_text("a AH0\n")
    monkeypatch.setenv("HOME", str(home))
    cmds = mfa_commands("c", "~/mfa/english.dict", "english_us_arpa", "o")
    assert cmds[0] == ["mfa", "model", "download", "acoustic", "english_us_arpa"]
    assert cmds[1][-4:] == ["c", str(home / "mfa" / "english.dict"), "english_us_arpa", "o"]
    assert "~" not in mfa_shell("c", "~/mfa/english.dict", "english_us_arpa", "o")

    c = copy.deepcopy(yaml.safe_load((REPO / "config.yaml").read_text()))
    c["alignment"] = {"source": "mfa", "mfa": {"dictionary": "~/mfa/english.dict", "acoustic_model": "english_us_arpa"}}
    check_config(c, REPO)  # the file exists; the acoustic model is a name, fetched by the job
    c["alignment"]["mfa"]["acoustic_model"] = "/no/such/english_mfa.zip"
    with pytest.raises(CodecprobeError) as err:
        check_config(c, REPO)
    assert str(err.value) == (
        "config: alignment.mfa.acoustic_model: /no/such/english_mfa.zip does not exist (a path to an MFA model "
        "file; or give a model name such as english_us_arpa, which the job fetches with mfa model download)"
    )
    c["alignment"]["mfa"] = {"dictionary": "~/mfa/other.dict"}
    with pytest.raises(CodecprobeError, match=r"^config: alignment.mfa.dictionary: ~/mfa/other.dict does not exist"):
        check_config(c, REPO)


def test_mfa_corpus_layout(corpus, tmp_path):
    m, _ = build_manifest(corpus[0], ["dev-clean"])
    out = tmp_path / "mfa_corpus"
    assert prepare_mfa_corpus(m, out) == 4
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert files == [
        "11", "11/11-100-0000.flac", "11/11-100-0000.lab", "11/11-100-0001.flac", "11/11-100-0001.lab",
        "22", "22/22-200-0000.flac", "22/22-200-0000.lab", "22/22-200-0001.flac", "22/22-200-0001.lab",
    ]  # fmt: skip
    assert (out / "11/11-100-0000.lab").read_text() == "ACCEPT THE BIG\n"
    link = out / "11/11-100-0000.flac"
    assert link.is_symlink() and os.path.samefile(link, corpus[0] / "dev-clean/11/100/11-100-0000.flac")
    assert not out.with_name("mfa_corpus.tmp").exists()


def test_mfa_corpus_missing_audio(tmp_path):
    m = pd.DataFrame([{"utt_id": "1-2-0003", "speaker": "1", "path": str(tmp_path / "gone.flac"), "transcript": "A"}])
    with pytest.raises(CodecprobeError, match="gone.flac: audio listed in the manifest is missing"):
        prepare_mfa_corpus(m, tmp_path / "c")
    assert not (tmp_path / "c").exists()
    assert not (tmp_path / "c.tmp").exists()  # the half-built folder was left beside it


def test_mfa_corpus_refuses_repeated_ids_and_missing_transcripts(tmp_path):
    """A hand-made manifest (the align CLI reads any): a repeated id stopped on a raw
    FileExistsError, and a missing transcript became the word 'nan' in the .lab file."""
    audio = tmp_path / "a.flac"
    audio.write_bytes(b"")
    row = {"utt_id": "1-2-0001", "speaker": "1", "path": str(audio), "transcript": "A"}
    with pytest.raises(CodecprobeError, match=r"^manifest: utterance id\(s\) listed twice: \['1-2-0001'\]$"):
        prepare_mfa_corpus(pd.DataFrame([row, row]), tmp_path / "c")
    rows = [row, {**row, "utt_id": "1-2-0002", "transcript": None}, {**row, "utt_id": "1-2-0003", "transcript": " "}]
    with pytest.raises(CodecprobeError) as err:
        prepare_mfa_corpus(pd.DataFrame(rows), tmp_path / "c")
    assert str(err.value) == "manifest: 2 utterance(s) without a transcript: ['1-2-0002', '1-2-0003']"
    assert not (tmp_path / "c").exists() and not (tmp_path / "c.tmp").exists()


def test_mfa_corpus_links_keep_the_corpus_names_extension(corpus, tmp_path):
    """FLACs that are links into a store of hash-named files (the hub cache, DVC,
    git-annex): the link for MFA was named after the target's (missing) extension, and MFA,
    which finds audio by extension, saw no audio at all."""
    m, _ = build_manifest(corpus[0], ["dev-clean"])
    store = tmp_path / "blobs"
    store.mkdir()
    flac = corpus[0] / "dev-clean/11/100/11-100-0000.flac"
    blob = store / "3f2a9c0d"
    flac.rename(blob)
    flac.symlink_to(blob)
    out = tmp_path / "mfa_corpus"
    prepare_mfa_corpus(m, out)
    link = out / "11/11-100-0000.flac"
    assert link.is_symlink() and os.path.samefile(link, blob) and os.readlink(link) == str(blob)
