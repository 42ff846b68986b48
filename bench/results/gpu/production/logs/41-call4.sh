#!/bin/bash
# the same warm machine: which warm-up covers what a transcription compiles? Each variant on an empty driver cache: the
# warm-up (windows x tokens), then the conversation transcribed in the same process; then_cache - warm_up_cache is
# what the warm-up missed
W="python3 bench/device.py exec -- python3 bench/cold_start.py --compute-type float16 --then examples/conversation.mp4 --out $OUT/41-cover.jsonl"
for v in "1 4" "2 4" "1 64" "4 64" "8 128"; do set -- $v
  CUDA_CACHE_PATH=/tmp/cov-$1-$2 timeout 90 $W --windows $1 --tokens $2 --variant w$1-t$2 >> $OUT/41-cover.log 2>&1
done
CUDA_CACHE_PATH=/tmp/cov-none timeout 90 $W --windows 1 --tokens 1 --variant t1 >> $OUT/41-cover.log 2>&1
cat $OUT/41-cover.jsonl
