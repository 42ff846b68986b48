"""Settings: defaults < TOML file (platformdirs config dir) < TRANSCRIBER_* env vars < flags.

Secrets (HF token, MongoDB URL) are ``SecretStr`` so they never appear in ``repr``, logs or
``config show``. Remote workers may also read them from SSM (see ``remote/secrets.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from transcriber_cli.errors import ConfigError, UsageError
from transcriber_cli.options import (
    ComputeType,
    Device,
    QualityOptions,
    SubtitleOptions,
    WhisperOptions,
)

APP_NAME = "transcriber"
CONFIG_ENV = "TRANSCRIBER_CONFIG"

FORMAT_NAMES_DEFAULT = "all"
DEFAULT_DIARIZATION_MODEL = "pyannote/speaker-diarization-community-1"
# The names faster-whisper resolves to Systran's CTranslate2 conversions (``available_models()``;
# a test keeps the two lists equal). They hold weights only, no code, so a worker runs any
# of them unless its operator narrows the list.
STANDARD_MODELS = (
    "tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium",
    "large-v1", "large-v2", "large-v3", "large", "distil-large-v2", "distil-medium.en",
    "distil-small.en", "distil-large-v3", "distil-large-v3.5", "large-v3-turbo", "turbo",
)  # fmt: skip


def config_path() -> Path:
    """Where the TOML config lives; ``TRANSCRIBER_CONFIG`` overrides it."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def default_state_dir() -> Path:
    """platformdirs' user state directory (e.g. ``~/.local/state/transcriber`` on Linux)."""
    return platformdirs.user_state_path(APP_NAME)


