#!/bin/bash
# device call 7: when does the early diarization start? The hour, large-v3, built-in speakers, --timeline (new -v lines: started beside the load, starting, first progress); the shipped torch encoder (built on its own thread during CTranslate2's load) against CTranslate2's encoder (nothing built during the load), interleaved, two rounds
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model large-v3"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/34-early-diarization.jsonl
for round in 1 2; do
  $R --variant torch-encoder $NEW --out $O >> $OUT/34-run.log 2>&1
  $R --variant ct2-encoder $NEW --env TRANSCRIBER_WHISPER_ENCODER=ctranslate2 --out $O >> $OUT/34-run.log 2>&1
done
