#!/bin/bash
# device call 3 (the production pack's last piece): models, the 40-clip folder, then CTranslate2's generate on 128 windows: calls one at a time vs 2 at once on a model with 2 replicas (large-v3, turbo)
set -x
python3 bench/device.py setup bench/.data/device/production/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
timeout 180 python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
python3 bench/device.py run production -- make-folder --files 40 > $OUT/folder-make.log 2>&1; echo "folder rc=$?"
G="python3 bench/device.py exec -- python3 bench/generate_options.py --device cuda --windows 128 --workers 1,2 --only faster-whisper,suppress-eot-only --batches 64"
timeout 140 $G --model /tmp/bench-device/models/large-v3/ct2 --json $OUT/38-generate-large-v3.json > $OUT/38-gen-large-v3.log 2>&1; echo "gen large-v3 rc=$?"
timeout 80 $G --model /tmp/bench-device/models/turbo/ct2 --json $OUT/38-generate-turbo.json > $OUT/38-gen-turbo.log 2>&1; echo "gen turbo rc=$?"
nvidia-smi --query-gpu=name,memory.total --format=csv
