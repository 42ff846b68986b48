#!/bin/bash
# device call 3 (fresh machine, the production pack's last piece): files in flight 4 against 6 and 8 on the 40-clip folder
# (large-v3, built-in speakers, decoder lanes auto), the working tree with files_per_device allowed up to 8. The engine's
# warm-up first, so that no measured process pays the driver's compiling (bench/production.md, "fifth")
set -x
python3 bench/device.py setup bench/.data/device/production/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
timeout 200 python3 bench/device.py run production -- prepare --files 40 --models large-v3 > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
timeout 100 python3 bench/device.py exec -- python3 bench/cold_start.py --model /tmp/bench-device/models/large-v3/ct2 --compute-type float16 --variant machine-warm-up --out $OUT/42-warm-up.jsonl > $OUT/42-warm-up.log 2>&1; cat $OUT/42-warm-up.jsonl
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --model large-v3"
O=$OUT/42-files-in-flight.jsonl
for n in 4 8 6; do $R --input folder --variant fpd$n --env TRANSCRIBER_FILES_PER_DEVICE=$n --out $O >> $OUT/42-run.log 2>&1; done
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); s=r.get('stages') or {}; rt=r.get('runtime') or {}
    print(r['input'], r['variant'], r['wall_s'], r.get('rc'), rt.get('decoder_lanes'), rt.get('batch_size'), r.get('gpu_peak_mib'))
"
