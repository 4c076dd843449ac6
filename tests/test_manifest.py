import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from codecprobe.io import CodecprobeError, read_table
from codecprobe.manifest import build_manifest, main


def test_manifest_rows(corpus):
    ls, _ = corpus
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert list(m["utt_id"]) == ["11-100-0000", "11-100-0001", "22-200-0000", "22-200-0001"]
    r = m.iloc[0]
    assert (r.speaker, r.chapter, r.subset) == ("11", "100", "dev-clean")
    assert r.transcript == "ACCEPT THE BIG"
    assert r.sample_rate == 16000 and r.n_samples == 22400 and r.duration == pytest.approx(1.4)
    assert skipped.empty


def test_corrupt_audio_and_missing_transcript_are_named_and_counted(corpus, caplog):
    caplog.set_level(logging.INFO, logger="codecprobe")
    ls, _ = corpus
    d = ls / "dev-clean" / "11" / "100"
    (d / "11-100-0001.flac").write_bytes(b"this is not a flac file")  # corrupt
    sfile = ls / "dev-clean" / "22" / "200" / "22-200-0001.flac"
    (sfile.parent / "22-200-0009.flac").write_bytes(sfile.read_bytes())  # audio, no transcript line
    trans = d / "11-100.trans.txt"
    trans.write_text(trans.read_text() + "11-100-0005 A LINE WITHOUT AUDIO\n")
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert set(m["utt_id"]) == {"11-100-0000", "22-200-0000", "22-200-0001"}
    reasons = dict(zip(skipped["utt_id"], skipped["reason"]))
    assert reasons["11-100-0001"].startswith("unreadable audio")
    assert reasons["22-200-0009"] == "no transcript line"
    assert reasons["11-100-0005"] == "transcript line without audio file"
    assert len(skipped) == 3
    assert "11-100-0001.flac" in caplog.text and "unreadable audio" in caplog.text
    assert "3 skipped" in caplog.text


def test_truncated_audio_with_a_good_header_is_skipped_here(corpus, caplog):
    """A FLAC cut short keeps a header promising all its samples; the manifest decodes each
    file to its end, so the cut file is skipped and counted here, not met by the encoder."""
    import soundfile as sf

    ls, _ = corpus
    f = ls / "dev-clean" / "11" / "100" / "11-100-0001.flac"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    assert sf.info(str(f)).frames == 22400  # the header still reads well
    with caplog.at_level(logging.INFO, logger="codecprobe"):
        m, skipped = build_manifest(ls, ["dev-clean"])
    assert "11-100-0001" not in set(m["utt_id"]) and len(m) == 3
    (reason,) = skipped.loc[skipped["utt_id"] == "11-100-0001", "reason"]
    assert reason.startswith(("unreadable audio in samples 0-22400 of 22400: ", "truncated audio:")) and "of 22400" in reason
    assert "11-100-0001.flac" in caplog.text
    m, skipped = build_manifest(ls, ["dev-clean"], verify=False)  # the header alone passes it
    assert "11-100-0001" in set(m["utt_id"]) and skipped.empty


def test_decode_problem_counts_samples(tmp_path):
    import numpy as np
    import soundfile as sf
    from codecprobe.manifest import decode_problem

    p = tmp_path / "a.wav"
    sf.write(p, np.zeros(100_000, np.float32), 16000)
    assert decode_problem(p, 100_000) is None
    assert decode_problem(p, 100_001, block=4096) == "truncated audio: 100000 of the header's 100001 samples decode"


