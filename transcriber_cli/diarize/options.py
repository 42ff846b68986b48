"""What a user may say about the speakers of a recording: how many, and their names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SPEAKERS = 64


class SpeakerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    num_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)
    min_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)
    max_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)
    speaker_names: tuple[str, ...] = Field((), max_length=MAX_SPEAKERS)

    @model_validator(mode="after")
    def _consistent(self) -> SpeakerOptions:
        if self.num_speakers and (self.min_speakers or self.max_speakers):
            raise ValueError("--num-speakers cannot be combined with --min/--max-speakers")
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ValueError("--min-speakers is larger than --max-speakers")
        return self

    def counts(self) -> dict[str, int]:
        """The counts that were given, as pyannote's pipeline takes them."""
        return self.model_dump(include={"num_speakers", "min_speakers", "max_speakers"},
                               exclude_none=True)  # fmt: skip
