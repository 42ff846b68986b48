#!/bin/bash
# one fresh machine: the light "generate" pack, random-weight large-v3 and turbo, then CTranslate2's generate on 128 windows: faster-whisper's options vs only end-of-text suppressed, calls one at a time vs 2 at once on a model with 2 replicas
python3 bench/device.py setup bench/.data/device/generate/call1 > $OUT/setup.log 2>&1; echo "setup rc=$?"
timeout 90 python3 bench/device.py exec -- python3 bench/production.py build-models --models large-v3,turbo --no-pipeline > $OUT/build.log 2>&1; echo "build rc=$?"
G="python3 bench/device.py exec -- python3 bench/generate_options.py --device cuda --windows 128 --workers 1,2 --only faster-whisper,suppress-eot-only"
timeout 130 $G --batches 64 --model /tmp/bench-device/models/large-v3/ct2 --json $OUT/37-generate-large-v3.json > $OUT/37-gen-large-v3.log 2>&1; echo "large-v3 rc=$?"
timeout 70 $G --batches 64 --model /tmp/bench-device/models/turbo/ct2 --json $OUT/37-generate-turbo.json > $OUT/37-gen-turbo.log 2>&1; echo "turbo rc=$?"
