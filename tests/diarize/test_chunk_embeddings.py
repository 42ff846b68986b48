"""One embedding-network pass per window (diarize/chunk_embeddings.py): the same embeddings as
pyannote's per-speaker passes, for a third of the network work, on community-1's shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.diarize.loader import load_diarizer


@pytest.fixture(scope="module")
def community(tmp_path_factory: pytest.TempPathFactory):
    """community-1's architectures (WeSpeaker ResNet34 embedding), random weights."""
    from random_pipeline import build_random_pipeline

    directory = build_random_pipeline(tmp_path_factory.mktemp("community"), size="community")
    settings = Settings(diarize=True, diarization_model=str(directory), embedding_batch_size=3,
                        diarization_runtime="pyannote")  # fmt: skip
    diarizer, note = load_diarizer(settings, device="cpu")
    assert note is None
    return diarizer


def _segmentations(num_frames: int = 293):
    """Four 10 s windows every 5 s with three local speakers: one talks alone, one overlaps
    it, one never speaks, one has too little clean speech, and stitching left NaN gaps."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    data = np.zeros((4, num_frames, 3), dtype=np.float32)
    data[:, 20:200, 0] = 1  # speaker 0 in every window
    data[0, 150:260, 1] = 1  # overlaps speaker 0 on frames 150-199
    data[1, 180:205, 1] = 1  # mostly overlapped: too little clean speech, all of it is used
    data[2, :, 2] = 1
    data[2, 100:140, 0] = np.nan  # partial stitching
    data[3, 60:61, 1] = 1  # a single frame
    return SlidingWindowFeature(data, SlidingWindow(start=0.0, duration=10.0, step=5.0))


def test_one_pass_per_window_gives_pyannotes_embeddings(community, pyannote_sample: dict):
    import torch
    from pyannote.audio.pipelines import SpeakerDiarization

    pipeline = community.pipeline
    audio = media.decode_audio(pyannote_sample["wav"])
    file = {"waveform": torch.from_numpy(audio)[None], "sample_rate": 16000, "uri": "sample"}
    segmentations = _segmentations()

    assert pipeline._embedding.min_num_samples > 0  # found once, by small probe passes
    passes: list[int] = []  # waveforms through the network's first block
    hook = pipeline._embedding.model_.resnet.layer1.register_forward_hook(
        lambda module, args, output: passes.append(args[0].shape[0])
    )
    try:
        ours = pipeline.get_embeddings(file, segmentations, exclude_overlap=True)
        assert sum(passes) == 4  # one per window
        theirs = SpeakerDiarization.get_embeddings(
            pipeline, file, segmentations, exclude_overlap=True
        )
    finally:
        hook.remove()
    assert sum(passes) == 4 + 4 * 3  # pyannote's method: one per window and speaker

    assert ours.shape == theirs.shape == (4, 3, pipeline._embedding.dimension)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, equal_nan=True)
    assert np.isfinite(ours[:, 0]).all()  # the speaker in every window has an embedding
    # Speaker 1 of window 1 (25 frames, 20 of them overlapped): its whole mask was used.
    assert np.isfinite(ours[1, 1]).all() and not np.allclose(ours[1, 1], ours[1, 0])

    plain = SpeakerDiarization.get_embeddings(pipeline, file, segmentations)
    np.testing.assert_allclose(
        pipeline.get_embeddings(file, segmentations), plain, rtol=1e-4, atol=1e-5, equal_nan=True
    )


def test_the_whole_pipeline_runs_the_network_once_per_window(community, pyannote_sample: dict):
    audio = media.decode_audio(pyannote_sample["wav"])
    passes: list[int] = []
    model = community.pipeline._embedding.model_
    hook = model.resnet.layer1.register_forward_hook(
        lambda module, args, output: passes.append(args[0].shape[0])
    )
    done: list[tuple[float, float]] = []
    try:
        turns = community(audio, progress=lambda d, t: done.append((d, t)))
    finally:
        hook.remove()
    # 30 s in 10 s windows every 1 s (community-1's step): 21 windows, each once.
    assert sum(passes) == 21
    assert turns and all(t.end > t.start for t in turns)
    assert done[-1] == (pytest.approx(len(audio) / 16000),) * 2
    assert [d for d, _ in done] == sorted(d for d, _ in done)


def test_models_without_frame_and_pool_split_keep_pyannotes_method(tiny_pipeline: Path):
    settings = Settings(diarize=True, diarization_model=str(tiny_pipeline))
    diarizer, _ = load_diarizer(settings, device="cpu")
    assert "get_embeddings" not in vars(diarizer.pipeline)  # x-vector: pyannote's own


def test_only_wespeaker_models_computing_embeddings_get_one_pass(community) -> None:
    from types import SimpleNamespace

    import torch

    from transcriber_cli.diarize.chunk_embeddings import share_window_frames

    embedding = community.pipeline._embedding
    model = embedding.model_
    model.fbank_only = True  # its forward returns filterbank features, not embeddings
    try:
        assert not share_window_frames(SimpleNamespace(_embedding=embedding), half=bool)
    finally:
        model.fbank_only = False
    assert share_window_frames(SimpleNamespace(_embedding=embedding), half=bool)

    class Custom(torch.nn.Module):  # the method names alone are not enough
        def forward_frames(self, waveforms):
            return waveforms

        def forward_embedding(self, frames, weights=None):
            return frames

    custom = SimpleNamespace(_embedding=SimpleNamespace(model_=Custom()))
    assert not share_window_frames(custom, half=bool)
    assert "get_embeddings" not in vars(custom)
