#!/bin/bash
# device call 6 (machine d, after 48-call5.sh), as it ran (one command line): the GPU tests again with the image's
# pytest-timeout plugin off, then the large-v3 hour: tip (main, bench/.data/old), ahead (wip/speech-ahead,
# bench/.data/ahead) and ahead with 4 windows in flight, 4 rounds in rotating order
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache; (timeout 220 python3 bench/device.py exec -- python3 -m pytest tests/gpu -p no:cacheprovider -p no:timeout -o addopts= > $OUT/48-gputests.log 2>&1; echo "gpu tests rc=$?"; tail -4 $OUT/48-gputests.log); R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour --model large-v3"; O=$OUT/48-ahead-fast.jsonl; for round in 1 2 3 4; do case $round in 1) order="tip ahead ahead-w4";; 2) order="ahead-w4 ahead tip";; 3) order="ahead tip ahead-w4";; 4) order="tip ahead-w4 ahead";; esac; for v in $order; do case $v in tip) E="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site";; ahead) E="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/ahead:/tmp/bench-device/site";; ahead-w4) E="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/ahead:/tmp/bench-device/site --env TRANSCRIBER_WINDOWS_PER_DEVICE=4";; esac; $R --variant $v $E --out $O >> $OUT/48-run6.log 2>&1; python3 -c "
import json
r=[json.loads(l) for l in open('$O')][-1]; s=r.get('stages') or {}
print(r['variant'], r['wall_s'], r.get('x_rt'), s.get('transcribe'), s.get('load'), r.get('gpu_peak_mib'), r.get('text_tokens'), flush=True)"; done; done