def test_truncated_wav_is_told_by_its_data_chunk(corpus):
    """A WAV cut short: libsndfile reports only the frames present, so decoding to the end
    matched its own count and the file passed as a shorter utterance (its words then lay
    'after the audio's end', or MFA aligned half the audio to the whole transcript)."""
    from codecprobe.manifest import wav_data_shortfall

    ls, _ = corpus
    d = ls / "dev-clean" / "11" / "100"
    (d / "11-100-0001.flac").unlink()
    w = d / "11-100-0001.wav"
    sf.write(w, np.zeros(22400, np.float32), 16000, subtype="PCM_16")  # 44-byte header + 44,800 data bytes
    assert wav_data_shortfall(w) is None
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])  # 22,422 bytes: 22,378 data bytes = 11,189 frames
    assert sf.info(str(w)).frames == 11189  # what libsndfile says
    assert wav_data_shortfall(w) == (11189, 22400)
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert "11-100-0001" not in set(m["utt_id"]) and len(m) == 3
    (reason,) = skipped.loc[skipped["utt_id"] == "11-100-0001", "reason"]
    assert reason == "truncated audio: 11189 of the header's 22400 samples (the file ends inside its data chunk)"
    # written as a stream (data size 0xFFFFFFFF): no length to check; a FLAC: not RIFF
    w.write_bytes(data[:40] + b"\xff\xff\xff\xff" + data[44:])
    assert wav_data_shortfall(w) is None
    assert wav_data_shortfall(ls / "dev-clean" / "11" / "100" / "11-100-0000.flac") is None
    # SoX writing to a pipe declares 0x7FFFF000 bytes (MS_UNSPEC): a complete file, read in full
    w.write_bytes(data[:40] + (0x7FFFF000).to_bytes(4, "little") + data[44:])
    assert wav_data_shortfall(w) is None
    # a declared size that is not a whole number of frames (44,801 bytes for 22,400 frames): no cut
    w.write_bytes(data[:40] + (44801).to_bytes(4, "little") + data[44:])
    assert wav_data_shortfall(w) is None
    # 24-bit stereo: frames counted by the fmt chunk's block align (6 bytes)
    sf.write(w, np.zeros((1000, 2), np.float32), 16000, subtype="PCM_24")
    w.write_bytes(w.read_bytes()[:-600])
    assert wav_data_shortfall(w) == (900, 1000)


def test_empty_streamed_and_unreadable_audio_say_what_is_wrong(corpus, monkeypatch):
    """0 bytes: 'Format not recognised' before; a FLAC whose header gives no length (total
    samples 0, written as a stream): 'after 0 of 9223372036854775807 samples'; a decoder
    error names the block of samples it met it in (it said 'after 0' for any error in the
    first 65,536 samples)."""
    from codecprobe import manifest

    ls, _ = corpus
    d = ls / "dev-clean" / "11" / "100"
    (d / "11-100-0001.flac").write_bytes(b"")
    f = d / "11-100-0000.flac"
    b = bytearray(f.read_bytes())
    assert b[:4] == b"fLaC" and b[4] == 0  # STREAMINFO first: total samples in bits 108-143 of the file
    b[21] &= 0xF0
    b[22:26] = b"\0\0\0\0"
    f.write_bytes(bytes(b))
    assert sf.info(str(f)).frames == manifest.UNKNOWN_LENGTH
    _, skipped = build_manifest(ls, ["dev-clean"])
    reasons = dict(zip(skipped["utt_id"], skipped["reason"]))
    assert reasons["11-100-0001"] == "empty file (0 bytes)"
    assert reasons["11-100-0000"].startswith("the header gives no length (written as a stream); re-encode the file")

    class Failing:  # decodes two blocks, then fails
        subtype = "PCM_16"

        def __init__(self, path):
            self.calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self, n, dtype):
            self.calls += 1
            if self.calls > 2:
                raise RuntimeError("boom")
            return np.zeros(n, np.int16)

    monkeypatch.setattr(manifest.sf, "SoundFile", Failing)
    assert manifest.decode_problem(f, 20000, block=4096) == "unreadable audio in samples 8192-12288 of 20000: boom"
    assert manifest.decode_problem(f, 9000, block=4096) == "unreadable audio in samples 8192-9000 of 9000: boom"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_transcripts_are_read(corpus, encoding):
    """A transcript saved as UTF-16 (with or without a byte-order mark) was one skip per
    line ('malformed utterance id \'\\x009\\x000...\''); TextGrids were read so already."""
    ls, _ = corpus
    t = ls / "dev-clean" / "11" / "100" / "11-100.trans.txt"
    t.write_bytes(t.read_text().encode(encoding))
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert skipped.empty and len(m) == 4
    t.write_bytes(t.read_bytes()[:-1])  # an odd byte count: cut short
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert len(m) == 2
    bad = skipped[skipped["path"] == str(t)]
    assert len(bad) == 1 and bad["reason"].iloc[0].startswith(f"not valid {encoding.upper()} text (byte ")
    assert bad["reason"].iloc[0].endswith("): not read")


