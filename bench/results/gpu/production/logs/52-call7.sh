#!/bin/bash
# (its "new" was the working tree of 2026-12-06: main's 0c9e6ec plus the decoder-only copy of the branch
# wip/decoder-only-copy, not on main)
# device call 7, the same machine (bench/.data/old = 17926e9 and bench/.data/pt carried): the hour tip (17926e9)
# against new (the decoder-only copy, the gather, 1024 d-vectors a batch), alternating, until $LIMIT s; then the
# GPU tests with tiny.en
export CUDA_CACHE_PATH=/tmp/bench-device/cuda-cache
TAG=52ab LIMIT=${LIMIT:-120} bash bench/results/gpu/production/logs/50-call7.sh
TESTS_S=${TESTS_S:-150} bash bench/results/gpu/production/logs/50-call8.sh
