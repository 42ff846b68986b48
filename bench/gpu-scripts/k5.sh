#!/bin/bash
# Chain call 5 (warm, nothing carried): whisper-ctranslate2 on the same 1-hour file; sweep rest.
exec > >(tee "$OUT/k5.log") 2>&1
export PYTHONUNBUFFERED=1; S=/tmp/stage
[ -f /tmp/compat.env ] || { echo "FRESH MACHINE"; exit 3; }
export $(cat /tmp/compat.env) PATH=/tmp/ffbin:/tmp/site/bin:$PATH PYTHONPATH=$S/src:/tmp/site
cd $S/src
timeout 300 python3 bench/gpu_bench.py --media /tmp/talk_1h.m4a --out $OUT/bench5.jsonl --batch-size 16 --stages none --wct2 --reference examples/conversation.script.json --text /tmp/ours_1h.txt 2>&1 | grep -v -i warn
timeout 250 python3 bench/gpu_bench.py --media /tmp/talk_1h.m4a --out $OUT/bench5.jsonl --stages sweep --sweep 8,16,32 --reference examples/conversation.script.json 2>&1 | grep -v -i warn
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv; date -u
