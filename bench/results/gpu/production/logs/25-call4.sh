#!/bin/bash
# device call 4 (machine r): the hour with the built-in pipeline (native runtime): "row-by-row" = 9afed85's d-vector call (a boolean index per row: /tmp/head),
# "gathered" = the working tree (indices found on the host, one gather per length), "gathered-b256" = that with 256 windows per embedding batch instead of the GPU's auto 32; interleaved
set -x
rm -rf /tmp/head && mkdir /tmp/head && cp -r transcriber_cli /tmp/head/ && cp -r head_files/transcriber_cli /tmp/head/
grep -c "flatnonzero" /tmp/head/transcriber_cli/diarize/dvector.py transcriber_cli/diarize/dvector.py > $OUT/25-check.log
R="python3 bench/device.py run production -- run --input hour --systems ours --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:/tmp/head:/tmp/bench-device/site"
B256="--env TRANSCRIBER_EMBEDDING_BATCH_SIZE=256"
O=$OUT/25-dvector-gather.jsonl
$R --model turbo --variant row-by-row $OLD --out $O > $OUT/25-run.log 2>&1
for round in 1 2; do
  $R --model turbo --no-warmup --variant gathered $NEW --out $O >> $OUT/25-run.log 2>&1
  $R --model turbo --no-warmup --variant gathered-b256 $NEW $B256 --out $O >> $OUT/25-run.log 2>&1
  $R --model turbo --no-warmup --variant row-by-row $OLD --out $O >> $OUT/25-run.log 2>&1
done
$R --model large-v3 --no-warmup --variant gathered $NEW --out $O >> $OUT/25-run.log 2>&1
$R --model large-v3 --no-warmup --variant row-by-row $OLD --out $O >> $OUT/25-run.log 2>&1
$R --model large-v3 --no-warmup --variant gathered-b256 $NEW $B256 --out $O >> $OUT/25-run.log 2>&1
