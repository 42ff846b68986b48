"""The one data model: engine -> diarizer -> writers -> Mongo documents -> S3 exports."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1


class _Span(BaseModel):
    """Start and end in seconds from the start of the audio."""

    model_config = ConfigDict(extra="forbid")

    start: float
    end: float


class Word(_Span):
    text: str  # as Whisper emits it, usually with its leading space
    probability: float | None = None
    speaker: str | None = None


# Not a _Span: pydantic puts inherited fields first, and ``id`` leads a segment's JSON.
class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    speaker: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


class SpeakerTurn(_Span):
    """A raw diarization turn, kept in the JSON output and usable for RTTM."""

    speaker: str


class Transcript(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    source: str | None = None  # input file name (not a full path: outputs travel)

    @field_validator("source")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        # A name that is not UTF-8 keeps its bytes as lone surrogates, which no UTF-8 output
        # can hold: they are written as escapes (\udcff).
        return value.encode("utf-8", "backslashreplace").decode("utf-8") if value else value

    language: str | None = None
    language_probability: float | None = None
    duration: float = 0.0
    segments: list[Segment] = Field(default_factory=list)
    speakers: list[str] = Field(default_factory=list)  # in order of first appearance
    turns: list[SpeakerTurn] = Field(default_factory=list)
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    diarization: dict[str, Any] = Field(default_factory=dict)  # status, reason, model

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]
