#!/bin/bash
# device call 7 of a fresh machine (after setup calls 1-6 of `python bench/device.py pack --measure production,e2e`,
# 7 pieces): the pack's last piece, large-v3 and turbo prepared (the hour), the machine's kind
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e/call7 > $OUT/setup7.log 2>&1; echo "setup rc=$?"; tail -3 $OUT/setup7.log
timeout 300 python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1; echo "prepare rc=$?"; tail -3 $OUT/prepare.log
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader; nproc; lscpu | grep "Model name"
