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
    """The regions of ``cuts`` (the windows still to do, in order), found with ``workers``
    threads (``cpu_threads``: 0 = every core) one window after another on a thread of their
    own: the first ``lead`` at once, then each window once the one ``lead`` places before it
    was asked for (0: none ahead). A window asked for before that thread began its search
    searches on the asking thread, as every window did before, so no window waits for other
    windows' searches (the first windows of a file spread over several GPUs)."""

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
        self._samples = whole(audio)
        self._workers = workers
        self._thread = threading.Thread(target=self._run, name="speech-ahead", daemon=True)
        self._thread.start()

    def _claim(self, i: int) -> bool:
        """Whether the caller is the one to search window ``i`` (under ``_turn``)."""
        found = self._found[i]
        return not self._stopped and not found.done() and not found.running() and \
            found.set_running_or_notify_cancel()  # fmt: skip

    def _search(self, i: int, where: str) -> None:
        found = self._found[i]
        started = time.perf_counter()
        try:
            # The package first, whole: started with one of its modules (the VAD's), the
            # search's thread held that module's import lock while the Whisper load's thread
            # was importing the package, and one of the two got it half-initialised (an
            # ImportError that failed a run on an H100). A package's import waits instead.
            import faster_whisper  # noqa: F401

            audio = np.asarray(part(self._samples, self.cuts[i]))
            found.set_result(vad.speech_regions(audio, self._workers))
        except BaseException as exc:  # the window's engine searches again, and says it
            found.set_exception(exc)
            return
        log.debug("speech of window %d of %d found %s in %.2f s", i + 1, len(self.cuts), where,
                  time.perf_counter() - started)  # fmt: skip

    def _run(self) -> None:
        for i in range(len(self.cuts)):
            with self._turn:
                while not self._stopped and i >= self._asked + self._lead:
                    self._turn.wait()
                claimed = self._claim(i)
                if self._stopped:
                    return
            if claimed:
                self._search(i, "ahead")

    def regions(self, bounds: Bounds) -> list[vad.Region] | None:
        """The speech regions of the window ``bounds`` (searched here if the thread has not
        begun them, else waited for), or None where none are found here (not one of the cuts,
        stopped first, or the search failed): the window's engine then searches itself."""
        i = self._at.get(bounds)
        if i is None:
            return None
        with self._turn:
            self._asked = max(self._asked, i + 1)
            self._turn.notify_all()
            claimed = self._claim(i)
        if claimed:
            self._search(i, "by its window")
        try:
            return self._found[i].result()
        except CancelledError:
            return None
        except Exception as exc:
            log.debug("speech of window %d not found ahead (%s)", i + 1, exc)
            return None

    def stop(self) -> None:
        """Begin no more searches (one under way ends first: one window's search)."""
        with self._turn:
            self._stopped = True
            self._turn.notify_all()
            for found in self._found:
                found.cancel()  # those not begun
