"""Waiting out an outage: bounded exponential backoff with jitter around one call.

pymongo retries a failed operation once and botocore's retry modes cover seconds; a MongoDB
failover, a network cut or an S3 blip can last longer. Callers wrap the calls that must
survive one (a worker's claim, checkpoint, upload and completion; a client's polls) and say
how long they are willing to wait. Only ``Unavailable`` is retried: every other error is
about the call itself, and retrying it would only hide it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from transcriber_cli.errors import Unavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

FIRST_DELAY = 0.5
MAX_DELAY = 8.0


def patiently(
    call: Callable[[], T],
    *,
    patience: float,
    what: str,
    stop: threading.Event | None = None,
    logger: logging.Logger = log,
) -> T:
    """``call()``, retried while it raises ``Unavailable`` for up to ``patience`` seconds
    (or until ``stop`` is set); then the last ``Unavailable`` is raised."""
    deadline = time.monotonic() + patience
    delay = FIRST_DELAY
    waiting_since: float | None = None
    while True:
        try:
            result = call()
        except Unavailable as exc:
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                if waiting_since is not None:
                    logger.warning("gave up waiting for %s after %.0f s", what, patience)
                raise
            if waiting_since is None:
                waiting_since = time.monotonic()
                logger.warning("waiting for %s (%s); retrying for up to %.0f s", what, exc, left)
            pause = min(delay * random.uniform(0.5, 1.0), left)
            if stop is not None:
                stop.wait(pause)
            else:
                time.sleep(pause)
            delay = min(delay * 2, MAX_DELAY)
            continue
        if waiting_since is not None:
            logger.warning("%s is back after %.1f s", what, time.monotonic() - waiting_since)
        return result
