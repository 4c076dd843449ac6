"""codecprobe.io: nothing half-written, a fresh file for the writer, tables read back as written."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pandas as pd
import pytest
from codecprobe.io import (
    CodecprobeError,
    atomic_path,
    read_table,
    text_column,
    tree_fingerprint,
    write_table,
)
from conftest import REPO


def test_atomic_path_renames_on_success(tmp_path):
    out = tmp_path / "sub" / "features.h5"
    with atomic_path(out) as tmp:
        # a new name next to the output, with its suffix, not yet a file: the writer creates it
        assert tmp.parent == out.parent and tmp.suffix == ".h5" and tmp.name.startswith(".features.h5.")
        assert not tmp.exists() and not out.exists()
        with h5py.File(tmp, "x") as h:  # exclusive create works: nothing is in the way
            h["x"] = np.arange(3)
    assert not tmp.exists()
    with h5py.File(out) as h:
        assert h["x"][:].tolist() == [0, 1, 2]
    assert [p.name for p in out.parent.iterdir()] == ["features.h5"]


def test_atomic_path_leaves_the_old_output_on_error(tmp_path):
    out = tmp_path / "table.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]  # the temporary file is gone
    with pytest.raises(RuntimeError, match="boom"):  # also when the writer never created it
        with atomic_path(out):
            raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_outputs_named_as_a_folder_or_an_unknown_format_write_nothing(tmp_path):
    """A stage run by hand with an output path that is a folder stopped with a traceback
    from the final rename (after all its work); a table named ``.xlsx`` was written as CSV
    under that name, and read back as CSV; a figure named ``.xlsx`` stopped in matplotlib,
    after the PDF beside it had been written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from codecprobe.io import save_figure

    (tmp_path / "out.csv").mkdir()
    with (pytest.raises(CodecprobeError, match=r"out\.csv: is a folder; give the name of the file to write"),
          atomic_path(tmp_path / "out.csv")):  # fmt: skip
        raise AssertionError("the body must not run")
    with pytest.raises(CodecprobeError, match=r"out\.csv: is a folder, not a table"):
        read_table(tmp_path / "out.csv")
    for name, shown in (("t.xlsx", "'.xlsx'"), ("t", "'nothing'")):
        with pytest.raises(CodecprobeError, match=rf"{name}: a table's name must end in \.csv, \.tsv or \.parquet "
                                                  rf"\(its format\), not {shown}"):  # fmt: skip
            write_table(pd.DataFrame({"a": [1]}), tmp_path / name)
    (tmp_path / "t.txt").write_text("a\n1\n")
    with pytest.raises(CodecprobeError, match=r"t\.txt: a table's name must end in"):
        read_table(tmp_path / "t.txt")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    with pytest.raises(CodecprobeError, match=r"f\.xlsx: a figure's name must end in a format matplotlib writes \(.*pdf.*\), "
                                              r"not 'xlsx'"):  # fmt: skip
        save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "t.txt"]  # nothing written
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")  # the figure is still open for a good call
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / "f.png").stat().st_size > 0


def _tree(root, names=("1.flac", "sub/2.flac", "sub/2.trans.txt")):
    """Files under ``root`` with distinct contents and an old modification time."""
    import os

    for i, name in enumerate(names):
        f = root / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(bytes([i]) * (10 + i))
        os.utime(f, ns=(10**18, 10**18 + i))
    return root


def _tick():
    """Wait out a tick of the file system's clock (coarse on kernels before 6.13: up to 10 ms),
    so that the next change gives a file a new status-change time."""
    import time

    time.sleep(0.02)


@pytest.fixture
def settled(monkeypatch):
    """Files written just now are cached (none are while they may still change: ``_RACY_NS``)."""
    import codecprobe.io

    monkeypatch.setattr(codecprobe.io, "_RACY_NS", 0)


@pytest.fixture
def hashed(monkeypatch):
    """The paths whose content :func:`tree_fingerprint` reads, in order."""
    import codecprobe.io

    seen = []
    real = codecprobe.io._content_digest
    monkeypatch.setattr(codecprobe.io, "_content_digest", lambda p: seen.append(p) or real(p))
    return seen


