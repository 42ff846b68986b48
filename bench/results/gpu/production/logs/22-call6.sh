#!/bin/bash
# device call 6 (machine o): setup, the GPU tests on the native diarizer's branch (0026425+), the models, then the hour with speakers, large-v3: native diarizer (working tree) against main's tip (acb1c3b, /tmp/head), interleaved
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 240 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_doctor.py -p no:cacheprovider -o addopts= -q -rs > $OUT/22-gputests.log 2>&1
echo "rc=$?" >> $OUT/22-gputests.log
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
rm -rf /tmp/head && mkdir /tmp/head && cp -r transcriber_cli /tmp/head/ && rm -rf /tmp/head/transcriber_cli/diarize/native && cp -r head_files/transcriber_cli /tmp/head/
grep -c "native" /tmp/head/transcriber_cli/diarize/pyannote_pipeline.py transcriber_cli/diarize/pyannote_pipeline.py > $OUT/22-check.log
R="python3 bench/device.py run production -- run --input hour --systems ours"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:/tmp/head:/tmp/bench-device/site"
O=$OUT/22-native.jsonl
$R --model large-v3 --variant before $OLD --out $O > $OUT/22-run.log 2>&1
for round in 1 2; do
  $R --model large-v3 --no-warmup --variant native $NEW --out $O >> $OUT/22-run.log 2>&1
  $R --model large-v3 --no-warmup --variant before $OLD --out $O >> $OUT/22-run.log 2>&1
done
