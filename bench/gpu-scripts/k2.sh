#!/bin/bash
# Chain call 2 (warm): av, static ffmpeg, model piece 1; the 1-hour file (108 loops of the example).
exec > >(tee "$OUT/k2.log") 2>&1
G=$PWD/.gpu/k2
[ -d /tmp/site/ctranslate2 ] || { echo "FRESH MACHINE: call 1 state is gone"; exit 3; }
cp $G/model.part1 /tmp/stage/
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $G/whl/*.whl || exit 1
mkdir -p /tmp/ffbin && xz -dc $G/ffmpeg.xz > /tmp/ffbin/ffmpeg && chmod +x /tmp/ffbin/ffmpeg && /tmp/ffbin/ffmpeg -hide_banner -version | head -1
PYTHONPATH=/tmp/site python3 -c "import av, faster_whisper; print('av', av.__version__, 'faster_whisper', faster_whisper.__version__)"
time /tmp/ffbin/ffmpeg -v error -stream_loop 107 -i $PWD/examples/conversation.mp4 -vn -ac 1 -c:a aac -b:a 64k -y /tmp/talk_1h.m4a
ls -la /tmp/talk_1h.m4a; date -u
