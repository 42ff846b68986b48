#!/bin/bash
# Re-run of the one-file GPU case after the model-load overlap (batch.py loads Whisper in a
# background thread while the first file is hashed and decoded). Call 3 of 3, warm, right
# after localbench-piece.sh 1 and 2 (pieces of the unchanged payload of localbench-payload.sh):
#   bash .gpu/ov/localbench-overlap.sh      (carry .gpu/lb3 and .gpu/ov)
# .gpu/ov/src is `git archive HEAD transcriber_cli bench/{bench_local,bare_faster_whisper,dataset}.py`
# of main, so the code measured is the committed one, whatever the working tree holds.
exec > >(tee "$OUT/overlap.log") 2>&1
export PYTHONUNBUFFERED=1 BENCH_COMMIT=$(cat .gpu/ov/commit)
W=/tmp/lb; G=$PWD/.gpu/lb3; V=$PWD/.gpu/ov; REPO=$PWD
for i in 1 2; do [ -f $W/part$i ] || { echo "FRESH MACHINE: piece $i is gone"; exit 3; }; done
cd $W && cat part1 part2 $G/part3 > payload.tar && rm part1 part2
SUM=$(md5sum payload.tar | cut -d' ' -f1); echo "payload md5 $SUM expected $(cat $G/payload.md5)"
[ "$SUM" = "$(cat $G/payload.md5)" ] || exit 4
tar xf payload.tar && rm payload.tar
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $W/whl/*.whl || exit 1
xz -dc $W/ct2.tar.xz | tar x -C /tmp/site
mkdir -p /tmp/ffbin && xz -dc $W/ff.tar.xz | tar x -C /tmp/ffbin && chmod +x /tmp/ffbin/*
L13=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13
[ -f $L13 ] || L13=$(find / -name 'libcublas.so.13' -not -path '/proc/*' 2>/dev/null | head -1)
mkdir -p /tmp/cublas12-compat && ln -sf $L13 /tmp/cublas12-compat/libcublas.so.12
rm -rf /tmp/src && mkdir -p /tmp/bin && cp -r $V/src /tmp/src
printf '#!%s\nimport sys\nfrom transcriber_cli.cli import transcribe_main\nsys.exit(transcribe_main())\n' "$(command -v python3)" > /tmp/bin/transcribe
chmod +x /tmp/bin/transcribe
export LD_LIBRARY_PATH=/tmp/cublas12-compat:$(dirname $L13)
export PATH=/tmp/bin:/tmp/ffbin:/tmp/site/bin:$PATH PYTHONPATH=/tmp/src:/tmp/site
cd /tmp/src
echo "commit $BENCH_COMMIT; batch.py md5 on device $(md5sum transcriber_cli/batch.py | cut -d' ' -f1)," \
  "HEAD's $(cat $V/batch.md5), sent working tree's $(md5sum $REPO/transcriber_cli/batch.py | cut -d' ' -f1)"
python3 -c "import transcriber_cli.batch as b; print('imported', b.__file__)"
grep -c ThreadPoolExecutor transcriber_cli/batch.py
T=$(date +%s); python3 -m compileall -q -j 0 /tmp/site /tmp/src >/dev/null 2>&1; echo "compileall $(( $(date +%s) - T )) s"
date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
python3 -c "import ctranslate2 as c, faster_whisper; print('ct2', c.__version__, 'cuda', c.get_cuda_device_count(), 'fw', faster_whisper.__version__)"
echo "== sanity/warm-up: ours on the long file"
/usr/bin/time -f "ours %e s wall" transcribe $W/data/long.m4a -m $W/model --device cuda \
  --compute-type float16 --no-diarize -o /tmp/p --overwrite --json >/dev/null || exit 5
B="python3 bench/bench_local.py --device cuda --model $W/model --data-dir $W/data"
echo "== long, 3 rounds"
timeout 200 $B --cases long --tools ours,wct2,bare --reps 3 --out $OUT/gpu-long-overlap.json || exit 6
echo "== long, 3 more rounds (supplementary)"
timeout 200 $B --cases long --tools ours,wct2,bare --reps 3 --first-round 3 --out $OUT/gpu-long-overlap-b.json \
  && $B --merge $OUT/gpu-long-overlap.json $OUT/gpu-long-overlap-b.json --out $OUT/gpu-long-overlap-6.json >/dev/null
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader; date -u
