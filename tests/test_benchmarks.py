"""The encode benchmarks run where they matter (a GPU lent for minutes): their plumbing is
checked here, on the CPU, so that a change to the stage cannot break them unseen.
``timeline.py`` gets stand-in CUDA events that read the host clock."""

from __future__ import annotations

import importlib
import re
import sys
import time
import types

import pytest

from conftest import REPO

pytest.importorskip("torch")

SMALL_MIMO = {"encoder_layers": 2, "d_model": 64, "encoder_attention_heads": 4, "encoder_ffn_dim": 128, "encoder_skip_layer_id": 1}


@pytest.fixture
def bench(monkeypatch):
    """The benchmark scripts as modules (they import each other by file name)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    names = ("encode", "timeline", "head_tail", "simulated_device", "stack_sample")
    for name in names:
        monkeypatch.delitem(sys.modules, name, raising=False)
    return types.SimpleNamespace(**{n: importlib.import_module(n) for n in names})


@pytest.fixture
def small_mimo():
    from codecprobe.codecs import CodecSpec, load_codec

    return load_codec(CodecSpec("mimo", "mimo", weights="random", n_layers=3, options={"config": SMALL_MIMO, "fill_seconds": 2.0}))


class HostEvent:
    """A stand-in ``torch.cuda.Event``: recorded at the host's clock."""

    def __init__(self, enable_timing: bool = True):
        self.t = None

    def record(self) -> None:
        self.t = time.perf_counter()

    def elapsed_time(self, other: "HostEvent") -> float:
        return 1000 * (other.t - self.t)

    def synchronize(self) -> None:
        pass


def test_timeline_splits_the_whole_stage(bench, small_mimo, tmp_path):
    """head + busy + idle + tail is the stage's time, one span per batch of the stage's log."""
    words = bench.encode.synthetic_words(tmp_path, 60)
    torch = types.SimpleNamespace(cuda=types.SimpleNamespace(Event=HostEvent, synchronize=lambda: None))
    head, busy, idle, tail, total, n, split, gaps = bench.timeline.timed_stage(
        torch, small_mimo, words, bench.encode.fresh_path(tmp_path, "t"), bench.encode.stage_config(io_workers=2, shard_words=16, max_batch=8)
    )
    assert min(head, busy, idle, tail) >= 0 and busy > 0
    assert head + busy + idle + tail == pytest.approx(total, rel=1e-6)
    assert f"{n} batches" in split and n >= 2
    # the 6 longest of the n - 1 gaps, in batch order (which 6 depends on timing)
    after = [int(m) for m in re.findall(r"after (\d+) \(", gaps)]
    assert len(after) == min(6, n - 1) and after == sorted(set(after)) and after[-1] <= n - 2


def test_head_tail_times_both_ends(bench, small_mimo, tmp_path):
    """The instant encoder gives codes of the codec's shape and range; head and tail are
    parts of the stage's time, and the output is complete."""
    import h5py

    codec = small_mimo
    codec.encode = bench.head_tail.instant_encoder(codec)
    codes = codec.encode(__import__("torch").zeros(3, 24000))
    assert tuple(codes.shape) == (3, 3, codec.n_frames(24000))
    assert all(int(codes[:, k].max()) < len(t) for k, t in enumerate(codec.tables()))
    words = bench.encode.synthetic_words(tmp_path, 60)
    out = bench.encode.fresh_path(tmp_path, "h")
    head, tail, total = bench.head_tail.head_tail(codec, words, out, bench.encode.stage_config(io_workers=2))
    assert 0 < head and 0 < tail and head + tail < total
    with h5py.File(out) as h:
        assert h["pooled/mean"].shape[0] == 60 and h.attrs["n_tokens"] == 60


def test_encode_benchmark_reports_ratios(bench, tmp_path):
    """``benchmarks/encode.py`` on melrvq: the ratios are those of the timings it reports."""
    words = bench.encode.synthetic_words(tmp_path, 30)
    (r,) = bench.encode.bench("melrvq", words, "cpu", tmp_path, one_by_one=True, repeats=2)
    assert r["words"] == 30 and len(r["each"]) == 2
    assert r["stage/bare"] == pytest.approx(r["bare_s"] / r["stage_s"])
    assert r["batched/one-by-one"] == pytest.approx(r["one_by_one_s"] / r["batched_s"])
    assert "read+encode" in r["split"] and "batches, padding" in r["split"]


