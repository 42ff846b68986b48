#!/bin/bash
# Chain call 1 (cold): wheels except av, our code, model piece 0; pyannote CPU vs GPU (5 min).
exec > >(tee "$OUT/k1.log") 2>&1
export PYTHONUNBUFFERED=1
G=$PWD/.gpu/k1
mkdir -p /tmp/stage && cp -r $G/src $G/pyannote_probe.py $G/random_pipeline.py $G/model.md5 $G/model.part0 /tmp/stage/
date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $G/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
python3 -c "import pyannote.audio, jiwer, pydantic_settings, ctranslate2; print('imports ok', pyannote.audio.__version__, ctranslate2.__version__)"
cd /tmp/stage && timeout 450 python3 pyannote_probe.py $OUT/pyannote.json
ls /tmp/pipe_community; date -u
