#!/bin/bash
# one device call: GPU tests, then the preimport A/B (issue 14: what a diarizer that does not import pyannote would buy)
set -x
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 200 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_doctor.py -p no:cacheprovider -o addopts= -q -rs > $OUT/gputests.log 2>&1
PP="$PWD/bench/closure:$PWD:/tmp/bench-device/site"
R="python3 bench/device.py run production -- run --systems ours --input hour"
E="--env PYTHONPATH=$PP --env BENCH_PREIMPORT_LOG=$OUT/preimport.jsonl"
$R --model large-v3 --variant none $E --out $OUT/15-preimport.jsonl > $OUT/15-run.log 2>&1
for round in 1 2; do
  $R --model large-v3 --no-warmup --variant torch $E --env BENCH_PREIMPORT=torch --out $OUT/15-preimport.jsonl >> $OUT/15-run.log 2>&1
  $R --model large-v3 --no-warmup --variant pyannote $E --env BENCH_PREIMPORT=torch,pyannote.audio --out $OUT/15-preimport.jsonl >> $OUT/15-run.log 2>&1
  [ $round = 2 ] || $R --model large-v3 --no-warmup --variant none $E --out $OUT/15-preimport.jsonl >> $OUT/15-run.log 2>&1
done
$R --model turbo --no-warmup --variant none $E --out $OUT/15-preimport-turbo.jsonl >> $OUT/15-run.log 2>&1
$R --model turbo --no-warmup --variant pyannote $E --env BENCH_PREIMPORT=torch,pyannote.audio --out $OUT/15-preimport-turbo.jsonl >> $OUT/15-run.log 2>&1
