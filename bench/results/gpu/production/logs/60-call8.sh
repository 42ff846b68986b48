#!/bin/bash
# device call 8, the same machine (carry bench/.data/pt): the GPU tests (tests/gpu/test_torch_decoder_cuda.py had
# never run on a device), then the torch beam search against CTranslate2's alone on 64 windows of large-v3, one
# round, to tell a fast machine from a slow one (machine 5 of 2026-12-06: torch 1.11-1.20x; machine 3: slower)
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
python3 -m pip install -q --no-index --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1; echo "pt rc=$?"
timeout ${TESTS_S:-200} python3 bench/device.py exec -- python3 -m pytest tests/gpu -p no:cacheprovider -p no:timeout -o addopts= -rs > $OUT/${TAG:-60}-gputests.log 2>&1
echo "gpu tests rc=$?"; tail -8 $OUT/${TAG:-60}-gputests.log
timeout ${MICRO_S:-150} python3 bench/device.py exec -- python3 bench/torch_decoder.py --model /tmp/bench-device/models/large-v3/ct2 \
  --device cuda --windows 64 --batches ${BATCHES:-16,64} --rounds 1 --variants ct2,torch --json $OUT/${TAG:-60}-torch-decoder-large-v3.json > $OUT/${TAG:-60}-micro.log 2>&1
echo "micro rc=$?"; grep -E "variant|Error|error" $OUT/${TAG:-60}-micro.log | tail -20
