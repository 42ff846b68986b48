#!/bin/bash
# device call 4, the same machine: the large-v3 hour with built-in speakers, --timeline, four codes in rotating order
# (rows written as they end, stopped before the call's limit):
#   tip      = main 44025a5 (a copy in bench/.data/old)
#   ahead    = wip/speech-ahead (bench/.data/ahead): each window's speech found ahead on a GPU
#   balanced = wip/balanced-windows (bench/.data/balanced): about equal windows
#   both     = wip/gpu-next, this checkout: the two together
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model large-v3"
env_for() {
  case $1 in
    both) echo "--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site" ;;
    tip) echo "--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site" ;;
    *) echo "--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/$1:/tmp/bench-device/site" ;;
  esac
}
O=$OUT/48-ahead-balanced.jsonl
start=$SECONDS
$R --variant warm-up $(env_for both) --out $OUT/48-warm-up.jsonl > $OUT/48-run.log 2>&1  # the machine's first process compiles kernels
orders=("tip ahead balanced both" "both balanced ahead tip" "ahead tip both balanced" "balanced both tip ahead")
for round in 0 1 2 3 4 5 6 7 8 9; do
  for v in ${orders[$((round % 4))]}; do
    if [ $((SECONDS - start)) -gt ${LIMIT:-540} ]; then echo "stopped at $((SECONDS - start)) s"; exit 0; fi
    $R --variant $v $(env_for $v) --out $O >> $OUT/48-run.log 2>&1
    python3 -c "
import json
r=[json.loads(l) for l in open('$O')][-1]; s=r.get('stages') or {}
print(r['variant'], r['wall_s'], r.get('x_rt'), s.get('transcribe'), s.get('load'), r.get('gpu_peak_mib'), r.get('text_tokens'), flush=True)"
  done
done
