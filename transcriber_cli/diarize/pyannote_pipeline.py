"""Run a pyannote.audio 4 speaker-diarization pipeline on an already decoded waveform.

torch and pyannote are imported inside functions only: ``transcriber --help`` must not pay
for them. The pipeline always loads from a local directory (a hub snapshot in the cache, a
bundle, or the user's own folder); ``diarize/hub.py`` decides which directory that is.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import mmap
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from transcriber_cli.diarize import spans
from transcriber_cli.diarize.binarize import use_run_edges
from transcriber_cli.diarize.builtin import BuiltinDiarization
from transcriber_cli.diarize.chunk_embeddings import share_window_frames
from transcriber_cli.diarize.native.pipeline import NativeSpeakerDiarization
from transcriber_cli.errors import DiarizationUnavailable
from transcriber_cli.media import SAMPLE_RATE
from transcriber_cli.options import SpeakerOptions
from transcriber_cli.transcript import SpeakerTurn

log = logging.getLogger(__name__)

Progress = Callable[[float, float], None]  # (audio seconds done, audio seconds total)

# Share of the work each pyannote step stands for, for one progress bar over the whole call.
# Embeddings dominate (one network pass per chunk); segmentation is cheaper.
_SEGMENTATION_SHARE = 0.25
_EMBEDDING_SHARE = 0.70

# Speaker embeddings the clustering learns speakers from, at most. pyannote's AHC (community-1's
# VBx and 3.1's agglomerative clustering) holds every pair's distance: ~6,500 clean embeddings
# per hour of speech and 8 bytes a pair made 4 h of audio need gigabytes there and 24 h hundreds
# (bench/README.md, memory by input length). Past the cap an evenly spread subset, in time
# order, is clustered; every embedding is still assigned to the nearest speaker centroid by
# pyannote's own assignment step, so a longer file changes only which embeddings train it.
MAX_CLUSTERED_EMBEDDINGS = 8000

# pyannote/speaker-diarization-3.1's AHC threshold (centroid linkage, unit embeddings): joins
# the speakers of two spans when the pipeline names no threshold of its own.
PYANNOTE_31_THRESHOLD = 0.7045654963945799


def disable_pyannote_telemetry() -> None:
    """pyannote.audio 4 sends usage metrics to otel.pyannote.ai unless told not to. Off by
    default here: workers are often offline, and recordings are private. A user who wants it
    sets PYANNOTE_METRICS_ENABLED=true themselves."""
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")


# Python's warning filters and sys.stdout belong to the whole process, and several threads
# load and run pipelines at once (one per GPU, a worker's jobs). So loads take turns, stdout is
# diverted only for the loading thread, and warnings raised while a thread diarizes reach that
# call's list through one router installed once, instead of per-call catch_warnings.
_LOADS = threading.Lock()
_local = threading.local()


class _ThreadStdout:
    """sys.stdout for the length of a load: the loading thread's prints go to ``sink``,
    every other thread's (e.g. --json result lines) to the real stdout."""

    def __init__(self, real: Any, sink: io.StringIO) -> None:
        self._real, self._sink, self._owner = real, sink, threading.get_ident()

    def write(self, text: str) -> int:
        target = self._sink if threading.get_ident() == self._owner else self._real
        return target.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _route_warnings() -> None:
    original = warnings.showwarning

    def route(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        caught = getattr(_local, "caught", None)
        if caught is None:
            return original(message, category, filename, lineno, file, line)
        caught.append(message)
        return None

    warnings.showwarning = route
    # every call's own count warning, not only the first; a read-only buffer is only read
    warnings.filterwarnings("always", message=".*number of speakers.*")
    warnings.filterwarnings("ignore", message=".*not writable.*")


_route_warnings()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """pyannote prints download hints to stdout (which must stay clean for --json) and raises
    library warnings meant for its developers; keep both out of the user's way."""
    out = io.StringIO()
    with _LOADS:
        real = sys.stdout
        sys.stdout = _ThreadStdout(real, out)  # type: ignore[assignment]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            sys.stdout = real
    if out.getvalue().strip():
        log.debug("pyannote: %s", " ".join(out.getvalue().split()))


def torch_device(engine_device: str, requested: str) -> str:
    """CUDA when the Whisper engine runs there, or when the device is left to us and torch
    sees a GPU (CTranslate2 and torch can disagree, e.g. a CUDA 12 CTranslate2 on CUDA 13)."""
    import torch

    if requested == "cpu":
        return "cpu"
    if engine_device == "cuda" or requested == "cuda" or requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def load_pipeline(
    directory: Path, *, device: str, embedding_batch_size: int, cpu_threads: int = 0,
    native: bool = True,
):  # fmt: skip
    """Load ``directory/config.yaml`` and its checkpoints; everything stays offline. With
    ``native``, a pipeline of community-1's shape runs without pyannote.audio (same results,
    without its 7-10 s import: ``native/pipeline.py``); any other runs in pyannote."""
    import torch

    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)
    pipeline = _load_native(directory) if native else None
    if pipeline is None:
        pipeline = _load_pyannote(directory)
    # Bounded batches keep memory flat whatever the length: one batch of 10 s windows at a
    # time goes through the embedding model, and only the small embeddings are kept.
    pipeline.embedding_batch_size = embedding_batch_size
    pipeline.segmentation_batch_size = min(pipeline.segmentation_batch_size, embedding_batch_size)
    pipeline.to(torch.device(device))
    bound_clustering(pipeline)
    return pipeline


