#!/bin/bash
# device call 4, the same machine: a real `transcriber worker` process (large-v3, built-in speakers) draining a backlog,
# with moto and the Mongo wire server beside it (their wheels carried in bench/.data/device/worker). First on an empty
# CUDA kernel cache (a fresh Spot machine's first job: the hour), then warm: the 40 clips as 40 jobs at 1, 4 and 16 at
# once, and the hour again
set -x
python3 -m pip install -q --no-deps --no-compile --target /tmp/remote-site bench/.data/device/worker/wheels/*.whl > $OUT/remote-pip.log 2>&1; echo "pip rc=$?"
export PYTHONPATH=/tmp/remote-site
timeout 560 python3 bench/device.py exec --timeout 550 -- python3 bench/worker_gpu.py --model large-v3 \
  --runs cold:hour:1,warm:folder:1,warm:folder:4,warm:folder:16,warm:hour:1 \
  --cuda-cache /tmp/bench-device/cuda-cache --timeout 200 --out $OUT/44-worker-large-v3.jsonl > $OUT/44-worker.log 2>&1
echo "worker bench rc=$?"
python3 -c "
import json
for l in open('$OUT/44-worker-large-v3.jsonl'):
    r=json.loads(l); print(r['run'], r['rc'], r['status'], r['warm_up_line_s'], r['load_s'], r['warm_up_s'], r['first_claim_s'], r['drain_s'], r['drain_s_per_audio_hour'], r['x_rt_drain'], r['gpu_peak_mib'], r.get('text_tokens'), r.get('speakers'), r['cache_bytes'])
"
