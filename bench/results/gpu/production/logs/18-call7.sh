#!/bin/bash
# device call 7 (machine k): torch's package byte-compiled as pip does at install (the image ships it without bytecode), then ours and whisperX again, interleaved
set -x
T=/opt/torch/.venv/lib/python3.12/site-packages/torch
s=$(date +%s%N); python3 -W ignore -m compileall -q -j 0 $T > $OUT/18-compile.log 2>&1; e=$(date +%s%N)
echo "compileall torch: $(( (e - s) / 1000000 )) ms; torch pyc after: $(find $T -name '*.pyc' | wc -l)" >> $OUT/18-pyc.log
R="python3 bench/device.py run production -- run --input hour"
E="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/18-bytecode.jsonl
for round in 1 2; do
  $R --systems ours --model large-v3 --no-warmup --variant torch-bytecode $E --out $O >> $OUT/18-run.log 2>&1
  $R --systems whisperx --model large-v3 --no-warmup --out $O >> $OUT/18-run.log 2>&1
done
$R --systems ours --model turbo --no-warmup --variant torch-bytecode $E --out $O >> $OUT/18-run.log 2>&1
