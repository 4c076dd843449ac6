"""Where the encode stage makes the host wait for the GPU (CUDA only).

Runs the encode stage (``codecprobe.encode.run``, audio slicing) for each family on the
same synthetic words as ``benchmarks/encode.py``, once as a warm-up and once under
``torch.cuda.set_sync_debug_mode("warn")``, and prints how many synchronising CUDA calls
each source line made. Per shard a few are expected (reading codes back, pooling); a line
that synchronises once per batch is what keeps the host from queueing ahead.

Usage: ``PYTHONPATH=workflow python benchmarks/sync_check.py [--families mimo] [--words 300]``.
Without CUDA it says so and exits.
"""

from __future__ import annotations

import argparse
import collections
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode import fresh_path, stage_config, warm_cuda_codecs  # noqa: E402

from codecprobe.encode import run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="+", default=["mimo"])
    ap.add_argument("--words", type=int, default=300)
    a = ap.parse_args()
    for torch, codec, words, tmp in warm_cuda_codecs(a.families, a.words, "sync_check"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                run(codec, words, None, fresh_path(tmp, codec.family), stage_config())
            finally:
                torch.cuda.set_sync_debug_mode("default")
        where = collections.Counter(f"{Path(w.filename).name}:{w.lineno}" for w in caught if "synchroniz" in str(w.message))
        print(f"{codec.family}: {sum(where.values())} synchronising calls for {a.words} words")
        for loc, n in where.most_common(15):
            print(f"  {n:6d}  {loc}")

if __name__ == "__main__":
    main()
