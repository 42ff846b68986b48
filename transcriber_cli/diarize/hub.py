"""Where a diarization pipeline comes from: a local directory, the hub cache, or a download.

Everything ends as a local directory (``config.yaml`` + checkpoints) that
``pyannote_pipeline.load_pipeline`` reads offline. Failures become ``DiarizationUnavailable``
with one line that says how to fix them; the token never appears in a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from transcriber_cli.errors import DiarizationUnavailable

# Files a pyannote pipeline repo needs; README images and the like are left on the hub.
PIPELINE_PATTERNS = ["*.yaml", "*.bin", "*.npz", "*.safetensors", "*.json"]
TOKEN_PAGE = "https://hf.co/settings/tokens"
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def looks_like_path(name: str) -> bool:
    """Anything but ``owner/name`` is a path (``./dir``, ``/opt/x``, ``~/p``, ``a/b/c``)."""
    return not HUB_ID.fullmatch(name)


def local_pipeline_dir(name: str) -> Path | None:
    """The directory for ``name`` when it names one on disk (or its ``config.yaml``)."""
    path = Path(name).expanduser()
    if path.is_file() and path.name == "config.yaml":
        path = path.parent
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            raise DiarizationUnavailable(
                f"{path} has no config.yaml, so it is not a pyannote pipeline directory",
                hint="'transcriber models pull --bundle DIR' writes one",
            )
        return path.resolve()
    if looks_like_path(name):
        raise DiarizationUnavailable(f"diarization pipeline directory {path} does not exist")
    return None


def is_offline(offline_setting: bool) -> bool:
    return offline_setting or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def hub_page(repo: str) -> str:
    return f"https://hf.co/{repo}"


def _snapshot(repo: str, cache_dir: Path | None, **kwargs: Any) -> Path:
    """``snapshot_download`` of the pipeline files; a malformed ``repo`` is a usage problem."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        return Path(
            snapshot_download(
                repo,
                cache_dir=str(cache_dir) if cache_dir else None,
                allow_patterns=PIPELINE_PATTERNS,
                **kwargs,
            )
        )
    except HFValidationError:
        raise DiarizationUnavailable(
            f"--diarization-model {repo!r} is neither a directory nor a hub id (owner/name)"
        ) from None


def cached_pipeline_dir(repo: str, *, cache_dir: Path | None = None) -> Path | None:
    """The cached snapshot of ``repo``, without any network access, or None."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = _snapshot(repo, cache_dir, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError):
        return None
    return path if (path / "config.yaml").is_file() else None


def resolve_token(token: str | None) -> str | None:
    """The given token, else the one ``huggingface-cli login`` stored (or HF_TOKEN)."""
    if token:
        return token
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # an unreadable token file means "no token"
        return None


def no_token_message(repo: str) -> str:
    return (
        f"the diarization pipeline {repo} needs a Hugging Face token: accept its conditions "
        f"at {hub_page(repo)}, then set HF_TOKEN (or --hf-token-file) to a read token from "
        f"{TOKEN_PAGE}; or pass --diarization-model DIR with a local pipeline"
    )


def offline_message(repo: str) -> str:
    return (
        f"the diarization pipeline {repo} is not in the model cache and offline mode is on: "
        f"run 'transcriber models pull {repo}' where there is network, "
        "or pass --diarization-model DIR with a local pipeline"
    )


def download_pipeline(repo: str, *, token: str | None, cache_dir: Path | None = None) -> Path:
    """Download (or refresh) ``repo`` into the hub cache and return its snapshot directory."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        path = _snapshot(repo, cache_dir, token=token)
    except GatedRepoError:
        raise DiarizationUnavailable(
            f"{repo} is gated and this token's account has not accepted its conditions: "
            f"accept them at {hub_page(repo)} (logged in as the token's owner), then retry"
        ) from None
    except RepositoryNotFoundError:
        raise DiarizationUnavailable(
            f"no pipeline {repo} on the Hugging Face hub, or the token cannot see it: "
            f"check --diarization-model and the token ({TOKEN_PAGE})"
        ) from None
    except LocalEntryNotFoundError as exc:  # no network and nothing cached
        raise DiarizationUnavailable(
            f"cannot reach the Hugging Face hub to fetch {repo} ({_cause(exc)}): check the "
            f"network, or run 'transcriber models pull {repo}' where there is one and pass "
            "--diarization-model DIR"
        ) from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            raise DiarizationUnavailable(
                f"the Hugging Face token was refused (401) for {repo}: create a read token at "
                f"{TOKEN_PAGE} and set HF_TOKEN"
            ) from None
        raise DiarizationUnavailable(
            f"the Hugging Face hub answered {status or 'an error'} for {repo}; retry later"
        ) from None
    except OSError as exc:  # disk full, permissions in the cache
        raise DiarizationUnavailable(
            f"cannot write {repo} into the model cache: {exc.strerror or exc}"
        ) from None
    if not (path / "config.yaml").is_file():
        raise DiarizationUnavailable(f"{repo} has no config.yaml: not a pyannote pipeline")
    return path


def _cause(exc: BaseException) -> str:
    """A short reason such as 'ConnectError', never a URL with credentials in it."""
    text = str(exc)
    if text.startswith("Got: "):
        return text[5:].split(":", 1)[0]
    return type(exc.__cause__ or exc).__name__
