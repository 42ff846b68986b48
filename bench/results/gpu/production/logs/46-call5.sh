#!/bin/bash
# device call 5, the same machine: turbo's hour, whose decoder time is mostly CTranslate2's CPU work on the suppressed
# tokens (quadratic in a call's rows): auto (2 lanes of 64) against 4 lanes (auto batch), 4 lanes of 16, and 4 lanes
# with 4 windows in flight; two rounds, the order reversed in the second
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --model turbo --input hour"
O=$OUT/46-turbo-lanes.jsonl
one() { case $1 in
  auto) $R --variant auto --out $O ;;
  l4) $R --variant lanes4 --env TRANSCRIBER_DECODER_LANES=4 --out $O ;;
  l4b16) $R --variant lanes4-b16 --env TRANSCRIBER_DECODER_LANES=4 --env TRANSCRIBER_BATCH_SIZE=16 --out $O ;;
  l4w4) $R --variant lanes4-w4 --env TRANSCRIBER_DECODER_LANES=4 --env TRANSCRIBER_WINDOWS_PER_DEVICE=4 --out $O ;;
esac >> $OUT/46-turbo-lanes.log 2>&1; }
for v in auto l4 l4b16 l4w4 l4w4 l4b16 l4 auto; do one $v; done
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); rt=r.get('runtime') or {}
    print(r['variant'], r['wall_s'], r.get('rc'), rt.get('decoder_lanes'), rt.get('batch_size'), rt.get('windows_in_flight'), r.get('stages'), r.get('gpu_peak_mib'), r.get('text_tokens'), (r.get('error') or '')[-300:])
"
