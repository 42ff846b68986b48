#!/bin/bash
# device call 3 (fresh machine, the cublas pack's last piece): the warm-up test as committed (64 tokens; a later process's
# transcription on the same driver cache), doctor's new check on this GPU, the warm-up's cache with 64 tokens
set -x
python3 bench/device.py setup bench/.data/device/cublas/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl bench/.data/jw/*.whl > $OUT/pt.log 2>&1; echo "pt rc=$?"
timeout 200 python3 bench/device.py exec -- python3 -m pytest tests/gpu -k "warm_up or doctor" -p no:cacheprovider -p no:timeout -o addopts= -v -rs > $OUT/43-gputests.log 2>&1
echo "pytest rc=$?" >> $OUT/43-gputests.log
grep -E "PASS|FAIL|passed|failed|^E " $OUT/43-gputests.log | head -20
timeout 60 python3 bench/device.py exec -- transcriber doctor > $OUT/43-doctor.txt 2>&1; grep -i "ctranslate2" $OUT/43-doctor.txt
CUDA_CACHE_PATH=/tmp/cc43 timeout 100 python3 bench/device.py exec -- python3 bench/cold_start.py --compute-type float16 --variant tiny-t64-empty --then examples/conversation.mp4 --out $OUT/43-warm-up.jsonl > $OUT/43-warm-up.log 2>&1
CUDA_CACHE_PATH=/tmp/cc43 timeout 100 python3 bench/device.py exec -- python3 bench/cold_start.py --compute-type float16 --variant tiny-t64-same --then examples/conversation.mp4 --out $OUT/43-warm-up.jsonl >> $OUT/43-warm-up.log 2>&1
cat $OUT/43-warm-up.jsonl; du -sb /tmp/cc43
