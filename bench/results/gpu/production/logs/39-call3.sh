#!/bin/bash
# device call 3 (fresh machine, the production pack's last piece): the models, then the hour with decoder_lanes auto (the working tree's new default) against 1, large-v3 and turbo, built-in speakers, --timeline; then the 40-clip folder, auto
set -x
python3 bench/device.py setup bench/.data/device/production/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
timeout 150 python3 bench/device.py run production -- prepare --files 40 --models large-v3,turbo > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin"
O=$OUT/39-auto-lanes.jsonl
$R --input hour --model large-v3 --variant auto --out $O >> $OUT/39-run.log 2>&1
$R --input hour --model large-v3 --variant lanes1 --env TRANSCRIBER_DECODER_LANES=1 --out $O >> $OUT/39-run.log 2>&1
$R --input hour --model turbo --variant lanes1 --env TRANSCRIBER_DECODER_LANES=1 --out $O >> $OUT/39-run.log 2>&1
$R --input hour --model turbo --variant auto --out $O >> $OUT/39-run.log 2>&1
$R --input folder --model large-v3 --variant auto --out $O >> $OUT/39-run.log 2>&1
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); s=r.get('stages') or {}; rt=r.get('runtime') or {}
    print(r['input'], r['model'], r['variant'], r['wall_s'], r.get('rc'), s.get('transcribe'), s.get('load'), rt.get('decoder_lanes'), rt.get('batch_size'), r.get('gpu_peak_mib'))
"
