#!/bin/bash
# device call 7 (machine v): the 40-clip folder with the built-in speakers, large-v3, interleaved: "new" = the working tree (clustering on one BLAS/OpenMP thread, only the eigenpairs used; the torch encoder built during CTranslate2's load),
# "spectral-only" = the new clustering with e84bb9e's models.py (the encoder built after the load), "main" = e84bb9e (KMeans alone on one thread)
set -x
rm -rf /tmp/main0 /tmp/spec && for v in main0 spec; do mkdir /tmp/$v && cp -r transcriber_cli /tmp/$v/ && cp -r head_files/$v/transcriber_cli /tmp/$v/; done
grep -c "subset_by_index\|imports_pyannote" /tmp/main0/transcriber_cli/diarize/spectral.py /tmp/spec/transcriber_cli/diarize/spectral.py transcriber_cli/diarize/spectral.py /tmp/main0/transcriber_cli/pipeline/models.py /tmp/spec/transcriber_cli/pipeline/models.py transcriber_cli/pipeline/models.py > $OUT/29-check.log
R="python3 bench/device.py run production -- run --input folder --systems ours --model large-v3 --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
MAIN="--env PYTHONPATH=$PWD/bench/closure:/tmp/main0:/tmp/bench-device/site"
SPEC="--env PYTHONPATH=$PWD/bench/closure:/tmp/spec:/tmp/bench-device/site"
O=$OUT/29-folder-clustering.jsonl
$R --variant main $MAIN --out $O > $OUT/29-run.log 2>&1
$R --no-warmup --variant new $NEW --out $O >> $OUT/29-run.log 2>&1
$R --no-warmup --variant spectral-only $SPEC --out $O >> $OUT/29-run.log 2>&1
$R --no-warmup --variant main $MAIN --out $O >> $OUT/29-run.log 2>&1
$R --no-warmup --variant new $NEW --out $O >> $OUT/29-run.log 2>&1
$R --no-warmup --variant spectral-only $SPEC --out $O >> $OUT/29-run.log 2>&1
