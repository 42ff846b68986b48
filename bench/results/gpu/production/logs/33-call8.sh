#!/bin/bash
# device call 8: whisperX 3.8.6 (transcribe, diarize, assign) beside ours (the working tree, built-in speakers), the hour, large-v3 then turbo, same weights, one process each
set -x
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/33-whisperx.jsonl
for m in large-v3 turbo; do
  python3 bench/device.py run production -- run --systems ours,whisperx --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model $m --variant new $NEW --out $O >> $OUT/33-whisperx.log 2>&1
done
