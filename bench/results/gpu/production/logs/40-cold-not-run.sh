#!/bin/bash
# NOT RUN YET. Device call 3 on a fresh machine (after the production pack's setup calls 1 and 2): is a fresh machine's first
# process slow (45 s against 21 s, logs/39-*) because the machine is cold, or because of two decoder lanes? The first process
# runs with ONE lane this time, then auto, 1, auto; --timeline shows where the transcription's seconds go
set -x
python3 bench/device.py setup bench/.data/device/production/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
timeout 150 python3 bench/device.py run production -- prepare --files 1 --models large-v3 > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model large-v3"
O=$OUT/40-cold.jsonl
$R --variant first-lanes1 --env TRANSCRIBER_DECODER_LANES=1 --out $O >> $OUT/40-run.log 2>&1
$R --variant auto --out $O >> $OUT/40-run.log 2>&1
$R --variant lanes1 --env TRANSCRIBER_DECODER_LANES=1 --out $O >> $OUT/40-run.log 2>&1
$R --variant auto --out $O >> $OUT/40-run.log 2>&1
