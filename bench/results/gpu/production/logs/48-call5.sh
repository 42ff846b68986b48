#!/bin/bash
# device call 5, the same machine: the GPU tests (this checkout: wip/gpu-next), then speech ahead with 2 (auto), 3 and
# 4 windows in flight on the large-v3 hour, then turbo's hour: main against speech ahead
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 -m pip install -q --no-index --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/48-pt.log 2>&1
timeout 200 python3 bench/device.py exec -- python3 -m pytest tests/gpu -p no:cacheprovider -o addopts= > $OUT/48-gputests.log 2>&1
echo "gpu tests rc=$?"; tail -3 $OUT/48-gputests.log
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour"
TIP="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site"
AHEAD="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/ahead:/tmp/bench-device/site"
show() {
  python3 -c "
import json
r=[json.loads(l) for l in open('$1')][-1]; s=r.get('stages') or {}; t=r.get('runtime') or {}
print(r['variant'], r['model'], r['wall_s'], r.get('x_rt'), s.get('transcribe'), t.get('windows_in_flight'), r.get('gpu_peak_mib'), r.get('text_tokens'), flush=True)"
}
O=$OUT/48-windows.jsonl
for round in 1 2 3; do
  for w in 2 3 4; do
    $R --model large-v3 --variant ahead-w$w $AHEAD --env TRANSCRIBER_WINDOWS_PER_DEVICE=$w --out $O >> $OUT/48-run5.log 2>&1; show $O
  done
done
timeout 150 python3 bench/device.py run production -- prepare --files 1 --models turbo > $OUT/48-prepare-turbo.log 2>&1; echo "prepare turbo rc=$?"
O=$OUT/48-turbo.jsonl
for round in 1 2 3 4; do
  if [ $((round % 2)) = 1 ]; then order="tip ahead"; else order="ahead tip"; fi
  for v in $order; do
    if [ $v = tip ]; then E=$TIP; else E=$AHEAD; fi
    $R --model turbo --variant $v $E --out $O >> $OUT/48-run5.log 2>&1; show $O
  done
done
