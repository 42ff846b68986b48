"""The batched path as a GPU runs it, checked on the CPU: speech found on several threads,
auto batch size, the decoding options users ask for, and what --json says about the run."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.vad import get_speech_timestamps

from tests.conftest import json_lines, run_cli
from tests.helpers import wer
from transcriber_cli import media
from transcriber_cli.engine import vad
from transcriber_cli.engine.device import (
    AUTO_BATCH_CPU,
    AUTO_BATCH_MAX,
    auto_batch_size,
    auto_decoder_lanes,
    planned_batch_size,
)
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.options import WhisperOptions

GIB = 1 << 30


@pytest.fixture(scope="module")
def looped_audio(looped_media) -> np.ndarray:
    return media.decode_audio(looped_media(8))  # 265 s of two voices


@pytest.fixture(scope="module")
def engine(tiny_model: str) -> WhisperEngine:
    return WhisperEngine(tiny_model, device="cpu", compute_type="int8")


def test_speech_found_on_four_threads_is_what_one_pass_finds(looped_audio) -> None:
    one = get_speech_timestamps(looped_audio, vad._vad_options())
    four = vad.speech_regions(looped_audio, workers=4)
    assert len(four) == len(one) > 40
    cuts = [len(looped_audio) * i // 4 for i in (1, 2, 3)]
    for a, b in zip(one, four, strict=True):
        near_cut = any(abs(a["start"] - c) < 16000 or abs(a["end"] - c) < 16000 for c in cuts)
        tolerance = 0.5 if near_cut else 0.1  # seconds; the model's state restarts at a cut
        assert abs(a["start"] - b["start"]) / 16000 <= tolerance
        assert abs(a["end"] - b["end"]) / 16000 <= tolerance
    assert all(r["end"] - r["start"] <= 30 * 16000 for r in four)


def test_batched_transcript_is_what_faster_whispers_own_vad_path_gives(
    engine: WhisperEngine, looped_audio, conversation: dict
) -> None:
    from faster_whisper import BatchedInferencePipeline

    own, _ = BatchedInferencePipeline(engine.model).transcribe(
        looped_audio, batch_size=8, word_timestamps=True, vad_filter=True
    )
    own = list(own)
    ours = engine.transcribe(looped_audio, WhisperOptions(batch_size=8))
    # The same chunks of speech, found on two threads: the same words at the same times
    # (a comma may differ where a region edge moved by a frame or two).
    assert wer(" ".join(s.text for s in own), ours.text) < 0.01
    assert len(ours.segments) == len(own)
    for a, b in zip(own, ours.segments, strict=True):
        assert abs(a.start - b.start) <= 0.1 and abs(a.end - b.end) <= 0.1
    script = " ".join(t["text"] for t in conversation["turns"])
    assert wer(" ".join([script] * 8), ours.text) < 0.1


def test_no_speech_is_an_empty_transcript(engine: WhisperEngine) -> None:
    silence = np.zeros(70 * media.SAMPLE_RATE, dtype=np.float32)
    out = engine.transcribe(silence, WhisperOptions(batch_size=8))
    assert out.segments == [] and out.language == "en" and out.duration == 70.0


def test_auto_batch_size_follows_free_memory() -> None:
    large_v3 = 3_087_000_000  # bytes of model.bin in float16
    assert auto_batch_size("cpu", large_v3, 5, None) == AUTO_BATCH_CPU
    assert auto_batch_size("cuda", large_v3, 5, None) == AUTO_BATCH_CPU  # torch cannot tell
    assert auto_batch_size("cuda", large_v3, 5, 130 * GIB) == AUTO_BATCH_MAX  # an H200
    assert auto_batch_size("cuda", large_v3, 5, 24 * GIB) == 32
    assert auto_batch_size("cuda", large_v3, 5, 5 * GIB) == 4  # a laptop GPU after loading
    assert auto_batch_size("cuda", large_v3, 5, 1 * GIB) == 1
    # Wider beams cost more per row; a small model fits more rows.
    assert auto_batch_size("cuda", large_v3, 10, 5 * GIB) == 2
    assert auto_batch_size("cuda", 75_000_000, 5, 5 * GIB) == 32  # 64 MiB a row at least


def test_auto_decoder_lanes_are_two_only_where_each_keeps_a_large_batch() -> None:
    large_v3, h100_free = 3_087_000_000, 70 * GIB  # free after the model and diarizer load
    assert auto_decoder_lanes("cuda", large_v3, 5, h100_free) == 2  # 2 x 32 (measured)
    assert auto_batch_size("cuda", large_v3, 5, h100_free // 2) == 32
    assert auto_decoder_lanes("cuda", large_v3, 5, 40 * GIB) == 1  # 2 x 16: not measured
    assert auto_decoder_lanes("cuda", large_v3, 5, 24 * GIB) == 1  # a 24 GB card
    assert auto_decoder_lanes("cuda", large_v3, 5, h100_free, batch_size=64) == 1  # 2 x 64
    assert auto_decoder_lanes("cuda", large_v3, 5, h100_free, batch_size=16) == 2
    assert auto_decoder_lanes("cuda", large_v3, 10, h100_free) == 1  # wider beams, fewer rows
    assert auto_decoder_lanes("cuda", large_v3, 5, None) == 1  # torch cannot tell
    assert auto_decoder_lanes("cpu", large_v3, 5, h100_free) == 1


def test_the_batch_planned_before_the_load_is_the_one_picked_after_it() -> None:
    """A local run cuts its windows while the models load, from the memory free before the
    weights are on the GPU; the engine picks its batch from what is free after (engine/
    gpus.py: the windows are as long as a full call's speech)."""
    large_v3, turbo = 3_087_000_000, 1_617_000_000
    h100, h200 = 79 * GIB, 139 * GIB  # free before the load
    for weights, free in [(large_v3, h100), (large_v3, h200), (turbo, h100), (large_v3, 23 * GIB)]:
        after = free - weights - 3 * GIB  # the weights, the torch encoder and the diarizer
        lanes = auto_decoder_lanes("cuda", weights, 5, after)
        picked = auto_batch_size("cuda", weights, 5, after // lanes)
        assert planned_batch_size(weights, 5, free) == picked, (weights, free)
    assert planned_batch_size(large_v3, 5, h100) == 32 and planned_batch_size(turbo, 5, h100) == 64
    assert planned_batch_size(large_v3, 5, h100, batch_size=8) == 8  # asked for
    assert planned_batch_size(large_v3, 5, h100, decoder_lanes=1) == 64  # one lane: the whole


def test_decoding_options_reach_whisper(make_media, tmp_path) -> None:
    """--max-new-tokens caps each 30 s chunk; --suppress-tokens keeps ids out of the text."""
    src = make_media("options.wav", "-ar", "16000", "-ac", "1")
    free = run_cli(str(src), "-o", str(tmp_path / "free"), "-f", "txt", "--no-diarize")
    assert free.returncode == 0, free.stderr
    text = (tmp_path / "free" / "options.txt").read_text()
    assert " the " in f" {text.lower()} " and len(text.split()) > 60
    # tiny.en token ids: 262 " the", 383 " The"
    capped = run_cli(str(src), "-o", str(tmp_path / "capped"), "-f", "txt", "--no-diarize",
                     "--max-new-tokens", "6", "--suppress-tokens=-1,262,383")  # fmt: skip
    assert capped.returncode == 0, capped.stderr
    text = (tmp_path / "capped" / "options.txt").read_text()
    assert 0 < len(text.split()) <= 2 * 6  # two chunks of at most 6 tokens each
    assert " the " not in f" {text.lower()} "
    bad = run_cli(str(src), "--suppress-tokens", "the")
    assert bad.returncode == 2 and "suppress_tokens" in bad.stderr
    too_many = run_cli(str(src), "--max-new-tokens", "445")  # Whisper holds 448 with the prompt
    assert too_many.returncode == 2 and "max_new_tokens" in too_many.stderr
    # Allowed alone, but no room beside a long prompt: one line for the file, no traceback.
    prompt = " ".join(["budget schedule report"] * 40)
    no_room = run_cli(str(src), "-o", str(tmp_path / "no-room"), "--no-diarize",
                      "--max-new-tokens", "440", "--initial-prompt", prompt)  # fmt: skip
    assert no_room.returncode == 1, no_room.stderr
    assert "Traceback" not in no_room.stderr and "options.wav" in no_room.stderr
    assert not (tmp_path / "no-room").exists() or not any((tmp_path / "no-room").iterdir())


def test_json_says_how_the_file_was_transcribed(make_media, tmp_path) -> None:
    src = make_media("runtime.wav", "-ar", "16000", "-ac", "1")
    proc = run_cli(str(src), "-o", str(tmp_path), "-f", "json", "--no-diarize", "--json")
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    runtime = line["runtime"]
    assert (runtime["device"], runtime["compute_type"], runtime["batch_size"]) == (
        "cpu", "int8", AUTO_BATCH_CPU)  # fmt: skip
    assert runtime["encoder"] == "ctranslate2"  # auto on a CPU
    assert {"decode", "load", "transcribe", "write"} <= set(runtime["stages"])
    assert all(v >= 0 for v in runtime["stages"].values())
    assert runtime["stages"]["transcribe"] > 0


def test_torch_features_are_faster_whispers(looped_audio) -> None:
    """The GPU's feature extractor, run here on the CPU: the same numbers (float32 noise)."""
    from faster_whisper.feature_extractor import FeatureExtractor

    from transcriber_cli.engine.features import TorchFeatureExtractor

    for mels in (80, 128):  # tiny ... large-v2, large-v3 and turbo
        numpy_version = FeatureExtractor(feature_size=mels)
        torch_version = TorchFeatureExtractor(numpy_version, device="cpu")
        for piece in (looped_audio[: 30 * 16000], looped_audio[5000:17345], looped_audio):
            expected, got = numpy_version(piece), torch_version(piece)
            assert got.shape == expected.shape and got.dtype == np.float32
            assert np.abs(got - expected).max() < 1e-3
        assert torch_version(looped_audio[:1000], padding=0).shape == numpy_version(
            looped_audio[:1000], padding=0).shape  # fmt: skip
        # Silence cut to nothing (sequential decoding's VAD can hand over an empty array)
        for tiny in (np.zeros(0, np.float32), looped_audio[:30]):
            assert np.abs(torch_version(tiny) - numpy_version(tiny)).max() < 1e-3


def test_a_transcription_beside_another_on_one_engine_gets_its_own_word_times(
    engine: WhisperEngine, looped_audio
) -> None:
    """Windows (and files) in flight share one engine. faster-whisper's batched pipeline keeps
    the last word's end on itself, and word timing shortens the first word after a pause by
    it: a transcription paused mid-way (here in its progress callback, after its batch) must
    not lend its time to another one running meanwhile."""
    import threading

    pause = np.zeros(3 * 16000, np.float32)  # the first word comes after silence
    short = np.concatenate([pause, looped_audio[: 12 * 16000]])
    options = WhisperOptions(batch_size=8, vad=False)
    alone = engine.transcribe(short, options)
    assert alone.words()[0].start > 1.0  # shortened to after the pause: the case at stake
    inside, go_on = threading.Event(), threading.Event()

    def held(done: float, total: float) -> None:
        inside.set()
        go_on.wait(30)

    other = threading.Thread(
        target=engine.transcribe, args=(looped_audio[: 60 * 16000], options, held)
    )
    other.start()
    try:
        assert inside.wait(60)  # the other one decoded its batch and stands in its callback
        beside = engine.transcribe(short, options)
    finally:
        go_on.set()
        other.join()
    assert [(w.text, w.start, w.end) for w in beside.words()] == [
        (w.text, w.start, w.end) for w in alone.words()
    ]


class _Calls:
    """CTranslate2's model, its calls counted (the warm-up's work is seen, not assumed)."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, []

    def __getattr__(self, name: str):
        attr = getattr(self.model, name)
        if name not in ("generate", "align", "encode", "detect_language"):
            return attr

        def call(*args, **kwargs):
            result = attr(*args, **kwargs)
            self.calls.append((name, result))
            return result

        return call


def test_the_warm_up_decodes_and_times_words_and_changes_no_later_transcript(
    tiny_model: str, engine: WhisperEngine, looped_audio
) -> None:
    fresh = WhisperEngine(tiny_model, device="cpu", compute_type="int8")
    counted = _Calls(fresh.model.model.model)
    fresh.model.model.model = counted
    assert fresh.warm_up() > 0
    steps = [name for name, _ in counted.calls]
    assert "encode" in steps and "generate" in steps and "align" in steps
    generated = next(result for name, result in counted.calls if name == "generate")
    # one window, end-of-text suppressed: decoded until CTranslate2 stops it, at half its
    # max_length (64 new tokens and the prompt) when no end-of-text comes
    assert len(generated) == 1 and len(generated[0].sequences_ids[0]) >= 30
    assert fresh._auto_batch == {}  # the batch size is the first transcription's to pick
    minute = looped_audio[: 60 * media.SAMPLE_RATE]
    after = fresh.transcribe(minute, WhisperOptions())
    alone = engine.transcribe(minute, WhisperOptions())
    assert [(w.text, w.start, w.end) for w in after.words()] == [
        (w.text, w.start, w.end) for w in alone.words()
    ]


def test_a_cpu_worker_warms_nothing_up_and_leaves_the_load_to_its_first_job() -> None:
    from transcriber_cli.config import Settings
    from transcriber_cli.pipeline.models import ModelCache

    models = ModelCache()
    assert models.warm_up(Settings(device="cpu", model="tiny.en")) is None
    assert models._engine is None  # nothing loaded: on a CPU nothing is compiled
