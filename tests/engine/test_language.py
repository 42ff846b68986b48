"""The language detected before any window starts (``WhisperEngine.detect_language``), on a
real multilingual model: tiny.en's weights with one more vocabulary entry (an empty one),
which CTranslate2 4.8 takes as a multilingual vocabulary, so detection really runs (tiny.en
alone is English-only and detects nothing). Its language tokens' embeddings get a little
seeded noise: without it every language scores the same whatever the input, and a wrong
feature would go unseen. The languages found mean nothing, but each must be the one
faster-whisper's batched pipeline detects itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.tokenizer import _LANGUAGE_CODES

from tests.engine.test_torch_encoder import read_all_variables, write_model_bin
from tests.helpers import no_speakers
from transcriber_cli import media
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.options import WhisperOptions
from transcriber_cli.pipeline.flow import transcribe_audio
from transcriber_cli.pipeline.models import LoadedModels
from transcriber_cli.pipeline.windows import next_cut


@pytest.fixture(scope="module")
def multilingual(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    model = tmp_path_factory.mktemp("multilingual")
    shutil.copytree(tiny_model, model, dirs_exist_ok=True)  # config, tokenizer
    # Only the language tokens faster-whisper knows (tiny.en's vocabulary lists some under
    # old codes, such as "iw"): CTranslate2 scores those named in the config.
    config = json.loads(Path(tiny_model, "config.json").read_text())
    tokens = Path(tiny_model, "vocabulary.txt").read_text().splitlines()
    config["lang_ids"] = [i for i in config["lang_ids"] if tokens[i][2:-2] in _LANGUAGE_CODES]
    (model / "config.json").write_text(json.dumps(config))
    variables = dict(read_all_variables(tiny_model))
    embeddings = variables["decoder/embeddings/weight"].astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 0.05, (len(config["lang_ids"]), embeddings.shape[1]))
    embeddings[config["lang_ids"]] += noise
    variables["decoder/embeddings/weight"] = np.concatenate([embeddings, embeddings[-1:]])
    variables["decoder/embeddings/weight"] = variables["decoder/embeddings/weight"].astype(
        np.float16
    )
    write_model_bin(model / "model.bin", variables,
                    {"decoder/projection/weight": "decoder/embeddings/weight"})  # fmt: skip
    with open(model / "vocabulary.txt", "a") as vocabulary:
        vocabulary.write("\n")
    return str(model)


@pytest.fixture(scope="module")
def engine(multilingual: str) -> WhisperEngine:
    found = WhisperEngine(multilingual, device="cpu", compute_type="int8", cpu_threads=1)
    assert found.model.model.is_multilingual
    return found


def test_the_language_detected_alone_is_the_one_its_transcription_detects(
    engine: WhisperEngine, conversation: dict
) -> None:
    audio = media.decode_audio(Path(conversation["path"]))  # 33 s
    second = 16 * media.SAMPLE_RATE
    detected = set()
    for part, options in (
        (audio, WhisperOptions()),  # over 30 s of speech: the first chunks only
        (audio[: 20 * media.SAMPLE_RATE], WhisperOptions()),
        (audio[second:], WhisperOptions()),
        (audio, WhisperOptions(vad=False)),  # fixed 30 s windows
    ):
        found = engine.detect_language(part, options)
        transcript = engine.transcribe(part, options)
        assert found is not None and found == (transcript.language,
                                               transcript.language_probability)  # fmt: skip
        assert transcript.segments and 0 < found[1] <= 1
        detected.add(found)
    assert len(detected) >= 3  # it depends on what it hears
    silence = np.zeros(5 * media.SAMPLE_RATE, np.float32)
    assert engine.detect_language(silence, WhisperOptions()) is None  # nothing to detect from
    assert engine.detect_language(audio, WhisperOptions(language="de")) == ("de", 1.0)


def test_windows_over_two_devices_get_the_language_one_device_detects(
    engine: WhisperEngine, multilingual: str, conversation: dict
) -> None:
    """Detected before the windows start, then given to both: the same language, its
    probability and the same segments as one device, whose first window detects it."""
    audio = media.decode_audio(Path(conversation["path"]))
    first = next_cut(audio, 0.0, 20)
    assert next_cut(audio, first, 20) == pytest.approx(len(audio) / media.SAMPLE_RATE)
    second = WhisperEngine(multilingual, device="cpu", compute_type="int8", cpu_threads=1)
    models = LoadedModels(engine, no_speakers())
    runs = [
        transcribe_audio(audio, models, WhisperOptions(), window_seconds=20, helpers=helpers)
        for helpers in ([], [second])
    ]

    def said(transcript) -> list[tuple[str, float, float]]:
        return [(s.text, s.start, s.end) for s in transcript.segments]

    assert runs[0].language and runs[0].language_probability
    assert (runs[1].language, runs[1].language_probability) == (
        runs[0].language,
        runs[0].language_probability,
    )
    assert said(runs[1]) == said(runs[0]) and said(runs[0])


def test_a_missing_cuda_library_found_by_the_detection_stops_the_run_with_one_line(
    engine: WhisperEngine, conversation: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the torch encoder, the detection can be CTranslate2's first GPU call: where cuBLAS
    is missing it fails there, and says so as a transcription does."""
    from transcriber_cli.errors import ModelUnavailable

    def no_cublas(*args, **kwargs):
        raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")

    monkeypatch.setattr(engine.model, "detect_language", no_cublas)  # the library's failure
    audio = media.decode_audio(Path(conversation["path"]))
    with pytest.raises(ModelUnavailable, match="transcriber doctor"):
        engine.detect_language(audio, WhisperOptions())
