#!/usr/bin/env bash
# The device check of issue 3 (encode stage / bare encoder >= 0.9 on a GPU), in one call
# of about 6-7 minutes on an H100 (run with .whl/ carried), most needed first:
# 1. MiMo at 3,000 words and its CUDA-event timeline;
# 2. MiMo at 300 words, its timeline, its synchronising calls (the codebook copies no
#    longer wait), the head and tail on this host's CPU, and the simulated device of
#    benchmarks/simulated_device.py on this host (to check its model against 1 and 2);
# 3. MIMI, EnCodec and DAC at 300 words, and melrvq (NumPy on the host's CPU: its ratio on
#    a 16-core host, where reading need not share the encoder's cores).
# Every ratio is the median of 3 interleaved turns (benchmarks/encode.py --repeats).
set -uo pipefail
cd "$(dirname "$0")/.."
FAMILIES=mimo WORDS=3000 EXTRA=--no-one-by-one TIMELINE=1 bash benchmarks/gpu_run.sh
FAMILIES=mimo WORDS=300 EXTRA=--no-one-by-one TIMELINE=1 TIMELINE_WORDS=300 HEADTAIL=1 SYNC=1 SIMULATE=1 \
    bash benchmarks/gpu_run.sh
FAMILIES="mimi encodec dac melrvq" WORDS=300 EXTRA=--no-one-by-one bash benchmarks/gpu_run.sh