def test_tree_fingerprint_follows_the_files_a_rule_reads(tmp_path, settled):
    import os

    from codecprobe.io import tree_fingerprint

    (tmp_path / "a" / "b").mkdir(parents=True)
    f = tmp_path / "a" / "b" / "1.flac"
    f.write_bytes(b"x" * 10)
    (tmp_path / "a" / "b" / "1.trans.txt").write_text("1 HELLO\n")
    for cache in (None, tmp_path / "cache"):
        fp = lambda cache=cache: tree_fingerprint([tmp_path / "a"], ("*.flac", "*.trans.txt"), cache)
        base = fp()
        assert fp() == base and len(base) == 16
        (tmp_path / "a" / "notes.md").write_text("not read")  # a file no pattern matches
        assert fp() == base
        st = f.stat()
        _tick()
        f.write_bytes(b"y" * 10)  # edited in place, same size, old modification time put back
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert f.stat().st_ino == st.st_ino and fp() != base  # the status-change time differs
        _tick()
        f.write_bytes(b"x" * 10)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert fp() == base
        _tick()
        f.write_bytes(b"x" * 9)  # truncated, old time kept
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert fp() != base
        _tick()
        f.write_bytes(b"x" * 10)
        assert fp() == base
        f.rename(f.with_name("2.flac"))  # renamed
        assert fp() != base
        f.with_name("2.flac").rename(f)
        assert fp() == base
        (tmp_path / "a" / "b" / "3.flac").write_bytes(b"")  # added
        assert fp() != base
        (tmp_path / "a" / "b" / "3.flac").unlink()  # and removed again
        assert fp() == base
    (tmp_path / "empty").mkdir()
    assert tree_fingerprint([tmp_path / "missing"], ("*",)) == tree_fingerprint([tmp_path / "empty"], ("*",)) != base
    # a root that is a file (a checkpoint): that file alone, by contents, whatever its neighbours
    one = lambda: tree_fingerprint([f], ("*",), tmp_path / "cache")
    base = one()
    assert base == tree_fingerprint([f.parent], ("*.flac",)) and base != tree_fingerprint([f.parent], ("*",))
    (tmp_path / "a" / "b" / "4.flac").write_bytes(b"beside it")
    assert one() == base
    st = f.stat()
    _tick()
    f.write_bytes(b"z" * 10)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert one() != base


@pytest.mark.parametrize("with_cache", [False, True])
def test_tree_fingerprint_ignores_modification_times(tmp_path, settled, with_cache):
    # touch, cp -r without -p and a git checkout give the same bytes a new time: no rerun
    import os
    import shutil

    from codecprobe.io import tree_fingerprint

    cache = tmp_path / "cache" if with_cache else None
    pats = ("*.flac", "*.trans.txt")
    base = tree_fingerprint([_tree(tmp_path / "a")], pats, cache)
    f = tmp_path / "a" / "sub" / "2.flac"
    os.utime(f, ns=(10**18, 2 * 10**18))  # touched
    assert tree_fingerprint([tmp_path / "a"], pats, cache) == base
    shutil.copytree(tmp_path / "a", tmp_path / "b", copy_function=shutil.copyfile)  # new times, new inodes
    assert (tmp_path / "b" / "1.flac").stat().st_mtime_ns != (tmp_path / "a" / "1.flac").stat().st_mtime_ns
    assert tree_fingerprint([tmp_path / "b"], pats, cache) == base
    assert tree_fingerprint([tmp_path / "a"], pats, cache) == base


def test_tree_fingerprint_reads_a_file_again_only_when_its_status_changed(tmp_path, settled, hashed):
    import os

    from codecprobe.io import tree_fingerprint

    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b", ("x.flac", "x.mat"))
    cache = tmp_path / "results" / ".corpus_digests.json"
    fp_a = lambda: tree_fingerprint([a], ("*.flac", "*.trans.txt"), cache)
    base = fp_a()
    assert sorted(hashed) == sorted(str(p) for p in a.rglob("*") if p.is_file()) and len(list(cache.iterdir())) == 1
    hashed.clear()
    assert fp_a() == base and hashed == []  # one stat per file
    tree_fingerprint([b], ("*.flac",), cache)  # another root: a file of its own, a's entries kept
    assert hashed == [str(b / "x.flac")]
    hashed.clear()
    assert fp_a() == base and hashed == []
    _tick()
    os.utime(a / "1.flac", ns=(10**18, 3 * 10**18))  # touched: read once more, same digest
    assert fp_a() == base and hashed == [str(a / "1.flac")]
    hashed.clear()
    assert fp_a() == base and hashed == []


