"""Whisper's beam search in torch (``whisper_decoder = "torch"``), checked on the CPU in
float32 against CTranslate2's own search on the same encoder output: the same tokens, scores
and no-speech probabilities under faster-whisper's options, a forced length, an early exit and
a patience; CTranslate2's search for what it does not do; the same transcript through the
real engine and CLI; CTranslate2's search kept when the torch one cannot start."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from faster_whisper import WhisperModel
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from tests.conftest import json_lines, run_cli
from tests.helpers import assert_same_words
from transcriber_cli.engine.torch_decoder import (
    TorchSearch,
    Unsupported,
    WhisperTorchDecoder,
    build_on,
    install_torch_decoder,
)
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.options import WhisperOptions

# Measured on tiny.en, float32, the conversation's windows on a 2-core AMD EPYC: scores
# within 3e-5 of CTranslate2's when divided by the length, 1.2e-3 of -10.04 undivided (each
# adds up to a hundred log-probabilities, rounded by other kernels), the no-speech
# probabilities within 1e-6.
SCORE = 1e-3  # relative to the score, at least 1
NO_SPEECH = 1e-4


@pytest.fixture(scope="module")
def ct2(tiny_model: str) -> WhisperModel:
    return WhisperModel(tiny_model, device="cpu", compute_type="float32", cpu_threads=2)


@pytest.fixture(scope="module")
def decoder(tiny_model: str) -> WhisperTorchDecoder:
    return build_on(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def encoded(ct2: WhisperModel, conversation_audio: np.ndarray):
    """Four 30 s windows of the conversation (15 s apart; the last mostly padding) through
    CTranslate2's float32 encoder: the encoder output both searches get."""
    features = FeatureExtractor(feature_size=80)(conversation_audio)
    starts = [0, 1500, 3000, max(0, features.shape[1] - 1000)]
    windows = [features[:, s : s + 3000] for s in starts]
    windows = [np.pad(w, ((0, 0), (0, 3000 - w.shape[1]))) for w in windows]
    return ct2.encode(np.ascontiguousarray(np.stack(windows), dtype=np.float32))


@pytest.fixture(scope="module")
def tokenizer(ct2: WhisperModel) -> Tokenizer:
    return Tokenizer(ct2.hf_tokenizer, False, task="transcribe", language="en")


def faster_whisper_options(tokenizer: Tokenizer, max_length: int = 448, **changes) -> dict:
    """What BatchedInferencePipeline.generate_segment_batched passes CTranslate2."""
    return {
        "beam_size": 5, "patience": 1.0, "length_penalty": 1.0, "max_length": max_length,
        "suppress_blank": True, "suppress_tokens": get_suppressed_tokens(tokenizer, [-1]),
        "return_scores": True, "return_no_speech_prob": True, "sampling_temperature": 0.0,
        "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, **changes,
    }  # fmt: skip


def assert_same_results(ours: list, theirs: list, scores: bool = True) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.sequences_ids == b.sequences_ids
        if scores:
            assert len(a.scores) == len(b.scores) == 1
            # relative: without a length penalty a score is the sum itself (about -10 here)
            assert abs(a.scores[0] - b.scores[0]) < SCORE * max(1.0, abs(b.scores[0])), (
                a.scores,
                b.scores,
            )
        assert abs(a.no_speech_prob - b.no_speech_prob) < NO_SPEECH


