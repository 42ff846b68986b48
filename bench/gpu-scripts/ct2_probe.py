"""Decode fixed log-mel features with ctranslate2.models.Whisper (no faster_whisper, no av).

usage: ct2_probe.py MODEL_DIR FEATURES.npy DEVICE COMPUTE_TYPES OUT.json
Prints and writes, per compute type: the token ids, the decoded text, load and generate times.
"""

import json
import sys
import time

import ctranslate2
import numpy as np
from tokenizers import Tokenizer

model_dir, feats_path, device, types, out = sys.argv[1:6]
feats = np.load(feats_path).astype(np.float32)
tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
prompt = [50257, 50362]  # <|startoftranscript|> <|notimestamps|> (English-only model)
result = {
    "device": device,
    "ctranslate2": ctranslate2.__version__,
    "cuda_devices": ctranslate2.get_cuda_device_count(),
}
for ct in types.split(","):
    try:
        t0 = time.perf_counter()
        model = ctranslate2.models.Whisper(model_dir, device=device, compute_type=ct)
        load = time.perf_counter() - t0
        sv = ctranslate2.StorageView.from_array(feats)

        def gen(model=model, sv=sv):
            return model.generate(sv, [prompt] * feats.shape[0], beam_size=5, max_length=448)

        first = gen()
        t0 = time.perf_counter()
        for _ in range(5):
            gen()
        dt = (time.perf_counter() - t0) / 5
        ids = [r.sequences_ids[0] for r in first]
        result[ct] = {
            "ok": True,
            "ids": ids,
            "text": [tok.decode(i) for i in ids],
            "load_s": round(load, 3),
            "generate_s": round(dt, 4),
        }
    except Exception as exc:  # report and go on to the next type
        result[ct] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(ct, json.dumps({k: v for k, v in result[ct].items() if k != "ids"}), flush=True)
with open(out, "w") as f:
    json.dump(result, f, indent=1)
