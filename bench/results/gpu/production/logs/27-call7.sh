#!/bin/bash
# device call 7 (machine t, fresh): setup and the models (the GPU tests ran on this code on machine s)
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
echo "prepare rc=$?" >> $OUT/prepare.log
