#!/bin/bash
# device call 8, the same machine (carry bench/.data/old, bench/.data/tip): the hour with the built-in speakers
# (--timeline), three copies of the package rotating after one warm-up process each: VARIANTS="name:DIR ..." where DIR
# holds transcriber_cli (. is this checkout); MODEL, TAG, LIMIT (s)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
MODEL=${MODEL:-large-v3}; TAG=${TAG:-63}
VARIANTS=${VARIANTS:-"old:bench/.data/old tip:bench/.data/tip new:."}
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model $MODEL"
O=$OUT/$TAG-$MODEL.jsonl
env_of() { echo "--env PYTHONPATH=$PWD/bench/closure:$(cd ${1#*:} && pwd):/tmp/bench-device/site"; }
show() { python3 -c "
import json
r=[json.loads(l) for l in open('$1')][-1]; s=r.get('stages') or {}
ready=[t for t, line in (r.get('timeline') or []) if 'models ready' in line]
print(r['variant'], r['wall_s'], r.get('x_rt'), 'ready', ready[:1], 'tr', s.get('transcribe'), 'di', s.get('diarize'), r.get('gpu_peak_mib'), r.get('text_tokens'), r.get('speakers'), 'rc', r.get('rc'), flush=True)"; }
start=$SECONDS
if [ -n "$WARM" ]; then
  for v in $VARIANTS; do $R --variant warm-up-${v%%:*} $(env_of $v) --out $OUT/$TAG-warm-up-$MODEL.jsonl >> $OUT/$TAG-run.log 2>&1; show $OUT/$TAG-warm-up-$MODEL.jsonl; done
fi
for round in 1 2 3 4 5 6 7 8 9 10 11 12; do
  list=$VARIANTS; if [ $((round % 2)) = 0 ]; then list=$(echo $VARIANTS | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for v in $list; do
    if [ $((SECONDS - start)) -gt ${LIMIT:-300} ]; then echo "stopped at $((SECONDS - start)) s"; exit 0; fi
    $R --variant ${v%%:*} $(env_of $v) --out $O >> $OUT/$TAG-run.log 2>&1; show $O
  done
done
