#!/bin/bash
# Call 5 (warm, nothing carried; run as one command line): the image sets
# PYTHONDONTWRITEBYTECODE=1 and the payload was installed with --no-compile, so every process
# of calls 3-4 compiled its carried modules from source (0.77 s of ours' 4.5 s). A pip
# install compiles them once; do that (compileall), then the whole benchmark again: these are
# the results in bench/README.md.
[ -f /tmp/lb/env.sh ] || { echo FRESH; exit 3; }
. /tmp/lb/env.sh; cd /tmp/src; W=/tmp/lb; exec > >(tee $OUT/pyc.log) 2>&1
env | grep ^PYTHON
T=$(date +%s); python3 -m compileall -q -j 0 /tmp/site /tmp/src >/dev/null; echo "compileall $(( $(date +%s) - T )) s"
/usr/bin/time -f "ours %e s wall" transcribe $W/data/long.m4a -m $W/model --device cuda \
  --compute-type float16 --no-diarize -o /tmp/p --overwrite --json >/dev/null
B="python3 bench/bench_local.py --device cuda --model $W/model --data-dir $W/data"
timeout 150 $B --cases long --tools ours,wct2,wct2-default,bare --reps 3 --out $OUT/gpu-long-pyc.json
timeout 420 $B --cases folder --folder-reps 3 --out $OUT/gpu-folder-pyc.json
date -u
