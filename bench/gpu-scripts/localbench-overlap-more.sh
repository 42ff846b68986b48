#!/bin/bash
# Call 4 of the overlap re-run (warm, right after localbench-overlap.sh; carry .gpu/ov): 6 more
# rounds of the one-file case on the same machine, numbered 7-12 so --merge can join them.
# Sent as one command line; written out here as it ran.
[ -d /tmp/src/transcriber_cli ] || { echo FRESH; exit 3; }
L13=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13
export LD_LIBRARY_PATH=/tmp/cublas12-compat:$(dirname $L13) PATH=/tmp/bin:/tmp/ffbin:/tmp/site/bin:$PATH \
  PYTHONPATH=/tmp/src:/tmp/site PYTHONUNBUFFERED=1 BENCH_COMMIT=$(cat .gpu/ov/commit)
cd /tmp/src; md5sum transcriber_cli/batch.py; exec > >(tee $OUT/overlap-c.log) 2>&1
timeout 300 python3 bench/bench_local.py --device cuda --model /tmp/lb/model --data-dir /tmp/lb/data \
  --cases long --tools ours,wct2,bare --reps 6 --first-round 6 --out $OUT/gpu-long-overlap-c.json
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu --format=csv,noheader
