#!/bin/bash
# Chain call 3 (warm): static ffprobe, model piece 2.
exec > >(tee "$OUT/k3.log") 2>&1
G=$PWD/.gpu/k3
[ -f /tmp/talk_1h.m4a ] || { echo "FRESH MACHINE: call 2 state is gone"; exit 3; }
cp $G/model.part2 /tmp/stage/
xz -dc $G/ffprobe.xz > /tmp/ffbin/ffprobe && chmod +x /tmp/ffbin/ffprobe
/tmp/ffbin/ffprobe -v error -show_entries format=duration -of csv=p=0 /tmp/talk_1h.m4a; date -u
