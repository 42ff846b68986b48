#!/bin/bash
# (bench/ct2_aliased_encoder.py and the decoder-only copy live on the branch wip/decoder-only-copy, not on main)
# device call 6 on a fresh machine (2026-12-06, little time left): the pack's last piece, large-v3 prepared,
# CTranslate2's load of the whole model against the decoder-only copy, then one warm-up run of the hour (it writes
# the copy, compiles the kernels)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > /tmp/setup6.log 2>&1; echo "setup rc=$?"
timeout 150 python3 bench/device.py run production -- prepare --files 1 --models large-v3 > /tmp/prepare.log 2>&1; echo "prepare rc=$?"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
timeout 120 python3 bench/device.py exec -- python3 bench/ct2_aliased_encoder.py /tmp/bench-device/models/large-v3/ct2 --device cuda \
  --rounds 3 --work /tmp/bench-device/aliased --out $OUT/52-aliased.json > /tmp/52-aliased.log 2>&1; echo "aliased rc=$?"; grep -v '^\[' /tmp/52-aliased.log | tail -9
WARM=1 LIMIT=0 ONLY=new TAG=52 bash bench/results/gpu/production/logs/50-call7.sh
python3 -c "
import json; r=json.loads(open('$OUT/52-warm-up.jsonl').readline()); print('warm-up', r['wall_s'], r.get('rc'))
for t in r.get('timeline') or []:
    if 'decoder-only' in t[1] or 'models ready' in t[1]: print(t)"
