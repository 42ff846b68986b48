"""Models on disk: pull Whisper models and diarization pipelines into the cache, write an
offline bundle for worker images, and list what is available.

A bundle is one directory::

    BUNDLE/
      bundle.json                 {"schema": "transcriber.bundle/1", "whisper": {...}, ...}
      whisper/<name>/             CTranslate2 model (model.bin, config.json, tokenizer.json, ...)
      diarization/<name>/         pyannote pipeline (config.yaml, segmentation/, embedding/, plda/)

Point settings at it (``model = "BUNDLE/whisper/<name>"``, ``diarization_model =
"BUNDLE/diarization/<name>"``; ``bundle.json`` lists both paths) and nothing is fetched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transcriber_cli.config import Settings
from transcriber_cli.errors import DiarizationUnavailable, ModelUnavailable, UsageError
from transcriber_cli.fsutil import dir_size

BUNDLE_SCHEMA = "transcriber.bundle/1"
BUNDLE_MANIFEST = "bundle.json"


@dataclass
class ModelEntry:
    name: str
    kind: str  # whisper | diarization
    source: str  # cache | bundled | bundle | directory | download
    path: str
    size_bytes: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def guess_kind(name: str, settings: Settings) -> str:
    """``tiny.en``, ``large-v3``, ``Systran/faster-whisper-*``: Whisper; ``pyannote/*`` or the
    configured diarization model: diarization."""
    if name == settings.diarization_model or name.lower().startswith(("pyannote/", "pyannoteai/")):
        return "diarization"
    return "whisper"


def _token(settings: Settings, token: str | None) -> str | None:
    from transcriber_cli.diarize import hub

    given = token or (settings.hf_token.get_secret_value() if settings.hf_token else None)
    return hub.resolve_token(given)


# --- pull ------------------------------------------------------------------------------------
def pull_whisper(name: str, settings: Settings, *, token: str | None = None) -> ModelEntry:
    """Download a Whisper model (faster-whisper name or CTranslate2 hub id) into the cache."""
    from faster_whisper.utils import download_model

    from transcriber_cli.diarize.hub import is_offline

    if is_offline(settings.offline):
        raise ModelUnavailable(f"cannot pull {name!r}: offline mode is on (HF_HUB_OFFLINE)")
    cache = str(settings.model_cache_dir) if settings.model_cache_dir else None
    try:
        path = download_model(name, cache_dir=cache, use_auth_token=_token(settings, token))
    except ValueError as exc:  # neither a known size nor "org/name"
        raise ModelUnavailable(f"unknown Whisper model {name!r}: {exc}") from None
    except Exception as exc:  # network, gated repo, disk: one line for the user
        raise ModelUnavailable(
            f"cannot download Whisper model {name!r} ({type(exc).__name__})",
            hint="check the network and the name (tiny, base, small, medium, large-v3, turbo, "
            "or a CTranslate2 repo id)",
        ) from None
    return ModelEntry(name, "whisper", "download", path, dir_size(Path(path)))


def pull_pipeline(name: str, settings: Settings, *, token: str | None = None) -> ModelEntry:
    """Download a pyannote pipeline into the hub cache (a token is needed: it is gated)."""
    from transcriber_cli.diarize import hub

    if hub.is_offline(settings.offline):
        raise DiarizationUnavailable(f"cannot pull {name}: offline mode is on (HF_HUB_OFFLINE)")
    resolved = _token(settings, token)
    if not resolved:
        raise DiarizationUnavailable(hub.no_token_message(name))
    path = hub.download_pipeline(name, token=resolved, cache_dir=settings.model_cache_dir)
    check_self_contained(path, name)
    return ModelEntry(name, "diarization", "download", str(path), dir_size(path))


def pull(name: str, settings: Settings, *, kind: str = "auto", token: str | None = None):
    kind = guess_kind(name, settings) if kind == "auto" else kind
    if kind == "diarization":
        return pull_pipeline(name, settings, token=token)
    return pull_whisper(name, settings, token=token)


# --- bundle ----------------------------------------------------------------------------------
def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "--", name).strip("-.") or "model"


def check_self_contained(directory: Path, name: str) -> None:
    """A pipeline whose config.yaml loads parts from other hub repos (pyannote 3.1 does:
    ``segmentation: pyannote/segmentation-3.0``) would still need the network."""
    import yaml

    config = yaml.safe_load((directory / "config.yaml").read_text()) or {}
    params = (config.get("pipeline") or {}).get("params") or {}
    external = [
        f"{key}={value}"
        for key, value in params.items()
        if key in ("segmentation", "embedding", "plda")
        and isinstance(value, str)
        and not value.startswith("$model/")
        and not (directory / value).exists()
        and not Path(value).is_absolute()
    ]
    if external:
        raise DiarizationUnavailable(
            f"{name} loads {', '.join(external)} from other hub repos, so it cannot run "
            "offline from a bundle; use pyannote/speaker-diarization-community-1"
        )


def _whisper_dir(name: str, settings: Settings, token: str | None) -> tuple[Path, str]:
    from transcriber_cli.engine.models import resolve_model

    try:
        resolved = resolve_model(name, cache_dir=settings.model_cache_dir, offline=True)
        return Path(resolved.path), resolved.source
    except ModelUnavailable:
        if settings.offline:
            raise
    entry = pull_whisper(name, settings, token=token)
    return Path(entry.path), "download"


def _pipeline_dir(name: str, settings: Settings, token: str | None) -> tuple[Path, str]:
    from transcriber_cli.diarize import hub

    local = hub.local_pipeline_dir(name)
    if local is not None:
        return local, "directory"
    cached = hub.cached_pipeline_dir(name, cache_dir=settings.model_cache_dir)
    if cached is not None:
        return cached, "cache"
    return Path(pull_pipeline(name, settings, token=token).path), "download"


def write_bundle(
    dest: Path,
    settings: Settings,
    *,
    whisper_model: str | None = None,
    diarization_model: str | None = None,
    token: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Copy one Whisper model and one diarization pipeline into ``dest`` with a manifest.

    Sources are used from a local directory or the cache when present, else downloaded.
    The copy is built beside ``dest`` and renamed into place, so a failed run leaves no
    half-written bundle."""
    from transcriber_cli.engine.models import DEFAULT_GPU_MODEL

    dest = dest.expanduser().absolute()
    if dest.exists() and any(dest.iterdir()) and not force:
        raise UsageError(f"{dest} exists and is not empty; use --force to replace it")
    whisper_name = whisper_model or (settings.model if settings.model != "auto" else None)
    whisper_name = whisper_name or DEFAULT_GPU_MODEL  # workers run on GPUs
    pipeline_name = diarization_model or settings.diarization_model

    whisper_src, whisper_source = _whisper_dir(whisper_name, settings, token)
    pipeline_src, pipeline_source = _pipeline_dir(pipeline_name, settings, token)
    check_self_contained(pipeline_src, pipeline_name)

    staging = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    whisper_rel = f"whisper/{_safe_name(whisper_name)}"
    pipeline_rel = f"diarization/{_safe_name(pipeline_name)}"
    # symlinks=False: the hub cache's snapshot files are symlinks into blobs/; copy the bytes.
    shutil.copytree(whisper_src, staging / whisper_rel, symlinks=False)
    shutil.copytree(
        pipeline_src,
        staging / pipeline_rel,
        symlinks=False,
        ignore=shutil.ignore_patterns(".cache", ".git*"),
    )
    manifest = {
        "schema": BUNDLE_SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "whisper": {
            "name": whisper_name,
            "path": whisper_rel,
            "source": whisper_source,
            "size_bytes": dir_size(staging / whisper_rel),
        },
        "diarization": {
            "name": pipeline_name,
            "path": pipeline_rel,
            "source": pipeline_source,
            "size_bytes": dir_size(staging / pipeline_rel),
        },
    }
    (staging / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(staging, dest)
    return {**manifest, "directory": str(dest), "settings": bundle_settings(dest, manifest)}


def bundle_settings(dest: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """The settings (TOML keys; env ``TRANSCRIBER_<KEY>``) that make a run use the bundle."""
    return {
        "model": str(dest / manifest["whisper"]["path"]),
        "diarization_model": str(dest / manifest["diarization"]["path"]),
        "offline": "true",
    }


def read_bundle(directory: Path) -> list[ModelEntry]:
    path = directory / BUNDLE_MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{directory} is not a bundle (cannot read {BUNDLE_MANIFEST}: {exc})"
        ) from None
    if manifest.get("schema") != BUNDLE_SCHEMA:
        raise UsageError(f"{path}: unknown schema {manifest.get('schema')!r}")
    out = []
    for kind in ("whisper", "diarization"):
        item = manifest.get(kind)
        if item:
            where = directory / item["path"]
            out.append(ModelEntry(item["name"], kind, "bundle", str(where), dir_size(where)))
    return out


# --- list ------------------------------------------------------------------------------------
def _cached_entries(settings: Settings) -> list[ModelEntry]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(settings.model_cache_dir)
    except CacheNotFound:
        return []
    out = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)[:1]:
            files = {f.file_name for f in rev.files}
            if "model.bin" in files and "config.json" in files:
                kind = "whisper"
            elif "config.yaml" in files:
                kind = "diarization"
            else:
                continue
            out.append(
                ModelEntry(repo.repo_id, kind, "cache", str(rev.snapshot_path), rev.size_on_disk)
            )
    return out


def list_models(settings: Settings, bundles: list[Path] | None = None) -> list[ModelEntry]:
    """Models a run can use without the network: bundled packages, the hub cache, bundles,
    and the configured models when they are local directories."""
    from faster_whisper.utils import available_models

    from transcriber_cli.engine.models import is_model_dir, model_sources

    entries: list[ModelEntry] = []
    for source, resolve in model_sources().items():
        for name in available_models():
            found = resolve(name)  # type: ignore[operator]
            if found:
                entries.append(ModelEntry(name, "whisper", source, found, dir_size(Path(found))))
    entries += _cached_entries(settings)
    for directory in bundles or []:
        entries += read_bundle(directory)
    model = Path(settings.model).expanduser()
    if settings.model != "auto" and is_model_dir(model):
        entries.append(
            ModelEntry(
                settings.model, "whisper", "directory", str(model.resolve()), dir_size(model)
            )
        )
    pipeline = Path(settings.diarization_model).expanduser()
    if (pipeline / "config.yaml").is_file():
        entries.append(
            ModelEntry(
                settings.diarization_model,
                "diarization",
                "directory",
                str(pipeline.resolve()),
                dir_size(pipeline),
            )
        )
    return entries
