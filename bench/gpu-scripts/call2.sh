#!/bin/bash
# Call 2 (right after call 1, same machine): the rest of tiny.en; CTranslate2 on CUDA with and
# without the cuBLAS 12 -> 13 compat dir, every compute type; CPU reference on the same machine.
exec > >(tee "$OUT/call2.log") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site
S=/tmp/stage; M=/tmp/tiny.en
[ -d /tmp/site/ctranslate2 ] || { echo "FRESH MACHINE: call 1 state is gone"; exit 3; }
mkdir -p $M && cat $S/model.part1 $PWD/.gpu/c2/model.part2 > $M/model.bin && cp $S/{config.json,tokenizer.json,vocabulary.txt} $M/
echo "md5 $(md5sum $M/model.bin | cut -d' ' -f1) expected $(cat $S/model.md5)"
L13=$(find / -name 'libcublas.so.13' -not -path '/proc/*' 2>/dev/null | head -1); echo "libcublas.so.13: $L13"
D13=$(dirname "$L13"); ls -la $D13 | grep -i cublas
mkdir -p /tmp/cublas12-compat && ln -sf "$L13" /tmp/cublas12-compat/libcublas.so.12
cd $S
echo "== A: no compat, float16"; python3 ct2_probe.py $M feats.npy cuda float16 $OUT/ct2_nocompat.json
echo "== B: compat dir only"; LD_LIBRARY_PATH=/tmp/cublas12-compat python3 ct2_probe.py $M feats.npy cuda float16 $OUT/ct2_compat_only.json
echo "== C: compat + cu13 dir, all types"; LD_LIBRARY_PATH=/tmp/cublas12-compat:$D13 python3 ct2_probe.py $M feats.npy cuda float16,int8_float16,int8,float32,bfloat16,int8_bfloat16 $OUT/ct2_cuda.json
echo "== D: CPU on this machine"; python3 ct2_probe.py $M feats.npy cpu int8,float32 $OUT/ct2_cpu.json
python3 - <<'PY'
import json, os
out = os.environ["OUT"]
ref = json.load(open("/tmp/stage/cpu_ref.json"))
cuda = json.load(open(f"{out}/ct2_cuda.json")); cpu = json.load(open(f"{out}/ct2_cpu.json"))
for name, res in [("cuda", cuda), ("device-cpu", cpu)]:
    for ct, r in res.items():
        if isinstance(r, dict) and r.get("ok"):
            print(name, ct, "ids==local_cpu_float32:", r["ids"] == ref["float32"]["ids"],
                  "ids==local_cpu_int8:", r["ids"] == ref["int8"]["ids"], "gen_s", r["generate_s"])
PY
date -u
