#!/bin/bash
# device call 3 (fresh machine, after the production pack's setup calls 1 and 2): is a fresh machine's first process slow
# because CUDA compiles CTranslate2's kernels (the wheel has no sm_90 code) or because of two decoder lanes? Each run gets
# its own CUDA_CACHE_PATH: an empty one is a fresh machine's, the same one again a later process's. Then the engine's
# warm-up (bench/cold_start.py) on an empty cache, and the hour after it on that cache.
set -x
python3 bench/device.py setup bench/.data/device/production/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
timeout 150 python3 bench/device.py run production -- prepare --files 1 --models large-v3 > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
(env | grep -i "cuda\|nv_" ; nvidia-smi --query-gpu=name,driver_version,persistence_mode,clocks.sm,clocks.max.sm --format=csv; ls -la ~/.nv ~/.nv/ComputeCache) > $OUT/40-env.txt 2>&1
C=/tmp/cc
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model large-v3"
O=$OUT/40-cold.jsonl
$R --variant cold-lanes1 --env TRANSCRIBER_DECODER_LANES=1 --env CUDA_CACHE_PATH=$C/a --out $O >> $OUT/40-run.log 2>&1
du -sb $C/a >> $OUT/40-cache.txt 2>&1; find $C/a -type f | wc -l >> $OUT/40-cache.txt
$R --variant cold-auto --env CUDA_CACHE_PATH=$C/b --out $O >> $OUT/40-run.log 2>&1
du -sb $C/b >> $OUT/40-cache.txt 2>&1
$R --variant warm-lanes1 --env TRANSCRIBER_DECODER_LANES=1 --env CUDA_CACHE_PATH=$C/a --out $O >> $OUT/40-run.log 2>&1
$R --variant warm-auto --env CUDA_CACHE_PATH=$C/b --out $O >> $OUT/40-run.log 2>&1
CUDA_CACHE_PATH=$C/c timeout 120 python3 bench/device.py exec -- python3 bench/cold_start.py --model /tmp/bench-device/models/large-v3/ct2 --compute-type float16 --variant empty-cache --out $OUT/40-warm-up.jsonl > $OUT/40-warm-up.log 2>&1
CUDA_CACHE_PATH=$C/c timeout 60 python3 bench/device.py exec -- python3 bench/cold_start.py --model /tmp/bench-device/models/large-v3/ct2 --compute-type float16 --variant same-cache --out $OUT/40-warm-up.jsonl >> $OUT/40-warm-up.log 2>&1
du -sb $C/c >> $OUT/40-cache.txt 2>&1
$R --variant after-warm-up-auto --env CUDA_CACHE_PATH=$C/c --out $O >> $OUT/40-run.log 2>&1
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); s=r.get('stages') or {}; rt=r.get('runtime') or {}
    print(r['variant'], r['wall_s'], r.get('rc'), s.get('transcribe'), s.get('load'), rt.get('decoder_lanes'), rt.get('batch_size'), r.get('gpu_peak_mib'))
"
cat $OUT/40-warm-up.jsonl $OUT/40-cache.txt
