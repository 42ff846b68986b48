"""The flow shared by local runs and the worker:
decoded audio -> faster-whisper (in windows) -> diarize -> assign speakers -> plugins.

The audio is an array or a ``media.DecodedAudio``: then each window is read from disk when
its turn comes, and the diarizer gets a memory map, so a long recording is never held whole.

Progress leaves through a callback ``progress(stage, done, total)``; this module never
prints. Raising from the callback (e.g. a cancelled remote job) stops the work. Finished
windows leave through ``on_checkpoint`` and come back as ``resume`` (``windows.py``).

On a GPU, diarization runs on a thread beside transcription (``overlap``): the two share the
GPU, which neither fills alone, and the diarizer may still be loading when transcription
starts. Its progress shows once transcription is done; on a CPU the two take turns, since
each already uses every core.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from transcriber_cli.diarize.assign import assign_speakers
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.errors import SetupError
from transcriber_cli.media import SAMPLE_RATE, Samples, whole
from transcriber_cli.options import SpeakerOptions, WhisperOptions
from transcriber_cli.pipeline.models import DiarizerLoad, LoadedModels
from transcriber_cli.pipeline.speech import SpeechAhead
from transcriber_cli.pipeline.windows import (
    OnCheckpoint,
    WindowCheckpoint,
    part,
    remaining_cuts,
    shift,
    window_options,
)
from transcriber_cli.plugins import run_postprocessors
from transcriber_cli.transcript import Transcript

StageProgress = Callable[[str, float, float], None]

log = logging.getLogger(__name__)


class _Abandoned(Exception):
    """Raised inside a diarization whose transcription failed: stop at the next step."""


class SpeakersBeside:
    """Diarization of the whole recording on its own thread; ``result()`` joins it.

    On a GPU it runs beside transcription. A local run starts it as soon as the audio is
    decoded, so its GPU work fills the time the Whisper model still takes to load, where
    that pays and costs no memory the run needs (the device's models still loading, a
    diarizer that will run, 64 GiB free: ``_Device.speakers_beside`` in local/runner.py);
    ``transcribe_audio`` starts it itself otherwise."""

    def __init__(self, pending: Future[DiarizerLoad], audio: Samples, speakers,
                 progress: StageProgress | None) -> None:  # fmt: skip
        self.transcribed = threading.Event()  # progress is shown from then on
        self.abandoned = threading.Event()
        self.turns: list | None = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.steps: dict[str, float] = {}  # the diarizer's own steps
        # When diarization made its first progress: its load, the GIL, and another file's
        # turn on a shared diarizer all come before it. None if it never started.
        self.began: float | None = None
        # Mapped here, on the caller's thread: the thread never touches a DecodedAudio its
        # caller may close once it gives up on the file.
        samples = whole(audio)
        self._thread = threading.Thread(
            target=self._run, args=(pending, samples, speakers, progress), name="diarize",
            daemon=True,
        )  # fmt: skip
        self._thread.start()

    def _run(self, pending: Future[DiarizerLoad], samples, speakers, progress) -> None:
        def report(done: float, total: float) -> None:
            if self.began is None:
                self.began = time.perf_counter()
                log.debug("diarization: first progress")
            if self.abandoned.is_set():
                raise _Abandoned
            if progress and self.transcribed.is_set():
                progress("diarize", done, total)

        try:
            diarizer = pending.result()[0]  # waits for the load
            if diarizer is not None and not self.abandoned.is_set():
                log.debug("diarization: starting")
                started = time.perf_counter()
                self.turns = diarizer(samples, speakers=speakers, progress=report,
                                      steps=self.steps)  # fmt: skip
                self.seconds = time.perf_counter() - started
        except BaseException as exc:  # handed to the caller's thread by result()
            self.error = exc

    def result(self) -> list | None:
        self.transcribed.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.turns

    def abandon(self) -> None:
        self.abandoned.set()

    def check(self) -> None:
        """Raise now a setup error (a diarizer that ``--diarize`` requires but that cannot
        load): no file can be finished, so its transcription is not worth finishing."""
        if isinstance(self.error, SetupError):
            raise self.error


def transcribe_audio(
    audio: Samples,
    models: LoadedModels,
    options: WhisperOptions,
    speakers: SpeakerOptions | None = None,
    *,
    progress: StageProgress | None = None,
    source: str | None = None,
    window_seconds: float | None = None,
    resume: WindowCheckpoint | None = None,
    on_checkpoint: OnCheckpoint | None = None,
    overlap: bool | None = None,
    timings: dict[str, float] | None = None,
    helpers: Sequence[WhisperEngine] = (),
    windows_in_flight: int = 1,
    beside: SpeakersBeside | None = None,
    ahead: SpeechAhead | None = None,
) -> Transcript:
    """One recording through the flow with the ``models`` a ``ModelCache`` loaded.

    With ``window_seconds`` a long recording is transcribed window by window, each one
    checkpointed; ``resume`` skips what an earlier run finished. ``overlap`` (default: on a
    GPU) diarizes beside transcription. ``timings`` receives each stage's seconds.
    ``helpers``: more engines (other GPUs) that take windows beside ``models.engine``;
    ``windows_in_flight``: windows each engine works on at once (batched decoding carries no
    text across a cut, so they are independent; the result is joined in order).
    ``beside``: the recording's diarization, already started by the caller; it is joined
    (or stopped) here. ``ahead``: the windows' speech regions, being found since the
    caller started it (``pipeline/speech.py``; stopped here)."""

    def stage(name: str) -> Callable[[float, float], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    engine = models.engine
    timings = {} if timings is None else timings
    duration = len(audio) / SAMPLE_RATE
    state = resume.model_copy(deep=True) if resume else WindowCheckpoint()
    if state.window_seconds:  # resumed: the windows an uninterrupted run cuts
        window_seconds = state.window_seconds
    else:
        state.window_seconds = window_seconds
    if overlap is None:
        overlap = engine.device == "cuda"
    if beside is not None and state.turns is not None:  # turns known: nothing to find
        beside.abandon()
        beside = None
    transcribing = time.perf_counter()  # before diarization's thread: its first report is
    if beside is None and overlap and state.turns is None and models.may_diarize:  # at once
        beside = SpeakersBeside(models.pending, audio, speakers, progress)
    try:  # a failure or Ctrl-C anywhere until diarization is joined stops its thread too
        started = time.perf_counter()
        # Each engine once per window in flight (its windows' decoder calls are merged), in
        # turn: with several GPUs the first windows go one to each.
        engines = [e for _ in range(max(1, windows_in_flight)) for e in (engine, *helpers)]
        in_flight = _transcribe_windows(audio, engines, options, state,
                                        _checked(progress, beside), window_seconds,
                                        on_checkpoint, ahead)  # fmt: skip
        timings["transcribe"] = round(time.perf_counter() - started, 3)
        log.debug("transcribed %.0f s of audio in %.2f s", duration, timings["transcribe"])
        if state.turns is None and (beside is not None or models.may_diarize):
            started = time.perf_counter()
            steps: dict[str, float] = {}
            if beside is not None:
                turns = beside.result()
                if progress and turns is not None:  # done, also when it ended unseen
                    progress("diarize", duration, duration)
                timings["diarize"] = round(beside.seconds, 3)
                steps = beside.steps
                if beside.began is not None:  # < 0: it began before transcription did
                    timings["diarize_start"] = round(beside.began - transcribing, 3)
                timings["diarize_wait"] = round(time.perf_counter() - started, 3)
            else:
                diarizer = models.diarizer
                turns = diarizer(whole(audio), speakers=speakers, progress=stage("diarize"),
                                 steps=steps) if diarizer is not None else None  # fmt: skip
                timings["diarize"] = round(time.perf_counter() - started, 3)
            timings.update({f"diarize_{name}": value for name, value in steps.items()})
            if turns is not None:
                state.turns = turns
                if on_checkpoint:
                    on_checkpoint(state, 0.0)
    finally:
        if beside is not None:
            beside.abandon()
        if ahead is not None:
            ahead.stop()
    transcript = Transcript(
        language=state.language,
        language_probability=state.language_probability,
        duration=round(duration, 3),
        segments=[s.model_copy(deep=True) for s in state.segments],
        model=engine.name,
    )
    transcript.source = source
    transcript.options = {
        **options.model_dump(),
        "device": engine.device,
        "compute_type": engine.compute_type,
        "encoder": engine.encoder,
        "decoder": engine.decoder,
        "batch_size": engine.batch_size(options),
        **_gpus(engine, helpers),
        **({"windows_in_flight": in_flight} if in_flight > 1 else {}),
        **({"window_seconds": window_seconds} if state.windows > 1 else {}),
        **({"decoder_lanes": engine.decoder_lanes} if engine.decoder_lanes > 1 else {}),
    }
    diarizer = models.diarizer
    if diarizer is not None and state.turns is not None:
        started = time.perf_counter()
        names = speakers.speaker_names if speakers else ()
        transcript = assign_speakers(transcript, state.turns, names)
        transcript.diarization = {"status": "done", "model": diarizer.name}
        timings["assign"] = round(time.perf_counter() - started, 3)
    else:
        note = models.diarization_note
        transcript.diarization = note or {"status": "skipped", "reason": "disabled"}
    return run_postprocessors(transcript)


def _checked(progress: StageProgress | None, beside: SpeakersBeside | None) -> StageProgress | None:
    """Transcription's progress, which also stops it once the diarizer beside it failed
    to load (else that is said only when transcription ends)."""
    if beside is None:
        return progress

    def report(stage: str, done: float, total: float) -> None:
        beside.check()
        if progress:
            progress(stage, done, total)

    return report


def _gpus(engine: WhisperEngine, helpers: Sequence[WhisperEngine]) -> dict[str, object]:
    """Which GPU(s) did the work, for the result line and the transcript's options."""
    if engine.device != "cuda":
        return {}
    if not helpers:
        return {"gpu": engine.device_index}
    return {"gpus": [e.device_index for e in (engine, *helpers)]}


