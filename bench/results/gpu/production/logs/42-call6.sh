#!/bin/bash
# device call 5, the same warm machine: 24 and 32 files in flight, and 16 again
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --model large-v3"
O=$OUT/42-files-in-flight-4.jsonl
for n in 32 16 24; do $R --input folder --variant fpd$n --env TRANSCRIBER_FILES_PER_DEVICE=$n --out $O >> $OUT/42-run4.log 2>&1; done
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); rt=r.get('runtime') or {}
    print(r['input'], r['variant'], r['wall_s'], r.get('rc'), rt.get('decoder_lanes'), rt.get('batch_size'), r.get('gpu_peak_mib'))
"
