#!/bin/bash
# device call 7, the same machine: the hour with the built-in speakers (--timeline), the torch beam search against
# CTranslate2's, rotating (the same checkout, settings by environment), after one warm-up process of each;
# MODEL, TAG, LIMIT (s), VARIANTS="name:K=V,K=V name:..."
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
MODEL=${MODEL:-large-v3}; TAG=${TAG:-56}
VARIANTS=${VARIANTS:-"ct2:TRANSCRIBER_WHISPER_DECODER=ctranslate2 torch:TRANSCRIBER_WHISPER_DECODER=torch torch1:TRANSCRIBER_WHISPER_DECODER=torch,TRANSCRIBER_DECODER_LANES=1"}
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model $MODEL"
P="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/$TAG-$MODEL.jsonl
envs() { local e=""; for kv in $(echo "${1#*:}" | tr ',' ' '); do e="$e --env $kv"; done; echo "$e"; }
show() { python3 -c "
import json
r=[json.loads(l) for l in open('$1')][-1]; s=r.get('stages') or {}; rt=r.get('runtime') or {}
print(r['variant'], rt.get('decoder'), r['wall_s'], r.get('x_rt'), 'tr', s.get('transcribe'), 'di', s.get('diarize'), 'batch', rt.get('batch_size'), 'lanes', rt.get('decoder_lanes'), r.get('gpu_peak_mib'), r.get('text_tokens'), r.get('speakers'), 'rc', r.get('rc'), flush=True)"; }
start=$SECONDS
if [ -n "$WARM" ]; then
  for v in $VARIANTS; do
    $R --variant warm-up-${v%%:*} $P $(envs $v) --out $OUT/$TAG-warm-up.jsonl >> $OUT/$TAG-run.log 2>&1; show $OUT/$TAG-warm-up.jsonl
  done
fi
for round in 1 2 3 4 5 6 7 8 9 10 11 12; do
  list=$VARIANTS; if [ $((round % 2)) = 0 ]; then list=$(echo $VARIANTS | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for v in $list; do
    if [ $((SECONDS - start)) -gt ${LIMIT:-200} ]; then echo "stopped at $((SECONDS - start)) s"; exit 0; fi
    $R --variant ${v%%:*} $P $(envs $v) --out $O >> $OUT/$TAG-run.log 2>&1; show $O
  done
done
