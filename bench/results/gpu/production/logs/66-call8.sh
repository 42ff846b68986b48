#!/bin/bash
# device call 8, the same machine (carry bench/.data/tip, bench/.data/pt): the GPU tests, then the garbage
# collector's cost before and after the models are ready (bench/gc_startup.py, the hour, large-v3, built-in
# speakers), the tip's package against this checkout's, alternating; TAG, REPEATS, TESTS_S (0: no tests)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
TAG=${TAG:-66}
python3 -m pip install -q --no-index --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1; echo "pt rc=$?"
[ "${TESTS_S:-200}" != 0 ] && timeout ${TESTS_S:-200} python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/local/test_startup_gc.py -p no:cacheprovider -p no:timeout -o addopts= -rs > $OUT/$TAG-gputests.log 2>&1
echo "tests rc=$?"; tail -8 $OUT/$TAG-gputests.log
T=/tmp/bench-device
ARGS="$T/payload/production/hour.mp3 --model $T/models/${MODEL:-large-v3}/ct2 --device cuda --compute-type float16 --beam-size 5 --max-new-tokens 200 --suppress-tokens=-1,50256 --diarize --diarization-model builtin --offline"
timeout ${GC_S:-240} python3 bench/device.py exec -- python3 bench/gc_startup.py --tree tip=$PWD/bench/.data/tip --repeats ${REPEATS:-3} --json $OUT/$TAG-gc-startup.jsonl -- $ARGS > $OUT/$TAG-gc.log 2>&1
echo "gc rc=$?"; python3 -c "
import json
for l in open('$OUT/$TAG-gc-startup.jsonl'):
    r = json.loads(l)
    print(r['tree'], r.get('wall_s'), 'ready', r.get('models ready'), 'loading gc', [r.get(f'gen{g}_loading_s') for g in (0, 1, 2)], 'after', [r.get(f'gen{g}_after_ready_s') for g in (0, 1, 2)], r.get('rc'))"
