#!/bin/bash
exec > >(tee "$OUT/k6.log") 2>&1
export PYTHONUNBUFFERED=1; S=/tmp/stage
[ -f /tmp/compat.env ] || { echo "FRESH MACHINE"; exit 3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/wct2 $PWD/.gpu/k6/*.whl; ls /tmp/wct2 /tmp/wct2/bin
export $(cat /tmp/compat.env) PATH=/tmp/wct2/bin:/tmp/ffbin:/tmp/site/bin:$PATH PYTHONPATH=$S/src:/tmp/wct2:/tmp/wct2/src:/tmp/site
cd $S/src
timeout 300 python3 bench/gpu_bench.py --media /tmp/talk_1h.m4a --out $OUT/bench6.jsonl --batch-size 16 --stages none --wct2 --reference examples/conversation.script.json --text /tmp/ours_1h.txt 2>&1 | grep -v -i warn
timeout 200 python3 bench/gpu_bench.py --media /tmp/talk_1h.m4a --out $OUT/bench6.jsonl --stages sweep --sweep 1,4 --reference examples/conversation.script.json 2>&1 | grep -v -i warn
date -u