class Settings(BaseSettings, WhisperOptions, SubtitleOptions, QualityOptions):
    """Every setting has an env name ``TRANSCRIBER_<NAME>`` and a TOML key ``<name>``.

    The Whisper options (language, task, beam and batch size, VAD, word timestamps, prompt,
    hotwords) come from ``WhisperOptions``, where they are listed once with their bounds; the
    subtitle shaping options from ``SubtitleOptions``, the quality report's thresholds from
    ``QualityOptions``."""

    model_config = SettingsConfigDict(
        env_prefix="TRANSCRIBER_",
        extra="ignore",
        populate_by_name=True,
        protected_namespaces=(),
    )

    # --- transcription ---------------------------------------------------------------------
    model: str = Field("auto", description="Whisper model name, hub id or CTranslate2 directory")
    device: Device = Field(
        "auto", description="Where to run: auto (CUDA when CTranslate2 sees a GPU), cuda or cpu"
    )
    compute_type: ComputeType = Field(
        "auto", description="CTranslate2 precision (auto = float16 on a GPU, int8 on a CPU)"
    )
    whisper_encoder: Literal["auto", "ctranslate2", "torch"] = Field(
        "auto",
        description="Whisper's encoder: torch (PyTorch in the model's precision, on a GPU "
        "several times faster), ctranslate2, or auto = torch on a GPU, ctranslate2 on a CPU "
        "(the beam search: whisper_decoder); a torch encoder that cannot start "
        "falls back to CTranslate2's (a warning when torch was asked for, -v under auto)",
    )
    whisper_decoder: Literal["ctranslate2", "torch"] = Field(
        "ctranslate2",
        description="Whisper's beam search: ctranslate2, or torch (experimental: one copy of "
        "each window's audio keys and values for all its beams, in a float compute type; on "
        "H100s faster than CTranslate2's per decoder call on some machines, slower on others "
        "and on the one hour measured: docs/gpu.md). Calls it does not do (greedy, sampling, "
        "timestamps, a prefix) and word timing stay CTranslate2's; one that cannot start "
        "falls back with a warning",
    )
    formats: str = Field(
        FORMAT_NAMES_DEFAULT,
        description="Comma list of txt,json,srt,vtt,tsv,rttm (or a plugin's) or all",
    )
    cpu_threads: int = Field(0, ge=0, description="CTranslate2 CPU threads (0 = library default)")
    gpus: str | None = Field(
        None,
        description="GPUs a run spreads over: all, a count N or indices 0,2 (one GPU: 2,); "
        "unset = every GPU of the machine; on a CPU a count runs N model copies",
    )
    files_per_device: int = Field(
        0,
        ge=0,
        le=32,
        description="Files in flight on each device of a folder run: on a GPU they share "
        "decoder calls, and one file is transcribed while another's speakers are found "
        "(0 = auto: 16 on a GPU with 16 GiB free, 4 on a smaller one, 1 on a CPU)",
    )
    windows_per_device: int = Field(
        0,
        ge=0,
        le=4,
        description="Windows of one long recording in flight on each device: on a GPU they "
        "share decoder calls (0 = auto: 4 on a GPU with one file or job in flight, 2 there "
        "with the torch decoder, else 1)",
    )
    decoder_lanes: int = Field(
        0,
        ge=0,
        le=4,
        description="Decoder calls run at once on a GPU, on CTranslate2 replicas that share "
        "the model's weights: one call's CPU work between beam-search steps overlaps "
        "another's GPU work; each lane gets its share of the auto batch size's memory "
        "(0 = auto: 2 on a GPU whose free memory gives each lane a batch of 32 or more, "
        "else 1; a CPU runs 1)",
    )
    gpu_index: int = Field(
        0, ge=0, description="The GPU a one-device run uses (set per copy when --gpus spreads)"
    )
    max_duration_hours: float = Field(24.0, gt=0, description="Refuse longer inputs")
    audio_stream: int | None = Field(
        None, ge=0, description="Audio stream N (0 = first); None = the one with sound"
    )
    probe_timeout: float = Field(
        120,
        gt=0,
        le=86400,
        description="Seconds ffprobe may take to read a file's headers before the file fails",
    )
    model_cache_dir: Path | None = Field(
        None, description="Where models are downloaded (default: the Hugging Face cache)"
    )
    offline: bool = Field(False, description="Never contact the model hub")

    # --- diarization ---------------------------------------------------------------------
    diarize: bool | None = Field(None, description="None = on when a pipeline is available")
    diarization_model: str = Field(
        DEFAULT_DIARIZATION_MODEL,
        description="Diarization pipeline: hub id, local directory or builtin",
    )
    hf_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("hf_token", "TRANSCRIBER_HF_TOKEN", "HF_TOKEN"),
        description="Hugging Face read token (gated pipelines such as community-1)",
    )
    embedding_batch_size: int = Field(
        0,
        ge=0,
        le=256,
        description="Speaker-embedding batch (0 = auto: 16 on a CPU, 32 on a GPU; the "
        "built-in pipeline on a GPU 256, its d-vectors 1024)",
    )
    diarization_span_minutes: float = Field(
        60.0,
        ge=0,
        le=24 * 60,
        description="Longer recordings are diarized in spans of about this many minutes "
        "(cut in pauses), their speakers linked by voice, so the speaker step's memory stays "
        "that of one span (0 = the whole recording at once)",
    )
    diarization_runtime: Literal["auto", "pyannote"] = Field(
        "auto",
        description="What runs a speaker pipeline: auto = this package's port of pyannote's "
        "networks and steps for the built-in pipeline and for pipelines of community-1's shape "
        "(the same speakers, without importing pyannote.audio, 3-10 s), pyannote.audio for any "
        "other; pyannote = pyannote.audio always",
    )
    diarization_precision: Literal["float32", "float16"] = Field(
        "float16",
        description="Speaker embeddings on a GPU: float16 (faster; on trained weights it "
        "changed 0.07% of speaker time, a -80 dBFS hiss 1.9%) or float32; the CPU and the "
        "segmentation model always use float32",
    )

    # --- state ---------------------------------------------------------------------------
    state_dir: Path = Field(
        default_factory=default_state_dir,
        description="Where the skip/resume manifest (and its window checkpoints) is kept",
    )

    # --- remote mode ---------------------------------------------------------------------
    stack: str = Field(
        "transcriber", description="AWS stack name: resources transcriber-{stack}-..."
    )
    region: str | None = Field(
        None,
        validation_alias=AliasChoices("region", "TRANSCRIBER_REGION", "AWS_REGION"),
        description="AWS region of the stack",
    )
    profile: str | None = Field(
        None,
        validation_alias=AliasChoices("profile", "TRANSCRIBER_PROFILE", "AWS_PROFILE"),
        description="AWS credentials profile (default: the usual AWS chain)",
    )
    bucket: str | None = Field(
        None, description="S3 bucket (default: the stack's, transcriber-{stack}-{account}-{region})"
    )
    queue_url: str | None = Field(None, description="SQS job queue (default: the stack's)")
    mongodb_url: SecretStr | None = Field(
        None, description="Job store (default: the stack's SSM parameter)"
    )
    mongodb_database: str = Field("transcriber", description="Database of the job store")
    max_cost: float | None = Field(
        None, gt=0, description="With --remote: refuse a job estimated to cost more (USD)"
    )
    remote_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="How often the client polls MongoDB for job progress"
    )
    outage_patience: float = Field(
        300,
        ge=0,
        le=86400,
        description="How long workers and clients wait out a MongoDB/S3/SQS outage",
    )
    window_seconds: float = Field(
        0,
        ge=0,
        le=86400,
        description="Long recordings are transcribed and checkpointed in windows this long, "
        "at least 10 s (0 = auto: 600 s; for a model of a deep decoder such as large-v3 with "
        "one long file or job alone on a GPU, equal windows of at most one full decoder "
        "call's speech, the batch size times 29 s)",
    )

    # --- worker (`transcriber worker`) -----------------------------------------------------
    worker_concurrency: int = Field(
        0,
        ge=0,
        le=64,
        description="Jobs a worker runs at once on each GPU (model copy): they share its "
        "decoder calls, and each pays its share of the GPU's time (0 = auto: 16 on a GPU "
        "with 16 GiB free once its models are loaded, 4 on a smaller one, 1 on a CPU or with "
        "--once)",
    )
    worker_idle_exit: float = Field(
        0, ge=0, description="Exit after this many seconds without work (0 = never)"
    )
    worker_wait_seconds: int = Field(
        20, ge=0, le=20, description="SQS long-poll wait per receive call"
    )
    worker_retry_delay: float = Field(
        30, ge=0, description="Seconds before a failed job is retried (times the attempt number)"
    )
    worker_shutdown_grace: float = Field(
        30, ge=0, description="On SIGTERM, finish a job expected to end within this many seconds"
    )
    worker_heartbeat_seconds: float = Field(
        15, gt=0, description="How often a worker refreshes its heartbeat document"
    )
    worker_price_wait: float = Field(
        5,
        ge=0,
        le=300,
        description="Seconds a worker waits for its machine's price (EC2) before its first "
        "poll, so that the first jobs are priced (a stop ends the wait)",
    )
    imds_url: str = Field(
        "http://169.254.169.254",
        description="EC2 instance metadata endpoint for Spot notices ('' = off)",
    )
    spot_poll_seconds: float = Field(5, gt=0, description="Spot interruption check interval")
    worker_telemetry: bool = Field(
        True,
        description="Ship worker logs and job metrics to CloudWatch (the stack's log group)",
    )
    # A job names its models, and a job document is untrusted input: a diarization pipeline's
    # config.yaml can name any Python callable, so a worker loads only what these allow.
    worker_models: Annotated[tuple[str, ...], NoDecode] = Field(
        STANDARD_MODELS,
        description="Whisper models a job may ask a worker for, besides the worker's own "
        "`model` (names, hub ids, directories or glob patterns; comma-separated in env)",
    )
    worker_diarization_models: Annotated[tuple[str, ...], NoDecode] = Field(
        (DEFAULT_DIARIZATION_MODEL, "builtin"),  # builtin: shipped in this package
        description="Diarization pipelines a job may ask a worker for, besides the "
        "worker's own `diarization_model` (comma-separated in env)",
    )

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, value: str | None) -> str | None:
        try:
            parse_gpus(value)
        except Exception as exc:  # a UsageError: pydantic wants a ValueError
            raise ValueError(str(exc)) from None
        return value.strip() if value and value.strip() else None

    @field_validator("window_seconds")
    @classmethod
    def _window(cls, value: float) -> float:
        if 0 < value < 10:  # shorter windows would be mostly seams
            raise ValueError("must be 0 (auto) or at least 10")
        return value

    @field_validator("diarization_span_minutes")
    @classmethod
    def _span(cls, value: float) -> float:
        # A span must hold enough speech for its own clustering, and the linking keeps a
        # distance per pair of span speakers (24 h in 1-minute spans: ~200 MB).
        if 0 < value < 1:
            raise ValueError("must be 0 (the whole recording at once) or at least 1")
        return value

    @field_validator("worker_models", "worker_diarization_models", mode="before")
    @classmethod
    def _name_list(cls, value: Any) -> Any:
        """An env var gives "a,b"; a config file a list."""
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: flags (init kwargs) > env > TOML file > defaults.
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_path()),
        )

    def public_dict(self) -> dict[str, Any]:
        """Settings as plain data with secrets masked: safe to print."""
        data = self.model_dump(mode="json")
        for name in ("hf_token", "mongodb_url"):
            if data.get(name):
                data[name] = "********"
        return data