def test_no_usable_utterance_names_the_first_reasons(corpus):
    """The skip table is not written when nothing is usable: the error said only 'no usable
    utterance'; it now counts the skips and names the first three."""
    ls, _ = corpus
    for f in sorted(ls.rglob("*.flac")):
        f.write_bytes(b"")
    with pytest.raises(CodecprobeError) as err:
        build_manifest(ls, ["dev-clean"])
    assert str(err.value) == (
        f"no usable utterance under {ls} for subsets ['dev-clean']: 4 skipped (first: 11-100-0000.flac: empty file "
        "(0 bytes); 11-100-0001.flac: empty file (0 bytes); 22-200-0000.flac: empty file (0 bytes); ...)"
    )


def test_missing_transcript_file(corpus):
    ls, _ = corpus
    (ls / "dev-clean" / "22" / "200" / "22-200.trans.txt").unlink()
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert len(m) == 2 and len(skipped) == 2
    assert set(skipped["reason"]) == {"missing transcript file 22-200.trans.txt"}


def test_malformed_transcript_lines(corpus):
    ls, _ = corpus
    t = ls / "dev-clean" / "11" / "100" / "11-100.trans.txt"
    t.write_text(t.read_text() + "garbage line here\n11-100-0007\n")
    _, skipped = build_manifest(ls, ["dev-clean"])
    r = " | ".join(skipped["reason"])
    assert "malformed utterance id 'garbage'" in r and "empty transcript for 11-100-0007" in r
    assert all(str(t) in p for p in skipped["path"] if "trans.txt" in p)


def test_transcript_encoding_bom_and_crlf(corpus):
    # a UTF-8 BOM (Windows editors) and CRLF line ends are read; a line in another encoding
    # is skipped with its file, line and byte, not a UnicodeDecodeError for the whole corpus
    ls, _ = corpus
    t = ls / "dev-clean" / "11" / "100" / "11-100.trans.txt"
    lines = t.read_text().splitlines()
    t.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert skipped.empty and len(m) == 4
    assert m.set_index("utt_id").loc["11-100-0000", "transcript"] == "ACCEPT THE BIG"
    other = ls / "dev-clean" / "22" / "200" / "22-200.trans.txt"
    first, rest = other.read_text().split("\n", 1)
    other.write_bytes(first.encode() + " CAF\xc9\n".encode("latin-1") + rest.encode())
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert "22-200-0000" not in set(m["utt_id"]) and len(m) == 3
    reasons = dict(zip(skipped["path"], skipped["reason"]))
    assert reasons[f"{other}:1"] == f"not UTF-8 text (byte 0xc9 at column {len(first) + 5})"
    assert reasons[str(other.parent / "22-200-0000.flac")] == "no transcript line"


def test_two_audio_files_for_one_utterance_are_skipped_and_named(corpus):
    ls, _ = corpus
    d = ls / "dev-clean" / "11" / "100"
    x, sr = sf.read(d / "11-100-0000.flac")
    sf.write(d / "11-100-0000.wav", x, sr)
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert "11-100-0000" not in set(m["utt_id"]) and len(m) == 3
    (row,) = skipped.itertuples()
    assert row.utt_id == "11-100-0000"
    assert row.reason == "several audio files for one utterance (11-100-0000.flac, 11-100-0000.wav)"


