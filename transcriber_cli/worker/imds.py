"""EC2 instance metadata (IMDSv2: a session token first, then GETs carrying it).

The base URL is a setting (``imds_url``) so tests point it at a local HTTP server; off EC2
the first token request fails fast and the metadata is simply unavailable.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)
TOKEN_TTL = 21600


class Imds:
    def __init__(self, base_url: str, timeout: float = 1.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token: str | None = None
        self._reached = False  # a token was had once: we are on EC2
        self._failing = False  # said once per run of failed renewals
        self.available = bool(self.base_url)

    def _fetch_token(self) -> str | None:
        """A session token, or None. Only a first request that fails means no metadata
        here (off EC2): one that fails later (a token renewed after 6 hours meeting a
        timeout or a 503) left a worker without its Spot notices for the rest of its life.
        That one is tried again at the next call."""
        try:
            reply = httpx.put(
                f"{self.base_url}/latest/api/token",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL)},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            self._no_token(str(exc) or type(exc).__name__)
            return None
        if reply.status_code != 200:
            self._no_token(f"HTTP {reply.status_code}")
            return None
        self._reached, self._failing = True, False
        return reply.text

    def _no_token(self, why: str) -> None:
        """Off EC2 at the first request; a blip after it."""
        if self._reached:
            if not self._failing:
                log.warning("instance metadata token not renewed (%s); trying again", why)
            self._failing = True
        else:
            log.debug("instance metadata unavailable: %s", why)
            self.available = False

    def get(self, path: str) -> str | None:
        """The value at ``/latest/meta-data/{path}``, or None (absent, or not on EC2)."""
        if not self.available:
            return None
        if self._token is None:
            self._token = self._fetch_token()
            if self._token is None:
                return None
        try:
            reply = httpx.get(
                f"{self.base_url}/latest/meta-data/{path}",
                headers={"X-aws-ec2-metadata-token": self._token},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            log.debug("instance metadata %s: %s", path, exc)
            return None
        if reply.status_code == 401:  # token expired: fetch a new one next time
            self._token = None
            return None
        return reply.text if reply.status_code == 200 else None
