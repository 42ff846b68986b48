#!/bin/bash
# device call 4: the hour, decoder lanes 1 vs 2 (TRANSCRIBER_DECODER_LANES), interleaved, order swapped in round 2; large-v3 and turbo, built-in speakers, --timeline
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour"
L2="--env TRANSCRIBER_DECODER_LANES=2"
O=$OUT/38-lanes-hour.jsonl
for m in large-v3 turbo; do
  $R --model $m --variant lanes1 --out $O >> $OUT/38-run4.log 2>&1
  $R --model $m --variant lanes2 $L2 --out $O >> $OUT/38-run4.log 2>&1
done
for m in large-v3 turbo; do
  $R --model $m --variant lanes2 $L2 --out $O >> $OUT/38-run4.log 2>&1
  $R --model $m --variant lanes1 --out $O >> $OUT/38-run4.log 2>&1
done