def test_duplicated_transcript_lines(corpus):
    # two lines for one id with different texts: which is meant is not ours to guess, so
    # the utterance is skipped, both lines and its audio file named; a line repeating the
    # same text keeps the utterance and is listed as a duplicate
    ls, _ = corpus
    d = ls / "dev-clean" / "11" / "100"
    t = d / "11-100.trans.txt"
    assert t.read_text() == "11-100-0000 ACCEPT THE BIG\n11-100-0001 EXCEPT LARGE\n"
    # (the repeat of 0001 differs in spacing only: the same words, so the same transcript)
    t.write_text(t.read_text() + "11-100-0000 SOMETHING ELSE\n11-100-0001 EXCEPT \tLARGE\n")
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert "11-100-0000" not in set(m["utt_id"]) and len(m) == 3
    assert m.set_index("utt_id").loc["11-100-0001", "transcript"] == "EXCEPT LARGE"
    differ = "duplicated transcript lines with different texts for 11-100-0000 (lines 1, 3)"
    assert sorted(zip(skipped["utt_id"], skipped["path"], skipped["reason"])) == [
        ("11-100-0000", str(d / "11-100-0000.flac"), differ),
        ("11-100-0000", f"{t}:1", differ),
        ("11-100-0000", f"{t}:3", differ),
        ("11-100-0001", f"{t}:4", "duplicate utterance id 11-100-0001: same text as line 2, which is used"),
    ]


def test_id_that_does_not_match_its_folder_is_skipped(corpus):
    # speaker and chapter come from the folders: a file or line whose id names another
    # speaker or chapter would be filed under the wrong one
    ls, _ = corpus
    d = ls / "dev-clean" / "11" / "100"
    src = ls / "dev-clean" / "22" / "200" / "22-200-0000.flac"
    (d / "22-999-0000.flac").write_bytes(src.read_bytes())  # another speaker, with its line
    (d / "11-101-0000.flac").write_bytes(src.read_bytes())  # another chapter, no line
    t = d / "11-100.trans.txt"
    t.write_text(t.read_text() + "22-999-0000 WRONG FOLDER\n11-999-0001 WRONG CHAPTER NO AUDIO\n")
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert list(m["utt_id"]) == ["11-100-0000", "11-100-0001", "22-200-0000", "22-200-0001"]
    assert sorted(zip(skipped["path"], skipped["reason"])) == sorted([
        (str(d / "11-101-0000.flac"), "id 11-101-0000 does not match its folder 11/100"),
        (f"{t}:3", "id 22-999-0000 does not match its folder 11/100"),
        (f"{t}:4", "id 11-999-0001 does not match its folder 11/100"),
        (str(d / "22-999-0000.flac"), "id 22-999-0000 does not match its folder 11/100"),
    ])  # fmt: skip


def test_audio_outside_a_chapter_folder_is_skipped_and_named(corpus, caplog):
    ls, _ = corpus
    sub = ls / "dev-clean"
    src = (sub / "11" / "100" / "11-100-0000.flac").read_bytes()
    stray = [
        sub / "11" / "11-100-0009.flac",  # speaker level
        sub / "11" / "100" / "extra" / "11-100-0002.flac",  # one folder deeper
        sub / "22-200-0007.FLAC",  # subset level, upper-case extension
    ]
    for p in stray:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(src)
    (sub / "11" / "README.txt").write_text("not audio")
    with caplog.at_level(logging.WARNING, logger="codecprobe"):
        m, skipped = build_manifest(ls, ["dev-clean"])
    assert len(m) == 4
    assert sorted(zip(skipped["utt_id"], skipped["path"], skipped["reason"])) == sorted(
        (p.stem, str(p), "not in a <speaker>/<chapter> folder") for p in stray
    )
    assert all(str(p) in caplog.text for p in stray)