def _transcribe_windows(
    audio: Samples,
    engines: Sequence[WhisperEngine],
    options: WhisperOptions,
    state: WindowCheckpoint,
    progress: StageProgress | None,
    window_seconds: float | None,
    on_checkpoint: OnCheckpoint | None,
    ahead: SpeechAhead | None = None,
) -> int:
    """Transcribe from ``state.seconds`` to the end, window by window, into ``state``; return
    the most windows that were in flight on one engine at once.

    With several engines the windows are spread over them, and joined in order as they
    finish: the same cuts, language and seams as one engine gives. When the language is to
    be detected, it comes from the first window with speech and is given to the later ones:
    over several engines, or one with several decoder lanes, it is detected before the
    windows start (windows without speech before it run alone), else the windows run alone
    until one has found it; a batch size of 1 carries each window's text into the next, so
    it stays on one engine.

    On a GPU the speech regions of the next windows are found while the windows before
    decode (``pipeline/speech.py``), unless ``ahead`` (the caller's) finds them already."""
    duration = len(audio) / SAMPLE_RATE
    if progress and state.seconds:
        progress("transcribe", state.seconds, duration)
    engine = engines[0]
    sequential = engine.batch_size(options) == 1
    cuts = remaining_cuts(audio, state, window_seconds)
    if ahead is not None and ahead.cuts != cuts:  # the caller's guess of the windows missed
        log.debug("speech searched again: the windows are %s s, not the %s s guessed",
                  _length(cuts), _length(ahead.cuts))  # fmt: skip
        ahead.stop()
        ahead = None
    if len(cuts) > 1:
        log.debug("%d windows of %.0f s to do (each cut at silence before its end)", len(cuts),
                  window_seconds)  # fmt: skip
    if sequential or not options.vad:  # no regions to use: faster-whisper's own VAD, or none
        if ahead is not None:
            ahead.stop()
        ahead = None
    elif ahead is None and engine.device == "cuda" and len(cuts) > 1:
        at_once = len(engines)  # windows in flight, over every engine
        ahead = SpeechAhead(audio, cuts, engine.cpu_threads, lead=at_once)
    try:
        if len(engines) > 1 and not sequential and len(cuts) > 1:
            # Every engine decodes with the first one's batch size: an engine on a fuller GPU
            # would pick a smaller one (1 decodes sequentially), and the words would differ.
            options = options.model_copy(update={"batch_size": engine.batch_size(options)})
            # The language is detected once, from the first window with speech, and given to
            # every later window. Where windows run side by side (several devices, or one GPU's
            # decoder lanes) it is found before the windows start (the detection alone, not a
            # window's decoding), so they all start at once instead of waiting for the first
            # window: with two lanes the large-v3 hour's first window ran alone for 2.9 s, and
            # two windows took as long as one (bench/production.md). With one lane the windows
            # go one at a time until one has found it: starting two at once there gained
            # nothing (the decoder was already full). A window without speech finds none and
            # runs alone (it decodes nothing).
            first = len({id(e) for e in engines}) > 1 or engine.decoder_lanes > 1
            while cuts and options.language is None and state.language is None:
                found = None
                if first:  # the regions only where a detection reads them
                    regions = _regions(ahead, cuts[0]) if engine.multilingual else None
                    found = engine.detect_language(part(audio, cuts[0]), options, regions=regions)
                if found is not None:
                    state.language, state.language_probability = found
                    log.debug("language %s (probability %.2f) detected before the windows start",
                              *found)  # fmt: skip
                    break
                _run_window(audio, engine, options, state, progress, cuts.pop(0), on_checkpoint,
                            ahead)  # fmt: skip
            if not cuts:
                return 1
            return _spread(audio, engines, options, state, progress, cuts, on_checkpoint, ahead)
        for bounds in cuts:
            _run_window(audio, engine, options, state, progress, bounds, on_checkpoint, ahead)
        return 1
    finally:
        if ahead is not None:
            ahead.stop()


