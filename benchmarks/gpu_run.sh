#!/usr/bin/env bash
# One device run (H100): encode-stage benchmark for every family, on CUDA, random
# weights at real size. Wheels for packages the device image lacks travel in .whl/.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/workflow PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
# LIMIT: this step's seconds (about twice its expected time), so that a hang leaves time for the steps after it
timeout ${LIMIT:-500} python3 benchmarks/encode.py --device cuda --words ${WORDS:-600} --families ${FAMILIES:-melrvq encodec mimi dac mimo} ${EXTRA:-}
# SYNC=1: also count the synchronising CUDA calls of the stage per source line
if [ -n "${SYNC:-}" ]; then timeout 300 python3 benchmarks/sync_check.py --families ${SYNC_FAMILIES:-mimo} --words ${SYNC_WORDS:-200}; fi
# TIMELINE=1: also split the stage into head / device busy / idle / tail (CUDA events)
# (TIMELINE_DEADLINE: the time, in seconds since the epoch, the timeline must end by: gpu_check.sh's budget)
if [ -n "${TIMELINE:-}" ]; then
    tl=${TIMELINE_LIMIT:-300}
    if [ -n "${TIMELINE_DEADLINE:-}" ]; then left=$((TIMELINE_DEADLINE - $(date +%s))); tl=$((left < tl ? (left > 20 ? left : 20) : tl)); fi
    timeout "$tl" python3 benchmarks/timeline.py --families ${SYNC_FAMILIES:-mimo} --words ${TIMELINE_WORDS:-3000} ${TIMELINE_EXTRA:-}
fi
# HEADTAIL=1: also the stage's head and tail on this host's CPU (an instant stand-in encoder)
if [ -n "${HEADTAIL:-}" ]; then timeout 200 python3 benchmarks/head_tail.py --words 300 3000; fi
# SIMULATE=1: also the stage against the simulated device on this host (to check the model against the GPU's numbers)
if [ -n "${SIMULATE:-}" ]; then
    timeout 200 python3 benchmarks/simulated_device.py --words 300 3000 --repeats 3
    timeout 120 python3 benchmarks/simulated_device.py --codec mimi --words 300 --repeats 3
fi
