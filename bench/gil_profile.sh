#!/usr/bin/env bash
# On the GPU machine, after the `production` setup and `prepare` (bench/production.py): our CLI
# on the hour (large-v3 shapes, speakers) three ways: plain with -v, under py-spy sampling only
# the thread that holds the GIL, and under py-spy sampling every thread. Summarise with
# bench/gil_summary.py. py-spy travels as its PyPI wheel's binary (PYSPY=path; no network).
#   python3 bench/device.py exec -- bash bench/gil_profile.sh
set -x
T=/tmp/bench-device
SPY=${PYSPY:-py-spy}
ARGS="$T/payload/production/hour.mp3 --model $T/models/large-v3/ct2 --device cuda --compute-type float16 --beam-size 5 --max-new-tokens 200 --suppress-tokens=-1,50256 --diarize --diarization-model $T/models/pipeline --offline --json -f json"
transcribe $ARGS -o /tmp/w0 > "$OUT/warm.json" 2> "$OUT/warm.err"  # the page cache
/usr/bin/time -f "wall %e" transcribe $ARGS -o /tmp/p1 -v > "$OUT/plain.json" 2> "$OUT/plain.err"
"$SPY" record --gil --threads --nonblocking --rate 100 --format raw -o "$OUT/gil.txt" -- \
  transcribe $ARGS -o /tmp/p2 > "$OUT/gil.json" 2> "$OUT/gil.err"
"$SPY" record --threads --nonblocking --rate 100 --format raw -o "$OUT/all.txt" -- \
  transcribe $ARGS -o /tmp/p3 > "$OUT/all.json" 2> "$OUT/all.err"