def test_tree_fingerprint_does_not_cache_a_file_that_may_still_change(tmp_path, hashed):
    # a second write in the same tick of the file system's clock would leave its status as it was
    from codecprobe.io import tree_fingerprint

    cache = tmp_path / "cache"
    tree_fingerprint([_tree(tmp_path / "a")], ("*.flac",), cache)
    tree_fingerprint([tmp_path / "a"], ("*.flac",), cache)
    assert len(hashed) == 4 and not cache.exists()


@pytest.mark.parametrize("text", ["{not", "[]", '{"version": 1, "files": []}', '{"version": 1, "files": {"/x": 3}}'])
def test_tree_fingerprint_ignores_a_corrupt_cache(tmp_path, settled, text):
    import json

    from codecprobe.io import tree_fingerprint

    a = _tree(tmp_path / "a")
    base = tree_fingerprint([a], ("*.flac",), tmp_path / "cache")
    [cache] = (tmp_path / "cache").iterdir()
    cache.write_text(text)
    assert tree_fingerprint([a], ("*.flac",), tmp_path / "cache") == base
    assert len(json.loads(cache.read_text())["files"]) == 2  # written afresh
    data = json.loads(cache.read_text())
    data["files"][str(a / "1.flac")][-1] = None  # its status matches, but a malformed entry is not used
    cache.write_text(json.dumps(data))
    assert tree_fingerprint([a], ("*.flac",), tmp_path / "cache") == base


