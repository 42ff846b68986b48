#!/bin/bash
# device call 9, the same machine (carry bench/.data/tip, bench/.data/pyspy, bench/.data/pt): the GPU tests, then
# py-spy on every thread of the hour (large-v3, built-in speakers), the tip's package then this checkout's
# (SPIES="old" with TESTS_S=0 and bench/.data/old carried: the trace of the code before the clustering's imports moved)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
TAG=${TAG:-63}
python3 -m pip install -q --no-index --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1; echo "pt rc=$?"
[ "${TESTS_S:-200}" != 0 ] && timeout ${TESTS_S:-200} python3 bench/device.py exec -- python3 -m pytest tests/gpu -p no:cacheprovider -p no:timeout -o addopts= -rs > $OUT/$TAG-gputests.log 2>&1
echo "gpu tests rc=$?"; tail -8 $OUT/$TAG-gputests.log
python3 -m zipfile -e bench/.data/pyspy/py_spy-0.4.3-py2.py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl /tmp/pyspy
SPY=/tmp/pyspy/py_spy-0.4.3.data/scripts/py-spy; chmod +x $SPY
T=/tmp/bench-device
ARGS="$T/payload/production/hour.mp3 --model $T/models/large-v3/ct2 --device cuda --compute-type float16 --beam-size 5 --max-new-tokens 200 --suppress-tokens=-1,50256 --diarize --diarization-model builtin --offline --json -f json -v"
for v in ${SPIES:-tip new}; do
  case $v in tip|old) P=$PWD/bench/.data/$v;; *) P=$PWD;; esac
  timeout 120 python3 bench/device.py exec -- bash -c "export PYTHONPATH=$P:\$PYTHONPATH; $SPY record --threads --idle --nonblocking --rate 100 --format chrometrace -o $OUT/$TAG-spy-$v.json -- transcribe $ARGS -o /tmp/spy-$v > $OUT/$TAG-spy-$v.out 2> $OUT/$TAG-spy-$v.err"
  echo "spy $v rc=$?"; gzip -f $OUT/$TAG-spy-$v.json; grep -c . $OUT/$TAG-spy-$v.err
done
