#!/bin/bash
# next device session, call 7, the same machine (carry bench/.data/old = e9d33e1's transcriber_cli: the gather, d-vectors
# 256 a batch): turbo's hour, where the speakers end last, tip against new (d-vectors 1024 a batch), then large-v3's
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
TAG=53ab MODEL=turbo LIMIT=${LIMIT:-150} bash bench/results/gpu/production/logs/50-call7.sh
TAG=53ab MODEL=large-v3 LIMIT=${LIMIT:-150} bash bench/results/gpu/production/logs/50-call7.sh