def _length(cuts: list[tuple[float, float]]) -> str:
    return f"{cuts[0][1] - cuts[0][0]:.0f}" if cuts else "no"


def _decode_window(
    audio: Samples,
    engine: WhisperEngine,
    options: WhisperOptions,
    state: WindowCheckpoint,
    bounds: tuple[float, float],
    report: Callable[[float, float], None],
    ahead: SpeechAhead | None,
) -> Transcript:
    sequential = engine.batch_size(options) == 1
    return engine.transcribe(
        part(audio, bounds),
        window_options(options, state, sequential=sequential),
        report,
        regions=_regions(ahead, bounds),
    )


def _regions(ahead: SpeechAhead | None, bounds: tuple[float, float]) -> list | None:
    return ahead.regions(bounds) if ahead is not None else None


def _join(state: WindowCheckpoint, result: Transcript, bounds: tuple[float, float]) -> None:
    """Append a window's segments in file time, the words before the seam dropped."""
    start, end = bounds
    after = state.segments[-1].end if state.segments else 0.0  # the seam
    for segment in result.segments:
        moved = shift(segment, start, after)
        if moved is not None:
            moved.id = len(state.segments)
            state.segments.append(moved)
    if state.language is None and result.language:  # the first window with speech says it
        state.language = result.language
        state.language_probability = result.language_probability
    state.seconds, state.windows = round(end, 3), state.windows + 1


