#!/bin/bash
# Local benchmark on the GPU, call 3 of 3 (warm, right after the pieces): join and check the
# payload, install it, make cuBLAS 12 load on the CUDA 13 image (the doctor's compat recipe),
# then bench/bench_local.py --device cuda: one file (3 rounds) and one round of the folder,
# then as many more folder rounds (up to 2) as fit in the call.
#   bash .gpu/lb3/localbench-run.sh COMMIT      (carry .gpu/lb3)
exec > >(tee "$OUT/lb3.log") 2>&1
export PYTHONUNBUFFERED=1 BENCH_COMMIT=$1
START=$(date +%s); W=/tmp/lb; G=$PWD/.gpu/lb3; REPO=$PWD
for i in 1 2; do [ -f $W/part$i ] || { echo "FRESH MACHINE: piece $i is gone"; exit 3; }; done
cd $W && cat part1 part2 $G/part3 > payload.tar && rm part1 part2
SUM=$(md5sum payload.tar | cut -d' ' -f1); echo "payload md5 $SUM expected $(cat $G/payload.md5)"
[ "$SUM" = "$(cat $G/payload.md5)" ] || exit 4
tar xf payload.tar && rm payload.tar && ls $W
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $W/whl/*.whl || exit 1
[ -f $W/ct2.tar.xz ] && mkdir -p /tmp/site && xz -dc $W/ct2.tar.xz | tar x -C /tmp/site
mkdir -p /tmp/ffbin && xz -dc $W/ff.tar.xz | tar x -C /tmp/ffbin && chmod +x /tmp/ffbin/*
L13=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13
[ -f $L13 ] || L13=$(find / -name 'libcublas.so.13' -not -path '/proc/*' 2>/dev/null | head -1)
mkdir -p /tmp/cublas12-compat && ln -sf $L13 /tmp/cublas12-compat/libcublas.so.12
mkdir -p /tmp/src /tmp/bin && cp -r $REPO/transcriber_cli /tmp/src/ && cp -r $W/bench /tmp/src/
# the console script pip would write for `transcribe` (the package is not pip-installed here)
printf '#!%s\nimport sys\nfrom transcriber_cli.cli import transcribe_main\nsys.exit(transcribe_main())\n' "$(command -v python3)" > /tmp/bin/transcribe
chmod +x /tmp/bin/transcribe
cat > $W/env.sh <<ENV
export LD_LIBRARY_PATH=/tmp/cublas12-compat:$(dirname $L13)
export PATH=/tmp/bin:/tmp/ffbin:/tmp/site/bin:\$PATH PYTHONPATH=/tmp/src:/tmp/site
export PYTHONUNBUFFERED=1 BENCH_COMMIT=$1
ENV
echo "transcriber_cli sources md5: $(cd $REPO && find transcriber_cli -name '*.py' | sort | xargs cat | md5sum)"
. $W/env.sh; cd /tmp/src
echo "== versions"; date -u; nvidia-smi; python3 -V; nproc; free -g | head -2
ffmpeg -hide_banner -version | head -1; ffprobe -hide_banner -version | head -1
python3 -c "import ctranslate2 as c, faster_whisper, av, pynvml; print('ct2', c.__version__, 'cuda', c.get_cuda_device_count(), 'fw', faster_whisper.__version__, 'av', av.__version__)"
whisper-ctranslate2 --version 2>&1 | tail -1
echo "== sanity: one clip with ours on cuda"
transcribe $W/data/folder/clip_00.mp3 -m $W/model --device cuda --compute-type float16 --no-diarize -o /tmp/sanity --json || exit 5
B="python3 bench/bench_local.py --device cuda --model $W/model --data-dir $W/data"
echo "== long, 3 rounds"; T=$(date +%s)
timeout 280 $B --cases long --tools ours,wct2,wct2-default,bare --reps 3 --out $OUT/gpu-long.json
echo "long took $(( $(date +%s) - T )) s"
echo "== folder, round 1"; T=$(date +%s)
timeout 200 $B --cases folder --folder-reps 1 --out $OUT/gpu-folder-1.json && echo 1 > $W/folder_done
R=$(( $(date +%s) - T )); echo "folder round took $R s"; echo $R > $W/folder_round_s
LEFT=$(( 570 - ($(date +%s) - START) )); N=$(( LEFT / (R + 10) )); [ $N -gt 2 ] && N=2
echo "== folder, $N more round(s) in $LEFT s"
[ $N -ge 1 ] && timeout $LEFT $B --cases folder --folder-reps $N --first-round 1 --out $OUT/gpu-folder-2.json && echo $((1 + N)) > $W/folder_done
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader; date -u
