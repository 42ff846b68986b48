#!/bin/bash
# device call 9, the same machine: this checkout's hour (MODEL, large-v3 by default; built-in speakers) with 2 windows in flight (the
# default) against 4 (TRANSCRIBER_WINDOWS_PER_DEVICE=4), alternating; TAG, LIMIT (s)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
TAG=${TAG:-66}; MODEL=${MODEL:-large-v3}; O=$OUT/$TAG-windows-$MODEL.jsonl
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model $MODEL --env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
start=$SECONDS
for round in 1 2 3 4 5 6 7 8; do
  for w in 2 4; do
    if [ $((SECONDS - start)) -gt ${LIMIT:-240} ]; then echo "stopped at $((SECONDS - start)) s"; exit 0; fi
    $R --variant w$w --env TRANSCRIBER_WINDOWS_PER_DEVICE=$w --out $O >> $OUT/$TAG-run.log 2>&1
    python3 -c "
import json
r=[json.loads(l) for l in open('$O')][-1]
ready=[t for t, line in (r.get('timeline') or []) if 'models ready' in line]
print(r['variant'], r['wall_s'], 'ready', ready[:1], 'tr', (r.get('stages') or {}).get('transcribe'), r.get('gpu_peak_mib'), r.get('text_tokens'), 'rc', r.get('rc'), flush=True)"
  done
done
