#!/usr/bin/env bash
# The device check of issue 3 (encode stage / bare encoder >= 0.9 on a GPU), in one call
# of about 7-8 minutes on an H100 (run with .whl/ carried), most needed first. Every ratio
# is the median of interleaved turns (benchmarks/encode.py --repeats); each turn times the
# stage with 4 reader threads (config/paper.yaml's encode.threads) and with 1, against the
# same bare calls; for MIMI and MiMo at 300 words also (--replay) the stage's own batches
# encoded bare, which tells what the stage's batching costs the encoder from what its other
# work (reading, writing) costs it. Each turn starts with another of its timings (no reader
# count always first), every timing is warmed up once, each turn prints as it ends, and
# each step has its own time limit (about twice its expected time), so that one hang
# leaves the steps after it their time:
# 1. MIMI at 300 words, 4 turns (its single turns ranged over +-20 %), then where its main
#    thread spends the stage (stack samples);
# 2. MiMo at 3,000 words (3 turns) with its CUDA-event timeline, and at 300 words (5 turns);
# 3. EnCodec and DAC at 300 words, and melrvq (NumPy on the host's CPU), with the speed-up
#    of batched audio slicing over one word at a time (also for MiMo at 300 words);
# 4. (not a timing) whether a word's codes on the GPU depend on its batch: 64 clips encoded
#    alone and in the stage's batches, per family (benchmarks/batch_invariance.py).
set -uo pipefail
cd "$(dirname "$0")/.."
LIMIT=240 FAMILIES=mimi WORDS=300 EXTRA="--no-one-by-one --repeats 4 --io-workers 4 1 --replay" bash benchmarks/gpu_run.sh
timeout 90 env PYTHONPATH=/tmp/site:$PWD/workflow python3 -u benchmarks/stack_sample.py --device cuda --family mimi --words 150 --io-workers 4 --top 8
LIMIT=180 TIMELINE_LIMIT=120 TIMELINE_EXTRA="--io-workers 4 1" FAMILIES=mimo WORDS=3000 EXTRA="--no-one-by-one --io-workers 4 1" TIMELINE=1 bash benchmarks/gpu_run.sh
LIMIT=120 FAMILIES=mimo WORDS=300 EXTRA="--repeats 5 --io-workers 4 1 --replay" bash benchmarks/gpu_run.sh
LIMIT=200 FAMILIES="encodec dac melrvq" WORDS=300 EXTRA="--io-workers 4" bash benchmarks/gpu_run.sh
timeout 120 env PYTHONPATH=/tmp/site:$PWD/workflow python3 -u benchmarks/batch_invariance.py --device cuda --words 64
