#!/bin/bash
# device call 7, the same machine: the hour with built-in speakers, --timeline, alternating order:
#   tip = the copy in bench/.data/old (17926e9 for calls 50-52, e9d33e1 for 53), new = this checkout (MODEL, TAG, LIMIT, WARM=1 for a warm-up run
#   first, ONLY=new or ONLY=tip for one side)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
MODEL=${MODEL:-large-v3}; TAG=${TAG:-50}
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model $MODEL"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site"
O=$OUT/$TAG-$MODEL.jsonl
start=$SECONDS
if [ -n "$WARM" ]; then $R --variant warm-up $NEW --out $OUT/$TAG-warm-up.jsonl > $OUT/$TAG-run.log 2>&1; fi
for round in 1 2 3 4 5 6 7 8 9 10 11 12; do
  if [ $((round % 2)) = 1 ]; then order="tip new"; else order="new tip"; fi
  for v in $order; do
    if [ -n "$ONLY" ] && [ $v != $ONLY ]; then continue; fi
    if [ $((SECONDS - start)) -gt ${LIMIT:-300} ]; then echo "stopped at $((SECONDS - start)) s"; exit 0; fi
    if [ $v = tip ]; then E=$OLD; else E=$NEW; fi
    $R --variant $v $E --out $O >> $OUT/$TAG-run.log 2>&1
    python3 -c "
import json
r=[json.loads(l) for l in open('$O')][-1]; s=r.get('stages') or {}
print(r['variant'], r['wall_s'], r.get('x_rt'), 'tr', s.get('transcribe'), 'di', s.get('diarize'), 'emb', s.get('diarize_embeddings'), 'seg', s.get('diarize_segmentation'), 'wait', s.get('diarize_wait'), r.get('gpu_peak_mib'), r.get('text_tokens'), r.get('speakers'), flush=True)"
  done
done
