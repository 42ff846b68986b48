#!/bin/bash
# device call 4, the same warm machine: the folder again in the other order, then the hour twice (the reference per audio hour)
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --model large-v3"
O=$OUT/42-files-in-flight-2.jsonl
for n in 6 8 4; do $R --input folder --variant fpd$n --env TRANSCRIBER_FILES_PER_DEVICE=$n --out $O >> $OUT/42-run2.log 2>&1; done
$R --input hour --variant auto --out $O >> $OUT/42-run2.log 2>&1
$R --input hour --variant auto --out $O >> $OUT/42-run2.log 2>&1
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); s=r.get('stages') or {}; rt=r.get('runtime') or {}
    print(r['input'], r['variant'], r['wall_s'], r.get('rc'), rt.get('decoder_lanes'), rt.get('batch_size'), r.get('gpu_peak_mib'))
"
