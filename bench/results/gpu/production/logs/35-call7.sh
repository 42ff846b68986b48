#!/bin/bash
# device call 7: the hour with the built-in speakers and --timeline, interleaved by round: "tip" = 51e723e (main at the session's start; a copy in bench/.data/old: the first window runs alone until it has found the language), "new" = the working tree (the language detected before the windows start, all in flight from the first);
# large-v3 and turbo with the auto windows (2), large-v3 with 4; two rounds
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site"
W4="--env TRANSCRIBER_WINDOWS_PER_DEVICE=4"
O=$OUT/35-language-first.jsonl
ls bench/.data/old/transcriber_cli/cli/__init__.py > $OUT/35-run.log 2>&1
for round in 1 2; do
  for m in large-v3 turbo; do
    $R --model $m --variant tip $OLD --out $O >> $OUT/35-run.log 2>&1
    $R --model $m --variant new $NEW --out $O >> $OUT/35-run.log 2>&1
  done
  $R --model large-v3 --variant tip-w4 $OLD $W4 --out $O >> $OUT/35-run.log 2>&1
  $R --model large-v3 --variant new-w4 $NEW $W4 --out $O >> $OUT/35-run.log 2>&1
done