def read_secret_file(path: str, what: str) -> str:
    """A secret from a file, or from stdin for "-": never from a process argument, which
    every user of the machine sees in `ps`."""
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not text"
        raise ConfigError(f"cannot read the {what} from {path}: {reason}") from None
    secret = text.strip()
    if not secret or "\n" in secret:
        raise ConfigError(f"{path} must hold the {what} on one line")
    return secret


def load_settings(**overrides: Any) -> Settings:
    """Build settings; ``None`` overrides mean "flag not given" and are dropped."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        msg = str(first.get("msg", "")).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {where}: {msg}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {config_path()}: {exc.strerror}") from None
    except ValueError as exc:  # malformed TOML
        raise ConfigError(f"cannot parse config file {config_path()}: {exc}") from None


def config_template() -> str:
    """A commented TOML file listing every setting with its default."""
    lines = [
        "# transcriber configuration.",
        "# Precedence: defaults < this file < TRANSCRIBER_* environment variables < flags.",
        "# Secrets (hf_token, mongodb_url) are better kept in env vars or SSM than here.",
        "",
    ]
    defaults = Settings.model_construct()
    for name, field in Settings.model_fields.items():
        if name == "state_dir":
            continue
        desc = field.description
        if desc:
            lines.append(f"# {desc}")
        value = getattr(defaults, name, None)
        env = f"TRANSCRIBER_{name.upper()}"
        if value is None or isinstance(value, SecretStr):
            lines.append(f"# {name} = ...    (env {env})")
        else:
            lines.append(f"# {name} = {_toml_value(value)}    (env {env})")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_gpus(spec: str | None) -> str | int | tuple[int, ...] | None:
    """``None`` (the default), ``"all"``, a count, or a tuple of GPU indices."""
    if spec is None or not spec.strip():
        return None
    text = spec.strip().lower()
    if text == "all":
        return "all"
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError
            return count
        indices = tuple(int(part) for part in text.split(",") if part.strip())
        if not indices or min(indices) < 0:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"--gpus {spec!r}: use all, a count (2) or GPU indices (0,2; one GPU: 2,)"
        ) from None
    return tuple(dict.fromkeys(indices))  # each GPU once, in the order given