def test_encode_benchmark_times_each_reader_count_against_the_same_bare_calls(bench, tmp_path, monkeypatch):
    """``--io-workers 3 1``: one result per reader count, in that order; each stage run used
    its reader count; both compare with the same bare timings (one per turn)."""
    words = bench.encode.synthetic_words(tmp_path, 20)
    seen = []
    real_run = bench.encode.run
    monkeypatch.setattr(bench.encode, "run", lambda codec, w, p, out, cfg: seen.append(cfg.io_workers) or real_run(codec, w, p, out, cfg))
    rs = bench.encode.bench("melrvq", words, "cpu", tmp_path, one_by_one=False, repeats=2, io_workers=(3, 1))
    assert [r["io_workers"] for r in rs] == [3, 1]
    # the warm-up, then both counts in each of 2 turns, each turn starting one step later
    # (turn 1: 3, 1, bare; turn 2: 1, bare, 3): no reader count always runs first
    assert seen == [3, 3, 1, 1, 3]
    assert rs[0]["bare_s"] == rs[1]["bare_s"] and len(rs[0]["each"]) == len(rs[1]["each"]) == 2
    for r in rs:
        assert r["stage/bare"] == pytest.approx(r["bare_s"] / r["stage_s"])
        assert r["one_by_one_s"] != r["one_by_one_s"]  # nan: not timed


def test_stack_sample_finds_the_main_thread_in_the_stage(bench, tmp_path, capsys):
    """``benchmarks/stack_sample.py``'s sampler: the main thread's time in a project function
    that spins is attributed to that function, the sampler does not sample itself, and a
    thread blocked on an event counts as waiting."""
    import threading

    from codecprobe import arrays

    stack = bench.stack_sample
    gate = threading.Event()
    other = threading.Thread(target=gate.wait, name="blocked_reader", daemon=True)
    other.start()
    spin = arrays.group_positions  # any function of the package, called in a loop
    import numpy as np

    codes = np.zeros(2000, np.int64)
    with stack.Sampler(0.001) as s:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.3:
            spin(codes, 1)
    gate.set()
    other.join()
    assert s.n >= 20
    top_ours = s.main_ours.most_common(1)[0][0]
    assert "arrays.py" in top_ours and "group_positions" in top_ours
    assert not any("sampler" in k for k in s.main) and ("sampler", "python") not in s.others
    assert s.others[("blocked", "waiting")] >= 0.8 * s.n
    s.report("spin", 0.3, 3)
    assert "spin: 0.30 s" in capsys.readouterr().out


def test_simulated_device_runs_the_stage_against_its_model(bench, tmp_path):
    """The stage on the simulated device: one device job per batch (MiMo-like) or per clip
    (MIMI-like), each at least its modelled time; head + busy + idle + tail is the stage's
    time; the output is complete; torch.cuda.Event is restored; and the bare model's known
    values (device-bound: one launch, then the jobs back to back; host-bound: every launch,
    then the last job)."""
    import h5py
    import torch

    sim = bench.simulated_device
    words = bench.encode.synthetic_words(tmp_path, 60)
    seconds = words.eval("end - start").sum()
    event, stream, name = torch.cuda.Event, torch.cuda.current_stream, torch.cuda.get_device_name
    for kind, jobs in (("mimo", None), ("mimi", 60)):
        codec = sim.SimCodec(sim.SimDevice(), fixed_s=0.001, s_per_second=0.002, launch_s=0.001, kind=kind)
        out = bench.encode.fresh_path(tmp_path, kind)
        r = sim.simulate(codec, words, out, bench.encode.stage_config(io_workers=2, shard_words=16, max_batch=8))
        assert torch.cuda.Event is event and torch.cuda.current_stream is stream and torch.cuda.get_device_name is name
        assert r["batches"] == len(codec.sizes) >= 3 and sum(codec.sizes) == 60
        assert len(codec.sim.spans) == (jobs or r["batches"])
        assert r["busy"] >= 0.001 * len(codec.sim.spans) + 0.002 * seconds * 0.999
        assert r["head"] + r["busy"] + r["idle"] + r["tail"] == pytest.approx(r["stage"], rel=1e-6)
        with h5py.File(out) as h:
            assert h["pooled/mean"].shape == (60, codec.n_layers, codec.dim) and h.attrs["n_tokens"] == 60
    mimo = sim.SimCodec(sim.SimDevice(), fixed_s=0.010, s_per_second=0.002, launch_s=0.001)
    bare, n = sim.bare_model(mimo, words, bench.encode.stage_config(max_batch=8))
    assert n == 8 and bare == pytest.approx(0.001 + 8 * 0.010 + 0.002 * seconds, rel=1e-3)
    mimi = sim.SimCodec(sim.SimDevice(), fixed_s=0.0005, s_per_second=0.0, launch_s=0.001, kind="mimi")
    assert sim.bare_model(mimi, words, bench.encode.stage_config(max_batch=8))[0] == pytest.approx(60 * 0.001 + 0.0005)


