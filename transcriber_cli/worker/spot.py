"""Spot interruption watcher: polls the instance-action notice and the rebalance
recommendation, and raises the matching flag.

AWS gives two minutes' notice; a long job cannot finish in that time, so the worker
releases its jobs at once (finished windows are checkpointed) and another instance resumes.
A rebalance recommendation often comes minutes earlier: the worker stops taking jobs then.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from transcriber_cli.worker.imds import Imds

log = logging.getLogger(__name__)

NOTICE = "spot/instance-action"
REBALANCE = "events/recommendations/rebalance"


class SpotWatcher(threading.Thread):
    def __init__(
        self,
        imds: Imds,
        interval: float,
        on_notice: Callable[[dict], None],
        stop: threading.Event,
        on_rebalance: Callable[[dict], None] | None = None,
    ) -> None:
        super().__init__(name="spot-watcher", daemon=True)
        self.imds = imds
        self.interval = interval
        self.on_notice = on_notice
        self.on_rebalance = on_rebalance
        self.stop_event = stop

    def _read(self, path: str) -> dict | None:
        raw = self.imds.get(path)
        if not raw:
            return None
        try:
            notice = json.loads(raw)
        except ValueError:
            notice = {"action": raw.strip()}
        return notice if isinstance(notice, dict) else {"action": str(notice)}

    def check(self) -> dict | None:
        return self._read(NOTICE)

    def run(self) -> None:
        rebalance_seen = False
        while not self.stop_event.is_set() and self.imds.available:
            notice = self.check()
            if notice:
                log.warning("spot interruption notice: %s", notice)
                self.on_notice(notice)
                return
            if self.on_rebalance and not rebalance_seen:
                recommendation = self._read(REBALANCE)
                if recommendation:
                    rebalance_seen = True
                    log.warning("rebalance recommendation: %s", recommendation)
                    self.on_rebalance(recommendation)
            self.stop_event.wait(self.interval)
