#!/bin/bash
# device call 6 of a fresh machine (after the production_e2e pack's setup calls 1-5; carry its call6 and bench/.data/pt):
# the pack's last piece, large-v3 and turbo prepared, the torch beam search against CTranslate2's alone on 64 windows
# of large-v3 (bench/torch_decoder.py), then the GPU tests (tests/gpu/test_torch_decoder_cuda.py is new)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1; echo "setup rc=$?"
timeout 240 python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1; echo "prepare rc=$?"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader; nproc; lscpu | grep "Model name"
python3 -m pip install -q --no-index --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1; echo "pt rc=$?"
timeout ${MICRO_S:-170} python3 bench/device.py exec -- python3 bench/torch_decoder.py --model /tmp/bench-device/models/large-v3/ct2 \
  --device cuda --windows 64 --batches 16,32,64 --two --rounds 2 --json $OUT/56-torch-decoder-large-v3-h100.json > $OUT/56-micro.log 2>&1
echo "micro rc=$?"; grep -E "variant|Error|error" $OUT/56-micro.log | tail -30
timeout ${TESTS_S:-150} python3 bench/device.py exec -- python3 -m pytest tests/gpu -p no:cacheprovider -p no:timeout -o addopts= -rs > $OUT/56-gputests.log 2>&1
echo "gpu tests rc=$?"; tail -8 $OUT/56-gputests.log
