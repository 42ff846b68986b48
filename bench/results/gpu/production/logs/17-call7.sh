#!/bin/bash
# device call 7: the hour end to end, the waveform handed to the diarizer on the GPU (working tree) against the code before (/tmp/head: the same tree with gpuwave.diff reversed), interleaved; whisperX 3.8.6 in the same call
set -x
rm -rf /tmp/head && mkdir /tmp/head && cp -r transcriber_cli /tmp/head/ && cp head_pyannote_pipeline.py /tmp/head/transcriber_cli/diarize/pyannote_pipeline.py
grep -c "pipeline.device" /tmp/head/transcriber_cli/diarize/pyannote_pipeline.py transcriber_cli/diarize/pyannote_pipeline.py >> $OUT/patch.log
R="python3 bench/device.py run production -- run --input hour"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:/tmp/head:/tmp/bench-device/site"
O=$OUT/17-gpu-waveform.jsonl
$R --systems ours --model large-v3 --variant before $OLD --out $O > $OUT/17-run.log 2>&1
for round in 1 2; do
  $R --systems ours --model large-v3 --no-warmup --variant gpu-waveform $NEW --out $O >> $OUT/17-run.log 2>&1
  $R --systems ours --model large-v3 --no-warmup --variant before $OLD --out $O >> $OUT/17-run.log 2>&1
done
$R --systems whisperx --model large-v3 --no-warmup --out $O >> $OUT/17-run.log 2>&1
$R --systems ours --model turbo --no-warmup --variant gpu-waveform $NEW --out $O >> $OUT/17-run.log 2>&1
$R --systems ours --model turbo --no-warmup --variant before $OLD --out $O >> $OUT/17-run.log 2>&1
$R --systems ours --model large-v3 --no-warmup --variant gpu-waveform $NEW --out $O >> $OUT/17-run.log 2>&1
