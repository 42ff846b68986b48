#!/bin/bash
# device call 4, the same machine: the large-v3 hour with built-in speakers, --timeline, alternating order:
#   tip = 44025a5 (main before this session; a copy in bench/.data/old), new = this checkout (speech found ahead)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model large-v3"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site"
O=$OUT/49-speech-ahead.jsonl
start=$SECONDS
$R --variant warm-up $NEW --out $OUT/49-warm-up.jsonl > $OUT/49-run.log 2>&1  # the machine's first process compiles kernels
for round in 1 2 3 4 5 6 7 8 9 10 11 12; do
  if [ $((round % 2)) = 1 ]; then order="tip new"; else order="new tip"; fi
  for v in $order; do
    if [ $((SECONDS - start)) -gt ${LIMIT:-300} ]; then echo "stopped at $((SECONDS - start)) s"; exit 0; fi
    if [ $v = tip ]; then E=$OLD; else E=$NEW; fi
    $R --variant $v $E --out $O >> $OUT/49-run.log 2>&1
    python3 -c "
import json
r=[json.loads(l) for l in open('$O')][-1]; s=r.get('stages') or {}
print(r['variant'], r['wall_s'], r.get('x_rt'), s.get('transcribe'), s.get('load'), r.get('gpu_peak_mib'), r.get('text_tokens'), flush=True)"
  done
done
