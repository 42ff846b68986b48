#!/bin/bash
# device call 3 (fresh machine, the production pack's last piece): large-v3 only
set -x
python3 bench/device.py setup bench/.data/device/production/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
timeout 200 python3 bench/device.py run production -- prepare --files 1 --models large-v3 > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
tail -2 $OUT/prepare.log; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
