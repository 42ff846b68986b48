"""Fixtures for diarization tests: a tiny random-weight pyannote pipeline directory, the
pyannote sample call, and a stand-in Hugging Face hub (a local HTTP server, fake_hub.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub import FakeHub
from random_pipeline import build_random_pipeline


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete offline pipeline directory (config.yaml, segmentation, embedding, plda)."""
    return build_random_pipeline(tmp_path_factory.mktemp("pipeline") / "tiny", size="tiny")


@pytest.fixture(scope="session")
def realseg_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real segmentation weights, so pyannote's clustering gets clean embeddings to train on."""
    return build_random_pipeline(tmp_path_factory.mktemp("pipeline") / "realseg", size="realseg")


@pytest.fixture(scope="session")
def pyannote_sample() -> dict:
    """The real two-speaker phone call shipped in the pyannote.audio wheel (30 s)."""
    import importlib.util

    spec = importlib.util.find_spec("pyannote.audio")
    assert spec and spec.origin
    folder = Path(spec.origin).parent / "sample"
    return {"wav": folder / "sample.wav", "rttm": folder / "sample.rttm"}


@pytest.fixture
def fake_hub() -> Iterator:
    """``fake_hub(mode, repos)`` -> a running FakeHub; set ``HF_ENDPOINT`` to its ``url``."""
    hubs: list[FakeHub] = []

    def start(mode: str = "serve", repos: dict[str, Path] | None = None) -> FakeHub:
        hubs.append(FakeHub(mode, repos))
        return hubs[-1]

    yield start
    for hub in hubs:
        hub.close()
