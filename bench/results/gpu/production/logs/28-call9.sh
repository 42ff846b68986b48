#!/bin/bash
# device call 9 (machine u, fresh): the code of 3087364 (= e4a4f29's package): the 40-clip folder and the hour with the built-in speakers, large-v3, folder / hour / folder
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
python3 bench/device.py run production -- prepare --files 1 --models large-v3 > $OUT/prepare.log 2>&1
python3 bench/device.py run production -- make-folder --files 40 > $OUT/28-folder-make.log 2>&1
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
B="--extra-args=--diarization-model=builtin"
O=$OUT/28-folder-builtin.jsonl
python3 bench/device.py run production -- run --input folder --systems ours --model large-v3 --variant builtin $B $NEW --out $O > $OUT/28-run.log 2>&1
python3 bench/device.py run production -- run --input hour --systems ours --model large-v3 --no-warmup --variant builtin $B $NEW --out $O >> $OUT/28-run.log 2>&1
python3 bench/device.py run production -- run --input folder --systems ours --model large-v3 --no-warmup --variant builtin $B $NEW --out $O >> $OUT/28-run.log 2>&1
