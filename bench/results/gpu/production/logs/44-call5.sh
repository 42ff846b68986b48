#!/bin/bash
# device call 5, the same machine: the worker with turbo (the fleet's default model on a GPU), kernels cached: the 40
# clips at 1, 4 and 16 jobs at once, and the hour
set -x
export PYTHONPATH=/tmp/remote-site
timeout 560 python3 bench/device.py exec --timeout 550 -- python3 bench/worker_gpu.py --model turbo \
  --runs warm:hour:1,warm:folder:1,warm:folder:4,warm:folder:16 \
  --cuda-cache /tmp/bench-device/cuda-cache --timeout 200 --out $OUT/44-worker-turbo.jsonl > $OUT/44-worker-turbo.log 2>&1
echo "worker bench rc=$?"
python3 -c "
import json
for l in open('$OUT/44-worker-turbo.jsonl'):
    r=json.loads(l); print(r['run'], r['rc'], r['status'], r['warm_up_line_s'], r['load_s'], r['warm_up_s'], r['first_claim_s'], r['drain_s'], r['drain_s_per_audio_hour'], r['x_rt_drain'], r['gpu_peak_mib'], r.get('text_tokens'), r.get('speakers'), r['cache_bytes'])
"
