#!/bin/bash
# device call 8 (fresh machine, after the production pack's setup): the hour with the built-in speakers and --timeline,
# "tip" = 37bc0d7 (main at the session's start, a copy in bench/.data/old: on one GPU the first window runs alone until
# it has found the language) against "new" = the working tree (with two decoder lanes the language is found before the
# windows start, so they start together); large-v3 and turbo, auto windows and lanes, three rounds, order alternating
set -x
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --input hour"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:$PWD/bench/.data/old:/tmp/bench-device/site"
O=$OUT/46-language-first.jsonl
ls bench/.data/old/transcriber_cli/cli/__init__.py > $OUT/46-run.log 2>&1
for round in 1 2 3; do
  for m in large-v3 turbo; do
    if [ $((round % 2)) = 1 ]; then first=tip; else first=new; fi
    for v in $first $([ $first = tip ] && echo new || echo tip); do
      if [ $v = tip ]; then E=$OLD; else E=$NEW; fi
      $R --model $m --variant $v $E --out $O >> $OUT/46-run.log 2>&1
    done
  done
done
python3 -c "
import json
for l in open('$O'):
    r=json.loads(l); rt=r.get('runtime') or {}; s=r.get('stages') or {}
    print(r['model'], r['variant'], r['wall_s'], r.get('x_rt'), r.get('rc'), rt.get('decoder_lanes'), rt.get('batch_size'), rt.get('windows_in_flight'), s.get('transcribe'), s.get('diarize'), r.get('gpu_peak_mib'), r.get('text_tokens'), (r.get('error') or '')[-300:])
"
