#!/bin/bash
# device call 2 (machine q): the hour with the built-in speaker pipeline (real weights: the default without a token), large-v3 and turbo shapes;
# "native" = the working tree (BuiltinDiarization, no pyannote.audio), "pyannote" = the same tree with diarization_runtime = pyannote (the built-in pipeline on pyannote.audio, as before); interleaved
set -x
R="python3 bench/device.py run production -- run --input hour --systems ours --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
PYA="--env TRANSCRIBER_DIARIZATION_RUNTIME=pyannote"
O=$OUT/24-builtin-native.jsonl
$R --model large-v3 --variant builtin-native $NEW --out $O > $OUT/24-run.log 2>&1
for round in 1 2; do
  $R --model large-v3 --no-warmup --variant builtin-pyannote $NEW $PYA --out $O >> $OUT/24-run.log 2>&1
  $R --model large-v3 --no-warmup --variant builtin-native $NEW --out $O >> $OUT/24-run.log 2>&1
done
for round in 1 2; do
  $R --model turbo --no-warmup --variant builtin-native $NEW --out $O >> $OUT/24-run.log 2>&1
  $R --model turbo --no-warmup --variant builtin-pyannote $NEW $PYA --out $O >> $OUT/24-run.log 2>&1
done
