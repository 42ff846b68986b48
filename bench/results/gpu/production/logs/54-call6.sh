#!/bin/bash
# device call 6 of a fresh machine (after the production_e2e pack's setup calls 1-5; carry its call6 and bench/.data/pt):
# the pack's last piece, large-v3 and turbo prepared, one warm-up process (the machine's kernels); no GPU tests
# (they passed on main's GPU code in logs/53/gputests-call6.log)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1; echo "setup rc=$?"
timeout 240 python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader; nproc; lscpu | grep "Model name"
python3 -m pip install -q --no-index --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1; echo "pt rc=$?"
WARM=1 LIMIT=0 ONLY=new TAG=54 MODEL=large-v3 bash bench/results/gpu/production/logs/50-call7.sh
