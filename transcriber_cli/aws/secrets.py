"""Secrets (MongoDB URL, HF token) from SSM Parameter Store, with the settings/env as fallback.

``/transcriber/{stack}/mongodb_url`` and ``.../hf_token`` are SecureString parameters written
by ``transcriber infra secrets set``; workers on the fleet have no other copy. On a laptop
without them (or without SSM access) ``TRANSCRIBER_MONGODB_URL`` / ``HF_TOKEN`` are used.
Values stay ``SecretStr`` so they never reach a log line or an error message.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

from transcriber_cli.aws.errors import error_code
from transcriber_cli.aws.naming import ssm_parameter
from transcriber_cli.config import Settings
from transcriber_cli.errors import SetupError, UsageError

log = logging.getLogger(__name__)

SECRET_NAMES = ("mongodb_url", "hf_token")


def check_secret_name(name: str) -> str:
    if name not in SECRET_NAMES:
        raise UsageError(f"unknown secret {name!r}: use one of {', '.join(SECRET_NAMES)}")
    return name


def read_ssm_secret(settings: Settings, name: str) -> SecretStr | None:
    """The decrypted parameter, or None when it does not exist or SSM cannot be asked."""
    from transcriber_cli.aws.session import client

    try:
        ssm = client("ssm", settings.region, settings.profile)
        reply = ssm.get_parameter(Name=ssm_parameter(settings.stack, name), WithDecryption=True)
    except SetupError:
        return None
    except Exception as exc:  # ParameterNotFound, AccessDenied, no endpoint: use the fallback
        log.debug("SSM parameter %s not used: %s", name, error_code(exc) or type(exc).__name__)
        return None
    return SecretStr(reply["Parameter"]["Value"])


def resolve_secret(settings: Settings, name: str) -> SecretStr | None:
    """The SSM value where the stack has one, else the setting (env / config file)."""
    check_secret_name(name)
    found = read_ssm_secret(settings, name)
    if found is not None:
        return found
    return getattr(settings, name)


def with_secrets(settings: Settings) -> Settings:
    """A copy of ``settings`` whose secrets come from SSM where the stack has them."""
    updates = {}
    for name in SECRET_NAMES:
        value = resolve_secret(settings, name)
        if value is not None:
            updates[name] = value
    return settings.model_copy(update=updates)
