"""A job's options: everything that changes its result, validated and bounded.

The same model serves the local resume key, the remote job document and the worker, which
applies it to its own settings (``apply``). Its fields come from ``WhisperOptions`` and
``SpeakerOptions`` (listed once each) plus the model and diarization choice.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from transcriber_cli.config import DEFAULT_DIARIZATION_MODEL, Settings
from transcriber_cli.errors import UsageError
from transcriber_cli.options import ComputeType, SpeakerOptions, WhisperOptions

# Options added after 0.0.x, left out of a dump at these values: a job document then stays
# readable by workers of the previous version (their options forbid unknown fields and a
# batch size of 0) during a rolling `fleet update`; they use their own default instead.
NEWER_DEFAULTS: dict[str, Any] = {"batch_size": 0, "max_new_tokens": None,
                                  "suppress_tokens": [-1]}  # fmt: skip


class JobOptions(WhisperOptions, SpeakerOptions):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str = Field("auto", min_length=1, max_length=500)
    compute_type: ComputeType = "auto"
    diarize: bool | None = None  # None: when a pipeline is available where the job runs
    diarization_model: str = Field(DEFAULT_DIARIZATION_MODEL, min_length=1, max_length=500)

    @model_serializer(mode="wrap")
    def _readable_by_older_workers(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for name, default in NEWER_DEFAULTS.items():
            value = data.get(name, default)
            if (list(value) if isinstance(value, tuple) else value) == default:
                data.pop(name, None)
        return data

    @classmethod
    def build(cls, settings: Settings, **speakers: Any) -> JobOptions:
        """The options of a run from its settings and the speaker flags; a bad combination
        is a usage error (exit 2)."""
        shared = settings.model_dump(include=set(cls.model_fields) & set(Settings.model_fields))
        given = {k: v for k, v in speakers.items() if v is not None}
        try:
            return cls.model_validate({**shared, **given})
        except ValidationError as exc:
            raise UsageError(_first_error(exc)) from None

    @property
    def whisper(self) -> WhisperOptions:
        return WhisperOptions.model_validate(self.model_dump(include=_fields(WhisperOptions)))

    @property
    def speakers(self) -> SpeakerOptions:
        return SpeakerOptions.model_validate(self.model_dump(include=_fields(SpeakerOptions)))

    def key(self, **extra: Any) -> str:
        """A stable digest of these options (and ``extra`` facts about where they run)."""
        blob = json.dumps({**self.model_dump(mode="json"), **extra}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def apply(self, settings: Settings) -> Settings:
        """``settings`` as this job runs with them. ``auto`` model and compute type stay the
        runner's own choice (a worker picks them for its GPU)."""
        update = self.model_dump(include=set(Settings.model_fields))
        for name in ("model", "compute_type"):
            if update[name] == "auto":
                del update[name]
        return settings.model_copy(update=update)


def _fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"invalid option {where}: {message}" if where else message
