"""Pick device and compute type: CUDA when CTranslate2 sees a GPU, else the CPU."""

from __future__ import annotations

from transcriber_cli.errors import DeviceUnavailable


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
        raise DeviceUnavailable(
            "--device cuda asked for, but CTranslate2 sees no CUDA GPU",
            hint="see docs/troubleshooting.md#cuda, or use --device cpu",
        )
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


AUTO_BATCH_CPU = 8  # past this the CPU's cores are busy anyway (bench/README.md)
AUTO_BATCH_MAX = 64  # large-v3 on an H200: 16 -> 32 -> 64 took 27.4 -> 21.6 -> 20.0 s an hour
MEMORY_SHARE = 0.5  # of the free GPU memory a batch may take: diarization runs beside it


def free_gpu_memory(index: int = 0) -> int | None:
    """Free bytes on the GPU, or None when torch cannot tell (no torch, no CUDA)."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        free, _total = torch.cuda.mem_get_info(index)
        return int(free)
    except Exception:  # a driver torch cannot use: fall back to the fixed size
        return None


def release_torch_cache() -> None:
    """Hand the GPU memory torch's allocator keeps cached back to CUDA, where CTranslate2 and
    the batch size rule (free memory) can use it: after a torch model was dropped."""
    import gc

    gc.collect()  # what only reference cycles still held
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # no torch, or one that cannot start CUDA: nothing was cached there
        pass


def auto_batch_size(device: str, weights_bytes: int, beam_size: int, free: int | None) -> int:
    """A batch size that fits: on a GPU from its free memory (after the model loaded) and
    what one batch row costs, about an eighth of the weights at beam 5 (its encoder output
    and beams' key/value caches; large-v3: ~0.4 GB); on a CPU the fixed size."""
    if device != "cuda" or free is None:
        return AUTO_BATCH_CPU
    row = max(64 << 20, weights_bytes // 8) * max(beam_size, 1) / 5
    fits = int(free * MEMORY_SHARE // row)
    if fits < 1:
        return 1
    return min(AUTO_BATCH_MAX, 1 << (fits.bit_length() - 1))  # a power of two


def planned_batch_size(
    weights_bytes: int, beam_size: int, free: int, batch_size: int = 0, decoder_lanes: int = 0
) -> int:
    """The batch size a GPU engine of ``weights_bytes`` will run with (``batch_size``, or
    auto for each of its lanes), told before its weights are on the GPU (``free``: the memory
    free before they are). A local run cuts its windows from it while the models load
    (engine/gpus.py: ``window_length``); the engine picks from the memory free once loaded,
    and the power of two both round to mostly hides the difference."""
    if batch_size:
        return batch_size
    after = max(0, free - weights_bytes)
    lanes = decoder_lanes or auto_decoder_lanes("cuda", weights_bytes, beam_size, after)
    return auto_batch_size("cuda", weights_bytes, beam_size, after // lanes)


AUTO_LANES = 2  # two lanes of 32 beat one of 64 on the large-v3 hour; four of 16 lost


def auto_decoder_lanes(
    device: str, weights_bytes: int, beam_size: int, free: int | None, batch_size: int = 0
) -> int:
    """Decoder lanes for ``decoder_lanes`` 0 (auto): two on a GPU whose free memory still
    gives each lane an auto batch of at least half the largest (and of the batch size asked
    for, if any), else one. Measured on an H100 (bench/production.md, 2026-12-05, fourth):
    the large-v3 hour took 17.8-18.9 s with 2 lanes of 32 windows against 19.3-22.8 s with
    1 of 64 (5 pairs out of 5), and 21.9-22.2 s with 4 lanes of 16."""
    if device != "cuda" or free is None:
        return 1
    each = auto_batch_size(device, weights_bytes, beam_size, free // AUTO_LANES)
    return AUTO_LANES if each >= max(AUTO_BATCH_MAX // 2, batch_size) else 1
