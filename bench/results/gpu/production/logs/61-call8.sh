#!/bin/bash
# device call 8 of a fresh machine (after 60-call7.sh): CTranslate2's search, the torch one and the CUDA-graph
# prototype (its captures now one at a time, each on its call's own stream) alone, then two calls at a time
# (the hour's two decoder lanes), 64 windows of large-v3, batches 16 and 32
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
timeout ${MICRO_S:-300} python3 bench/device.py exec -- python3 bench/torch_decoder.py --model /tmp/bench-device/models/large-v3/ct2 \
  --device cuda --windows 64 --batches ${BATCHES:-16,32} --rounds ${ROUNDS:-1} --two --variants ct2,torch,graph \
  --json $OUT/${TAG:-61}-graphs-two-large-v3.json > $OUT/${TAG:-61}-graphs-two.log 2>&1
echo "micro rc=$?"; grep -E "variant|graphs|rror" $OUT/${TAG:-61}-graphs-two.log | cut -c1-200 | tail -20
