"""Each window's speech regions (the VAD) found ahead of the window's turn, on a GPU.

Silero's VAD runs on the CPU. On a GPU every window waited for its own before any of its
GPU work began: 0.25-0.3 s for a pair of 9-minute windows of the large-v3 hour on an H200
machine's cores (bench/production.md), three times an hour, while the GPU had nothing else
of that window to do. Found here on a thread of its own, the regions fill time the run
waits anyway: the models' load (where the runner starts this, local/runner.py) and the
decoding of the windows before. A CPU loads and decodes on the same cores: on a 2-core
machine the 5-minute file took 6.03-6.54 s with its speech found during the load against
5.82-6.07 s after it (bench/results/cpu-speech-found-during-load.json), so a CPU finds
each window's regions when the window starts, as before.

The regions are the ones the engine finds itself (``vad.speech_regions`` on the same samples
with the same threads), so the words do not change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future

import numpy as np

from transcriber_cli.engine import vad
from transcriber_cli.media import Samples, whole
from transcriber_cli.pipeline.windows import part

log = logging.getLogger(__name__)

Bounds = tuple[float, float]


class SpeechAhead:
    """The regions of ``cuts`` (the windows still to do, in order), found one window after
    another with ``workers`` threads (``cpu_threads``: 0 = every core): the first ``lead``
    at once, then each window once the one ``lead`` places before it was asked for (0: each
    when it is asked for)."""

    def __init__(self, audio: Samples, cuts: Sequence[Bounds], workers: int, lead: int) -> None:
        self.cuts = list(cuts)
        self._at = {bounds: i for i, bounds in enumerate(self.cuts)}
        self._found: list[Future[list[vad.Region]]] = [Future() for _ in self.cuts]
        self._lead = lead
        self._asked = 0  # windows up to this one were asked for
        self._stopped = False
        self._turn = threading.Condition()
        # Mapped here, on the caller's thread, as diarization's is (pipeline/flow.py): the
        # thread never reads a DecodedAudio its caller may close once it gives up on the file.
        samples = whole(audio)
        self._thread = threading.Thread(target=self._run, args=(samples, workers),
                                        name="speech-ahead", daemon=True)  # fmt: skip
        self._thread.start()

    def _run(self, samples: np.ndarray, workers: int) -> None:
        # The package first, whole: started with one of its modules (the VAD's), this thread
        # held that module's import lock while the Whisper load's thread was importing the
        # package, and one of the two got it half-initialised (an ImportError that failed a
        # run on an H100). A package's import waits for another thread's instead.
        import faster_whisper  # noqa: F401

        for i, bounds in enumerate(self.cuts):
            with self._turn:
                while not self._stopped and i >= self._asked + self._lead:
                    self._turn.wait()
                if self._stopped:
                    return
            found = self._found[i]
            if not found.set_running_or_notify_cancel():
                continue
            started = time.perf_counter()
            try:
                found.set_result(vad.speech_regions(np.asarray(part(samples, bounds)), workers))
            except BaseException as exc:  # raised where the window asks for it
                found.set_exception(exc)
                continue
            log.debug("speech of window %d of %d found ahead in %.2f s", i + 1, len(self.cuts),
                      time.perf_counter() - started)  # fmt: skip

    def regions(self, bounds: Bounds) -> list[vad.Region] | None:
        """The speech regions of the window ``bounds`` (waiting for them), or None where
        none are found here (not one of the cuts, or stopped first): the engine then finds
        them itself."""
        i = self._at.get(bounds)
        if i is None:
            return None
        with self._turn:
            self._asked = max(self._asked, i + 1)
            self._turn.notify_all()
        try:
            return self._found[i].result()
        except CancelledError:
            return None

    def stop(self) -> None:
        """Find no more (a window being searched ends its search)."""
        with self._turn:
            self._stopped = True
            self._turn.notify_all()
        for found in self._found:
            found.cancel()
