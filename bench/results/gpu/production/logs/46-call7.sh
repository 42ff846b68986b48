#!/bin/bash
# device call 7, the same machine: turbo's hour came at 9.0-10.1 s in call 5; more rounds to tell auto (2 lanes, 2
# windows) from 4 windows (with 2 and with 4 lanes), interleaved, three rounds; then large-v3's hour, auto and 4 windows
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour"
O=$OUT/46-hour-windows.jsonl
one() { case $1 in
  auto) $R --model $2 --variant auto --out $O ;;
  w4) $R --model $2 --variant w4 --env TRANSCRIBER_WINDOWS_PER_DEVICE=4 --out $O ;;
  l4w4) $R --model $2 --variant lanes4-w4 --env TRANSCRIBER_DECODER_LANES=4 --env TRANSCRIBER_WINDOWS_PER_DEVICE=4 --out $O ;;
esac >> $OUT/46-hour-windows.log 2>&1; }
for v in auto w4 l4w4 l4w4 w4 auto auto l4w4 w4; do one $v turbo; done
for v in auto w4 w4 auto; do one $v large-v3; done
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); rt=r.get('runtime') or {}; s=r.get('stages') or {}
    print(r['model'], r['variant'], r['wall_s'], r.get('x_rt'), r.get('rc'), rt.get('decoder_lanes'), rt.get('batch_size'), rt.get('windows_in_flight'), s.get('decode'), s.get('load'), s.get('transcribe'), s.get('diarize'), r.get('gpu_peak_mib'), r.get('text_tokens'), (r.get('error') or '')[-300:])
"
