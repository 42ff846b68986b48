"""Secrets out of every line we write: MongoDB URL credentials, HF tokens, AWS keys.

The console's log handler (``-v`` included) and the worker's CloudWatch shipping both pass
their lines through ``redact``; settings keep secrets as ``SecretStr`` besides.
"""

from __future__ import annotations

import logging
import re

_SECRETS = [
    # Credentials in a MongoDB URL, up to its last "@" (a password may hold "@" or "/";
    # a user alone may be an X.509 subject: hide it too).
    (re.compile(r"(mongodb(?:\+srv)?://)\S*@", re.I), r"\1***@"),
    # user:password@ in any other URL.
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/:@]+:\S*?@", re.I), r"\1***@"),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), "hf_***"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "AKIA***"),
    # name=value / "name": "value" for anything called a secret, password or token.
    (
        re.compile(
            r"""(?i)\b(\w*(?:secret\w*|password|passwd|token))(["']?\s*[:=]\s*["']?)[^\s"',;&]+"""
        ),
        r"\1\2***",
    ),
    # A bare 40-character AWS secret access key: base64 with both letter cases, which a
    # lowercase hex digest (git, sha1) never has.
    (
        re.compile(
            r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+=]{0,39}[A-Z])(?=[A-Za-z0-9/+=]{0,39}[a-z])"
            r"[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
        ),
        "***",
    ),
]


def redact(text: str) -> str:
    """``text`` with MongoDB URL credentials, HF tokens and AWS keys replaced by ``***``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter: the record's formatted message, redacted (its args are spent)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