def _load_native(directory: Path) -> Any:
    from transcriber_cli.diarize.native.pipeline import load_native

    try:
        pipeline = load_native(directory)
    except Exception as exc:  # Unsupported, or a broken folder: pyannote's load says which
        log.info("diarization: pyannote.audio runs this pipeline (%s: %s)",
                 type(exc).__name__, _first_line(exc))  # fmt: skip
        return None
    log.info("diarization: the pipeline's steps run here, without pyannote.audio")
    return pipeline


def _load_pyannote(directory: Path) -> Any:
    disable_pyannote_telemetry()
    with _quiet():
        from pyannote.audio import Pipeline

        try:
            pipeline = Pipeline.from_pretrained(str(directory))
        except Exception as exc:  # any broken file: one line naming the directory
            raise DiarizationUnavailable(
                f"cannot load the diarization pipeline in {directory}: "
                f"{type(exc).__name__}: {_first_line(exc)}",
                hint="it needs config.yaml with its segmentation, embedding and plda files "
                "('transcriber models pull --bundle DIR' writes one)",
            ) from None
    if pipeline is None or not hasattr(pipeline, "embedding_batch_size"):
        raise DiarizationUnavailable(
            f"{directory} does not hold a pyannote speaker-diarization pipeline"
        )
    return pipeline


def bound_clustering(pipeline: Any, limit: int | None = None) -> None:
    """Cap the embeddings pyannote's clustering trains on (see MAX_CLUSTERED_EMBEDDINGS)."""
    limit = limit or MAX_CLUSTERED_EMBEDDINGS
    if isinstance(pipeline, NativeSpeakerDiarization):
        pipeline.clustering.max_train = limit
        return
    clustering: Any = getattr(pipeline, "clustering", None)  # a pyannote object, untyped
    pick_training = getattr(clustering, "filter_embeddings", None)
    if pick_training is None:  # not a pyannote BaseClustering: nothing quadratic we know of
        return

    @functools.wraps(pick_training)
    def spread(*args: Any, **kwargs: Any) -> Any:
        train, chunks, speakers = pick_training(*args, **kwargs)
        if len(train) <= limit:
            return train, chunks, speakers
        log.debug("diarization: clustering %d of %d speaker embeddings", limit, len(train))
        keep = np.linspace(0, len(train) - 1, limit).round().astype(int)
        return train[keep], chunks[keep], speakers[keep]

    clustering.filter_embeddings = spread


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


