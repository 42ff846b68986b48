"""One chat-completions call with timeouts and retries; every failure is one ``SummaryError``
line that never holds the API key."""

from __future__ import annotations

import json
import logging
import time
from email.utils import parsedate_to_datetime

import httpx

from transcriber_cli.errors import TranscriberError
from transcriber_cli.redaction import redact
from transcriber_summary.settings import SummarySettings

log = logging.getLogger("transcriber_summary")
RETRIED = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_WAIT = 60.0  # a Retry-After longer than this is not worth holding the job for


class SummaryError(TranscriberError):
    """The endpoint could not give a summary; the message is one line and safe to print."""


def _retry_after(reply: httpx.Response) -> float | None:
    value = reply.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _detail(reply: httpx.Response) -> str:
    try:
        message = reply.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = reply.text
    return " ".join(str(message).split())[:200]


class ChatClient:
    def __init__(self, settings: SummarySettings) -> None:
        assert settings.summary_url
        self.settings = settings
        key = settings.summary_api_key
        self._key = key.get_secret_value() if key else ""
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self.http = httpx.Client(
            base_url=settings.summary_url.rstrip("/") + "/",
            headers=headers,
            timeout=settings.summary_timeout,
        )

    def close(self) -> None:
        self.http.close()

    def _safe(self, text: str) -> str:
        text = text.replace(self._key, "***") if self._key else text
        return redact(text)

    def complete(self, system: str, user: str) -> str:
        """The first choice's message content; retries 429, 5xx, timeouts and lost
        connections with doubling delays (or the server's Retry-After)."""
        body = {
            "model": self.settings.summary_model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0,
        }
        s = self.settings
        for attempt in range(s.summary_retries + 1):
            delay = s.summary_backoff * 2**attempt
            try:
                reply = self.http.post("chat/completions", json=body)
            except httpx.TimeoutException:
                problem = f"no reply within {s.summary_timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"cannot connect ({type(exc).__name__})"
            else:
                if reply.status_code in (401, 403):
                    raise SummaryError(
                        f"the endpoint refused the API key (HTTP {reply.status_code})"
                    )
                if reply.status_code not in RETRIED:
                    return self._content(reply)
                problem = f"HTTP {reply.status_code}"
                delay = min(_retry_after(reply) or delay, MAX_WAIT)
            if attempt == s.summary_retries:
                break
            log.info("summary: %s; retrying in %.1f s", problem, delay)
            time.sleep(delay)
        raise SummaryError(self._safe(f"{problem} after {s.summary_retries + 1} attempt(s)"))

    def _content(self, reply: httpx.Response) -> str:
        if reply.is_error:
            raise SummaryError(self._safe(f"HTTP {reply.status_code}: {_detail(reply)}"))
        try:
            data = reply.json()
        except json.JSONDecodeError:
            raise SummaryError("the endpoint's reply is not JSON") from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices:
            raise SummaryError("the endpoint's reply has no choices")
        try:
            content = choices[0]["message"]["content"]
        except (KeyError, TypeError, IndexError):
            raise SummaryError("the endpoint's reply has no message content") from None
        if not isinstance(content, str) or not content.strip():
            raise SummaryError("the endpoint's reply has no message content")
        return content
