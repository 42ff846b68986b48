#!/bin/bash
# device call 6 (machine m): setup (torch byte-compiled), the models and the hour; frames to turns by run edges (working tree) against the code before (/tmp/head: the tree with 3294311's pyannote_pipeline.py), interleaved, turbo (diarization on the critical path) and large-v3
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
rm -rf /tmp/head && mkdir /tmp/head && cp -r transcriber_cli /tmp/head/ && cp head_pyannote_pipeline.py /tmp/head/transcriber_cli/diarize/pyannote_pipeline.py
grep -c "use_run_edges" /tmp/head/transcriber_cli/diarize/pyannote_pipeline.py transcriber_cli/diarize/pyannote_pipeline.py > $OUT/20-check.log
R="python3 bench/device.py run production -- run --input hour --systems ours"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:/tmp/head:/tmp/bench-device/site"
O=$OUT/20-run-edges.jsonl
$R --model turbo --variant before $OLD --out $O > $OUT/20-run.log 2>&1
for round in 1 2; do
  $R --model turbo --no-warmup --variant run-edges $NEW --out $O >> $OUT/20-run.log 2>&1
  $R --model turbo --no-warmup --variant before $OLD --out $O >> $OUT/20-run.log 2>&1
done
$R --model large-v3 --no-warmup --variant run-edges $NEW --out $O >> $OUT/20-run.log 2>&1
$R --model large-v3 --no-warmup --variant before $OLD --out $O >> $OUT/20-run.log 2>&1