def test_transcript_files_it_does_not_read_are_named(corpus, caplog):
    """A .trans.txt outside a chapter folder, or in one under another name, is not read:
    each is named in the skip table (it was silently passed over)."""
    ls, _ = corpus
    sub = ls / "dev-clean"
    good = sub / "11" / "100" / "11-100.trans.txt"
    stray = sub / "11" / "11-100.trans.txt"  # speaker level
    stray.write_text(good.read_text())
    misnamed = sub / "22" / "200" / "22-201.trans.txt"  # beside 22-200.trans.txt
    misnamed.write_text("22-201-0000 ANOTHER CHAPTER\n")
    with caplog.at_level(logging.WARNING, logger="codecprobe"):
        m, skipped = build_manifest(ls, ["dev-clean"])
    assert len(m) == 4
    assert sorted(zip(skipped["utt_id"], skipped["path"], skipped["reason"])) == [
        ("", str(stray), "transcript file not in a <speaker>/<chapter> folder: not read"),
        ("", str(misnamed), "transcript file not named 22-200.trans.txt: not read"),
    ]
    assert str(stray) in caplog.text and str(misnamed) in caplog.text

def test_linked_folders_are_followed_and_loops_are_not(corpus, tmp_path):
    ls, _ = corpus
    (tmp_path / "elsewhere").mkdir()
    (ls / "dev-clean" / "22").rename(tmp_path / "elsewhere" / "22")
    (ls / "dev-clean" / "22").symlink_to(tmp_path / "elsewhere" / "22")  # a linked speaker folder
    (ls / "dev-clean" / "11" / "100" / "up").symlink_to(ls / "dev-clean" / "11")  # a loop
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert len(m) == 4 and skipped.empty


def test_non_finite_samples_are_skipped_here(corpus):
    ls, _ = corpus
    d = ls / "dev-clean" / "22" / "200"
    x, sr = sf.read(d / "22-200-0001.flac", dtype="float32")
    x[1234] = np.nan
    (d / "22-200-0001.flac").unlink()
    sf.write(d / "22-200-0001.wav", x, sr, subtype="FLOAT")
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert "22-200-0001" not in set(m["utt_id"]) and len(m) == 3
    assert list(skipped["reason"]) == ["non-finite samples (NaN or infinity), the first at sample 1234"]
    # an integer file cannot hold NaN, and a finite float file passes
    x[1234] = 0.0
    sf.write(d / "22-200-0001.wav", x, sr, subtype="FLOAT")
    m, skipped = build_manifest(ls, ["dev-clean"])
    assert skipped.empty and len(m) == 4


def test_an_utterance_found_twice_is_an_error(corpus):
    import shutil

    ls, _ = corpus
    with pytest.raises(CodecprobeError, match=r"subset\(s\) \['dev-clean'\] listed more than once"):
        build_manifest(ls, ["dev-clean", "dev-clean"])
    shutil.copytree(ls / "dev-clean" / "22", ls / "copy" / "22")  # the same chapter in a second subset folder
    with pytest.raises(CodecprobeError, match=r"2 utterance id\(s\) found in more than one place, e.g. 22-200-0000: ") as e:
        build_manifest(ls, ["copy", "dev-clean"])
    assert "/copy/22/200/22-200-0000.flac" in str(e.value) and "/dev-clean/22/200/22-200-0000.flac" in str(e.value)


def test_missing_root_and_subset(tmp_path, corpus):
    with pytest.raises(CodecprobeError, match="does not exist.*librispeech.root"):
        build_manifest(tmp_path / "nope", ["dev-clean"])
    with pytest.raises(CodecprobeError, match="test-clean does not exist.*librispeech.subsets"):
        build_manifest(corpus[0], ["test-clean"])


def test_cli_writes_tables(corpus, tmp_path):
    out, sk = tmp_path / "o" / "m.csv", tmp_path / "o" / "s.csv"
    main(["--root", str(corpus[0]), "--subsets", "dev-clean", "--out", str(out), "--skipped", str(sk)])
    m = read_table(out)
    assert len(m) == 4 and m["utt_id"].iloc[0] == "11-100-0000"
    assert list(pd.read_csv(sk).columns) == ["utt_id", "path", "reason"]
    assert not list(out.parent.glob(".*"))  # no temporary file left behind
