#!/bin/bash
# one device call: the diarizer's steps beside transcription (runtime.stages.diarize_*), the hour, large-v3 and turbo shapes
set -x
PP="$PWD/bench/closure:$PWD:/tmp/bench-device/site"
R="python3 bench/device.py run production -- run --systems ours --input hour"
E="--env PYTHONPATH=$PP --env BENCH_PREIMPORT_LOG=$OUT/preimport.jsonl"
O=$OUT/16-steps.jsonl
$R --model large-v3 --variant none $E --out $O > $OUT/16-run.log 2>&1
$R --model large-v3 --no-warmup --variant pyannote $E --env BENCH_PREIMPORT=torch,pyannote.audio --out $O >> $OUT/16-run.log 2>&1
$R --model large-v3 --no-warmup --variant none $E --out $O >> $OUT/16-run.log 2>&1
$R --model large-v3 --no-warmup --variant no-diarize "--extra-args=--no-diarize" $E --out $O >> $OUT/16-run.log 2>&1
$R --model turbo --no-warmup --variant none $E --out $O >> $OUT/16-run.log 2>&1
$R --model turbo --no-warmup --variant pyannote $E --env BENCH_PREIMPORT=torch,pyannote.audio --out $O >> $OUT/16-run.log 2>&1
