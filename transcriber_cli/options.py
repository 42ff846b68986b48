"""The options that change a result, listed once with their bounds.

``WhisperOptions`` (how Whisper transcribes) and ``SpeakerOptions`` (what the user says about
the speakers) are inherited by ``Settings`` (so each Whisper option is a flag, an env var and
a config key) and by a job's options (``jobs/options.py``); the engine and the diarizer take
them as they are.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import NoDecode

Device = Literal["auto", "cuda", "cpu"]
MAX_NEW_TOKENS = 444  # Whisper's text context (448) less the shortest prompt
MAX_TOKEN_ID = 52000  # above every Whisper vocabulary (51864 English, 51866 large-v3)
ComputeType = Literal["auto", "float16", "int8_float16", "int8", "float32", "bfloat16"]


class WhisperOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(None, description="Language code (default: detect)")
    task: Literal["transcribe", "translate"] = Field(
        "transcribe", description="transcribe, or translate the speech into English"
    )
    beam_size: int = Field(5, ge=1, le=20, description="Beam search width")
    batch_size: int = Field(
        0, ge=0, le=256, description="Batched inference size (0 = auto, 1 = sequential)"
    )
    vad: bool = Field(True, description="Skip non-speech with Silero VAD before decoding")
    word_timestamps: bool = Field(True, description="Time every word (subtitles, speakers)")
    initial_prompt: str | None = Field(
        None, max_length=2000, description="Text given to Whisper as if said before the audio"
    )
    hotwords: str | None = Field(
        None, max_length=2000, description="Words to favour (names, jargon)"
    )
    max_new_tokens: int | None = Field(
        None, ge=1, le=MAX_NEW_TOKENS, description="Most tokens decoded per 30 s chunk"
    )
    suppress_tokens: Annotated[tuple[int, ...], NoDecode] = Field(  # NoDecode: env is "-1,50256"
        (-1,),
        max_length=1000,
        description="Token ids never emitted (-1 = the model's list of symbols)",
    )

    @field_validator("language", "initial_prompt", "hotwords", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("suppress_tokens", mode="before")
    @classmethod
    def _token_list(cls, value: Any) -> Any:
        """A flag or env var gives "-1,50256"; a config file or a job document a list."""
        if isinstance(value, str):
            try:
                return tuple(int(t) for t in value.replace(" ", "").split(",") if t)
            except ValueError:
                raise ValueError("give token ids as integers separated by commas") from None
        return value

    @field_validator("suppress_tokens")
    @classmethod
    def _token_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(t < -1 or t >= MAX_TOKEN_ID for t in value):
            raise ValueError(f"token ids are -1 or 0 to {MAX_TOKEN_ID - 1}")
        return value


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


SubtitlePreset = Literal["web", "broadcast", "one-line"]


class SubtitleOptions(BaseModel):
    """How srt/vtt cues are shaped. They change outputs, not the transcript, so they are not
    part of a job's key: a remote run re-renders its subtitles from the transcript JSON."""

    model_config = ConfigDict(extra="forbid")

    subtitle_preset: SubtitlePreset = Field(
        "web", description="web, broadcast or one-line (docs/formats.md lists their numbers)"
    )
    max_line_width: int | None = Field(
        None, ge=10, le=200, description="Characters a subtitle line (default: the preset's)"
    )
    max_lines: int | None = Field(None, ge=1, le=5, description="Lines a cue (default: preset)")
    max_cue_duration: float | None = Field(
        None, ge=1, le=60, description="Seconds a cue stays on screen at most (default: preset)"
    )
    min_gap: float | None = Field(
        None, ge=0, le=2, description="Seconds between two cues at least (default: preset)"
    )
    vtt_highlight_words: bool = Field(
        False, description="WebVTT karaoke timestamps: each word lights up as it is spoken"
    )


class QualityOptions(BaseModel):
    """Thresholds of the quality report (``quality.py``): past one, a file is flagged for a
    person to check. Settings only (env var or config key), documented in docs/quality.md."""

    model_config = ConfigDict(extra="forbid")

    qa_max_repeats: int = Field(
        4, ge=2, le=100, description="Flag a phrase said this many times in a row (a word: 2x)"
    )
    qa_max_nonspeech_words: int = Field(
        0,
        ge=0,
        description="Flag past this many words where Whisper heard no speech",
    )
    qa_max_silence: float = Field(
        0.6, ge=0, le=1, description="Flag when more than this share of the audio has no speech"
    )
    qa_min_word_probability: float = Field(
        0.5, ge=0, le=1, description="Words below this probability count as low-confidence"
    )
    qa_max_low_confidence: float = Field(
        0.2, ge=0, le=1, description="Flag when more than this share of words is low-confidence"
    )
    qa_max_overlap: float = Field(
        0.2, ge=0, le=1, description="Flag when more than this share of speech has 2+ speakers"
    )
    qa_min_language_probability: float = Field(
        0.7, ge=0, le=1, description="Flag when the language was detected with less confidence"
    )
