"""faster-whisper transcription: load once, transcribe many arrays, emit our Transcript."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from transcriber_cli.engine import vad
from transcriber_cli.engine.ct2_weights import decoder_layers
from transcriber_cli.engine.device import (
    AUTO_LANES,
    auto_batch_size,
    auto_decoder_lanes,
    free_gpu_memory,
    release_torch_cache,
    resolve_device,
)
from transcriber_cli.engine.merged import MergedDecoder
from transcriber_cli.engine.models import (
    ResolvedModel,
    pick_auto_model,
    resolve_model,
    weights_bytes,
)
from transcriber_cli.errors import ModelUnavailable, SetupError, TranscriberError
from transcriber_cli.media import SAMPLE_RATE
from transcriber_cli.options import WhisperOptions
from transcriber_cli.transcript import Segment, Transcript, Word

if TYPE_CHECKING:
    from transcriber_cli.config import Settings

log = logging.getLogger(__name__)

Progress = Callable[[float, float], None]  # (seconds done, seconds total)
CHUNK_SECONDS = vad.CHUNK_SECONDS


class WhisperEngine:
    """A loaded faster-whisper model. Loading is the slow part: do it once per run."""

    def __init__(
        self,
        model: str = "auto",
        *,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        cache_dir=None,
        offline: bool = False,
        device_index: int = 0,
        encoder: str = "auto",
        encoder_meanwhile: bool = True,
        decoder_lanes: int = 0,
        decoder: str = "ctranslate2",
    ) -> None:
        self.cpu_threads = cpu_threads
        self.device_index = device_index  # which GPU (several GPUs: one engine on each)
        self._auto_batch: dict[int, int] = {}  # per beam size
        self._sizing = threading.Lock()  # files in flight pick sizes at once
        self.device, self.compute_type = resolve_device(device, compute_type)
        name = pick_auto_model(self.device) if model == "auto" else model
        # The package before any of its modules (resolve_model's hub download): a thread that
        # starts with a module can be handed it half-initialised while another thread imports
        # the package (pipeline/speech.py).
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.resolved: ResolvedModel = resolve_model(name, cache_dir=cache_dir, offline=offline)

        # The torch encoder is built while CTranslate2 loads, which releases the GIL:
        # importing torch (2-3 s) and reading the weights need not wait for it (without
        # speakers the hour took 17.4 s instead of 20.2-20.9 on an H200). Only beside the
        # built-in diarizer's load, not another's (``encoder_meanwhile``, pipeline/models.py):
        # beside pyannote.audio's import (holding the GIL) the folder was slower in 3 of 3
        # pairs; beside the built-in one, which imports only torch, faster in 4 of 5 pairs.
        building = building_decoder = None
        wanted = encoder == "torch" or (encoder == "auto" and self.device == "cuda")
        # The torch beam search (torch_decoder.py) only when asked for: on an H100 it lost the
        # hour to CTranslate2's (bench/production.md, 2026-12-06, fourth).
        decoder_wanted = decoder == "torch"
        if wanted and encoder_meanwhile:
            building = _Background(_build_torch_encoder, self.resolved.path, self.device,
                                   device_index, self.compute_type)  # fmt: skip
        if decoder_wanted and encoder_meanwhile:
            building_decoder = _Background(_build_torch_decoder, self.resolved.path, self.device,
                                           device_index, self.compute_type,
                                           name="build-decoder")  # fmt: skip
        builders = [b for b in (building, building_decoder) if b is not None]
        # CTranslate2 replicas on one GPU share the weights; each has its own CUDA stream and
        # runs a call while another's beam search does its CPU work between steps (with
        # faster-whisper's 91 suppressed tokens, about 10 ms a step at 64 windows, beam 5:
        # CTranslate2's issue #1566; bench/production.md). On a CPU they would split the cores.
        # Auto (0) loads two replicas and picks the lanes from the memory free before the
        # first call (``batch_size``): the weights and the torch encoder are on the GPU by then.
        self._lanes_unset = decoder_lanes == 0 and self.device == "cuda"
        self._lanes_free: int | None = None  # free memory the auto lanes were picked from
        replicas = AUTO_LANES if self._lanes_unset else max(1, decoder_lanes)
        lanes = replicas if self.device == "cuda" else 1
        load = functools.partial(
            WhisperModel,
            self.resolved.path,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=cpu_threads,
            device_index=device_index if self.device == "cuda" else 0,
            num_workers=lanes,
        )
        try:  # whatever fails, a build in flight is waited for and its GPU memory freed
            self.model = _load_whisper(load, name, self.device, builders)
            if self.device == "cuda":
                from transcriber_cli.engine.features import on_gpu

                self.model.feature_extractor = on_gpu(self.model.feature_extractor, device_index)
            # Which encoder runs: "torch" (fast on a GPU, see torch_encoder.py) or
            # CTranslate2's own, which is also where one that cannot be built falls back to.
            self.encoder = "ctranslate2"
            if wanted:
                self._install_torch_encoder(encoder == "torch", device_index, building)
            # Which beam search runs: the torch one (one copy of each window's audio keys and
            # values for all its beams, torch_decoder.py) or CTranslate2's, which also runs
            # every call the torch one does not do, and word timing and language detection.
            self.decoder = "ctranslate2"
            if decoder_wanted:
                self._install_torch_decoder(device_index, building_decoder)
        except BaseException:
            for builder in builders:
                builder.discard()
            raise
        # Files in flight on this model share its decoder calls (engine/merged.py), each
        # merged call holding up to the batch size the last transcription ran with.
        self.model.model = MergedDecoder(self.model.model, lanes=1 if self._lanes_unset else lanes)
        # A batched pipeline per transcription, not one per engine: it keeps the last word's
        # end on itself (word timing decides from it whether the first word after a pause is
        # shortened), and windows and files in flight transcribe on one engine at once.
        self.batched_pipeline = BatchedInferencePipeline

    def _install_torch_encoder(self, asked: bool, device_index: int,
                               building: _Background | None) -> None:  # fmt: skip
        try:
            from transcriber_cli.engine import torch_encoder
        except Exception as exc:  # a broken torch: CTranslate2's encoder still works
            log.warning("Whisper encoder: CTranslate2's (torch cannot be imported: %s)", exc)
            return
        dtype = torch_encoder.encoder_dtype(self.device, self.model.model.compute_type)
        if torch_encoder.install_torch_encoder(
            self.model, self.resolved.path, device=self.device, device_index=device_index,
            dtype=dtype, asked=asked, built=building.take if building is not None else None,
        ):  # fmt: skip
            self.encoder = "torch"

    def _install_torch_decoder(self, device_index: int, building: _Background | None) -> None:
        try:
            from transcriber_cli.engine import torch_decoder
        except Exception as exc:  # a broken torch: CTranslate2's search still works
            log.warning("Whisper decoder: CTranslate2's (torch cannot be imported: %s)", exc)
            return
        search = torch_decoder.install_torch_decoder(
            self.model.model, self.resolved.path, device=self.device, device_index=device_index,
            compute_type=self.model.model.compute_type,
            built=building.take if building is not None else None,
        )  # fmt: skip
        if search is not None:
            self.model.model = search
            self.decoder = "torch"

    @classmethod
    def from_settings(cls, settings: Settings, *, encoder_meanwhile: bool = True) -> WhisperEngine:
        return cls(
            settings.model,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            cache_dir=settings.model_cache_dir,
            offline=settings.offline,
            device_index=settings.gpu_index,
            encoder=settings.whisper_encoder,
            encoder_meanwhile=encoder_meanwhile,
            decoder_lanes=settings.decoder_lanes,
            decoder=settings.whisper_decoder,
        )

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def decoder_lanes(self) -> int:
        """Decoder calls that run at once (the merged decoder's lanes)."""
        return self.model.model.lanes

    def batch_size(self, options: WhisperOptions) -> int:
        """The batch size a transcription runs with: the one asked for, or for 0 (auto) one
        picked once per loaded model from the GPU's free memory (the CPU's fixed size)."""
        with self._sizing:
            if self._lanes_unset:
                self._pick_lanes(options)
            elif self._lanes_free is not None and self.decoder_lanes > 1:
                self._keep_lanes(options)
            if options.batch_size:
                return options.batch_size
            return self._auto_batch_size(options)

    @functools.cached_property
    def decoder_layers(self) -> int:
        """The decoder's depth (large-v3: 32; turbo: 4), read from the model file's headers."""
        return decoder_layers(self.resolved.path)

    def _weights_bytes(self) -> int:
        return weights_bytes(self.resolved.path)

    def _pick_lanes(self, options: WhisperOptions) -> None:
        """Auto lanes, once: two where each still gets a large batch (``auto_decoder_lanes``)."""
        free = free_gpu_memory(self.device_index)
        lanes = auto_decoder_lanes(
            self.device, self._weights_bytes(), options.beam_size, free, options.batch_size
        )
        self.model.model.set_lanes(lanes)
        self._lanes_unset = False
        self._lanes_free = free
        log.info(
            "decoder lanes %d (auto: %s free)",
            lanes,
            f"{free / 2**30:.1f} GiB" if free is not None else "unknown",
        )

    def _keep_lanes(self, options: WhisperOptions) -> None:
        """A later transcription (a worker's next job) whose batch size or beam needs one
        lane's memory: one lane from now on. Never back to two: a call of the larger batch
        may still run. Calls already in a lane end there; a lane is checked when one starts."""
        assert self._lanes_free is not None
        wanted = auto_decoder_lanes(
            self.device, self._weights_bytes(), options.beam_size, self._lanes_free,
            options.batch_size,
        )  # fmt: skip
        if wanted < self.decoder_lanes:
            self.model.model.set_lanes(wanted)
            self._auto_batch.clear()  # auto batch sizes of one lane: the whole share
            log.info("decoder lanes %d (auto: beam %d, batch %d asked)", wanted,
                     options.beam_size, options.batch_size)  # fmt: skip

    def _auto_batch_size(self, options: WhisperOptions) -> int:
        beam = options.beam_size
        if beam not in self._auto_batch:
            size = self._weights_bytes()
            free = free_gpu_memory(self.device_index) if self.device == "cuda" else None
            lanes = self.decoder_lanes  # each lane's call holds its own batch
            share = free // lanes if free is not None else None
            self._auto_batch[beam] = auto_batch_size(self.device, size, beam, share)
            log.info(
                "batch size %d (auto: %s, beam %d, %s free%s)",
                self._auto_batch[beam],
                self.device,
                beam,
                f"{free / 2**30:.1f} GiB" if free is not None else "unknown",
                f", {share / 2**30:.1f} GiB for each of {lanes} decoder lanes"
                if lanes > 1 and share is not None
                else "",
            )
        return self._auto_batch[beam]

    def transcribe(
        self,
        audio: np.ndarray,
        options: WhisperOptions,
        progress: Progress | None = None,
        *,
        regions: list[vad.Region] | None = None,
    ) -> Transcript:
        """``regions``: the speech in ``audio``, already found (``vad.speech_regions`` with
        this engine's ``cpu_threads``, as here), used by a batched decoding with VAD."""
        with _decoding_errors():
            return self._transcribe(audio, options, progress, regions=regions)

    def warm_up(self, windows: int = 1, tokens: int = 64) -> float:
        """Run one 30 s window of noise through a transcription's GPU steps (features, the
        encoder, beam search under the default options, word timing, and language detection
        on a multilingual model); the seconds it took.

        CTranslate2's PyPI wheel carries GPU code for sm_53 to sm_86 only (and PTX for 8.6),
        so on a Hopper GPU (H100, H200: sm_90) the driver compiles its kernels at their first
        launch, then keeps them in its cache (``~/.nv/ComputeCache``). A worker does that
        before it takes a job, not inside the first one. The batch size and the decoder
        lanes stay for the first transcription to pick."""
        started = time.perf_counter()
        noise = np.random.default_rng(0).normal(0.0, 0.1, windows * CHUNK_SECONDS * SAMPLE_RATE)
        # End-of-text suppressed: the tokens are decoded and timed, whatever the noise is. On
        # an H100, 64 tokens or 128 compiled 1.36 MB more than 4 (15.6 MB), the kernels of
        # longer decodes; 8 windows no more than 1 (bench/production.md, "fifth").
        eot = self.model.hf_tokenizer.token_to_id("<|endoftext|>")
        options = WhisperOptions.model_validate(
            {"vad": False, "max_new_tokens": tokens, "suppress_tokens": (-1, eot)}
        )
        with _decoding_errors():
            self._transcribe(noise.astype(np.float32), options, None, batch_size=max(2, windows))
        if self.device == "cuda":
            release_torch_cache()  # the first transcription sizes its batch from free memory
        return time.perf_counter() - started

    def _transcribe(
        self,
        audio: np.ndarray,
        options: WhisperOptions,
        progress: Progress | None,
        *,
        batch_size: int | None = None,
        regions: list[vad.Region] | None = None,
    ) -> Transcript:
        duration = len(audio) / SAMPLE_RATE
        # The options share faster-whisper's names, except the two that pick the decoding path.
        common = options.model_dump(exclude={"batch_size", "vad"})
        common["suppress_tokens"] = list(options.suppress_tokens)
        batch_size = batch_size or self.batch_size(options)
        self.model.model.limit = batch_size
        if batch_size > 1:
            from faster_whisper.transcribe import restore_speech_timestamps

            found = self._clips(audio, options, regions)
            if found is None:  # nothing to decode
                return self._empty(duration, options)
            speech, clips, regions = found
            raw_segments, info = self.batched_pipeline(self.model).transcribe(
                speech, batch_size=batch_size, vad_filter=False, clip_timestamps=clips, **common
            )
            if regions is not None:
                raw_segments = restore_speech_timestamps(raw_segments, regions, SAMPLE_RATE)
        else:
            raw_segments, info = self.model.transcribe(audio, vad_filter=options.vad, **common)

        segments: list[Segment] = []
        for raw in raw_segments:  # a generator: the work happens while iterating
            words = [
                Word(start=w.start, end=w.end, text=w.word, probability=round(w.probability, 4))
                for w in (raw.words or [])
            ]
            segments.append(
                Segment(
                    id=len(segments),
                    start=raw.start,
                    end=raw.end,
                    text=raw.text.strip(),
                    words=words,
                    avg_logprob=raw.avg_logprob,
                    no_speech_prob=raw.no_speech_prob,
                )
            )
            if progress:
                progress(min(raw.end, duration), duration)
        if progress:
            progress(duration, duration)
        segments.sort(key=lambda s: (s.start, s.end))
        for i, seg in enumerate(segments):
            seg.id = i
        return Transcript(
            language=info.language,
            language_probability=round(info.language_probability, 4),
            duration=round(duration, 3),
            segments=segments,
            model=self.name,
        )

    def _clips(self, audio: np.ndarray, options: WhisperOptions,
               regions: list[vad.Region] | None = None):  # fmt: skip
        """What the batched path decodes: the speech (or the whole audio without VAD), its
        30 s chunks as ``clip_timestamps`` (seconds) and the VAD regions they map back
        through (``regions`` when they were found already); None when VAD finds no speech."""
        if not options.vad:  # fixed 30 s windows
            duration = len(audio) / SAMPLE_RATE
            clips = [
                {"start": float(s), "end": float(min(s + CHUNK_SECONDS, duration))}
                for s in np.arange(0, duration, CHUNK_SECONDS)
            ]
            return audio, clips, None
        if regions is None:
            regions = vad.speech_regions(audio, self.cpu_threads)  # every core (theirs: one)
        if not regions:
            return None
        return (*vad.speech_only(audio, regions), regions)

    @property
    def multilingual(self) -> bool:
        """Whether the model detects a language (an English-only one says "en")."""
        return bool(self.model.model.is_multilingual)

    def detect_language(
        self,
        audio: np.ndarray,
        options: WhisperOptions,
        *,
        regions: list[vad.Region] | None = None,
    ) -> tuple[str, float] | None:
        """The language, and its probability, that a batched transcription of ``audio``
        would detect, without decoding it: faster-whisper's batched pipeline detects it from
        the features of its first speech chunks, computed the same way here (the same VAD,
        chunks, feature extractor and encoder; its default threshold and one 30 s segment).
        None when there is no speech. Windows spread over several devices, or over one GPU's
        decoder lanes, need the language before any of them starts: the first window no
        longer runs alone to find it while the others wait (on an H200 with large-v3 that
        window took 3.2-3.9 s; on an H100 with two lanes 2.9 s). ``regions``: as for
        ``transcribe``."""
        if options.language:
            return options.language, 1.0
        if not self.multilingual:
            return "en", 1.0  # as the pipeline says for an English-only model
        found = self._clips(audio, options, regions)
        if found is None:
            return None
        speech, clips, _ = found
        with _decoding_errors():  # it can be the model's first GPU call
            return self._detect(speech, clips)

    def _detect(self, speech: np.ndarray, clips: list[dict]) -> tuple[str, float]:
        extract = self.model.feature_extractor
        features, frames = [], 0
        for clip in clips:  # only the chunks the detection reads: the first 30 s of them
            piece = speech[int(clip["start"] * SAMPLE_RATE) : int(clip["end"] * SAMPLE_RATE)]
            features.append(extract(piece)[..., :-1])
            frames += features[-1].shape[-1]
            if frames >= extract.nb_max_frames:
                break
        features.append(np.full((self.model.model.n_mels, 1), -1.5, dtype="float32"))
        language, probability, _ = self.model.detect_language(
            features=np.concatenate(features, axis=1)
        )
        return language, round(probability, 4)

    def _empty(self, duration: float, options: WhisperOptions) -> Transcript:
        """No speech was found. An English-only model, or a language given, still names it;
        a multilingual model has nothing to detect a language from."""
        language = options.language or (None if self.model.model.is_multilingual else "en")
        return Transcript(
            language=language,
            language_probability=1.0 if language else 0.0,
            duration=round(duration, 3),
            segments=[],
            model=self.name,
        )


@contextlib.contextmanager
def _decoding_errors() -> Iterator[None]:
    """CTranslate2's errors while decoding, said plainly."""
    try:
        yield
    except ValueError as exc:  # e.g. prompt + --max-new-tokens past Whisper's 448 tokens
        raise TranscriberError(f"cannot decode with these options: {exc}") from None
    except RuntimeError as exc:
        # CTranslate2 loads cuBLAS lazily: a missing CUDA library shows up at the first GEMM
        # (a decoding or a language detection), not when the model loads. No file can
        # succeed: stop the run.
        text = str(exc)
        if "libcublas" in text or "libcudnn" in text or "cannot be loaded" in text:
            raise ModelUnavailable(
                f"CTranslate2 cannot use the GPU: {text}",
                hint="run 'transcriber doctor' for the fix; see docs/gpu.md",
            ) from None
        if "out of memory" in text.lower():
            raise TranscriberError(
                f"GPU out of memory ({text})", hint="lower --batch-size or use a smaller model"
            ) from None
        raise


def _load_whisper(load: Callable, name: str, device: str, builders: list[_Background]):
    """CTranslate2's load, its errors said plainly. One that fails while the torch encoder
    or decoder is being built is tried once more without them: a build may have taken the
    memory the load needed (a small GPU); they are then built after the load, or fall back."""
    try:
        try:
            return load()
        except RuntimeError:
            if not builders:
                raise
            for builder in builders:  # its take() now gives nothing: built after the load
                builder.discard()
            return load()
    except ValueError as exc:  # e.g. float16 asked for on a CPU
        raise SetupError(f"cannot load model {name!r}: {exc}") from None
    except RuntimeError as exc:
        raise ModelUnavailable(
            f"cannot load model {name!r} on {device}: {exc}",
            hint="run 'transcriber doctor'; see docs/gpu.md" if device == "cuda" else None,
        ) from None


def _build_torch_encoder(model_dir: str, device: str, device_index: int, compute_type: str):
    """The torch encoder for the compute type asked for (``install_torch_encoder`` builds
    it again if CTranslate2 settles on another), its first GPU call made here: this runs
    while CTranslate2 loads, and what a first call loads (cuBLAS, cuDNN, cuFFT for the
    log-Mel features on the GPU) would otherwise come after that load."""
    import torch  # here, beside CTranslate2's load (2-3 s)

    from transcriber_cli.engine import features, torch_encoder

    dtype = torch_encoder.encoder_dtype(device, compute_type)
    encoder = torch_encoder.build_on(model_dir, device=device, device_index=device_index,
                                     dtype=dtype)  # fmt: skip
    try:
        torch_encoder.warm_up(encoder)
        if encoder.device.type == "cuda":
            # On the encoder's stream: its wait is then not for the diarizer's work, which
            # the diarizer's thread queues on the device's default stream meanwhile.
            with torch.cuda.stream(encoder.stream()):
                features.warm_up(str(encoder.device))
    except Exception as exc:  # e.g. out of memory beside the load: the check window decides
        log.debug("the GPU's first calls failed during the model load: %s", exc)
        release_torch_cache()
    return encoder


def _build_torch_decoder(model_dir: str, device: str, device_index: int, compute_type: str):
    """The torch decoder for the compute type asked for (``install_torch_decoder`` builds
    it again if CTranslate2 settles on another)."""
    from transcriber_cli.engine import torch_decoder  # imports torch

    return torch_decoder.build_on(model_dir, device=device, device_index=device_index,
                                  compute_type=compute_type)  # fmt: skip


class _Background(threading.Thread):
    """``fn(*args)`` on a thread of its own; ``take()`` waits and hands the result over once
    (or raises its error), so nothing here keeps a GPU model alive after that."""

    def __init__(self, fn: Callable, *args: object, name: str = "build-encoder") -> None:
        super().__init__(name=name, daemon=True)
        self._call: Callable | None = functools.partial(fn, *args)
        self._value: object = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        assert self._call is not None
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to take()
            self._error = exc
        self._call = None

    def take(self):
        """The result, or None after ``discard()``."""
        self.join()
        value, error = self._value, self._error
        self._value = self._error = None
        if error is not None:
            raise error
        return value

    def discard(self) -> None:
        """Wait for a result nobody will use, and hand its GPU memory back."""
        self.join()
        self._value = self._error = None
        release_torch_cache()
