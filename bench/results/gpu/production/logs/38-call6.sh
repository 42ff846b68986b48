#!/bin/bash
# device call 6 (same warm machine, run inline): the hour, large-v3 with 1, 2, 3, 4, 4, 3, 2, 1 decoder lanes, then turbo with 4 and 1
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour"; O=$OUT/38-lanes-hour-2.jsonl; for v in 1 2 3 4 4 3 2 1; do $R --model large-v3 --variant lanes$v --env TRANSCRIBER_DECODER_LANES=$v --out $O > /dev/null 2>&1; done; for v in 4 1; do $R --model turbo --variant lanes$v --env TRANSCRIBER_DECODER_LANES=$v --out $O > /dev/null 2>&1; done
