#!/bin/bash
# device call 5: the 40-clip folder, decoder lanes 1 vs 2, large-v3, built-in speakers, then the hour with 4 windows in flight, lanes 1 vs 2
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin"
L2="--env TRANSCRIBER_DECODER_LANES=2"
O=$OUT/38-lanes-folder.jsonl
$R --input folder --model large-v3 --variant lanes1 --out $O >> $OUT/38-run5.log 2>&1
$R --input folder --model large-v3 --variant lanes2 $L2 --out $O >> $OUT/38-run5.log 2>&1
W4="--env TRANSCRIBER_WINDOWS_PER_DEVICE=4"
$R --input hour --model large-v3 --variant w4-lanes2 $W4 $L2 --out $O >> $OUT/38-run5.log 2>&1
$R --input hour --model large-v3 --variant w4-lanes1 $W4 --out $O >> $OUT/38-run5.log 2>&1
$R --input folder --model large-v3 --variant lanes2 $L2 --out $O >> $OUT/38-run5.log 2>&1
$R --input folder --model large-v3 --variant lanes1 --out $O >> $OUT/38-run5.log 2>&1
