#!/bin/bash
# device call 3 (fresh machine, the cublas pack's last piece: CTranslate2, faster-whisper, the bundled tiny.en; no pyannote):
# pytest, then the GPU tests of the engine's warm-up and of the decoder lanes (the auto-lanes test has never run on a GPU)
set -x
python3 bench/device.py setup bench/.data/device/cublas/call3 > $OUT/setup3.log 2>&1; echo "setup rc=$?"
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1; echo "pt rc=$?"
ls -la ~/.nv 2>&1; /tmp/bench-device/bin/ffmpeg -hide_banner -i examples/conversation.mp4 -f null - 2>&1 | tail -2
timeout 300 python3 bench/device.py exec -- python3 -m pytest tests/gpu -k "warm_up or lanes or matches_cpu" -p no:cacheprovider -o addopts= -v -rs > $OUT/41-gputests.log 2>&1
echo "pytest rc=$?" >> $OUT/41-gputests.log
tail -15 $OUT/41-gputests.log
rm -f $OUT/cold.jsonl
CUDA_CACHE_PATH=/tmp/cc41 timeout 100 python3 bench/device.py exec -- python3 bench/cold_start.py --compute-type float16 --variant tiny-empty-cache --out $OUT/41-warm-up-tiny.jsonl > $OUT/41-warm-up.log 2>&1
CUDA_CACHE_PATH=/tmp/cc41 timeout 100 python3 bench/device.py exec -- python3 bench/cold_start.py --compute-type float16 --variant tiny-same-cache --out $OUT/41-warm-up-tiny.jsonl >> $OUT/41-warm-up.log 2>&1
cat $OUT/41-warm-up-tiny.jsonl
