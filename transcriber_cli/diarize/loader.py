"""Decide whether to diarize, and load the pyannote pipeline once per run.

``settings.diarize``: False = never; None (default) = when a pipeline is available, else a
skip note that says how to enable it; True = required, so anything missing is an error
(``DiarizationUnavailable``, exit 3) with the same one-line fix.

When the default hub pipeline (community-1) cannot be reached (no token, or offline with
nothing cached), the built-in pipeline (``diarize/builtin.py``, weights shipped in this
package) runs instead; ``--diarization-model builtin`` asks for it. A token, a cached snapshot
or a local directory keeps pyannote's; another hub id or directory the user named stays an
error (or a skip note) when it cannot load.
"""

from __future__ import annotations

import logging
from typing import Any

from transcriber_cli.config import DEFAULT_DIARIZATION_MODEL, Settings
from transcriber_cli.diarize import hub
from transcriber_cli.errors import DiarizationUnavailable

log = logging.getLogger(__name__)

Note = dict[str, Any]
BUILTIN = "builtin"

# Speaker embeddings per forward pass when left to us. On a GPU (float16) an hour took 11.3 s
# at 16, 9.6 s at 32 and no less beyond (bench/production.md); on a CPU 16 keeps memory flat.
AUTO_EMBEDDING_BATCH = {"cpu": 16, "cuda": 32}
# The built-in pipeline's windows are 1.5 s d-vectors (5 s for its segmentation), not 10 s
# ResNet windows: on an H200 256 at a time took its hour's embeddings from 7.4-10.0 s to
# 2.2-2.4 s beside transcription, the same speakers (bench/production.md). A CPU keeps 16.
AUTO_BUILTIN_BATCH = {"cpu": 16, "cuda": 256}
# Its d-vectors (small LSTM windows) on a GPU 1024 at a time: the hour's embeddings took
# 0.93-0.94 s against 1.48-1.71 s at 256 on an H100, alone, the same turns, the diarizer's GPU
# peak unchanged (1569 MiB), and the thread held the GIL 0.5-0.9 s less (bench/production.md).
AUTO_BUILTIN_DVECTOR_BATCH = {"cpu": 16, "cuda": 1024}


def skipped(reason: str) -> Note:
    return {"status": "skipped", "reason": reason}


def load_diarizer(settings: Settings, *, device: str) -> tuple[Any, Note | None]:
    """Return ``(diarizer, None)``, or ``(None, skip note)`` when diarization will not run."""
    if settings.diarize is False:
        return None, skipped("disabled (--no-diarize)")
    try:
        if uses_builtin(settings):
            return _load_builtin(settings, engine_device=device), None
        directory = pipeline_directory(settings)
        return _load(settings, directory, engine_device=device), None
    except DiarizationUnavailable as exc:
        if settings.diarize:
            raise
        return None, skipped(str(exc))


def pipeline_reachable(settings: Settings) -> bool:
    """Whether auto mode would find a pipeline now, without loading or downloading anything.

    Part of the local skip/resume key in auto mode: a file transcribed while no pipeline was
    available is redone once one is (a cached pipeline, a token, a local directory)."""
    name = settings.diarization_model
    if name == BUILTIN:
        return True
    try:
        if hub.local_pipeline_dir(name) is not None:
            return True
        if hub.cached_pipeline_dir(name, cache_dir=settings.model_cache_dir) is not None:
            return True
    except DiarizationUnavailable:
        return False
    token = hub.resolve_token(settings.hf_token.get_secret_value() if settings.hf_token else None)
    return bool(token) and not hub.is_offline(settings.offline)


def uses_builtin(settings: Settings, *, quiet: bool = False) -> bool:
    """``--diarization-model builtin``, or the default hub pipeline when no token, cache or
    local copy reaches it."""
    name = settings.diarization_model
    if name == BUILTIN:
        return True
    if name != DEFAULT_DIARIZATION_MODEL or pipeline_reachable(settings):
        return False
    if not quiet:
        log.info("diarization: %s is not reachable here; using the built-in pipeline", name)
    return True


def native_builtin(settings: Settings) -> bool:
    """Whether the diarizer is the built-in pipeline on this package's runtime, whose load
    imports only torch and reads two small checkpoints (without logging the choice)."""
    if settings.diarize is False or settings.diarization_runtime != "auto":
        return False
    return uses_builtin(settings, quiet=True)


def pipeline_directory(settings: Settings):
    """A local directory, the cached hub snapshot, or a fresh download (token needed)."""
    name = settings.diarization_model
    local = hub.local_pipeline_dir(name)
    if local is not None:
        return local
    cached = hub.cached_pipeline_dir(name, cache_dir=settings.model_cache_dir)
    if cached is not None:
        return cached
    if hub.is_offline(settings.offline):
        raise DiarizationUnavailable(hub.offline_message(name))
    token = hub.resolve_token(settings.hf_token.get_secret_value() if settings.hf_token else None)
    if not token:
        raise DiarizationUnavailable(hub.no_token_message(name))
    return hub.download_pipeline(name, token=token, cache_dir=settings.model_cache_dir)


def _load(settings: Settings, directory, *, engine_device: str):
    from transcriber_cli.diarize.pyannote_pipeline import (
        PyannoteDiarizer,
        load_pipeline,
        torch_device,
    )

    device = torch_device(engine_device, settings.device)
    pipeline = load_pipeline(
        directory,
        device=_indexed(device, settings),
        embedding_batch_size=settings.embedding_batch_size or AUTO_EMBEDDING_BATCH[device],
        cpu_threads=settings.cpu_threads,
        native=settings.diarization_runtime == "auto",
    )
    half = device == "cuda" and settings.diarization_precision == "float16"
    return PyannoteDiarizer(
        pipeline, name=settings.diarization_model, device=device, half=half, span=_span(settings)
    )


def _load_builtin(settings: Settings, *, engine_device: str):
    from transcriber_cli.diarize.pyannote_pipeline import (
        PyannoteDiarizer,
        disable_pyannote_telemetry,
        torch_device,
    )

    device = torch_device(engine_device, settings.device)
    if settings.cpu_threads > 0:
        import torch

        torch.set_num_threads(settings.cpu_threads)
    from transcriber_cli.diarize.builtin import load_builtin

    native = settings.diarization_runtime == "auto"
    if native:
        log.info("diarization: the built-in pipeline's steps run here, without pyannote.audio")
    else:
        disable_pyannote_telemetry()  # before pyannote.audio is imported and called
        log.info("diarization: pyannote.audio runs the built-in pipeline (diarization_runtime)")
    asked = settings.embedding_batch_size  # both steps' batch, when given
    pipeline = load_builtin(
        device=_indexed(device, settings),
        batch_size=asked or AUTO_BUILTIN_BATCH[device],
        embedding_batch_size=asked or AUTO_BUILTIN_DVECTOR_BATCH[device],
        native=native,
    )
    half = device == "cuda" and settings.diarization_precision == "float16"
    return PyannoteDiarizer(pipeline, name=BUILTIN, device=device, half=half, span=_span(settings))


def _span(settings: Settings) -> float:
    return settings.diarization_span_minutes * 60


def _indexed(device: str, settings: Settings) -> str:
    """torch's name for the device: the GPU this copy runs on (several GPUs: one each)."""
    return f"cuda:{settings.gpu_index}" if device == "cuda" else device
