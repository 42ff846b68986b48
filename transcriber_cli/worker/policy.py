"""What a job may ask of a worker. A job document is untrusted input (anyone who can write
the task store or the queue writes one), so the models it names must be ones the worker's
operator allowed: a Whisper model is weights only, but a pyannote pipeline's config.yaml
names Python callables and its checkpoints are unpickled, so loading one runs its code with
the instance's credentials in reach."""

from __future__ import annotations

from fnmatch import fnmatchcase

from transcriber_cli.config import Settings
from transcriber_cli.errors import InputError
from transcriber_cli.jobs.options import JobOptions
from transcriber_cli.jobs.results import clock

# The client uploads 16 kHz mono mp3 (128 kbit/s, or the input's own frames when already in
# that form: MPEG-2 layer III tops out at 160 kbit/s), so an hour is at most 72 MB.
MAX_UPLOAD_BYTES_PER_SECOND = 160_000 // 8
DURATION_SLACK = 1.0  # seconds of decoder rounding allowed past max_duration_hours


class NotAllowed(InputError):
    """A job asked for a model this worker does not run: no retry can change that."""


def check_allowed(options: JobOptions, settings: Settings) -> None:
    """Raise ``NotAllowed`` unless every model ``options`` would load is allowed by
    ``settings`` (the worker's own models, plus its ``worker_*models`` patterns)."""
    if options.model != "auto":
        _check("Whisper model", options.model, settings.model, settings.worker_models,
               "worker_models")  # fmt: skip
    if options.diarize is not False:
        _check("diarization pipeline", options.diarization_model, settings.diarization_model,
               settings.worker_diarization_models, "worker_diarization_models")  # fmt: skip


def _check(what: str, name: str, own: str, patterns: tuple[str, ...], setting: str) -> None:
    if name == own or any(fnmatchcase(name, pattern) for pattern in patterns):
        return
    raise NotAllowed(
        f"{what} {name!r} is not allowed on this worker",
        hint=f"its operator allows: {', '.join([own, *patterns])} "
        f"(setting {setting}, env TRANSCRIBER_{setting.upper()})",
    )


def check_upload_size(size: int, settings: Settings) -> None:
    """Refuse an audio object larger than the longest allowed recording can be, before a
    byte of it is downloaded: the bucket is writable by every client."""
    longest = settings.max_duration_hours * 3600
    limit = int(longest * MAX_UPLOAD_BYTES_PER_SECOND) + 1_000_000
    if size > limit:
        raise InputError(
            f"the job's audio is {size / 1e6:.0f} MB, more than {clock(longest)} of 16 kHz "
            f"mp3 can be ({limit / 1e6:.0f} MB)",
            hint="raise max_duration_hours on the workers to allow it",
        )


def check_duration(seconds: float, settings: Settings) -> None:
    """The decoded length, not the document's: the document is untrusted. Decoding stops
    just past the limit, so ``seconds`` says only that the audio runs past it."""
    if seconds > settings.max_duration_hours * 3600 + DURATION_SLACK:
        raise InputError(
            f"the job's audio runs past the workers' "
            f"{clock(settings.max_duration_hours * 3600)} limit",
            hint="raise max_duration_hours on the workers to allow it",
        )
