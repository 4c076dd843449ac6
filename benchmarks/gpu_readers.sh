#!/usr/bin/env bash
# Device check of session 16 (about 3.5 minutes on an H100, .whl/ carried): does the
# stage lose pace to its reader threads (they take the GIL from the thread queueing
# kernels)? Each ratio is the median of interleaved turns, every reader count in each turn.
# 1. MIMI (launch-bound: each clip alone) at 150 words, 8 and 1 reader threads;
# 2. where MIMI's main thread and the other threads spend the stage (stack samples);
# 3. MiMo at 3,000 words with 8, 4, 2 and 1 reader threads, and at 300 words with 8, 2, 1.
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/workflow PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nproc
timeout 70 python3 benchmarks/encode.py --device cuda --families mimi --words 150 --repeats 2 --io-workers 8 1 --no-one-by-one
timeout 45 python3 benchmarks/stack_sample.py --device cuda --family mimi --words 150 --io-workers 8 --top 10
timeout 80 python3 benchmarks/encode.py --device cuda --families mimo --words 3000 --repeats 3 --io-workers 8 4 2 1 --no-one-by-one
timeout 30 python3 benchmarks/encode.py --device cuda --families mimo --words 300 --repeats 5 --io-workers 8 2 1 --no-one-by-one
