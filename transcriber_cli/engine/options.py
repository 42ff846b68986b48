"""The Whisper options that change a transcription, with their bounds: listed here once.

``Settings`` inherits them (so each is a flag, an env var and a config key), a job's options
carry them (``jobs/options.py``), and the engine passes them on to faster-whisper.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Device = Literal["auto", "cuda", "cpu"]
ComputeType = Literal["auto", "float16", "int8_float16", "int8", "float32", "bfloat16"]


class WhisperOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(None, description="Language code (default: detect)")
    task: Literal["transcribe", "translate"] = "transcribe"
    beam_size: int = Field(5, ge=1, le=20)
    batch_size: int = Field(8, ge=1, le=256, description="Batched inference size (1 = sequential)")
    vad: bool = True
    word_timestamps: bool = True
    initial_prompt: str | None = Field(None, max_length=2000)
    hotwords: str | None = Field(None, max_length=2000)

    @field_validator("language", "initial_prompt", "hotwords", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value
