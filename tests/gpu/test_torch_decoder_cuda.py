"""Whisper's torch beam search on a CUDA GPU (marker ``gpu``), tiny.en in float16: installed,
its tokens against CTranslate2's float16 search on the same encoder output, and the
transcript with either search. Skipped where CTranslate2 sees no CUDA device or torch cannot
use CUDA (the engine keeps CTranslate2's search there)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from tests.helpers import assert_same_words
from transcriber_cli.engine.device import cuda_device_count
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.options import WhisperOptions

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(cuda_device_count() == 0, reason="no CUDA device visible to CTranslate2"),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="torch cannot use CUDA"),
]


@pytest.fixture(scope="module")
def engines(tiny_model: str):
    # Installing the torch search turns cuDNN's attention off process-wide; the torch
    # encoder's test in this process expects it as it was (its bound is cuDNN's numerics).
    cudnn = torch.backends.cuda.cudnn_sdp_enabled()
    yield {
        name: WhisperEngine(tiny_model, device="cuda", compute_type="float16", decoder=name)
        for name in ("torch", "ctranslate2")
    }
    torch.backends.cuda.enable_cudnn_sdp(cudnn)


def test_the_torch_search_runs_on_a_gpu(engines) -> None:
    assert engines["torch"].decoder == "torch"
    assert engines["ctranslate2"].decoder == "ctranslate2"


def test_the_same_tokens_as_ctranslate2_in_float16(engines, conversation_audio) -> None:
    """Both searches on one float16 encoder output. In float16 a near tie can go either way
    (as with the torch encoder): most windows, not all, are asked to match exactly."""
    model = engines["ctranslate2"].model
    features = FeatureExtractor(feature_size=80)(conversation_audio)
    windows = [features[:, s : s + 3000] for s in (0, 1000, 1500, 2000)]
    windows = np.stack([np.pad(w, ((0, 0), (0, 3000 - w.shape[1]))) for w in windows])
    encoded = model.encode(np.ascontiguousarray(windows, dtype=np.float32))
    tokenizer = Tokenizer(model.hf_tokenizer, False, task="transcribe", language="en")
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    options = {
        "beam_size": 5, "patience": 1.0, "length_penalty": 1.0, "max_length": 448,
        "suppress_blank": True, "suppress_tokens": get_suppressed_tokens(tokenizer, [-1]),
        "return_scores": True, "return_no_speech_prob": True,
    }  # fmt: skip
    theirs = model.model.generate(encoded, [prompt] * 4, **options)
    ours = engines["torch"].model.model.model.decoder.generate(encoded, [prompt] * 4, **options)
    same = sum(a.sequences_ids == b.sequences_ids for a, b in zip(ours, theirs, strict=True))
    assert same >= 3, [(a.sequences_ids, b.sequences_ids) for a, b in zip(ours, theirs)]
    assert all(len(a.sequences_ids[0]) > 10 for a in ours)
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a.no_speech_prob - b.no_speech_prob) < 1e-2
        assert abs(a.scores[0] - b.scores[0]) < 0.05


def test_transcript_is_the_same_with_either_search(engines, conversation_audio) -> None:
    search = engines["torch"].model.model.model  # the merged decoder's model
    ours = engines["torch"].transcribe(conversation_audio, WhisperOptions(batch_size=8))
    theirs = engines["ctranslate2"].transcribe(conversation_audio, WhisperOptions(batch_size=8))
    assert_same_words(ours, theirs, 0.1)
    assert search.calls["torch"] >= 1 and search.calls["ctranslate2"] == 0, search.calls
