#!/bin/bash
# device call 6, compact (little device time left): the pack's last piece, large-v3 prepared, the built-in diarizer
# alone on the hour (batches, the window cut), then whole processes of the large-v3 hour until $LIMIT s (50-call7.sh)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1; echo "setup rc=$?"
timeout 150 python3 bench/device.py run production -- prepare --files 1 --models large-v3 > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
timeout 120 python3 bench/device.py exec -- python3 bench/builtin_batches.py /tmp/bench-device/payload/production/hour.mp3 \
  --device cuda --variants ${VARIANTS:-256:256:loop,256:256,256:1024} --repeats ${REPEATS:-2} --out $OUT/50-builtin-batches.json > $OUT/50-builtin-batches.log 2>&1
echo "batches rc=$?"; grep '^{"variant' $OUT/50-builtin-batches.log | cut -c1-230
WARM=1 bash bench/results/gpu/production/logs/50-call7.sh
