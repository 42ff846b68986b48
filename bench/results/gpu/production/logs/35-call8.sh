#!/bin/bash
# device call 8: the 40-clip folder, tip then new (paired; large-v3, built-in speakers); the hour with every window in flight (6; large-v3); turbo with 4 windows; then the new hour (large-v3, auto) under py-spy (every thread, idle too, 100 Hz, chrome trace: where the start-up and the transcription's seconds go now)
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site"
O=$OUT/35-folder-and-windows.jsonl
$R --input folder --model large-v3 --variant tip $OLD --out $O >> $OUT/35-run8.log 2>&1
$R --input folder --model large-v3 --variant new $NEW --out $O >> $OUT/35-run8.log 2>&1
$R --input hour --model large-v3 --variant new-w6 $NEW --env TRANSCRIBER_WINDOWS_PER_DEVICE=6 --out $O >> $OUT/35-run8.log 2>&1
$R --input hour --model turbo --variant new-w4 $NEW --env TRANSCRIBER_WINDOWS_PER_DEVICE=4 --out $O >> $OUT/35-run8.log 2>&1
python3 -m zipfile -e bench/.data/pyspy/py_spy-0.4.3-py2.py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl /tmp/pyspy
SPY=/tmp/pyspy/py_spy-0.4.3.data/scripts/py-spy; chmod +x $SPY
T=/tmp/bench-device
ARGS="$T/payload/production/hour.mp3 --model $T/models/large-v3/ct2 --device cuda --compute-type float16 --beam-size 5 --max-new-tokens 200 --suppress-tokens=-1,50256 --diarize --diarization-model builtin --offline --json -f json -v"
timeout 120 python3 bench/device.py exec -- bash -c "$SPY record --threads --idle --nonblocking --rate 100 --format chrometrace -o $OUT/35-spy.json -- transcribe $ARGS -o /tmp/spy1 > $OUT/35-spy.out 2> $OUT/35-spy.err"
gzip -f $OUT/35-spy.json
