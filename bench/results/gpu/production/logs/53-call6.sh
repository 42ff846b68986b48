#!/bin/bash
# next device session, call 6 (after the production_e2e pack's setup calls 1-5; carry its call6 and bench/.data/pt):
# the pack's last piece, large-v3 and turbo prepared, the GPU tests with tiny.en (the 1024 d-vector check updated
# after 2026-12-06 has not run), a warm-up process (the machine's kernels)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > /tmp/setup6.log 2>&1; echo "setup rc=$?"
timeout 240 python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > /tmp/prepare.log 2>&1; echo "prepare rc=$?"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
TESTS_S=${TESTS_S:-150} bash bench/results/gpu/production/logs/50-call8.sh
WARM=1 LIMIT=0 ONLY=new TAG=53 MODEL=turbo bash bench/results/gpu/production/logs/50-call7.sh
