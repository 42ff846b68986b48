#!/bin/bash
# device call 7 of a fresh machine (after setup calls 1-6 of bench/.data/device/production_e2e7; carry its call7):
# the pack's last piece, large-v3 and the folder of all 100 clips (294 min, 1-5 min each: issue 14's folder, of which
# earlier calls ran the first 40), then main's large-v3 with the built-in speakers: one warm-up process on the hour
# (the driver compiles CTranslate2's kernels), then the folder and the hour in ABBA order; LIMIT s for the runs
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e7/call7 > $OUT/setup7.log 2>&1; echo "setup rc=$?"
timeout 200 python3 bench/device.py run production -- prepare --files 0 --models large-v3 > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
grep -E "clips|error|Error" $OUT/prepare.log | tail -3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --model large-v3"
P="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
show() { python3 -c "
import json
r=[json.loads(l) for l in open('$1')][-1]; s=r.get('stages') or {}; rt=r.get('runtime') or {}
print(r['input'], r['files'], r['audio_s'], r['wall_s'], 's', round(r['wall_s'] * 3600 / r['audio_s'], 2), 's/audio h', r.get('x_rt'), 'x', r.get('gpu_peak_mib'), 'MiB', r.get('text_tokens'), 'tok', 'failed', r.get('failed'), 'rc', r.get('rc'), flush=True)"; }
start=$SECONDS
$R --input hour --variant warm-up $P --out $OUT/62-warm-up.jsonl >> $OUT/62-run.log 2>&1; show $OUT/62-warm-up.jsonl
for input in folder hour hour folder; do
  if [ $((SECONDS - start)) -gt ${LIMIT:-330} ]; then echo "stopped at $((SECONDS - start)) s"; exit 0; fi
  $R --input $input --variant main $P --out $OUT/62-folder100-large-v3.jsonl >> $OUT/62-run.log 2>&1; show $OUT/62-folder100-large-v3.jsonl
done