def test_tree_fingerprint_works_without_a_writable_cache(tmp_path, settled, hashed):
    from codecprobe.io import tree_fingerprint

    a = _tree(tmp_path / "a")
    (tmp_path / "file").write_text("")
    cache = tmp_path / "file" / "cache"  # under a file: cannot be written
    base = tree_fingerprint([a], ("*.flac",))
    assert tree_fingerprint([a], ("*.flac",), cache) == base
    assert tree_fingerprint([a], ("*.flac",), cache) == base and len(hashed) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "file"]


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_stage_stopped_by_a_signal_leaves_no_temporary_file(tmp_path, sig):
    # kill, timeout and a batch scheduler send SIGTERM; by Python's default the process
    # would end at once and leave the hidden temporary file (a whole feature file so far)
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path / "out" / "features.h5"
    ready = tmp_path / "ready"
    script = tmp_path / "stage.py"
    script.write_text(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from codecprobe.io import atomic_path, run_cli\n"
        "def main():\n"
        f"    with atomic_path({str(out)!r}) as tmp:\n"
        "        tmp.write_bytes(b'half written')\n"
        f"        Path({str(ready)!r}).touch()\n"
        "        time.sleep(60)\n"
        "run_cli(main)\n"
    )
    pkg = str(Path(__file__).resolve().parents[1] / "workflow")
    env = {**os.environ, "PYTHONPATH": pkg + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        for _ in range(300):
            if ready.exists():
                break
            time.sleep(0.05)
        assert ready.exists(), "the stage did not start writing"
        assert [p.name.startswith(".features.h5.") for p in out.parent.iterdir()] == [True]
        proc.send_signal(getattr(signal, sig))
        rc = proc.wait(timeout=30)
    finally:
        proc.kill()
    assert rc == 128 + getattr(signal, sig)  # as the shell reports a process ended by the signal
    assert list(out.parent.iterdir()) == []  # no temporary file, no output


def test_an_ignored_signal_stays_ignored():
    # nohup ignores SIGHUP so that a job outlives its terminal: the stage must not undo that
    import signal

    from codecprobe.io import exit_on_signals

    before = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        exit_on_signals()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        with pytest.raises(SystemExit) as e:
            handler(signal.SIGTERM, None)
        assert e.value.code == 128 + signal.SIGTERM
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def test_repeated_names_each_value_given_more_than_once():
    from codecprobe.io import repeated

    assert repeated([3, 1, 3, 2, 1, 3]) == [1, 3]
    assert repeated(["dev-clean", "test-clean"]) == [] and repeated([]) == []


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_read_table_keeps_identifiers_as_written(tmp_path, suffix):
    """Speaker and chapter folders with leading zeros, and words that look like numbers,
    booleans or missing values, come back as the text written; measures stay numbers."""
    df = pd.DataFrame({
        "utt_id": ["0012-007-0001", "0012-007-0002"], "speaker": ["0012", "0400"], "chapter": ["007", "10"],
        "word": ["true", "NA"], "speaker_a": ["0012", "0012"], "word_b": ["1", "nan"],
        "start": [0.5, 1.25], "n_phones": [3, 0], "note": ["", "x"],
    })  # fmt: skip
    write_table(df, tmp_path / f"t{suffix}")
    back = read_table(tmp_path / f"t{suffix}")
    for c in ("utt_id", "speaker", "chapter", "word", "speaker_a", "word_b"):
        assert back[c].tolist() == df[c].tolist(), c
    assert back["start"].tolist() == [0.5, 1.25] and back["n_phones"].dtype.kind == "i"
    assert back["note"].isna().tolist() == [True, False]  # an empty cell is missing, as before
    assert text_column("word_a") and text_column("speaker") and not text_column("token_a") and not text_column("seed")


def test_utf8_strings_round_trip_through_hdf5(tmp_path):
    """Words outside ASCII (``café``, ``naïve``) are stored as UTF-8 and read back as
    written; numpy's own astype("S") / astype(str) fail on them."""
    from codecprobe.io import utf8_bytes, utf8_text

    words = ["café", "naïve", "don't", "a"]
    with pytest.raises(UnicodeEncodeError):
        np.asarray(words).astype("S")
    with h5py.File(tmp_path / "w.h5", "w") as h:
        h["word"] = utf8_bytes(pd.Series(words))
    with h5py.File(tmp_path / "w.h5") as h:
        stored = h["word"][:]
    assert stored[0] == "café".encode()
    assert utf8_text(stored).tolist() == words
    assert utf8_text(["x", b"y"]).tolist() == ["x", "y"]
    assert utf8_bytes([]).shape == (0,) and utf8_text(utf8_bytes([])).shape == (0,)


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_read_table_without_a_header_names_the_file(tmp_path, suffix):
    """A 0-byte (or blank) CSV raised pandas' EmptyDataError ("No columns to parse from
    file"), naming no file; a header alone is still an empty table."""
    from codecprobe.io import CodecprobeError

    path = tmp_path / f"words{suffix}"
    for text in ("", "\n\n"):
        path.write_text(text)
        with pytest.raises(CodecprobeError) as e:
            read_table(path)
        assert str(e.value) == f"{path}: empty file, no header"
    path.write_text("token_id,word\n".replace(",", "\t" if suffix == ".tsv" else ","))
    t = read_table(path)
    assert t.empty and list(t.columns) == ["token_id", "word"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_a_table_pandas_cannot_parse_is_named(tmp_path, suffix):
    """A row of more fields than the header, an unclosed quote, Latin-1 text: pandas'
    ParserError / UnicodeDecodeError named no file (run_cli called it a bug)."""
    from codecprobe.io import CodecprobeError

    sep = "\t" if suffix == ".tsv" else ","
    kind = suffix[1:].upper()
    cases = [
        (b"codec,layer,pwcca\nm,1,0.5\nm,2,0.4,9\n", "Error tokenizing data. C error: Expected 3 fields in line 3, saw 4"),
        (b'codec,layer,pwcca\n"m,1,0.5\n', "Error tokenizing data. C error: EOF inside string starting at row 1"),
        ("codec,word,layer\nm,ok,1\nm,caf\xe9,2\n".encode("latin-1"), "not UTF-8 text: byte 0xe9 on line 3"),
    ]
    path = tmp_path / f"t{suffix}"
    for data, why in cases:
        path.write_bytes(data.replace(b",", sep.encode()))
        with pytest.raises(CodecprobeError) as e:
            read_table(path)
        assert str(e.value) == f"{path}: not a readable {kind} table ({why})"


def test_a_table_cut_short_or_not_parquet_is_named(tmp_path):
    """A CSV whose last row has no line end (a copy or write interrupted mid-row) was read
    with that row's missing cells as NaN (a table of PWCCA values then printed 'nan' in
    the LaTeX); a truncated Parquet file gave pyarrow's traceback."""
    from codecprobe.io import CodecprobeError, write_table

    df = pd.DataFrame({"codec": ["a", "b"], "layer": [1, 2], "pwcca": [0.5, 0.6]})
    write_table(df, tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_bytes()
    (tmp_path / "cut.csv").write_bytes(text[:-6])  # "b,2,0." : the last row cut
    with pytest.raises(CodecprobeError, match=r"cut.csv: the last row has no line end: the file is cut short"):
        read_table(tmp_path / "cut.csv")
    (tmp_path / "crlf.csv").write_bytes(text.replace(b"\n", b"\r\n"))  # saved on Windows: read as before
    assert read_table(tmp_path / "crlf.csv")["pwcca"].tolist() == [0.5, 0.6]
    write_table(df, tmp_path / "t.parquet")
    (tmp_path / "cut.parquet").write_bytes((tmp_path / "t.parquet").read_bytes()[:100])
    with pytest.raises(CodecprobeError, match=r"cut.parquet: not a readable Parquet table"):
        read_table(tmp_path / "cut.parquet")
    (tmp_path / "csv.parquet").write_bytes(text)
    with pytest.raises(CodecprobeError, match=r"csv.parquet: not a readable Parquet table"):
        read_table(tmp_path / "csv.parquet")


def test_a_log_that_cannot_be_written_is_named(tmp_path):
    from codecprobe.io import CodecprobeError, setup_logging

    (tmp_path / "file").write_text("")
    with pytest.raises(CodecprobeError, match=r"file/logs/x.log: cannot write the log"):
        setup_logging(tmp_path / "file" / "logs" / "x.log")


def test_tree_fingerprint_follows_links_to_folders_once(tmp_path, settled):
    """A speaker folder linked into the corpus: the manifest reads its transcripts, but the
    fingerprint did not walk the link, so an edit there reran nothing. Loops and a folder
    linked twice are walked once."""
    from codecprobe.io import walk

    root, store = tmp_path / "corpus", tmp_path / "store"
    (store / "spk").mkdir(parents=True)
    (store / "spk" / "a.trans.txt").write_text("1 HELLO\n")
    root.mkdir()
    (root / "spk").symlink_to(store / "spk", target_is_directory=True)
    (root / "again").symlink_to(store / "spk", target_is_directory=True)
    (store / "spk" / "up").symlink_to(root, target_is_directory=True)
    files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in walk(root) for f in fs)
    assert files == ["again/a.trans.txt"] or files == ["spk/a.trans.txt"]
    before = tree_fingerprint([root], ["*.trans.txt"])
    (store / "spk" / "a.trans.txt").write_text("1 GOODBYE\n")
    assert tree_fingerprint([root], ["*.trans.txt"]) != before


def test_save_figure_writes_the_same_pdf_bytes_at_another_time(tmp_path, monkeypatch):
    """A PDF carried matplotlib's /CreationDate: two runs of the same figure differed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from codecprobe.io import save_figure

    out = []
    for i, epoch in enumerate(("1000000000", "1700000000")):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)  # matplotlib's clock for the creation date
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [2, 1, 3])
        save_figure(fig, tmp_path / f"f{i}.pdf", tmp_path / f"f{i}.png")
        out.append(((tmp_path / f"f{i}.pdf").read_bytes(), (tmp_path / f"f{i}.png").read_bytes()))
    assert out[0][0].startswith(b"%PDF") and b"CreationDate" not in out[0][0]
    assert out[0] == out[1]


def test_save_figure_renames_every_format_or_none(tmp_path):
    """A PNG that fails to draw leaves the PDF written before it as it was (it was already
    renamed: a new PDF beside an old PNG), no temporary file, and the figure closed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from codecprobe.io import save_figure

    for name in ("f.pdf", "f.png"):
        (tmp_path / name).write_bytes(b"old")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    real = fig.savefig

    def savefig(path, **kw):
        if kw["format"] == "png":
            raise OSError(28, "No space left on device")
        real(path, **kw)

    fig.savefig = savefig
    with pytest.raises(CodecprobeError) as e:
        save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")
    assert str(e.value) == f"{tmp_path / 'f.png'}: cannot write (No space left on device); nothing was written there"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png"]
    assert (tmp_path / "f.pdf").read_bytes() == b"old" == (tmp_path / "f.png").read_bytes()
    assert not plt.fignum_exists(fig.number)
    fig2, ax2 = plt.subplots()
    ax2.plot([0, 1])
    save_figure(fig2, tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert not plt.fignum_exists(fig2.number)


def test_save_figure_logs_what_it_wrote(tmp_path, caplog):
    """The figure jobs' logs (fig2.log, fig3.log) were empty on success."""
    import logging

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from codecprobe.io import save_figure

    fig, _ = plt.subplots()
    with caplog.at_level(logging.INFO, logger="codecprobe"):
        save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")
    assert f"wrote {tmp_path / 'f.pdf'}" in caplog.text and f"wrote {tmp_path / 'f.png'}" in caplog.text


def test_hdf5_text_is_marked_utf8(tmp_path):
    """Text datasets carry HDF5's UTF-8 character set: the bytes were UTF-8 but the type
    said ASCII, so h5py's .asstr() (and other readers) failed on a word such as café."""
    from codecprobe.io import utf8_bytes, utf8_text

    with h5py.File(tmp_path / "t.h5", "w") as h:
        h["word"] = utf8_bytes(["café", "naïve", "big"])
        h["empty"] = utf8_bytes([])
    with h5py.File(tmp_path / "t.h5") as h:
        assert h["word"].id.get_type().get_cset() == h5py.h5t.CSET_UTF8
        assert list(h["word"].asstr()[()]) == ["café", "naïve", "big"]
        assert list(utf8_text(h["word"][()])) == ["café", "naïve", "big"] and h["empty"].shape == (0,)


def test_a_full_disk_names_the_output_and_leaves_nothing(tmp_path, monkeypatch):
    """A full disk (or quota, read-only file system) stopped a stage with a raw OSError
    naming the hidden temporary file, or none: now one CodecprobeError naming the output."""
    import errno

    from codecprobe.io import CodecprobeError

    out = tmp_path / "t" / "table.csv"
    full = r"table\.csv: cannot write \(No space left on device\); nothing was written"
    with pytest.raises(CodecprobeError, match=full), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not out.exists() and list(out.parent.iterdir()) == []
    with pytest.raises(FileNotFoundError), atomic_path(out):  # an input's error is not dressed up as the output's
        (tmp_path / "missing.csv").read_text()
    monkeypatch.setattr("tempfile.mkstemp", lambda **k: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only file system")))
    with pytest.raises(CodecprobeError, match=r"table\.csv: cannot write \(Read-only file system: .*t\)"):
        write_table(pd.DataFrame({"a": [1]}), out)


def test_run_cli_logs_what_stopped_a_stage(tmp_path):
    """A failing job's log ended on its last INFO line unless the error was a
    CodecprobeError: an unexpected exception, or a stop by a signal, is now in the log."""
    import logging

    from codecprobe.io import run_cli, setup_logging

    log = tmp_path / "stage.log"

    def crash():
        setup_logging(log)
        logging.getLogger("codecprobe.x").info("working")
        raise ValueError("something unforeseen")

    with pytest.raises(ValueError):
        run_cli(crash)
    text = log.read_text()
    assert "working" in text and "unexpected error" in text and "ValueError: something unforeseen" in text

    def stopped():
        setup_logging(log)
        raise SystemExit(128 + 15)

    with pytest.raises(SystemExit):
        run_cli(stopped)
    assert "stopped (exit status 143: signal 15)" in log.read_text()
    for h in list(logging.getLogger("codecprobe").handlers):
        logging.getLogger("codecprobe").removeHandler(h)
        h.close()


def test_a_write_error_hidden_by_a_failed_close_is_still_named(tmp_path):
    """h5py's failed close after a failed write raises RuntimeError ("Can't decrement id ref
    count") during the OSError: the write error is found in the chain, and the stage ends
    with exit status 1 and its atexit cleanups done, not a segfault at shutdown."""
    import errno
    import subprocess
    import sys

    from codecprobe.io import CodecprobeError, OutputWriteError

    out = tmp_path / "f.h5"
    with pytest.raises(OutputWriteError, match=r"f\.h5: cannot write \(No space left on device\)") as e, atomic_path(out):
        try:
            raise OSError(errno.ENOSPC, "Can't synchronously write data (file write failed: ... long ...)")
        finally:
            raise RuntimeError("Can't decrement id ref count")
    assert isinstance(e.value, CodecprobeError) and not out.exists()
    marker = tmp_path / "cleaned"
    script = tmp_path / "stage.py"
    script.write_text(
        "import atexit, errno, pathlib, sys\n"
        f"sys.path.insert(0, {str(REPO / 'workflow')!r})\n"
        "from codecprobe.io import atomic_path, run_cli\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        "def main():\n"
        f"    with atomic_path({str(out)!r}):\n"
        "        raise OSError(errno.EDQUOT, 'quota')\n"
        "run_cli(main)\n"
    )  # fmt: skip
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    assert r.returncode == 1 and "cannot write (Disk quota exceeded)" in r.stderr, r.stderr
    assert marker.read_text() == "yes" and not out.exists()


def test_a_write_error_ends_the_stage_without_waiting_for_its_threads(tmp_path):
    """After an OutputWriteError run_cli ends the process at once (os._exit(1), after the
    log and atexit cleanups), not through interpreter shutdown, which waits for every
    non-daemon thread (and can crash or hang in HDF5 after a failed write): a thread that
    never ends does not keep the failed stage alive."""
    import subprocess
    import sys

    script = tmp_path / "stage.py"
    script.write_text(
        "import sys, threading\n"
        f"sys.path.insert(0, {str(REPO / 'workflow')!r})\n"
        "from codecprobe.io import OutputWriteError, run_cli\n"
        "def main():\n"
        "    threading.Thread(target=threading.Event().wait).start()  # non-daemon, waits forever\n"
        "    raise OutputWriteError('out.h5: cannot write (No space left on device)')\n"
        "run_cli(main)\n"
    )  # fmt: skip
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=10)
    assert r.returncode == 1, r.stderr
    assert "codecprobe error: out.h5: cannot write (No space left on device)" in r.stderr


def test_read_table_checks_what_the_stage_needs(tmp_path):
    """A hand-edited table: missing columns, text among numbers, empty cells in times and
    repeated ids are one line naming the file (they gave pandas tracebacks, a figure of
    garbled numbers, or a silent 'nearest frame' feature)."""
    from codecprobe.io import CodecprobeError, write_table

    path = tmp_path / "words.csv"
    write_table(pd.DataFrame({"token_id": [0, 1, 1], "start": [0.1, "x", 0.3], "end": [0.2, 0.4, None]}), path)
    with pytest.raises(CodecprobeError, match=r"words.csv: no column\(s\) path \(columns: token_id, start, end\)"):
        read_table(path, required=("token_id", "path"))
    with pytest.raises(CodecprobeError, match=r"words.csv: column start holds text where numbers belong \(row 2: 'x'\)"):
        read_table(path, numeric=("start",))
    write_table(pd.DataFrame({"token_id": [0, 1, 1], "start": [0.1, 0.2, 0.3], "end": [0.2, 0.4, None]}), path)
    with pytest.raises(CodecprobeError, match=r"words.csv: column end has an empty or non-finite value \(row 3\)"):
        read_table(path, finite=("start", "end"))
    with pytest.raises(CodecprobeError, match=r"words.csv: token_id 1 occurs more than once"):
        read_table(path, unique=("token_id",))
    assert len(read_table(path, required=("token_id",), numeric=("start", "end"), finite=("start",))) == 3


def test_first_few_names_some_of_many():
    from codecprobe.io import first_few

    assert first_few(["a", "b", "c"]) == "a, b, c"
    assert first_few(iter("abcd")) == "a, b, c ..."
    assert first_few(["x", "y", "z", "w"], sep="; ", more="; ...") == "x; y; z; ..."
    assert first_few(map(str, range(10)), 8) == "0, 1, 2, 3, 4, 5, 6, 7 ..." and first_few([]) == ""
