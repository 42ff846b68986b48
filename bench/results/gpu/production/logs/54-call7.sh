#!/bin/bash
# device call 7, the same machine: main's large-v3 hour, then turbo's, with the built-in speakers (--timeline), for the
# 300x / 400x targets on whatever machine came
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
ONLY=new TAG=54 MODEL=large-v3 LIMIT=${LIMIT:-140} bash bench/results/gpu/production/logs/50-call7.sh
ONLY=new TAG=54 MODEL=turbo LIMIT=${TURBO_LIMIT:-70} bash bench/results/gpu/production/logs/50-call7.sh
