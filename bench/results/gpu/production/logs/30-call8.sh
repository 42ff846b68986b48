#!/bin/bash
# device call 8 (machine v): the hour with the built-in speakers, interleaved: "new" = the working tree (the torch encoder built during CTranslate2's load beside the built-in pipeline), "spectral-only" = the same with e84bb9e's models.py (built after the load); large-v3 and turbo, twice each; then the turbo folder once each
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
SPEC="--env PYTHONPATH=$PWD/bench/closure:/tmp/spec:/tmp/bench-device/site"
O=$OUT/30-hour-encoder-meanwhile.jsonl
ls /tmp/spec/transcriber_cli/pipeline/models.py > $OUT/30-check.log 2>&1
for round in 1 2; do
  for m in large-v3 turbo; do
    $R --input hour --model $m --variant new $NEW --out $O >> $OUT/30-run.log 2>&1
    $R --input hour --model $m --variant spectral-only $SPEC --out $O >> $OUT/30-run.log 2>&1
  done
done
$R --input folder --model turbo --variant new $NEW --out $O >> $OUT/30-run.log 2>&1
$R --input folder --model turbo --variant spectral-only $SPEC --out $O >> $OUT/30-run.log 2>&1