def _run_window(
    audio: Samples,
    engine: WhisperEngine,
    options: WhisperOptions,
    state: WindowCheckpoint,
    progress: StageProgress | None,
    bounds: tuple[float, float],
    on_checkpoint: OnCheckpoint | None,
    ahead: SpeechAhead | None = None,
) -> None:
    duration = len(audio) / SAMPLE_RATE
    start, end = bounds

    def window_progress(done: float, _total: float) -> None:
        if progress:
            progress("transcribe", min(start + done, duration), duration)

    result = _decode_window(audio, engine, options, state, bounds, window_progress, ahead)
    _join(state, result, bounds)
    if on_checkpoint:
        on_checkpoint(state, end - start)


def _spread(
    audio: Samples,
    engines: Sequence[WhisperEngine],
    options: WhisperOptions,
    state: WindowCheckpoint,
    progress: StageProgress | None,
    cuts: list[tuple[float, float]],
    on_checkpoint: OnCheckpoint | None,
    ahead: SpeechAhead | None,
) -> int:
    """Each engine takes the next window on its own thread (an engine listed twice, two at
    once); this thread joins the finished ones in order and checkpoints the part done without
    a gap. Returns the most windows that were in flight on one engine at once."""
    duration = len(audio) / SAMPLE_RATE
    lock = threading.Condition()
    running: dict[int, int] = {}  # windows in flight per engine (by id)
    most = 1
    done_seconds = dict.fromkeys(range(len(cuts)), 0.0)
    results: dict[int, Transcript] = {}
    errors: list[BaseException] = []
    queue = list(range(len(cuts)))
    base = state.seconds
    # What each window's options come from: the language only (batched decoding carries no
    # text across a cut), and no shared list the joining thread appends to.
    fixed = state.model_copy(update={"segments": []})

    reporting = threading.Lock()  # one report at a time, and never one going backwards
    shown = [base]

    def report(i: int, done: float, _total: float) -> None:
        with reporting:
            with lock:
                done_seconds[i] = done
                total = base + sum(done_seconds.values())
                if errors:
                    raise _Abandoned
            if progress and total >= shown[0]:
                shown[0] = total
                progress("transcribe", min(total, duration), duration)

    # Threads start one at a time, each once it has its first window (or none is left), so
    # the first windows go in the list's order: one to each engine before any takes two.
    took_first = threading.Semaphore(0)

    def work(engine: WhisperEngine) -> None:
        nonlocal most
        first = True
        while True:
            with lock:
                if first:
                    took_first.release()
                    first = False
                if errors or not queue:
                    return
                i = queue.pop(0)
                running[id(engine)] = running.get(id(engine), 0) + 1
                most = max(most, running[id(engine)])
            try:
                result = _decode_window(
                    audio, engine, options, fixed, cuts[i], functools.partial(report, i), ahead
                )
            except BaseException as exc:  # handed to the joining thread
                with lock:
                    errors.append(exc)
                    lock.notify_all()
                return
            finally:
                with lock:
                    running[id(engine)] -= 1
            with lock:
                results[i] = result
                done_seconds[i] = cuts[i][1] - cuts[i][0]
                lock.notify_all()

    threads = [
        threading.Thread(target=work, args=(e,), name=f"window-{n}", daemon=True)
        for n, e in enumerate(engines)
    ]
    for t in threads:
        t.start()
        took_first.acquire()
    try:
        for i, bounds in enumerate(cuts):
            with lock:
                while i not in results and not errors:
                    lock.wait(0.5)
                if i not in results:
                    break
                result = results.pop(i)
            _join(state, result, bounds)
            if on_checkpoint:
                on_checkpoint(state, bounds[1] - bounds[0])
    except BaseException as exc:  # a failed checkpoint (or Ctrl-C): stop the others too
        with lock:
            errors.append(exc)
        raise
    finally:
        for t in threads:
            t.join()
    if errors:
        raise next((e for e in errors if not isinstance(e, _Abandoned)), errors[0])
    return most
