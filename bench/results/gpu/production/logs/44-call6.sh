#!/bin/bash
# device call 6, the same machine: a 24 GB GPU's memory on the H100 (another process holds 56 GiB), the 40-clip folder with
# files in flight auto (4 under 48 GiB free), 8 and 16, then auto again; the hour with auto; large-v3, built-in speakers
set -x
python3 -c "
import torch, time, sys
x = torch.empty(56 << 30, dtype=torch.uint8, device='cuda'); torch.cuda.synchronize()
print('holding', torch.cuda.mem_get_info(), flush=True); time.sleep(3600)" > $OUT/hog.log 2>&1 &
sleep 15; cat $OUT/hog.log; nvidia-smi --query-gpu=memory.used,memory.total --format=csv
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --model large-v3"
O=$OUT/44-small-gpu.jsonl
$R --input folder --variant free22-auto --out $O >> $OUT/44-small-gpu.log 2>&1
for n in 8 16; do $R --input folder --variant free22-fpd$n --env TRANSCRIBER_FILES_PER_DEVICE=$n --out $O >> $OUT/44-small-gpu.log 2>&1; done
$R --input folder --variant free22-auto --out $O >> $OUT/44-small-gpu.log 2>&1
$R --input hour --variant free22-auto --out $O >> $OUT/44-small-gpu.log 2>&1
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); rt=r.get('runtime') or {}
    print(r['input'], r['variant'], r['wall_s'], r.get('rc'), rt.get('decoder_lanes'), rt.get('batch_size'), r.get('gpu_peak_mib'), r.get('text_tokens'), (r.get('error') or '')[-300:])
"
