#!/bin/bash
# device call 7 (machine n): where pyannote.audio's import goes on the H200 (-X importtime, 3 fresh processes)
for i in 1 2 3; do
python3 bench/device.py exec -- python3 -X importtime -c "import time; t=time.perf_counter(); import torch; a=time.perf_counter(); import pyannote.audio; from pyannote.audio.pipelines import SpeakerDiarization; b=time.perf_counter(); print('WALL torch', round(a-t,2), 'pyannote', round(b-a,2))" > $OUT/21-importtime-$i.log 2>&1
grep WALL $OUT/21-importtime-$i.log
done
