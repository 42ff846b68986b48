#!/bin/bash
# device call 8: the process-exit and early-diarization tests again (the first run's failure explained: the exit test let `auto` pick large-v3-turbo, not in the cache), then whisperX 3.8.6 (transcribe, diarize, assign) beside ours (the working tree, built-in speakers), the hour, large-v3 then turbo, same weights, one process each
set -x
timeout 150 python3 bench/device.py exec -- python3 -m pytest tests/gpu/test_cuda.py tests/test_process_exit.py -p no:cacheprovider -o addopts= -q -rs -k "whisper_still_loads or process or leaves or exits or message" > $OUT/33-gputests-2.log 2>&1; echo rc=$? >> $OUT/33-gputests-2.log
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/33-whisperx.jsonl
for m in large-v3 turbo; do
  python3 bench/device.py run production -- run --systems ours,whisperx --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model $m --variant new --env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site --out $O >> $OUT/33-whisperx.log 2>&1
done
