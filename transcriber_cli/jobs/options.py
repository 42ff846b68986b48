"""A job's options: everything that changes its result, validated and bounded.

The same model serves the local resume key, the remote job document and the worker, which
applies it to its own settings (``apply``). Its fields come from ``WhisperOptions`` and
``SpeakerOptions`` (listed once each) plus the model and diarization choice.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from transcriber_cli.config import Settings
from transcriber_cli.errors import UsageError
from transcriber_cli.options import ComputeType, SpeakerOptions, WhisperOptions

DEFAULT_DIARIZATION_MODEL = Settings.model_fields["diarization_model"].default


class JobOptions(WhisperOptions, SpeakerOptions):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str = Field("auto", min_length=1, max_length=500)
    compute_type: ComputeType = "auto"
    diarize: bool | None = None  # None: when a pipeline is available where the job runs
    diarization_model: str = Field(DEFAULT_DIARIZATION_MODEL, min_length=1, max_length=500)

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
