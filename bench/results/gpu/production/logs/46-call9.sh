#!/bin/bash
# device call 9, the same machine: large-v3's hour with the working tree, 2 windows (auto) against 4, alternating
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model large-v3"
O=$OUT/46-language-first-w4.jsonl
for v in new w4 new w4 w4 new new w4; do
  if [ $v = w4 ]; then $R --variant new-w4 --env TRANSCRIBER_WINDOWS_PER_DEVICE=4 --out $O; else $R --variant new --out $O; fi >> $OUT/46-run9.log 2>&1
done
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); rt=r.get('runtime') or {}; s=r.get('stages') or {}
    print(r['model'], r['variant'], r['wall_s'], r.get('x_rt'), r.get('rc'), rt.get('decoder_lanes'), rt.get('batch_size'), rt.get('windows_in_flight'), s.get('transcribe'), s.get('diarize'), r.get('gpu_peak_mib'), r.get('text_tokens'), (r.get('error') or '')[-300:])
"
