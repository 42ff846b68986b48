"""Where the chat endpoint comes from: env ``TRANSCRIBER_SUMMARY_*`` > config.toml ``summary_*``
> (on workers) SSM parameters ``/transcriber/{stack}/summary_*``.

The main ``Settings`` ignores keys it does not know, so these share the user's config file.
The API key is a ``SecretStr``: it never reaches a repr, a log line or an error message.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from transcriber_cli.config import config_path, load_settings

SSM_NAMES = ("summary_url", "summary_model", "summary_api_key")


class SummarySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSCRIBER_", extra="ignore")

    summary_url: str | None = Field(
        default=None, description="base URL, e.g. https://api.openai.com/v1"
    )
    summary_model: str = "gpt-4o-mini"
    summary_api_key: SecretStr | None = None
    summary_timeout: float = Field(default=60.0, gt=0, description="seconds per request")
    summary_retries: int = Field(
        default=4, ge=0, description="retries of 429, 5xx and lost connections"
    )
    summary_backoff: float = Field(default=1.0, ge=0, description="first retry delay; doubles")
    summary_chunk_chars: int = Field(
        default=12000, ge=500, description="transcript characters per call"
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:  # fmt: skip
        # As the main settings: flags > env > the same TOML file > defaults.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        return init_settings, env_settings, toml


def load_summary_settings() -> SummarySettings:
    """The settings, with what is missing read from SSM on a worker (a process that has a
    queue URL: the fleet's user data sets one; a laptop resolves it from the stack instead,
    so it never waits on SSM here)."""
    found = SummarySettings()
    base = load_settings()
    if base.queue_url is None:
        return found
    from transcriber_cli.aws.secrets import read_ssm_secret

    updates: dict[str, object] = {}
    for name in SSM_NAMES:
        if name not in found.model_fields_set:  # neither env nor config file gave it
            value = read_ssm_secret(base, name)
            if value is not None:
                updates[name] = value if name == "summary_api_key" else value.get_secret_value()
    return found.model_copy(update=updates)
