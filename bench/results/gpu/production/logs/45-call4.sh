#!/bin/bash
# device call 4, the same machine: the worker as committed, its jobs at once left to auto (--concurrency 0), on an empty
# kernel cache: the 40 clips as 40 jobs, then the hour as one job
set -x
python3 -m pip install -q --no-deps --no-compile --target /tmp/remote-site bench/.data/device/worker/wheels/*.whl > $OUT/remote-pip.log 2>&1; echo "pip rc=$?"
export PYTHONPATH=/tmp/remote-site
timeout 300 python3 bench/device.py exec --timeout 290 -- python3 bench/worker_gpu.py --model large-v3 \
  --runs cold:folder:0,warm:hour:0 --cuda-cache /tmp/bench-device/cuda-cache --timeout 120 \
  --out $OUT/45-worker-auto.jsonl > $OUT/45-worker.log 2>&1
echo "worker bench rc=$?"
python3 -c "
import json
for l in open('$OUT/45-worker-auto.jsonl'):
    r=json.loads(l); print(r['run'], r['rc'], r['status'], r['warm_up_line_s'], r['load_s'], r['warm_up_s'], r['first_claim_s'], r['drain_s'], r['drain_s_per_audio_hour'], r['x_rt_drain'], r['gpu_peak_mib'], r.get('text_tokens'), r.get('speakers'), r['said'])
"
