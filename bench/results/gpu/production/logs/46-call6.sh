#!/bin/bash
# device call 6 (after call 5, same machine): the mix of call 4 with the clips submitted 8 s after the long job's
# claim, once its windows are decided (two, as it started alone): the case call 4 could not reach. 24 GB card's memory.
set -x
export PYTHONPATH=/tmp/remote-site
python3 -c "
import torch, time, sys
free, _ = torch.cuda.mem_get_info()  # leave what an H100 left beside 56 GiB held: 22.7 GiB
x = torch.empty(free - int(22.7 * 2**30), dtype=torch.uint8, device='cuda'); torch.cuda.synchronize()
print('holding', torch.cuda.mem_get_info(), flush=True); time.sleep(3600)" > $OUT/hog6.log 2>&1 &
HOG=$!
sleep 15; cat $OUT/hog6.log
W="python3 bench/device.py exec --timeout 200 -- python3 bench/worker_gpu.py --model large-v3 --cuda-cache /tmp/bench-device/cuda-cache --timeout 150"
timeout 210 $W --runs warm:hour+folder:0 --late-after 8 --out $OUT/46-mix-late-small-gpu.jsonl > $OUT/46-mix-late-small-gpu.log 2>&1
echo "late rc=$?"
kill $HOG
python3 -c "
import json
for l in open('$OUT/46-mix-late-small-gpu.jsonl'):
    r = json.loads(l)
    print(r['run'], r['rc'], r['status'], r['attempts'], r['errors'], r['first_job_s'], r['late_submitted_s'], r['drain_s'], r['x_rt_drain'], r['gpu_peak_mib'], r.get('text_tokens'), r.get('speakers'), r['job_s'], r.get('tail'))
"
for f in $OUT/worker-logs/*+*.log; do mv "$f" "${f//+/_}"; done; ls $OUT/worker-logs
