#!/bin/bash
# (bench/ct2_aliased_encoder.py and the decoder-only copy live on the branch wip/decoder-only-copy, not on main)
# device call 7, the same machine (bench/.data/old = 17926e9 and bench/.data/pt carried): CTranslate2's load of the
# whole model against the decoder-only copy; the hour tip (17926e9) against new (the copy; the gather), alternating,
# until $LIMIT s; then the GPU tests with tiny.en
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
timeout 120 python3 bench/device.py exec -- python3 bench/ct2_aliased_encoder.py /tmp/bench-device/models/large-v3/ct2 --device cuda \
  --rounds 3 --work /tmp/bench-device/aliased --out $OUT/51-aliased.json > /tmp/51-aliased.log 2>&1; echo "aliased rc=$?"; grep -v '^\[' /tmp/51-aliased.log | tail -9
TAG=51ab LIMIT=${LIMIT:-180} bash bench/results/gpu/production/logs/50-call7.sh
bash bench/results/gpu/production/logs/50-call8.sh