class PyannoteDiarizer:
    """The ``Diarizer`` the pipeline module calls: audio in, speaker turns out. A loaded
    pipeline serves any number of recordings; speaker counts come with each call."""

    def __init__(
        self, pipeline: Any, *, name: str, device: str, half: bool = False, span: float = 0.0
    ) -> None:
        self.pipeline = pipeline
        # Recordings longer than ``span`` seconds are diarized span by span (0: never).
        self.span = span
        self.link_threshold = link_threshold(pipeline)
        self.name = name
        self.device = device
        # float16 (the default) on a GPU for the speaker embeddings only, most of the work. The
        # segmentation model stays float32: in float16 real segmentation weights put 2.6-4.5%
        # of frames on the other side of the threshold (bench/production.md).
        if isinstance(pipeline, NativeSpeakerDiarization):  # both of the below built in
            self.half = half and device == "cuda"
            pipeline.embeddings_in_half = lambda: self.half
        elif isinstance(pipeline, BuiltinDiarization):  # its d-vectors: no window frames
            self.half = half and device == "cuda" and _embeddings_in_half(pipeline, self)
        else:
            self.half = half and device == "cuda" and _embeddings_in_half(pipeline, self)
            # One embedding-network pass per window rather than per local speaker (WeSpeaker).
            share_window_frames(pipeline, half=lambda: self.half)
            # Frames to turns by their runs' edges, not a Python step per frame (same turns).
            use_run_edges(pipeline)
        # One recording at a time: several files in flight (or a worker's jobs) share this
        # pipeline, and pyannote's pipelines keep per-call state on the object.
        self._lock = threading.Lock()

    def __call__(
        self,
        audio: np.ndarray,
        *,
        speakers: SpeakerOptions | None = None,
        progress: Progress | None = None,
        steps: dict[str, float] | None = None,
    ) -> list[SpeakerTurn]:
        """``steps`` receives the seconds of pyannote's steps (segmentation, embeddings,
        clustering, turns: see ``_ENDS``), summed over spans."""
        if audio.size == 0:
            return []
        seconds = audio.size / SAMPLE_RATE
        counts = speakers.counts() if speakers else {}
        pieces = spans.cut(seconds, self.span, audio, SAMPLE_RATE)
        clock = _StepClock()
        if len(pieces) == 1:
            output = self._call(audio, counts, progress, 0.0, seconds, clock)
            turns = turns_from_output(output, duration=seconds)
        else:
            turns = self._in_spans(audio, pieces, counts, progress, seconds, clock)
        taken = clock.seconds
        log.info("diarization steps: %s",
                 ", ".join(f"{name} {value:.2f} s" for name, value in taken.items()))  # fmt: skip
        if steps is not None:
            steps.update(taken)
        if progress:
            progress(seconds, seconds)
        return turns

    def _call(
        self, audio: np.ndarray, counts: dict[str, int], progress: Progress | None,
        offset: float, total: float, clock: _StepClock,
    ) -> Any:  # fmt: skip
        """One pipeline call on ``audio``, progress reported from ``offset`` of ``total`` s."""
        import torch

        # pyannote only reads the waveform; sharing the decoder's read-only buffer avoids
        # holding a second copy of a long recording (its warning is filtered out above).
        waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        caught: list[Warning | str] = []
        hook = _hook(progress, audio.size / SAMPLE_RATE, offset, total, clock)
        with self._lock:
            _local.caught = caught  # this thread's warnings, until the call ends
            clock.start()  # after the lock: another file's diarization is not this one's
            try:
                output = self.pipeline(self._file(waveform), hook=hook, **counts)
            finally:
                _local.caught = None
            clock.stop()
        for w in caught:
            message = " ".join(str(w).split())
            if "number of speakers" in message:
                log.warning("diarization: %s", message)
            else:
                log.debug("pyannote warning: %s", message)
        return output

    def _file(self, waveform: Any) -> dict[str, Any]:
        """pyannote's input. On a GPU the waveform is copied to the pipeline's device (with
        several GPUs, this copy's own): pyannote cuts a 10 s window per second of audio in
        each of its two network steps, so cut there the recording crosses the bus once, not
        about twenty times. Made under the lock, so files waiting for it hold no GPU copy."""
        if self.device == "cuda":
            waveform = waveform.to(getattr(self.pipeline, "device", None) or self.device)
        return {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": "audio"}

    def _in_spans(
        self, audio: np.ndarray, pieces: list[tuple[float, float]], counts: dict[str, int],
        progress: Progress | None, seconds: float, clock: _StepClock,
    ) -> list[SpeakerTurn]:  # fmt: skip
        """Each span diarized alone (memory bounded by the span), speakers linked by voice."""
        # A span may hold fewer speakers than the recording: only the upper bound applies.
        top = counts.get("num_speakers") or counts.get("max_speakers")
        each = {"max_speakers": top} if top else {}
        local: list[spans.LocalSpeaker] = []
        turns: list[tuple[int, SpeakerTurn]] = []  # (index into local, turn)
        for k, (start, end) in enumerate(pieces):
            piece = audio[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
            output = self._call(piece, each, progress, start, seconds, clock)
            rows = getattr(output, "speaker_embeddings", None)
            if rows is None:  # legacy or oracle-clustering pipelines: nothing to link by
                log.warning(
                    "diarization: %s gives no speaker embeddings to link spans by; "
                    "diarizing the whole recording in one call", self.name,
                )  # fmt: skip
                output = self._call(audio, counts, progress, 0.0, seconds, clock)
                return turns_from_output(output, duration=seconds)
            found = turns_from_output(output, duration=end - start)
            centroids = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
            talk: dict[str, float] = {}
            for t in found:
                talk[t.speaker] = talk.get(t.speaker, 0.0) + t.end - t.start
            index = {}
            # Only speakers with turns here: one without (overlap only, or clipped away at
            # the end) must not take a place that a given count leaves for real voices.
            for j, label in enumerate(_labels(output)):
                if label in talk:
                    vector = centroids[j] if j < len(centroids) else np.zeros(1)
                    index[label] = len(local)
                    local.append(spans.LocalSpeaker(k, label, vector, talk[label]))
            for t in found:
                if t.speaker not in index:  # a label without a centroid row
                    index[t.speaker] = len(local)
                    local.append(spans.LocalSpeaker(k, t.speaker, np.zeros(1), talk[t.speaker]))
                shifted = SpeakerTurn(
                    start=round(t.start + start, 3), end=round(t.end + start, 3), speaker=""
                )
                turns.append((index[t.speaker], shifted))
            del output, found
            _drop_pages(audio, round(end * SAMPLE_RATE))
        num, low, high = counts.get("num_speakers"), counts.get("min_speakers", 1), math.inf
        if counts.get("max_speakers"):
            high = counts["max_speakers"]
        group = spans.link(local, threshold=self.link_threshold, num=num, low=low, high=high)
        # Speakers named in the order they first talk, as one pipeline call names them.
        turns.sort(key=lambda it: (it[1].start, it[1].end))
        names: dict[int, str] = {}
        for i, _ in turns:
            names.setdefault(group[i], f"SPEAKER_{len(names):02d}")
        found_count = len(names)
        if not (num or low) <= found_count <= (num or high):
            log.warning(
                "diarization: %d speakers found across %d spans, outside the given bounds",
                found_count, len(pieces),
            )  # fmt: skip
        log.debug(
            "diarization: %.0f s in %d spans (span %.0f s); %d local speakers linked into %d",
            seconds, len(pieces), self.span, len(local), found_count,
        )  # fmt: skip
        named = [t.model_copy(update={"speaker": names[group[i]]}) for i, t in turns]
        return _join_at_cuts(named, [start for start, _ in pieces[1:]])


def _join_at_cuts(turns: list[SpeakerTurn], cuts: list[float]) -> list[SpeakerTurn]:
    """One turn, not two, where a speaker talks across a cut (``turns`` in time order)."""
    out: list[SpeakerTurn] = []
    last: dict[str, int] = {}  # each speaker's latest turn in ``out``
    for t in turns:
        i = last.get(t.speaker)
        # Within 0.1 s: a pipeline's frames (17 ms for community-1) need not meet at the cut.
        at_cut = any(abs(t.start - c) <= 0.1 for c in cuts)
        if i is not None and at_cut and abs(out[i].end - t.start) <= 0.1:
            out[i] = out[i].model_copy(update={"end": max(out[i].end, t.end)})
        else:
            last[t.speaker] = len(out)
            out.append(t)
    return out


def _drop_pages(audio: np.ndarray, samples: int) -> None:
    """Let the kernel take back the mapped pages of the first ``samples`` (spans done): a
    memory map's pages stay in the process's resident set once read, so a long recording's
    would add 230 MB per hour. They are the file's; reading them again only faults them in."""
    mapping: Any = getattr(audio, "_mmap", None)  # numpy.memmap's own mmap.mmap
    # Only a read-only map of a whole file, from its start: a view's or an offset map's
    # samples do not start at byte 0, and a private map ("c", "r+") would lose its changes.
    if mapping is None or not isinstance(audio, np.memmap):
        return
    base: Any = audio.base
    if base is not mapping or audio.offset != 0 or audio.mode != "r":
        return
    if not hasattr(mapping, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    size = samples * audio.itemsize // mmap.PAGESIZE * mmap.PAGESIZE
    if size > 0:
        with contextlib.suppress(OSError, ValueError):  # advice only: a refusal changes nothing
            mapping.madvise(mmap.MADV_DONTNEED, 0, min(size, len(mapping)))


def _labels(output: Any) -> list[str]:
    """The labels ``speaker_embeddings`` rows follow: pyannote 4 orders its centroids as
    ``speaker_diarization.labels()`` (sorted)."""
    annotation = getattr(output, "speaker_diarization", output)
    return [str(label) for label in annotation.labels()]


def link_threshold(pipeline: Any) -> float:
    """The distance below which speakers of two spans are one: the pipeline's own (the
    built-in's ``link_threshold``, measured on its dev set), else its clustering threshold
    (pyannote's AHC and VBx join centroids of unit embeddings below it), else pyannote 3.1's."""
    own = getattr(pipeline, "link_threshold", None)
    if own is not None:
        return float(own)
    threshold = getattr(getattr(pipeline, "clustering", None), "threshold", None)
    try:
        return float(threshold)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return PYANNOTE_31_THRESHOLD


def _embeddings_in_half(pipeline: Any, diarizer: PyannoteDiarizer) -> bool:
    """Run the pipeline's embedding model under float16 autocast whenever ``diarizer.half``
    is set, its output back in float32 for the clustering. False when the pipeline has no
    pyannote embedding model to wrap (then everything runs in float32)."""
    import torch

    model = getattr(getattr(pipeline, "_embedding", None), "model_", None)
    if not isinstance(model, torch.nn.Module):
        log.debug("diarization: no embedding model to run in float16; float32 throughout")
        return False
    forward = model.forward

    @functools.wraps(forward)
    def maybe_half(*args: Any, **kwargs: Any) -> Any:
        if not diarizer.half:
            return forward(*args, **kwargs)
        with torch.autocast("cuda", dtype=torch.float16):
            return forward(*args, **kwargs).float()

    model.forward = maybe_half
    return True


def turns_from_output(output: Any, *, duration: float | None = None) -> list[SpeakerTurn]:
    """pyannote 4 returns a ``DiarizeOutput``; legacy pipelines an ``Annotation``.

    The exclusive diarization (at most one speaker at a time) is what words are assigned
    from, as pyannote recommends for transcripts; the RTTM written from it therefore matches
    the labelled words rather than listing overlapped speech twice. Turns are clipped to the
    audio: the last, zero-padded window can reach past the end."""
    annotation = getattr(output, "exclusive_speaker_diarization", None)
    if annotation is None:
        annotation = getattr(output, "speaker_diarization", output)
    end_of_audio = float("inf") if duration is None else duration
    turns = [
        SpeakerTurn(
            start=round(max(seg.start, 0.0), 3),
            end=round(min(seg.end, end_of_audio), 3),
            speaker=str(label),
        )
        for seg, _, label in annotation.itertracks(yield_label=True)
    ]
    return sorted((t for t in turns if t.end > t.start), key=lambda t: (t.start, t.end))


# pyannote's hook names the step that just ended; ours is the time since the one before:
# "embeddings" includes speaker counting, "clustering" the reconstruction of frames from
# the clusters, "turns" what follows (frames to an annotation, exclusive turns).
_ENDS = {"segmentation": "segmentation", "speaker_counting": "embeddings",
         "embeddings": "embeddings", "discrete_diarization": "clustering"}  # fmt: skip


class _StepClock:
    """Seconds per step of pyannote's pipeline calls (summed over a recording's spans)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}  # unrounded: rounded sums would drift
        self._last = 0.0

    @property
    def seconds(self) -> dict[str, float]:
        return {name: round(value, 3) for name, value in self._seconds.items()}

    def start(self) -> None:
        self._last = time.perf_counter()

    def ended(self, step: str) -> None:
        if step in _ENDS:
            self._add(_ENDS[step])

    def stop(self) -> None:
        self._add("turns")

    def _add(self, name: str) -> None:
        now = time.perf_counter()
        self._seconds[name] = self._seconds.get(name, 0.0) + now - self._last
        self._last = now


def _hook(progress: Progress | None, seconds: float, offset: float, length: float,
          clock: _StepClock):  # fmt: skip
    """Turn pyannote's ``hook(step, artefact, file=..., total=..., completed=...)`` calls into
    one ``progress(done, total)`` measured in audio seconds, like the transcription bar. A
    span's call covers ``seconds`` from ``offset`` of the recording's ``length``. Each step's
    end (a call without ``completed``) goes to ``clock``."""
    whole = length or seconds

    def hook(step: str, artefact: Any = None, *, file: Any = None, total=None, completed=None):
        if completed is None:
            clock.ended(step)
        if progress is None or not total or completed is None:
            return
        fraction = min(float(completed) / float(total), 1.0)
        if step == "segmentation":
            done = _SEGMENTATION_SHARE * fraction
        elif step == "embeddings":
            done = _SEGMENTATION_SHARE + _EMBEDDING_SHARE * fraction
        else:
            return
        progress(offset + done * seconds, whole)

    return hook
