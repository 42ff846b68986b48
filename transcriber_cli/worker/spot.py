"""Spot interruption watcher: polls the instance-action notice and raises a flag.

AWS gives two minutes' notice; a long job cannot finish in that time, so the worker
releases its jobs at once (see ``recovery.on_interruption``) and another instance resumes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from transcriber_cli.worker.imds import Imds

log = logging.getLogger(__name__)


class SpotWatcher(threading.Thread):
    def __init__(
        self,
        imds: Imds,
        interval: float,
        on_notice: Callable[[dict], None],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="spot-watcher", daemon=True)
        self.imds = imds
        self.interval = interval
        self.on_notice = on_notice
        self.stop_event = stop

    def check(self) -> dict | None:
        raw = self.imds.get("spot/instance-action")
        if not raw:
            return None
        try:
            notice = json.loads(raw)
        except ValueError:
            notice = {"action": raw.strip()}
        return notice if isinstance(notice, dict) else {"action": str(notice)}

    def run(self) -> None:
        while not self.stop_event.is_set() and self.imds.available:
            notice = self.check()
            if notice:
                log.warning("spot interruption notice: %s", notice)
                self.on_notice(notice)
                return
            self.stop_event.wait(self.interval)
