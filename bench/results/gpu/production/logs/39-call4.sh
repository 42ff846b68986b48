#!/bin/bash
# device call 4 (same warm machine, run inline): the large-v3 hour again, auto then 1 lane
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model large-v3"; O=$OUT/39-auto-lanes-2.jsonl; timeout 150 $R --variant auto --out $O > /dev/null 2>&1; timeout 60 $R --variant lanes1 --env TRANSCRIBER_DECODER_LANES=1 --out $O > /dev/null 2>&1
