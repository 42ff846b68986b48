#!/bin/bash
# Call 4 (warm, nothing carried; run as one command line): where ours' extra second on the
# 5-minute file went. Import time of the CLI, cProfile of ours (2 runs, the second kept),
# ffprobe and ffmpeg decode alone, the bare call's own stage times (2 runs).
. /tmp/lb/env.sh; cd /tmp/src; W=/tmp/lb; exec > >(tee $OUT/diag.log) 2>&1
python3 -X importtime -c "from transcriber_cli.cli import transcribe_main" 2> $OUT/importtime.txt
tail -1 $OUT/importtime.txt
for i in 1 2; do
  /usr/bin/time -f "ours %e s wall %U+%S cpu" python3 -m cProfile -o $OUT/ours_long.prof \
    /tmp/bin/transcribe $W/data/long.m4a -m $W/model --device cuda --compute-type float16 \
    --batch-size 8 --no-diarize -f all -o /tmp/p --overwrite --json >/dev/null
done
/usr/bin/time -f "ffprobe %e s" ffprobe -v error -show_format -show_streams -of json $W/data/long.m4a >/dev/null
/usr/bin/time -f "ffmpeg decode %e s" ffmpeg -nostdin -v error -i $W/data/long.m4a -f f32le -ac 1 -ar 16000 - >/dev/null
for i in 1 2; do
  /usr/bin/time -f "bare %e s" python3 bench/bare_faster_whisper.py $W/model $W/data/long.m4a \
    --device cuda --compute-type float16 | python3 -c "import json,sys; print(json.load(sys.stdin)['stages'])"
done
python3 -c "import pstats; p=pstats.Stats('$OUT/ours_long.prof'); p.sort_stats('cumulative').print_stats(45)" | head -90
