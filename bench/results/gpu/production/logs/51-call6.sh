#!/bin/bash
# (bench/ct2_aliased_encoder.py and the decoder-only copy live on the branch wip/decoder-only-copy, not on main)
# (as run: its aliased step's model path lacked /ct2 and failed; 52-call6.sh has the right one)
# device call 6 (2026-12-06, second session): the pack's last piece, large-v3 prepared; CTranslate2's load of the
# whole model against the copy with the encoder's matrices aliased (bench/ct2_aliased_encoder.py); the hour with
# built-in speakers as it ships (warm-up, then new only); the built-in diarizer alone (old cut, gather, 1024)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1; echo "setup rc=$?"; tail -3 $OUT/setup6.log
timeout 150 python3 bench/device.py run production -- prepare --files 1 --models large-v3 > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; ls /tmp/bench-device/models
timeout 150 python3 bench/device.py exec -- python3 bench/ct2_aliased_encoder.py /tmp/bench-device/models/large-v3 --device cuda \
  --rounds 4 --work /tmp/bench-device/aliased --out $OUT/51-aliased.json 2>&1 | grep -v '^\[' | tail -12
WARM=1 LIMIT=${LIMIT:-100} ONLY=new TAG=51 bash bench/results/gpu/production/logs/50-call7.sh
timeout 120 python3 bench/device.py exec -- python3 bench/builtin_batches.py /tmp/bench-device/payload/production/hour.mp3 \
  --device cuda --variants ${VARIANTS:-256:256:loop,256:256,256:1024} --repeats ${REPEATS:-2} --out $OUT/51-builtin-batches.json > /tmp/51-batches.log 2>&1
echo "batches rc=$?"; grep '^{"variant' /tmp/51-batches.log | cut -c1-230
