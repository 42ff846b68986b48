"""Turn a model name, hub id or directory into a local CTranslate2 model directory.

Order: an existing directory; a plugin model source (e.g. the bundled tiny.en); the Hugging
Face cache (faster-whisper's names map to hub ids); a download unless offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from transcriber_cli.errors import ModelUnavailable

REQUIRED_FILES = ("model.bin", "config.json")
DEFAULT_GPU_MODEL = "large-v3-turbo"
DEFAULT_CPU_MODEL = "tiny.en"


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user asked for, or what "auto" picked
    path: str  # local directory
    source: str  # "directory" | plugin source name | "cache" | "download"


def pick_auto_model(device: str) -> str:
    """``auto`` is large-v3-turbo on a GPU and the small offline tiny.en on a CPU."""
    return DEFAULT_GPU_MODEL if device == "cuda" else DEFAULT_CPU_MODEL


def model_for(model: str, device: str) -> str:
    """The model a run will use, known before loading anything: ``auto`` by the device."""
    if model != "auto":
        return model
    from transcriber_cli.engine.device import resolve_device

    return pick_auto_model(resolve_device(device, "auto")[0])


def weights_bytes(path: str | Path) -> int:
    """The size of a model directory's weights (0 where it has none)."""
    weights = Path(path, "model.bin")
    return weights.stat().st_size if weights.is_file() else 0


def local_model_dir(model: str, device: str, cache_dir: Path | None) -> str | None:
    """``model``'s directory where this machine has it already (a directory, a plugin's
    source, the cache), else None: found without a download."""
    import faster_whisper  # noqa: F401  the package before its modules (pipeline/speech.py)

    try:
        return resolve_model(model_for(model, device), cache_dir=cache_dir, offline=True).path
    except ModelUnavailable:
        return None


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in REQUIRED_FILES)


def model_sources() -> dict[str, object]:
    from transcriber_cli.plugins import get_plugin_manager

    sources: dict[str, object] = {}
    get_plugin_manager().hook.register_model_sources(
        register=lambda name, resolve: sources.__setitem__(name, resolve)
    )
    return sources


def resolve_model(
    name: str, *, cache_dir: Path | None = None, offline: bool = False
) -> ResolvedModel:
    candidate = Path(name).expanduser()
    if candidate.exists() or os.sep in name or name.startswith("."):
        if not candidate.exists():  # a path, not a hub name: say what is wrong with it
            raise ModelUnavailable(
                f"model directory {name} does not exist",
                hint="pass the folder of a CTranslate2 model, or a model name such as tiny.en",
            )
        if is_model_dir(candidate):
            return ResolvedModel(name, str(candidate.resolve()), "directory")
        raise ModelUnavailable(
            f"model directory {candidate} is not a CTranslate2 Whisper model",
            hint="it needs model.bin and config.json (convert with ct2-transformers-converter)",
        )
    for source, resolve in model_sources().items():
        found = resolve(name)  # type: ignore[operator]
        if found:
            return ResolvedModel(name, found, source)
    return _from_hub(name, cache_dir=cache_dir, offline=offline)


def _from_hub(name: str, *, cache_dir: Path | None, offline: bool) -> ResolvedModel:
    from faster_whisper.utils import download_model

    kwargs = {"cache_dir": str(cache_dir) if cache_dir else None}
    try:
        return ResolvedModel(name, download_model(name, local_files_only=True, **kwargs), "cache")
    except ValueError as exc:  # not a known size nor an "org/name" id
        raise ModelUnavailable(f"unknown model {name!r}: {exc}") from None
    except Exception:
        pass
    if offline or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ModelUnavailable(
            f"model {name!r} is not in the cache and offline mode is on",
            hint=f"run 'transcriber models pull {name}' with network, or pass -m DIR",
        )
    try:
        return ResolvedModel(name, download_model(name, **kwargs), "download")
    except Exception as exc:
        raise ModelUnavailable(
            f"cannot download model {name!r} ({type(exc).__name__})",
            hint=f"check the network, or run 'transcriber models pull {name}' where there is "
            "one, or pass -m DIR with a local CTranslate2 model",
        ) from None
