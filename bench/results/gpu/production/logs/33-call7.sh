#!/bin/bash
# device call 7: the hour with the built-in speakers and --timeline (ours with -v, each log line stamped from the spawn), interleaved by round:
# "tip" = d32f876 (main at the session's start; a copy in bench/.data/old), "new" = the working tree (diarization starts beside the Whisper load; leaves without the interpreter's teardown), auto (2 windows) and 4 windows;
# large-v3 and turbo, two rounds; then large-v3 with --batch-size 128 (one decoder call per window), then the 40-clip folder once
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site"
O=$OUT/33-tip-vs-exit.jsonl
ls bench/.data/old/transcriber_cli/cli/__init__.py > $OUT/33-run.log 2>&1
for round in 1 2; do
  for m in large-v3 turbo; do
    $R --input hour --model $m --variant tip $OLD --out $O >> $OUT/33-run.log 2>&1
    $R --input hour --model $m --variant new $NEW --out $O >> $OUT/33-run.log 2>&1
    $R --input hour --model $m --variant new-w4 $NEW --env TRANSCRIBER_WINDOWS_PER_DEVICE=4 --out $O >> $OUT/33-run.log 2>&1
  done
done
python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args="--diarization-model=builtin --batch-size 128" --input hour --model large-v3 --variant new-b128 $NEW --out $O >> $OUT/33-run.log 2>&1
$R --input folder --model large-v3 --variant new $NEW --out $O >> $OUT/33-run.log 2>&1