@pytest.mark.parametrize(
    "changes",
    [
        {},  # faster-whisper's batched options
        {"suppress_tokens": [-1, 50256], "max_length": 2 + 80},  # end-of-text never comes
        {"beam_size": 3, "patience": 2.0, "length_penalty": 0.0},  # the early exit
        {"beam_size": 3, "patience": 1.5},  # 5 hypotheses a window (4.5 rounded up)
        {
            "beam_size": 2,
            "suppress_blank": False,
            "suppress_tokens": [],
            "return_no_speech_prob": False,
        },
    ],
    ids=["faster-whisper", "forced-length", "early-exit", "patience", "bare"],
)
def test_the_same_search_as_ctranslate2(ct2, decoder, encoded, tokenizer, changes) -> None:
    prompt = ct2.get_prompt(tokenizer, [], without_timestamps=True)
    options = faster_whisper_options(tokenizer, **changes)
    theirs = ct2.model.generate(encoded, [prompt] * 4, **options)
    ours = decoder.generate(encoded, [prompt] * 4, **options)
    assert_same_results(ours, theirs)
    lengths = [len(r.sequences_ids[0]) for r in ours]
    if "max_length" in changes:  # CTranslate2 stops at half the total length
        assert lengths == [(2 + 80) // 2] * 4
    else:  # real speech: windows of different lengths, each ended by end-of-text
        assert max(lengths) > 40 and len(set(lengths)) >= 3, lengths
    assert any(r.no_speech_prob > 0.01 for r in theirs) or not options["return_no_speech_prob"]


def test_a_prompt_with_earlier_text(ct2, decoder, encoded, tokenizer) -> None:
    """Previous text before <|startoftranscript|> (faster-whisper's initial prompt): run in
    the prompt's pass, the no-speech probability read at the start of transcript."""
    previous = tokenizer.encode(" A conversation about the weather.")
    prompt = ct2.get_prompt(tokenizer, previous, without_timestamps=True)
    assert prompt.index(tokenizer.sot) > 3
    options = faster_whisper_options(tokenizer)
    assert_same_results(decoder.generate(encoded, [prompt] * 4, **options),
                        ct2.model.generate(encoded, [prompt] * 4, **options))  # fmt: skip


def test_hypotheses_a_window_ends_with_are_ctranslate2s() -> None:
    """``std::round(float(beam) * patience)``: float32, halves up, where Python's round()
    takes them to even (4.5 -> 4)."""
    from transcriber_cli.engine.torch_decoder import _most

    cases = {(3, 1.5): 5, (5, 0.5): 3, (5, 1.3): 7, (4, 1.125): 5, (5, 2.5): 13, (5, 1.0): 5}
    assert {case: _most(case[0], {"patience": case[1]}) for case in cases} == cases


@pytest.mark.parametrize(
    "changes",
    [{"patience": 0.0}, {"patience": 0.05}, {"max_length": 1}],
    ids=["no-patience", "no-hypothesis", "no-step"],
)
def test_options_ctranslate2_refuses_are_refused_by_it(ct2, decoder, encoded, tokenizer,
                                                         changes) -> None:  # fmt: skip
    """Not answered here: CTranslate2 says what is wrong with them."""
    prompt = ct2.get_prompt(tokenizer, [], without_timestamps=True)
    options = faster_whisper_options(tokenizer, **changes)
    with pytest.raises(Unsupported):
        decoder.generate(encoded, [prompt] * 4, **options)
    with pytest.raises(ValueError) as theirs:
        TorchSearch(ct2.model, decoder).generate(encoded, [prompt] * 4, **options)
    assert not isinstance(theirs.value, Unsupported)


@pytest.mark.parametrize(
    "why",
    ["greedy", "sampling", "timestamps", "prefix", "repetition", "hypotheses"],
)
def test_what_it_does_not_do_runs_ctranslate2s_search(ct2, decoder, encoded, tokenizer, why):
    prompt = ct2.get_prompt(tokenizer, [], without_timestamps=True)
    options = faster_whisper_options(tokenizer, max_length=60)
    if why == "greedy":
        options["beam_size"] = 1
    elif why == "sampling":
        options.update(sampling_topk=0, sampling_temperature=0.5)
    elif why == "timestamps":
        prompt = ct2.get_prompt(tokenizer, [], without_timestamps=False)
    elif why == "prefix":
        prompt = ct2.get_prompt(tokenizer, [], without_timestamps=True, prefix=" Hello")
    elif why == "repetition":
        options["repetition_penalty"] = 1.5
    else:
        options["num_hypotheses"] = 2
    with pytest.raises(Unsupported):
        decoder.generate(encoded, [prompt] * 4, **options)
    search = TorchSearch(ct2.model, decoder)
    ours = search.generate(encoded, [prompt] * 4, **options)
    assert search.calls == {"torch": 0, "ctranslate2": 1}
    if why == "sampling":  # random: only the shape can be compared
        assert len(ours) == 4 and all(r.sequences_ids[0] for r in ours)
        return
    theirs = ct2.model.generate(encoded, [prompt] * 4, **options)
    assert [r.sequences_ids for r in ours] == [r.sequences_ids for r in theirs]
    assert search.is_multilingual is False  # everything else is CTranslate2's model


def test_calls_from_several_threads(ct2, decoder, encoded, tokenizer) -> None:
    """Decoder lanes call it from two threads at once: each call keeps its own state."""
    prompt = ct2.get_prompt(tokenizer, [], without_timestamps=True)
    options = faster_whisper_options(tokenizer)
    alone = [decoder.generate(encoded, [prompt] * 4, **options)[i].sequences_ids for i in (0, 2)]
    results: dict[int, list] = {}

    def one(i: int) -> None:
        window = torch.from_numpy(np.array(encoded)[i : i + 1])
        results[i] = decoder.generate(window, [prompt], **options)

    threads = [threading.Thread(target=one, args=(i,)) for i in (0, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i][0].sequences_ids for i in (0, 2)] == alone


@pytest.fixture(scope="module")
def engines(tiny_model: str) -> dict[str, WhisperEngine]:
    return {
        name: WhisperEngine(tiny_model, device="cpu", compute_type="float32", decoder=name)
        for name in ("torch", "ctranslate2")
    }


@pytest.mark.parametrize("batch_size", [8, 1], ids=["batched", "sequential"])
def test_transcript_is_the_same_with_either_search(
    engines, conversation_audio, batch_size: int
) -> None:
    """Batched, every window goes through the torch search; one at a time, faster-whisper's
    sequential path asks for timestamps and a fallback temperature: CTranslate2's."""
    assert engines["torch"].decoder == "torch"
    assert engines["ctranslate2"].decoder == "ctranslate2"
    search = engines["torch"].model.model.model  # the merged decoder's model
    before = dict(search.calls)
    ours = engines["torch"].transcribe(conversation_audio, WhisperOptions(batch_size=batch_size))
    theirs = engines["ctranslate2"].transcribe(
        conversation_audio, WhisperOptions(batch_size=batch_size)
    )
    assert_same_words(ours, theirs, 0.01)
    ran = {name: search.calls[name] - before[name] for name in before}
    if batch_size > 1:
        assert ran["torch"] >= 1 and ran["ctranslate2"] == 0, ran
    else:
        assert ran["torch"] == 0 and ran["ctranslate2"] >= 1, ran


def test_ctranslate2s_search_unless_torch_is_asked_for_in_a_float_type(
    tiny_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Opt-in: on an H100 the torch search lost the hour to CTranslate2's (its per-step CPU
    work; bench/production.md). With an int8 compute type (the CPU's default) it would hold
    the decoder again, dequantized, and not be the int8 search asked for: refused, said."""
    assert WhisperEngine(tiny_model, device="cpu").decoder == "ctranslate2"
    floats = WhisperEngine(tiny_model, device="cpu", compute_type="float32", decoder="torch")
    assert floats.decoder == "torch"
    with caplog.at_level(logging.WARNING, logger="transcriber_cli.engine.torch_decoder"):
        int8 = WhisperEngine(tiny_model, device="cpu", compute_type="int8", decoder="torch")
    assert int8.decoder == "ctranslate2"
    assert "int8_float32: the torch search runs float types only" in caplog.text


def test_json_says_which_search_ran(make_media, tmp_path: Path) -> None:
    src = make_media("decoder.wav", "-ar", "16000", "-ac", "1")
    proc = run_cli(str(src), "-o", str(tmp_path), "-f", "txt", "--no-diarize", "--json", "-v",
                   "--compute-type", "float32",
                   env={"TRANSCRIBER_WHISPER_DECODER": "torch"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert line["runtime"]["decoder"] == "torch"
    assert "Whisper decoder: torch (cpu, float32)" in proc.stderr  # -v


def test_a_decoder_that_cannot_start_keeps_ctranslate2s_search(
    tiny_model: str, ct2, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(tiny_model, broken)
    with open(broken / "model.bin", "r+b") as f:
        f.truncate(1000)

    def failed() -> None:
        raise RuntimeError("CUDA error: no kernel image is available")

    with caplog.at_level(logging.INFO, logger="transcriber_cli.engine.torch_decoder"):
        assert install_torch_decoder(ct2.model, broken, device="cpu") is None
        assert install_torch_decoder(ct2.model, tiny_model, device="cpu", built=failed) is None
    truncated, kernels = caplog.records
    assert truncated.levelno == logging.WARNING and "truncated" in truncated.getMessage()
    assert kernels.levelno == logging.WARNING and "no kernel image" in kernels.getMessage()
    search = install_torch_decoder(ct2.model, tiny_model, device="cpu")
    assert isinstance(search, TorchSearch)
