#!/bin/bash
# device call 6 (fresh machine, the production_e2e pack's last piece): prepare large-v3, then the built-in
# diarizer alone on the hour (batches, the window cut)
set -x
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1; echo "setup rc=$?"; tail -2 $OUT/setup6.log
timeout 150 python3 bench/device.py run production -- prepare --files 1 --models large-v3 > $OUT/prepare.log 2>&1; echo "prepare rc=$?"; tail -2 $OUT/prepare.log
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
timeout 150 python3 bench/device.py exec -- python3 bench/builtin_batches.py /tmp/bench-device/payload/production/hour.mp3 \
  --device cuda --variants ${VARIANTS:-256:256:loop,256:256,256:1024} --repeats ${REPEATS:-2} --out $OUT/50-builtin-batches.json > $OUT/50-builtin-batches.log 2>&1
echo "batches rc=$?"; grep -v '^ ' $OUT/50-builtin-batches.log | tail -16 | cut -c1-260
