#!/bin/bash
# device call 3 (fresh machine, the production pack's last piece): the folder and both models
set -x
python3 bench/device.py setup bench/.data/device/production/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
timeout 300 python3 bench/device.py run production -- prepare --files 40 --models large-v3,turbo > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
tail -5 $OUT/prepare.log
