#!/usr/bin/env bash
# The device check of issue 3 (encode stage / bare encoder >= 0.9 on a GPU), in one call
# of about 7-8 minutes on an H100 (run with .whl/ carried), most needed first. Every ratio
# is the median of interleaved turns (benchmarks/encode.py --repeats); each turn times the
# stage with 4 reader threads (config/paper.yaml's encode.threads) and with 1, against the
# same bare calls; for MIMI and MiMo at 300 words also (--replay) the stage's own batches
# encoded bare, which tells what the stage's batching costs the encoder from what its other
# work (reading, writing) costs it. Each turn starts with another of its timings (no reader
# count always first), every timing is warmed up once, each turn prints as it ends, and
# each step has its own time limit: about twice its expected time, cut so that the steps
# after it keep about their expected time before the call's end (TOTAL, 570 s: the
# device allows 600 s a call), so that one hang leaves the later steps time. Each step
# prints a header and its exit status:
# 1. MIMI at 300 words, 4 turns (its single turns ranged over +-20 %), then where its main
#    thread spends the stage (stack samples);
# 2. MiMo at 3,000 words (3 turns) with its CUDA-event timeline, and at 300 words (5 turns);
# 3. EnCodec and DAC at 300 words, and melrvq (NumPy on the host's CPU), with the speed-up
#    of batched audio slicing over one word at a time (also for MiMo at 300 words);
# 4. (not a timing) whether a word's codes on the GPU depend on its batch: 64 clips encoded
#    alone and in the stage's batches, per family (benchmarks/batch_invariance.py).
set -uo pipefail
cd "$(dirname "$0")/.."
if ! ls .whl/*.whl > /dev/null 2>&1; then  # git ignores .whl/: without it every step fails on its imports
    echo "gpu_check: no wheels in .whl/: recreate them (README, The next device check) and run with carry: [\".whl\"]"
    exit 2
fi
START=$SECONDS EPOCH=$(date +%s) TOTAL=${TOTAL:-570}
# limit MAX RESERVE: a step's seconds: MAX, cut to leave RESERVE before TOTAL for the steps
# after it (about half their limits: the earlier steps, the more needed, keep most of theirs);
# at least 20
limit() { local left=$((TOTAL - (SECONDS - START) - $2)); echo $((left < $1 ? (left > 20 ? left : 20) : $1)); }
step() { echo "=== gpu_check step $1 ($((SECONDS - START)) s in)"; }
done_() { echo "=== gpu_check step $1 exit $2 ($((SECONDS - START)) s in)"; }
step "1 mimi 300"
LIMIT=$(limit 240 300) FAMILIES=mimi WORDS=300 EXTRA="--no-one-by-one --repeats 4 --io-workers 4 1 --replay" bash benchmarks/gpu_run.sh
done_ "1 mimi 300" $?
step "1b mimi stack samples"
timeout "$(limit 90 260)" env PYTHONPATH=/tmp/site:$PWD/workflow python3 -u benchmarks/stack_sample.py --device cuda --family mimi --words 150 --io-workers 4 --top 8
done_ "1b mimi stack samples" $?
step "2 mimo 3000 + timeline"
LIMIT=$(limit 180 190) TIMELINE_LIMIT=120 TIMELINE_DEADLINE=$((EPOCH + TOTAL - 150)) TIMELINE_EXTRA="--io-workers 4 1" \
    FAMILIES=mimo WORDS=3000 EXTRA="--no-one-by-one --io-workers 4 1" TIMELINE=1 bash benchmarks/gpu_run.sh
done_ "2 mimo 3000 + timeline" $?
step "2b mimo 300"
LIMIT=$(limit 120 110) FAMILIES=mimo WORDS=300 EXTRA="--repeats 5 --io-workers 4 1 --replay" bash benchmarks/gpu_run.sh
done_ "2b mimo 300" $?
step "3 encodec dac melrvq 300"
LIMIT=$(limit 200 45) FAMILIES="encodec dac melrvq" WORDS=300 EXTRA="--io-workers 4" bash benchmarks/gpu_run.sh
done_ "3 encodec dac melrvq 300" $?
step "4 batch invariance"
timeout "$(limit 120 0)" env PYTHONPATH=/tmp/site:$PWD/workflow python3 -u benchmarks/batch_invariance.py --device cuda --words 64
done_ "4 batch invariance" $?
