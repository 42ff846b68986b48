#!/bin/bash
# device call 8, the same machine (carry the trees named): the hour with the built-in speakers (--timeline),
# variants rotating after one warm-up process each: VARIANTS="name:DIR[:VAR=VALUE,VAR=VALUE] ..." where DIR holds
# transcriber_cli (. is this checkout) and the VARs are set for that variant's runs; MODEL, TAG, LIMIT (s)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
MODEL=${MODEL:-large-v3}; TAG=${TAG:-67}
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model $MODEL"
O=$OUT/$TAG-$MODEL.jsonl
args_of() {  # name:dir[:A=1,B=2] -> --env PYTHONPATH=... --env A=1 --env B=2
  local rest=${1#*:}; local dir=${rest%%:*}; local vars=""
  [ "$rest" != "$dir" ] && vars=${rest#*:}
  echo -n "--env PYTHONPATH=$PWD/bench/closure:$(cd $dir && pwd):/tmp/bench-device/site"
  for kv in ${vars//,/ }; do echo -n " --env $kv"; done
}
show() { python3 -c "  # show FILE [brief]: the last row, with its decoder calls unless brief
import json
r=[json.loads(l) for l in open('$1')][-1]; s=r.get('stages') or {}
tl=r.get('timeline') or []
ready=[t for t, line in tl if 'models ready' in line]
calls=[line.split('decoder call: ')[1] for t, line in tl if 'decoder call:' in line]
print(r['variant'], r['wall_s'], r.get('x_rt'), 'ready', ready[:1], 'tr', s.get('transcribe'), 'di', s.get('diarize'), r.get('gpu_peak_mib'), r.get('text_tokens'), r.get('speakers'), 'rc', r.get('rc'), flush=True)
for t, line in tl if '$2' != 'brief' else []:
    if 'decoder call:' in line or 'Processing audio' in line: print('   ', t, line.split(': ', 1)[1][:90])"; }
start=$SECONDS
if [ -n "$WARM" ]; then
  for v in $VARIANTS; do $R --variant warm-up-${v%%:*} $(args_of $v) --out $OUT/$TAG-warm-up-$MODEL.jsonl >> $OUT/$TAG-run.log 2>&1; show $OUT/$TAG-warm-up-$MODEL.jsonl brief; done
fi
for round in 1 2 3 4 5 6 7 8 9 10 11 12; do
  list=$VARIANTS; if [ $((round % 2)) = 0 ]; then list=$(echo $VARIANTS | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for v in $list; do
    if [ $((SECONDS - start)) -gt ${LIMIT:-300} ]; then echo "stopped at $((SECONDS - start)) s"; exit 0; fi
    if [ $round -le ${DETAIL_ROUNDS:-1} ]; then $R --variant ${v%%:*} $(args_of $v) --out $O >> $OUT/$TAG-run.log 2>&1; show $O
    else $R --variant ${v%%:*} $(args_of $v) --out $O >> $OUT/$TAG-run.log 2>&1; show $O brief; fi
  done
done
