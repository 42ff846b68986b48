#!/bin/bash
# device call 8, the same machine: the GPU tests (tiny.en travels with e2e), then turbo prepared
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 -m pip install -q --no-index --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1; echo "pt rc=$?"
timeout ${TESTS_S:-200} python3 bench/device.py exec -- python3 -m pytest tests/gpu -p no:cacheprovider -p no:timeout -o addopts= -rs > $OUT/50-gputests.log 2>&1
echo "gpu tests rc=$?"; tail -6 $OUT/50-gputests.log
if [ -n "$TURBO" ]; then timeout 150 python3 bench/device.py run production -- prepare --files 1 --models turbo > $OUT/prepare-turbo.log 2>&1; echo "prepare turbo rc=$?"; fi
