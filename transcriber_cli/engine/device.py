"""Pick device and compute type: CUDA when CTranslate2 sees a GPU, else the CPU."""

from __future__ import annotations

from transcriber_cli.errors import SetupError


def cuda_device_count() -> int:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:
        return 0


def resolve_device(device: str, compute_type: str) -> tuple[str, str]:
    if device == "auto":
        device = "cuda" if cuda_device_count() > 0 else "cpu"
    elif device == "cuda" and cuda_device_count() == 0:
        raise SetupError(
            "--device cuda asked for, but CTranslate2 sees no CUDA GPU",
            hint="see docs/troubleshooting.md#cuda, or use --device cpu",
        )
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type
