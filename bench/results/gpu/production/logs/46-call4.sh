#!/bin/bash
# device call 4, the same machine: a long job that starts alone (so with two windows in flight) and the 40 clips as 40
# jobs submitted once it is claimed, on a worker left to auto (16 jobs at once where 16 GiB are free). First with a
# 24 GB card's memory (another process holds all but 22.7 GiB), empty kernel cache, then warm; then the whole card.
# large-v3, built-in speakers. Does the mix fit, and what does it cost the long job?
set -x
python3 -m pip install -q --no-deps --no-compile --target /tmp/remote-site bench/.data/device/worker/wheels/*.whl > $OUT/remote-pip.log 2>&1; echo "pip rc=$?"
export PYTHONPATH=/tmp/remote-site
python3 -c "
import torch, time, sys
free, _ = torch.cuda.mem_get_info()  # leave what an H100 left beside 56 GiB held: 22.7 GiB
x = torch.empty(free - int(22.7 * 2**30), dtype=torch.uint8, device='cuda'); torch.cuda.synchronize()
print('holding', torch.cuda.mem_get_info(), flush=True); time.sleep(3600)" > $OUT/hog.log 2>&1 &
HOG=$!
sleep 15; cat $OUT/hog.log; nvidia-smi --query-gpu=memory.used,memory.total --format=csv
W="python3 bench/device.py exec --timeout 280 -- python3 bench/worker_gpu.py --model large-v3 --cuda-cache /tmp/bench-device/cuda-cache --timeout 200"
timeout 290 $W --runs cold:hour+folder:0,warm:hour+folder:0 --out $OUT/46-mix-small-gpu.jsonl > $OUT/46-mix-small-gpu.log 2>&1
echo "small rc=$?"
kill $HOG; sleep 3; nvidia-smi --query-gpu=memory.used,memory.total --format=csv
timeout 200 $W --runs warm:hour+folder:0 --out $OUT/46-mix-whole-gpu.jsonl > $OUT/46-mix-whole-gpu.log 2>&1
echo "whole rc=$?"
python3 -c "
import json
for f in ('46-mix-small-gpu', '46-mix-whole-gpu'):
  try: rows = [json.loads(l) for l in open('$OUT/' + f + '.jsonl')]
  except OSError: continue
  for r in rows:
    print(f, r['run'], r['rc'], r['status'], r['attempts'], r['errors'], r['warm_up_s'], r['first_job_s'], r['late_submitted_s'], r['drain_s'], r['x_rt_drain'], r['gpu_peak_mib'], r.get('text_tokens'), r.get('speakers'), r['job_s'], r['said'][-3:], r.get('tail'))
"

