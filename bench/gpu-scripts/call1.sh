#!/bin/bash
# Call 1: inventory, wheels, CTranslate2 CUDA count, pyannote CPU vs GPU. Logs to $OUT.
exec > >(tee "$OUT/call1.log") 2>&1
export PYTHONUNBUFFERED=1
C=$PWD/.gpu/c1
mkdir -p /tmp/stage && cp -r $C/. /tmp/stage/
echo "== inventory"; date -u; nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
uname -r; nproc; free -g | head -2; cat /etc/os-release | head -2
which python3 ffmpeg ffprobe; python3 -V
python3 -m pip list 2>/dev/null | grep -iE "^(torch|torchaudio|numpy|onnxruntime|tokenizers|huggingface|transformers|nvidia|lightning|scipy|pandas|scikit|typer|rich|pluggy|httpx|protobuf|grpcio|tqdm|pyyaml)"
echo "== cublas/cudnn"; find / \( -name 'libcublas*.so*' -o -name 'libcudnn.so*' -o -name 'libcudart.so*' \) -not -path '/proc/*' 2>/dev/null | sort
ldconfig -p | grep -E 'cublas|cudnn|libavcodec|libcudart'; ls -d /usr/local/cuda* 2>/dev/null; nvcc --version 2>/dev/null | tail -1
echo "== install wheels"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $C/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
ls /tmp/site/ctranslate2.libs/ 2>/dev/null
for f in /tmp/site/ctranslate2/*.so /tmp/site/ctranslate2.libs/*; do echo "-- $f"; ldd $f | grep -E 'not found|cublas|cudart|cudnn|gomp'; done
python3 -c "import ctranslate2 as c; print('ct2', c.__version__, 'cuda devices', c.get_cuda_device_count(), 'types', c.get_supported_compute_types('cuda'))"
echo "== pyannote"
cd /tmp/stage && timeout 540 python3 pyannote_probe.py $OUT/pyannote.json
echo "== done"; date -u
