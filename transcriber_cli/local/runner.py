"""Local runs: find inputs, skip what is done, transcribe the rest here, write outputs.

One bad file never stops a batch: its error is recorded and the next file runs. The models
load once, in the background from the first file that needs them (overlapping its hashing
and decoding), and only if some file needs work: a rerun that skips everything starts
instantly. A long file is checkpointed window by window in the manifest; a rerun after a
stop goes on from the last finished window and says so.

With several devices (``--gpus``; every GPU of a multi-GPU machine by default) each gets its
own model copy and takes the longest file left whenever it is free; a single long file is
instead split by window over all of them. Results are reported as files finish.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from transcriber_cli import gc_pause
from transcriber_cli.config import Settings
from transcriber_cli.engine.ct2_weights import decoder_layers
from transcriber_cli.engine.device import free_gpu_memory, planned_batch_size, resolve_device
from transcriber_cli.engine.gpus import (
    DEEP_DECODER,
    WINDOW_SECONDS,
    Slot,
    device_slots,
    files_in_flight,
    longest_first,
    slot_settings,
    spread,
    window_length,
    windows_in_flight,
)
from transcriber_cli.engine.models import local_model_dir, weights_bytes
from transcriber_cli.errors import (
    DiarizationUnavailable,
    ModelUnavailable,
    TranscriberError,
    with_doctor_hint,
)
from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.jobs.batch import Batch, Item
from transcriber_cli.jobs.options import JobOptions
from transcriber_cli.jobs.outputs import render
from transcriber_cli.jobs.results import FileResult, ResultSummary, clock
from transcriber_cli.local.readahead import MAX_AHEAD_SECONDS, ReadAhead
from transcriber_cli.media import SAMPLE_RATE, DecodedAudio, InputChanged, MediaInfo, ProbeTimeout
from transcriber_cli.options import SpeakerOptions, WhisperOptions
from transcriber_cli.pipeline.flow import SpeakersBeside, StageProgress, transcribe_audio
from transcriber_cli.pipeline.models import LoadedModels, ModelCache
from transcriber_cli.pipeline.speech import SpeechAhead
from transcriber_cli.pipeline.windows import WindowCheckpoint, remaining_cuts

log = logging.getLogger(__name__)

# Diarization starts beside the Whisper model's load only with this much GPU memory free when
# a file starts (an 80 GB card): the auto batch size, read from free memory at the first
# batch and kept, then stays at its cap with diarization's buffers beside it (large-v3's 64
# rows want about 50 GB free). Below it, diarization starts with transcription, as before.
EARLY_DIARIZATION_FREE = 64 * 1024**3
# The speech is searched during the models' load only on a machine with this many cores: the
# load imports and reads on several of them, and on 2 cores the search beside it made the
# 5-minute file slower (bench/results/cpu-speech-found-during-load.json). The GPU machines
# measured had 16. With fewer, each window searches once its models are ready, still ahead.
SEARCH_DURING_LOAD_CORES = 8


class Reporter(Protocol):
    def batch_started(self, total: int) -> None: ...
    def file_started(self, path: Path, duration: float) -> None: ...
    def file_progress(self, path: Path, stage: str, done: float, total: float) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...
    def note(self, text: str) -> None: ...


class NullReporter:
    def batch_started(self, total: int) -> None: ...
    def file_started(self, path: Path, duration: float) -> None: ...
    def file_progress(self, path: Path, stage: str, done: float, total: float) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...
    def note(self, text: str) -> None: ...


class _Serialized:
    """A reporter several slot threads call: one call at a time."""

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._lock = threading.RLock()

    def batch_started(self, total: int) -> None:
        with self._lock:
            self._reporter.batch_started(total)

    def file_started(self, path: Path, duration: float) -> None:
        with self._lock:
            self._reporter.file_started(path, duration)

    def file_progress(self, path: Path, stage: str, done: float, total: float) -> None:
        with self._lock:
            self._reporter.file_progress(path, stage, done, total)

    def file_finished(self, result: FileResult) -> None:
        with self._lock:
            self._reporter.file_finished(result)

    def note(self, text: str) -> None:
        with self._lock:
            self._reporter.note(text)


def _another_device_may(
    exc: BaseException, device: str, seen: dict[str, set[str]], worked: bool = False
) -> bool:
    """Whether another device may load what ``device`` could not: after a full GPU, or once
    a device has done a file, yes; any other cause only until a second device fails the
    same way (then it is not the device: an unknown model, a missing token), so a run does
    not try them all."""
    text = str(exc)
    failed = seen.setdefault(text, set())
    failed.add(device)
    return worked or "out of memory" in text.lower() or len(failed) < 2


def resume_key(settings: Settings, options: JobOptions) -> str:
    """The options key plus what decides the result on this machine: the model ``auto``
    resolves to, and in auto diarization mode whether a pipeline is reachable (a file done
    without speakers is redone once one is)."""
    from transcriber_cli.engine.models import model_for

    extra: dict[str, object] = {"model": model_for(settings.model, settings.device)}
    if settings.audio_stream is not None:  # another stream is another recording
        extra["audio_stream"] = settings.audio_stream
    if options.diarize is None:
        from transcriber_cli.diarize.loader import pipeline_reachable

        extra["diarize_reachable"] = pipeline_reachable(settings)
    return options.key(**extra)


def _when_loaded(loading: Future[LoadedModels], ended: Callable[[], None]) -> None:
    """``ended`` once the Whisper model and the diarizer have both loaded or failed (on a GPU
    the diarizer may go on loading while the first windows are transcribed)."""

    def whisper_done(done: Future[LoadedModels]) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().pending.add_done_callback(lambda _diarizer: ended())
        else:
            ended()

    loading.add_done_callback(whisper_done)


class _Device:
    """One model copy and its background load: the one device of a run, or one of several."""

    def __init__(self, settings: Settings, slot: Slot | None, models: ModelCache | None,
                 reporter: Reporter) -> None:  # fmt: skip
        if slot is not None:
            settings = slot_settings(settings, slot)
        self.settings = settings
        self.own_settings = settings  # as a device that runs whole files (a helper's differ)
        self.label = slot.label if slot is not None else None
        self.models = models or ModelCache()
        self.reporter = reporter
        self.note_diarization = True  # a helper of a file split by window diarizes nothing
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-models")
        self._loading: Future[LoadedModels] | None = None
        self._lock = threading.Lock()

    def files_in_flight(self) -> int:
        """Files this device takes at once. Auto reads the GPU's free memory as the files are
        about to start (the first device's model may be loading then): a GPU shared with
        others' work gets fewer."""
        s = self.settings
        auto = not s.files_per_device and s.device == "cuda"
        return files_in_flight(s, s.device, free_gpu_memory(s.gpu_index) if auto else None)

    def _load(self) -> LoadedModels:
        where = f" on {self.label}" if self.label else ""
        self.reporter.note(f"loading model {self.settings.model}{where}")
        # The diarizer goes on loading while the first file is transcribed.
        loaded = self.models.get(self.settings, wait=False)
        engine = loaded.engine
        place = self.label or engine.device
        how = engine.compute_type + (", torch encoder" if engine.encoder == "torch" else "")
        how += ", torch decoder" if engine.decoder == "torch" else ""
        how += f", {engine.decoder_lanes} decoder lanes" if engine.decoder_lanes > 1 else ""
        self.reporter.note(f"model {engine.name} on {place} ({how})")

        def skipped(_done: object) -> None:
            if not loaded.pending.exception() and loaded.diarization_note:
                self.reporter.note(f"diarization skipped: {loaded.diarization_note['reason']}")

        if self.note_diarization:
            loaded.pending.add_done_callback(skipped)
        return loaded

    def start_loading(self) -> None:
        with self._lock:  # several files in flight may start it at once
            if self._loading is None:
                ended = gc_pause.model_load()
                try:
                    self._loading = self._loader.submit(self._load)
                except BaseException:
                    ended()
                    raise
                _when_loaded(self._loading, ended)

    def loaded(self) -> LoadedModels:
        self.start_loading()
        assert self._loading is not None
        loaded = self._loading.result()
        # A diarizer that --diarize requires but cannot load is a setup error for the whole
        # run (exit 3), not a failure of one file: said before any transcription where the
        # two take turns (a CPU), else as soon as the load ends (it raises from the flow).
        if loaded.engine.device != "cuda" or loaded.pending.done():
            loaded.pending.result()
        return loaded

    def speech_ahead(self, audio: DecodedAudio, resume: WindowCheckpoint | None,
                     options: WhisperOptions, files_at_once: int,
                     alone: bool) -> SpeechAhead | None:  # fmt: skip
        """On a GPU, the windows' speech regions, found while this device's models still
        load (the run would only wait; pipeline/speech.py): the first windows in flight now,
        each next one while the windows before decode. None once the models are ready (the
        flow finds them ahead then, pipeline/flow.py), on a CPU, on a machine of fewer than
        ``SEARCH_DURING_LOAD_CORES`` cores, or where no VAD of ours runs."""
        s = self.settings
        if not options.vad or options.batch_size == 1:
            return None
        if (os.cpu_count() or 1) < SEARCH_DURING_LOAD_CORES:
            return None
        if self._loading is not None and self._loading.done():
            return None
        try:
            device, _ = resolve_device(s.device, s.compute_type)
        except TranscriberError:  # said by the load, as before
            return None
        if device != "cuda":
            return None
        in_flight = windows_in_flight(s, device, files_at_once)
        resume = resume or WindowCheckpoint()
        window = resume.window_seconds or self.planned_window(
            options, alone, len(audio) / SAMPLE_RATE, in_flight
        )
        return SpeechAhead(audio, remaining_cuts(audio, resume, window), s.cpu_threads,
                           in_flight)  # fmt: skip

    def planned_window(self, options: WhisperOptions, alone: bool, seconds: float,
                       in_flight: int) -> float:  # fmt: skip
        """The length a file's windows will have on this GPU once its models are loaded
        (``window_length``), told while they load: from the model file's decoder depth and
        the batch size planned from the memory free now and its weights. One that misses
        costs the windows' search again (pipeline/flow.py), not a word."""
        s = self.settings
        if s.window_seconds or not alone:
            return window_length(s, "cuda", alone)
        path = local_model_dir(s.model, s.device, s.model_cache_dir)
        layers = decoder_layers(path) if path else 0
        if path is None or layers < DEEP_DECODER:  # 600 s (searched again if it is not)
            return WINDOW_SECONDS
        free = free_gpu_memory(s.gpu_index)
        if free is None:
            return WINDOW_SECONDS
        batch = planned_batch_size(weights_bytes(path), options.beam_size, free,
                                   options.batch_size, s.decoder_lanes)  # fmt: skip
        return window_length(s, "cuda", alone, batch, layers, seconds, in_flight)

    def speakers_beside(self, audio: DecodedAudio, speakers: SpeakerOptions | None,
                        progress: StageProgress) -> SpeakersBeside | None:  # fmt: skip
        """The recording's diarization, started now where the flow runs it beside
        transcription (a GPU), while this device's first models load: where the Whisper
        model is the slower load (a large model read from a cold disk), diarization's GPU
        work fills that wait. On the H200 bench, with the model file in the page cache,
        the diarizer's own load ended last (bench/production.md), so nothing was gained
        there and nothing lost."""
        s = self.settings
        if s.diarize is False:  # also a helper of a file split by window
            return None
        if self._loading is not None and self._loading.done():
            return None  # nothing to fill: the flow starts it with transcription, as before
        try:
            device, _ = resolve_device(s.device, s.compute_type)
        except TranscriberError:  # said by the load, as before
            return None
        if device != "cuda":  # a CPU diarizes after transcription: they share the cores
            return None
        pending = self.models.diarizer(s)
        if pending.done() and not pending.exception() and pending.result()[0] is None:
            return None  # known not to run (auto, no pipeline): no thread, no timings
        free = free_gpu_memory(s.gpu_index)
        if free is None or free < EARLY_DIARIZATION_FREE:
            return None  # a smaller GPU: the load and the first batches keep it, as before
        log.debug("diarization: started beside the Whisper load")
        return SpeakersBeside(pending, audio, speakers, progress)

    def help_only(self) -> None:
        """Transcribe windows of a file another device runs: speakers are found once, there."""
        self.settings = self.own_settings.model_copy(update={"diarize": False})
        self.note_diarization = False

    def take_over(self) -> None:
        """Run whole files again, speakers included, after helping: the load under way ends
        first (a ModelUnavailable says this device cannot either); the next load keeps its
        Whisper model and adds the diarizer."""
        if self._loading is not None:
            self._loading.result()
        self.settings, self.note_diarization = self.own_settings, True
        with self._lock:
            self._loading = None

    def close(self) -> None:
        self._loader.shutdown(wait=False)


class LocalRunner:
    def __init__(
        self,
        settings: Settings,
        options: JobOptions,
        formats: Sequence[OutputFormat],
        *,
        output_dir: Path | None = None,
        overwrite: bool = False,
        reporter: Reporter | None = None,
        models: ModelCache | None = None,
    ) -> None:
        self.settings = options.apply(settings)
        self.options = options
        self.formats = list(formats)
        self.output_dir = output_dir
        self.overwrite = overwrite
        self.reporter: Reporter = reporter or NullReporter()
        self._models = models  # the first device's cache (a caller's, to reuse loaded models)
        self.devices: list[_Device] = []  # known once the run starts: see devices_used
        self._files_at_once = 1  # on each device (windows in flight are chosen from it)
        # Reads the next files while these ones transcribe (never one over the length limit).
        self.readahead = ReadAhead(
            min(MAX_AHEAD_SECONDS, settings.max_duration_hours * 3600),
            settings.audio_stream,
            settings.probe_timeout,
        )  # several devices: one reader per device (see _run_spread)

    @property
    def devices_used(self) -> list[str]:
        """The devices the run spread over ("cuda:0", ...); empty for a one-device run."""
        return [d.label for d in self.devices if d.label and len(self.devices) > 1]

    def _plan(self, needs_work: bool, several: bool = True) -> list[_Device]:
        """The devices: one plain one (the run as before several devices existed) unless
        ``--gpus`` or the machine's GPUs or, with ``several`` inputs, ``files_per_device``
        ask for more."""
        s = self.settings
        plain = [_Device(s, None, self._models, self.reporter)]
        if not needs_work and not s.gpus:  # all skipped: start at once, without asking CUDA
            return plain
        slots = device_slots(s)
        if (
            len(slots) == 1
            and not (slots[0].device == "cuda" and s.gpus)
            and (files_in_flight(s, slots[0].device) == 1 or not several)
        ):
            return plain
        reporter: Reporter = _Serialized(self.reporter)
        return [_Device(s, slot, self._models if i == 0 else None, reporter)
                for i, slot in enumerate(slots)]  # fmt: skip

    def run(
        self, paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> list[FileResult]:
        batch = Batch(
            self.settings,
            self.formats,
            key=resume_key(self.settings, self.options),
            output_dir=self.output_dir,
            overwrite=self.overwrite,
        )
        items = batch.items(paths, include, exclude)
        self.reporter.batch_started(len(items))
        with gc_pause.run():  # no garbage collection while models load (gc_pause.py)
            return self._run_batch(batch, items)

    def _run_batch(self, batch: Batch, items: list[Item]) -> list[FileResult]:
        try:
            # Inputs already done (or refused up front) do not count: one file left to do runs
            # as one input does.
            left = sum(batch.precheck(i) is None for i in items)
            log.debug("%d inputs, %d to do", len(items), left)
            self.devices = self._plan(left > 0, several=left > 1)
            log.debug("devices: %s", ", ".join(d.label or "the device" for d in self.devices))
            if len(self.devices) == 1 and self.devices[0].label is None:
                return self._run_one(batch, items, self.devices[0])
            return self._run_spread(batch, items)
        finally:
            self.readahead.close()
            for device in self.devices:
                device.close()
            batch.close()

    def _run_one(self, batch: Batch, items: list[Item], device: _Device) -> list[FileResult]:
        results: list[FileResult] = []
        for i, item in enumerate(items):
            following = items[i + 1] if i + 1 < len(items) else None
            result = batch.precheck(item) or self._process(batch, item, device, following)
            results.append(result)
            self.reporter.file_finished(result)
        return results

    def _run_spread(self, batch: Batch, items: list[Item]) -> list[FileResult]:
        """Every device takes the longest file left when it is free; one file alone (longer
        than a window) is split by window over all of them instead."""
        reporter = self.devices[0].reporter
        labels = ", ".join(d.label or "" for d in self.devices)
        results: dict[int, FileResult] = {}
        todo: list[int] = []
        for i, item in enumerate(items):
            early = batch.precheck(item)
            if early is None:
                todo.append(i)
            else:
                results[i] = early
                reporter.file_finished(early)
        if todo:  # the first copy loads (speakers too) while the inputs are probed
            self.devices[0].start_loading()
        infos = self._probe_all([items[i] for i in todo])
        order = [todo[j] for j in longest_first([infos[items[i].path][0] for i in todo])]
        window = self.settings.window_seconds or WINDOW_SECONDS  # auto: 600 s over several
        long_one = len(order) == 1 and infos[items[order[0]].path][0] > window
        if long_one and len(self.devices) > 1:
            reporter.note(f"{items[order[0]].name}: split by window over {labels}")
            results[order[0]] = self._split_by_window(batch, items[order[0]], reporter)
            reporter.file_finished(results[order[0]])
            return [results[i] for i in sorted(results)]
        used, _ = spread(len(self.devices), len(order), 1)
        per_device = min(d.files_in_flight() for d in self.devices[:used])
        used, lanes = spread(len(self.devices), len(order), per_device)
        self._files_at_once = lanes
        if order:
            reporter.note(f"{len(order)} file(s) over {labels}, longest first")
            for device in self.devices[:used]:
                device.start_loading()
        self.readahead.widen(used * lanes)
        lock = threading.Lock()
        failures: list[BaseException] = []
        lost: set[str] = set()  # devices whose models could not load
        seen: dict[str, set[str]] = {}  # why they could not, and which
        worked: set[str] = set()  # devices that have done a file

        def take() -> int | None:
            with lock:
                if failures or not order:
                    return None
                i = order.pop(0)
                # The next file is read while this one transcribes, unless its probe ran out
                # of time (reading it would run the probe again).
                if order and not isinstance(infos[items[order[0]].path][1], ProbeTimeout):
                    self.readahead.schedule(items[order[0]].path)
                return i

        def work(device: _Device) -> None:
            while (i := take()) is not None:
                try:
                    result = self._process(batch, items[i], device, None,
                                           probed=infos[items[i].path][1])  # fmt: skip
                    with lock:
                        results[i] = result
                        worked.add(device.label or "")
                    reporter.file_finished(result)
                except (ModelUnavailable, DiarizationUnavailable) as exc:
                    with lock:
                        order.insert(0, i)  # another device does it
                        label = device.label or ""
                        if label in lost:  # another file in flight here said it already
                            return
                        lost.add(label)
                        # e.g. one GPU full on a shared machine
                        if len(lost) < len(self.devices) and _another_device_may(
                            exc, label, seen, bool(worked)
                        ):
                            reporter.note(f"{device.label}: {exc}; going on without it")
                            return
                        failures.append(exc)  # no device can: one line, the run stops
                    return
                except BaseException as exc:  # a bug or a closed stdout: the run stops
                    with lock:
                        failures.append(exc)
                    return

        # Each device takes files_per_device files at once: they share its models (calls to
        # the diarizer take turns), so the GPU transcribes one while another's speakers are
        # found, and one file's CPU steps (decoding, VAD) overlap another's GPU work.
        while order and not failures:
            # Again while files are left: a device that could not load gives its file back,
            # maybe after the others had found nothing left to take and stopped; a device
            # left idle (fewer files than devices) takes the place of one that could not load.
            live = [d for d in self.devices if (d.label or "") not in lost][:used]
            threads = [threading.Thread(target=work, args=(d,), name=f"device-{d.label}-{n}",
                                        daemon=True)
                       for n in range(lanes) for d in live]  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if failures:
            raise failures[0]
        return [results[i] for i in sorted(results)]

    def _split_by_window(self, batch: Batch, item: Item, reporter: Reporter) -> FileResult:
        """One long file over every device: the first runs it (speakers too), the others
        transcribe windows. A first device that cannot load is left out, and the next one
        takes its place; the run stops only when none can."""
        devices = list(self.devices)
        seen: dict[str, set[str]] = {}
        while True:
            main, helpers = devices[0], devices[1:]
            try:
                if main is not self.devices[0]:  # it helped so far: it now runs the file
                    main.take_over()
                for helper in helpers:
                    helper.help_only()
                return self._process(batch, item, main, None, helpers=helpers)
            except (ModelUnavailable, DiarizationUnavailable) as exc:
                if not helpers or not _another_device_may(exc, main.label or "", seen):
                    raise
                reporter.note(f"{main.label}: {exc}; going on without it")
                devices = helpers

    def _probe_all(
        self, items: list[Item]
    ) -> dict[Path, tuple[float, MediaInfo | ProbeTimeout | None]]:
        """Each input's length (to take the longest first), probed a few at a time; one
        that cannot be probed counts as 0 s and fails in its turn (probed again then, unless
        the probe ran out of time: that would cost the time limit twice)."""

        def probe(item: Item) -> tuple[float, MediaInfo | ProbeTimeout | None]:
            try:
                info = self.readahead.probe(item.path)
            except ProbeTimeout as exc:
                return 0.0, exc
            except Exception:
                return 0.0, None
            return info.duration, info

        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe") as pool:
            found = dict(zip((i.path for i in items), pool.map(probe, items), strict=True))
        return found

    def _probed(self, known: MediaInfo | ProbeTimeout | None, path: Path) -> MediaInfo:
        if isinstance(known, ProbeTimeout):
            raise known
        return known or self.readahead.probe(path)

    def _process(
        self,
        batch: Batch,
        item: Item,
        device: _Device,
        following: Item | None,
        *,
        helpers: Sequence[_Device] = (),
        probed: MediaInfo | ProbeTimeout | None = None,
    ) -> FileResult:
        reporter = device.reporter
        sha = ""
        audio: DecodedAudio | None = None
        beside: SpeakersBeside | None = None
        ahead: SpeechAhead | None = None
        try:
            info = batch.probe(item, partial(self._probed, probed))
            if isinstance(info, FileResult):
                return info
            device.start_loading()  # the models load while this file is decoded and hashed
            for helper in helpers:
                helper.start_loading()
            reporter.file_started(item.path, info.duration)
            log.debug("started %s on %s", item.path.name, device.label or "the device")
            # Read the next input meanwhile, unless it will be skipped or fail unread.
            if following is not None and batch.precheck(following) is None:
                self.readahead.schedule(following.path)
            waited = time.perf_counter()
            audio = self.readahead.decode(item.path, info)
            timings = {"decode": round(time.perf_counter() - waited, 3)}
            log.debug("decoded %s in %.2f s", item.path.name, timings["decode"])
            sha = batch.content_hash(item)  # of the bytes decoded: unchanged since, or it fails
            audio.check_unchanged()
            resume = self._resume(batch, item, sha, reporter)

            def checkpoint(state: WindowCheckpoint, _decoded: float) -> None:
                batch.manifest.save_checkpoint(sha, batch.key, state.model_dump_json())

            def progress(stage: str, done: float, total: float) -> None:
                reporter.file_progress(item.path, stage, done, total)

            if resume is None or resume.turns is None:
                beside = device.speakers_beside(audio, self.options.speakers, progress)
            # One file on one device: its windows are as long as a full decoder call's speech.
            alone = self._files_at_once == 1 and not helpers
            ahead = device.speech_ahead(audio, resume, self.options.whisper,
                                        self._files_at_once, alone)  # fmt: skip
            waited = time.perf_counter()
            models = device.loaded()
            engines = self._helper_engines(helpers, reporter)
            timings["load"] = round(time.perf_counter() - waited, 3)
            log.debug("models ready (waited %.2f s for them)", timings["load"])
            engine = models.engine
            in_flight = windows_in_flight(self.settings, engine.device, self._files_at_once)
            window = window_length(self.settings, engine.device, alone,
                                   engine.batch_size(self.options.whisper),
                                   engine.decoder_layers, len(audio) / SAMPLE_RATE,
                                   in_flight)  # fmt: skip

            transcript = transcribe_audio(
                audio,
                models,
                self.options.whisper,
                self.options.speakers,
                progress=progress,
                source=item.path.name,
                window_seconds=window,
                resume=resume,
                on_checkpoint=checkpoint,
                timings=timings,
                helpers=engines,
                windows_in_flight=in_flight,
                beside=beside,
                ahead=ahead,
            )
            waited = time.perf_counter()
            texts = render(transcript, self.formats)
            resumed = {"resumed_from": resume.seconds} if resume else {}
            summary = ResultSummary.of(transcript, timings)
            audio.check_unchanged()  # never recorded as done for content it did not transcribe
            result = batch.finish(item, sha, texts, summary, **resumed)
            if result.runtime is not None:
                result.runtime["stages"] = {
                    **timings,
                    "write": round(time.perf_counter() - waited, 3),
                }
                if device.label and len(self.devices) > 1:  # which model copy did it
                    result.runtime["slot"] = device.label
                    if helpers:
                        result.runtime["slots"] = [device.label, *(h.label for h in helpers)]
            batch.manifest.drop_checkpoint(sha, batch.key)
            log.debug("finished %s", item.path.name)
            return result
        except (ModelUnavailable, DiarizationUnavailable):
            raise  # no file can be done without the models: one line, stop the run
        except TranscriberError as exc:
            if isinstance(exc, InputChanged):  # its stat now is not that of the hashed bytes
                sha = ""
            return batch.fail(item, sha, with_doctor_hint(exc))  # ffmpeg missing: where to look
        finally:
            if beside is not None:  # stopped at its next step if the file ended without it
                beside.abandon()
            if ahead is not None:
                ahead.stop()
            self.readahead.discard(item.path)
            if audio is not None:  # its temporary file goes now, not when collected
                audio.close()

    @staticmethod
    def _helper_engines(helpers: Sequence[_Device], reporter: Reporter) -> list:
        """The other devices' engines for a file split by window; one that cannot load (a
        full GPU on a shared machine) is left out, not the end of the run."""
        engines = []
        for helper in helpers:
            try:
                engines.append(helper.loaded().engine)
            except ModelUnavailable as exc:
                reporter.note(f"{helper.label}: {exc}; splitting over the others")
        return engines

    def _resume(
        self, batch: Batch, item: Item, sha: str, reporter: Reporter
    ) -> WindowCheckpoint | None:
        """The windows an earlier run of this content and these options finished."""
        saved = batch.manifest.checkpoint(sha, batch.key)
        if saved is None:
            return None
        try:
            state = WindowCheckpoint.model_validate_json(saved)
        except ValidationError:
            batch.manifest.drop_checkpoint(sha, batch.key)
            return None
        reporter.note(
            f"{item.path.name}: resuming at {clock(state.seconds)} "
            f"({state.windows} window(s) done by an earlier run)"
        )
        return state
