#!/bin/bash
# Local benchmark on the GPU, calls 1-2 of 3 (back to back on one warm machine): bring one
# piece of the payload (wheels, static ffmpeg/ffprobe, tiny.en, the bench audio, the bench
# scripts; one tar split in pieces under 64 MiB) from the carried folder to /tmp/lb.
#   call 1 (cold): bash .gpu/lb1/localbench-piece.sh 1     (carry .gpu/lb1)
#   call 2 (warm): bash .gpu/lb2/localbench-piece.sh 2     (carry .gpu/lb2)
N=$1
exec > >(tee "$OUT/lb$N.log") 2>&1
mkdir -p /tmp/lb
for i in $(seq 1 $((N - 1))); do
  [ -f /tmp/lb/part$i ] || { echo "FRESH MACHINE: piece $i is gone"; exit 3; }
done
cp "$PWD/.gpu/lb$N/part$N" /tmp/lb/ && ls -la /tmp/lb
date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