def test_percent_says_when_not_known(bench):
    assert bench.encode.percent(0.359) == "35.9 %" and bench.encode.percent(float("nan")) == "n/a"


def test_padding_counts_padded_over_real_samples(bench):
    """[2 x 10] holding 10 + 6 samples and [1 x 4] holding 4: 24 / 20 - 1; a batch without
    lengths (its clips' lengths unknown to the encoder) makes it unknown."""
    import numpy as np

    batches = [(np.zeros((2, 10)), np.array([10, 6])), (np.zeros((1, 4)), np.array([4]))]
    assert bench.encode.padding(batches) == pytest.approx(24 / 20 - 1)
    assert np.isnan(bench.encode.padding(batches + [(np.zeros((2, 3)), None)]))


def test_recorded_batches_keeps_the_encoders_inputs(bench, small_mimo):
    """Each call's input is kept as a copy (the caller may reuse its buffer), the codes are
    the encoder's own, and the codec's encode is its own again afterwards."""
    import torch

    codec = small_mimo
    wav = torch.randn(2, 4800, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([4800, 3000])
    want = codec.encode(wav, lengths=lengths)
    with bench.encode.recorded_batches(codec) as kept:
        got = codec.encode(wav, lengths=lengths)
        codec.encode(wav[:1])
        wav.zero_()
        lengths.zero_()
    assert torch.equal(got, want) and "encode" not in vars(codec)
    assert len(kept) == 2 and kept[1][1] is None and tuple(kept[1][0].shape) == (1, 4800)
    assert torch.equal(kept[0][1], torch.tensor([4800, 3000])) and kept[0][0].abs().sum() > 0
    assert torch.equal(codec.encode(kept[0][0], lengths=kept[0][1]), want)


def test_encode_benchmark_replays_the_stages_own_batches(bench, tmp_path, monkeypatch):
    """``--replay``: the stage's encoder calls of the untimed pass are made again in every
    turn after the bare calls, and ``bare/replay`` is the ratio of the timings reported."""
    words = bench.encode.synthetic_words(tmp_path, 40)
    real_load = bench.encode.load_codec
    calls = []

    def load(spec, device):
        codec = real_load(spec, device)
        encode = codec.encode
        codec.encode = lambda wav, lengths=None: calls.append(wav.shape) or encode(wav)
        return codec

    monkeypatch.setattr(bench.encode, "load_codec", load)
    # no batch held for its padding: the stage batches shard by shard, unlike the bare call
    (r,) = bench.encode.bench("melrvq", words, "cpu", tmp_path, one_by_one=False, repeats=2, replay=True, shard_words=16, max_batch=8, hold_padding=100.0)
    n, b = r["replay_batches"], r["batches"]
    assert n >= 5 and f"{n} batches" in r["split"]
    # the untimed pass of the stage and of the bare batches, then in turn 1: the stage, the
    # bare calls, the replay; in turn 2 (one step later): the replay, the bare calls, the
    # stage (an order effect hits both)
    assert len(calls) == n + b + 2 * (n + b + n)
    first, bare = calls[:n], calls[n : n + b]
    assert bare != first  # the bare call's batching
    stage1, bare1, replay1 = calls[n + b : 2 * n + b], calls[2 * n + b : 2 * n + 2 * b], calls[2 * n + 2 * b : 3 * n + 2 * b]
    replay2, bare2, stage2 = calls[3 * n + 2 * b : 4 * n + 2 * b], calls[4 * n + 2 * b : 4 * n + 3 * b], calls[4 * n + 3 * b :]
    assert stage1 == stage2 == replay1 == replay2 == first and bare1 == bare2 == bare
    assert sum(s[0] for s in first) == 40
    assert r["bare/replay"] == pytest.approx(r["bare_s"] / r["replay_s"])


def test_batch_invariance_counts_differing_frames(monkeypatch, capsys):
    """``benchmarks/batch_invariance.py``: the share of frames whose codes differ, overall and
    per layer, on hand-made codes; and a run on melrvq (batch-invariant: 0 %)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    monkeypatch.delitem(sys.modules, "batch_invariance", raising=False)
    bi = importlib.import_module("batch_invariance")
    import numpy as np

    a = [np.zeros((2, 3), int), np.zeros((2, 1), int)]
    b = [np.array([[0, 1, 0], [0, 1, 1]]), np.zeros((2, 1), int)]
    share, per_layer = bi.differing(a, b)
    assert share == 0.5 and per_layer.tolist() == [0.25, 0.5]  # frames 2 and 3 of 4; layer 1: 1 of 4, layer 2: 2 of 4
    monkeypatch.setattr(sys, "argv", ["batch_invariance.py", "--device", "cpu", "--families", "melrvq", "--words", "12"])
    bi.main()
    out = capsys.readouterr().out
    assert re.search(r"melrvq +on cpu: 12 clips in \d+ batches; frames whose codes differ batched vs alone: 0\.00 %", out), out


def test_encode_benchmark_prints_a_row_per_family(bench, monkeypatch, capsys):
    """``benchmarks/encode.py`` as the README runs it (``main``), on melrvq: the header, the
    row with stage/bare and the batched speed-up, the split and the turns, and ``--replay``."""
    monkeypatch.setattr(sys, "argv", ["encode.py", "--families", "melrvq", "--words", "20", "--repeats", "1", "--replay"])
    bench.encode.main()
    out = capsys.readouterr().out
    assert "stage/bare" in out.splitlines()[1] and "speed-up" in out.splitlines()[1]
    row = re.search(r"^melrvq +cpu +20 +(\d+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)$", out, re.MULTILINE)
    assert row, out
    assert float(row.group(4)) > 0 and float(row.group(7)) > 0  # stage/bare and the speed-up (their values: the test above)
    assert "stage split: read+encode" in out and "stage/bare of each of 1 turns:" in out and "bare/replay" in out


PARSE_ONLY = r'''
import argparse, json, runpy, sys
from codecprobe.codecs.base import KNOWN_FAMILIES

_parse = argparse.ArgumentParser.parse_args


def parse_args(self, args=None, namespace=None):  # the script's own parser, then stop
    ns = vars(_parse(self, args, namespace))
    names = ns.get("families") or [ns["family"]] if ("families" in ns or "family" in ns) else []
    unknown = [f for f in names if f not in KNOWN_FAMILIES and f != "mimo-per-clip"]
    if unknown:
        sys.exit(f"unknown families {unknown}")
    print(json.dumps({"script": sys.argv[0], "args": ns}), file=open(sys.argv[0] + ".parsed", "a"))
    sys.exit(0)


argparse.ArgumentParser.parse_args = parse_args
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def test_the_device_check_script_gives_every_benchmark_options_it_accepts(tmp_path):
    """``benchmarks/gpu_check.sh`` is run once, on a lent GPU with minutes of device time
    (README, "The next device check"): every command line it makes (through ``gpu_run.sh``)
    must parse. Run here with ``python3`` and ``nvidia-smi`` stood in for: each benchmark
    script gets its argument parser run on the real command line, then stops."""
    import json
    import os
    import shutil
    import subprocess
    from pathlib import Path

    repo = tmp_path / "repo"
    shutil.copytree(REPO / "benchmarks", repo / "benchmarks")
    (repo / "workflow").symlink_to(REPO / "workflow")
    r = subprocess.run(["bash", str(repo / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "gpu_check: no wheels in .whl/" in r.stdout, r  # not carried: stop before any step
    (repo / ".whl").mkdir()
    (repo / ".whl" / "stand_in-1.0-py3-none-any.whl").write_bytes(b"")
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    (tmp_path / "parse_only.py").write_text(PARSE_ONLY)
    shim = f"""#!/usr/bin/env bash
[ "$1" = -u ] && shift
case "$1" in -m|-c) echo "skip $*" >> {log}; exit 0;; esac
"{sys.executable}" "{tmp_path / 'parse_only.py'}" "$@"
rc=$?
echo "rc=$rc $*" >> {log}
exit $rc
"""
    for name, text in (("python3", shim), ("nvidia-smi", "#!/bin/sh\necho stand-in GPU\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(REPO / "workflow"))
    r = subprocess.run(["bash", str(repo / "benchmarks" / "gpu_check.sh")], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600, check=False)  # fmt: skip
    calls = log.read_text().splitlines()
    ran = [c for c in calls if c.startswith("rc=")]
    assert ran and all(c.startswith("rc=0 ") for c in ran), (calls, r.stdout[-2000:], r.stderr[-4000:])
    parsed = [json.loads(line) for f in sorted((repo / "benchmarks").glob("*.py.parsed")) for line in f.read_text().splitlines()]
    scripts = sorted(Path(p["script"]).name for p in parsed)
    assert scripts == sorted(["encode.py"] * 4 + ["stack_sample.py", "timeline.py", "batch_invariance.py"]), scripts
    encode_runs = [p["args"] for p in parsed if p["script"].endswith("encode.py")]
    assert all(a["device"] == "cuda" for a in encode_runs)
    assert sorted(tuple(a["families"]) for a in encode_runs) == sorted(
        [("mimi",), ("mimo",), ("mimo",), ("encodec", "dac", "melrvq")])  # fmt: skip
    assert {(tuple(a["families"]), a["words"], a["replay"]) for a in encode_runs if a["replay"]} == {
        (("mimi",), 300, True), (("mimo",), 300, True)}  # fmt: skip


def test_the_device_check_ends_within_one_device_call():
    """Each step of ``gpu_check.sh`` is cut so that the later steps keep their reserve: even
    if every step hangs to its limit, the check ends by TOTAL (570 s; the device allows 600 s
    a call). Its step limits (about twice their expected times) add up to 1,070 s, so that
    before, a hang early on cut off the last steps with the call."""
    import re
    import subprocess

    text = (REPO / "benchmarks" / "gpu_check.sh").read_text()
    total = int(re.search(r"TOTAL=\$\{TOTAL:-(\d+)\}", text).group(1))
    assert total <= 590
    steps = [(int(a), int(b)) for a, b in re.findall(r"limit (\d+) (\d+)\)", text)]
    timeline = int(re.search(r"TIMELINE_LIMIT=(\d+) TIMELINE_DEADLINE=\$\(\(EPOCH \+ TOTAL - (\d+)\)\)", text).group(2))
    assert len(steps) == 6 and [r for _, r in steps] == sorted((r for _, r in steps), reverse=True) and steps[-1][1] == 0
    # the bash function, at a few moments: MAX, or what the reserve leaves, at least 20
    fn = re.search(r"^limit\(\) \{.*\}$", text, re.MULTILINE).group(0)
    for elapsed, mx, reserve, want in ((0, 240, 300, 240), (100, 240, 300, 170), (560, 120, 0, 20), (400, 120, 0, 120)):
        out = subprocess.run(["bash", "-c", f"{fn}; TOTAL={total}; START=0; SECONDS={elapsed}; limit {mx} {reserve}"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        assert out == str(want), (elapsed, mx, reserve, out)
    # every step hangs to its limit (the timeline, within step 2, to its deadline)
    elapsed = 0
    for i, (mx, reserve) in enumerate(steps):
        elapsed += max(20, min(mx, total - elapsed - reserve))
        if i == 2:  # step 2's timeline runs until TOTAL - its reserve
            elapsed = max(elapsed + 20, total - timeline)
    assert elapsed <= total, elapsed
