"""The built-in pipeline's uniform-window method (issue 16): the frame arithmetic of
diarize/windows.py on small arrays, and the real weights on real audio through the same
``PyannoteDiarizer`` the CLI uses (the pyannote sample call, two real voices, and
data/three-voices.opus)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from transcriber_cli import media
from transcriber_cli.diarize import windows
from transcriber_cli.options import SpeakerOptions

DATA = Path(__file__).parent / "data"
STEP = 0.02


def centres(n: int) -> np.ndarray:
    return windows.frame_centres(0.0, STEP, STEP, n)


def test_windows_cover_speech_only_and_reach_the_end():
    count = np.zeros(500, dtype=np.uint8)  # 10 s
    count[100:200] = 1  # speech 2-4 s
    count[430:500] = 1  # speech 8.6-10 s: the last window must end at the end
    found = windows.speech_windows(count, centres(500), 10.0, window=1.5, hop=0.75)
    assert len(found.starts) > 0
    for start, mask in zip(found.starts, found.masks):
        assert mask.sum() * STEP >= windows.MIN_SPEECH
        seconds = start + STEP * np.flatnonzero(mask)
        assert np.all(((seconds >= 1.99) & (seconds < 4.01)) | (seconds >= 8.59))
    assert found.starts[-1] == pytest.approx(8.5)
    assert not any(s >= 4.0 and s + 1.5 <= 8.6 for s in found.starts)  # silence: no window


def test_overlap_is_left_out_of_a_window_only_when_enough_single_speech_remains():
    count = np.ones(100, dtype=np.uint8)  # 2 s of speech
    count[10:40] = 2
    kept = windows.speech_windows(count, centres(100), 2.0, 1.5, 0.75, exclude_overlap=True)
    assert not kept.masks[0][10:40].any() and kept.masks[0][40:].all()
    count[:] = 2  # overlap everywhere: the window keeps it rather than vanishing
    kept = windows.speech_windows(count, centres(100), 2.0, 1.5, 0.75, exclude_overlap=True)
    assert len(kept.starts) == 2 and kept.masks.all()


def test_audio_shorter_than_a_window_gets_one_window():
    count = np.ones(40, dtype=np.uint8)  # 0.8 s
    found = windows.speech_windows(count, centres(40), 0.8, 1.5, 0.75)
    assert list(found.starts) == [0.0] and found.masks[0].sum() == 40


def test_each_frame_takes_the_speakers_its_windows_resemble_most():
    found = windows.Windows(
        starts=np.array([0.0, 1.0]),
        first=np.array([0, 50]),
        masks=np.ones((2, 75), dtype=bool),
    )
    similarity = np.array([[0.9, 0.1], [0.2, 0.8]])
    scores = windows.frame_scores(found, similarity, 200)
    one = windows.label_frames(scores, np.ones(200, dtype=int))
    assert one[:50, 0].all() and one[75:125, 1].all()  # alone in a window: its speaker
    assert one[125:, 1].all()  # no window covers these: the nearest covered frame's
    two = windows.label_frames(scores, np.full(200, 2))  # overlap: both speakers
    assert two.sum(1).tolist() == [2] * 200
    none = windows.label_frames(scores, np.zeros(200, dtype=int))
    assert not none.any()


def test_at_a_change_of_speaker_the_window_centred_on_a_frame_decides():
    """Without the taper, a frame at the edge of a window that is mostly the next speaker went
    to that speaker (examples/conversation.mp4: Alice's last word given to Bob)."""
    found = windows.Windows(
        starts=np.array([0.0, 1.2]), first=np.array([0, 60]), masks=np.ones((2, 100), bool)
    )
    similarity = np.array([[0.6, 0.4], [0.0, 1.0]])  # a mixed-ish window, then a clear one
    flat = windows.frame_scores(found, similarity, 160, taper=False)
    tapered = windows.frame_scores(found, similarity, 160, taper=True)
    assert flat[65].argmax() == 1 and tapered[65].argmax() == 0
    assert tapered[130].argmax() == 1  # where only the second window covers


@pytest.fixture(scope="module")
def builtin():
    from transcriber_cli.diarize.builtin import NAME, load_builtin
    from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer

    return PyannoteDiarizer(load_builtin(device="cpu", batch_size=16), name=NAME, device="cpu")


def der(turns, rttm: Path) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference = next(iter(load_rttm(str(rttm)).values()))
    hypothesis = Annotation()
    for t in turns:
        hypothesis[Segment(t.start, t.end)] = t.speaker
    return DiarizationErrorRate(collar=0.25)(reference, hypothesis)


def test_the_pyannote_sample_gets_two_speakers_with_progress(builtin, pyannote_sample: dict):
    audio = media.decode_audio(pyannote_sample["wav"])
    seconds = audio.size / media.SAMPLE_RATE
    calls: list[tuple[float, float]] = []
    steps: dict[str, float] = {}
    started = time.perf_counter()
    turns = builtin(audio, progress=lambda done, total: calls.append((done, total)), steps=steps)
    took = time.perf_counter() - started
    assert type(builtin.pipeline).__name__ == "BuiltinDiarization"  # without pyannote.audio
    # Each step's seconds, split where pyannote's own pipeline splits them: the frames are
    # labelled under "clustering", the turns built from them under "turns".
    assert list(steps) == ["segmentation", "embeddings", "clustering", "turns"]
    assert min(steps.values()) > 0
    assert sum(steps.values()) <= took + 0.005  # each step rounded to 1 ms
    assert {t.speaker for t in turns} == {"SPEAKER_00", "SPEAKER_01"}
    assert all(0.0 <= t.start < t.end <= seconds for t in turns)
    assert der(turns, pyannote_sample["rttm"]) < 0.15  # exclusive turns: overlap counts as missed
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and calls[-1] == (seconds, seconds)
    assert any(0.25 * seconds < d < seconds for d in dones)  # embedding batches report


def test_speaker_counts_are_honoured(builtin, pyannote_sample: dict):
    audio = media.decode_audio(pyannote_sample["wav"])
    speakers = lambda **kw: {t.speaker for t in builtin(audio, speakers=SpeakerOptions(**kw))}  # noqa: E731
    assert len(speakers(num_speakers=3)) == 3
    assert len(speakers(max_speakers=1)) == 1
    assert len(speakers(min_speakers=3, max_speakers=4)) >= 3


def test_a_count_the_audio_cannot_hold_is_a_warning(builtin, pyannote_sample: dict, caplog):
    """Two windows of speech cannot make two speakers: like pyannote's own pipeline, say so
    (the CLI logs it as a warning) rather than fail or stay silent."""
    import warnings

    from transcriber_cli.diarize import pyannote_pipeline

    audio = media.decode_audio(pyannote_sample["wav"])[6 * 16000 : 8 * 16000]
    with warnings.catch_warnings():  # pytest swaps showwarning per test: route as the CLI does
        pyannote_pipeline._route_warnings()
        with caplog.at_level("WARNING"):
            turns = builtin(audio, speakers=SpeakerOptions(num_speakers=2))
    assert len({t.speaker for t in turns}) == 1
    assert any("number of speakers (1)" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_three_voices_are_counted_and_placed(builtin):
    audio = media.decode_audio(DATA / "three-voices.opus")
    turns = builtin(audio)
    assert len({t.speaker for t in turns}) == 3
    assert der(turns, DATA / "three-voices.rttm") < 0.10


def test_silence_and_a_blip_give_no_error(builtin):
    assert builtin(np.zeros(5 * media.SAMPLE_RATE, dtype=np.float32)) == []
    rng = np.random.default_rng(0)
    blip = np.zeros(3 * media.SAMPLE_RATE, dtype=np.float32)
    blip[16000:20000] = 0.3 * rng.standard_normal(4000)  # a quarter second of noise
    turns = builtin(blip)
    assert len({t.speaker for t in turns}) <= 1


def test_the_previous_track_method_still_runs(pyannote_sample: dict):
    from transcriber_cli.diarize.builtin import NAME, load_builtin
    from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer

    audio = media.decode_audio(pyannote_sample["wav"])
    pipeline = load_builtin(device="cpu", batch_size=16, native=False)  # pyannote.audio's
    pipeline.method = "tracks"
    turns = PyannoteDiarizer(pipeline, name=NAME, device="cpu")(audio)
    assert {t.speaker for t in turns} == {"SPEAKER_00", "SPEAKER_01"}


def test_a_minimum_above_ten_speakers_is_honoured_without_a_maximum(builtin):
    """Unknown counts are searched up to 10 unless --min-speakers asks for more (as pyannote's
    own clustering bound does)."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    rng = np.random.default_rng(0)
    centres = np.linalg.qr(rng.normal(size=(256, 14)))[0].T  # 14 orthogonal voices
    x = np.repeat(centres, 12, axis=0) + 0.01 * rng.normal(size=(14 * 12, 256))
    n = len(x)
    found = windows.Windows(np.arange(n) * 0.75, np.arange(n) * 44, np.ones((n, 88), bool))
    count = SlidingWindowFeature(np.ones((n * 44 + 88, 1)), SlidingWindow(0.017, 0.017, 0.0))
    output = builtin.pipeline.assemble((found, x), count, None, 12, None, "u")
    assert len(output.speaker_diarization.labels()) == 12  # searched up to max(12, 10)
    bounded = builtin.pipeline.assemble((found, x), count, None, 2, 3, "u")
    assert len(bounded.speaker_diarization.labels()) <= 3


def test_windows_are_cut_from_the_nearest_sample_zero_padded_past_the_end():
    """``cut`` gives each window the samples the code before gave it (a slice from
    ``round(start * rate)``, padded with zeros): halves of a sample round to even, a window
    may end exactly at the end, run past it, or be longer than the whole audio."""
    import torch

    from transcriber_cli.diarize.builtin_method import cut

    rate, size = 16, 8
    audio = torch.arange(1, 41, dtype=torch.float32)  # 40 samples, none of them zero
    samples = [0, 0.5, 1.5, 2.5, 3.25, 3.75, 17, 31.5, 32, 32.5, 33, 39.5]  # dyadic: exact
    starts = np.array(samples) / rate

    def before(audio, start):  # the code before, window by window
        piece = audio[round(start * rate) :][:size]
        return torch.nn.functional.pad(piece, (0, size - len(piece)))

    for whole in (audio, audio[:5]):  # the second: shorter than a window
        chunks = cut(whole, starts, rate, size)
        assert chunks.dtype == torch.float32 and chunks.shape == (len(starts), size)
        for start, chunk in zip(starts, chunks):
            assert torch.equal(chunk, before(whole, start)), start
    firsts = cut(audio, starts, rate, size)[:, 0].tolist()
    assert firsts[:6] == [1, 1, 3, 3, 4, 5]  # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 (ties to even)
    last = [[34, 35, 36, 37, 38, 39, 40, 0], [0] * 8]  # from 33 and 39.5 -> 40: past the end
    assert cut(audio, starts[-2:], rate, size).tolist() == last
    assert cut(audio, starts[:0], rate, size).shape == (0, size)


def test_each_window_embeds_its_own_samples_in_batches(pyannote_sample: dict):
    """Through the whole built-in pipeline: every window the method chose reaches the
    embedding with its own samples, in batches of the embedding batch size (the d-vectors'
    own, not the segmentation's)."""
    import torch

    from transcriber_cli.diarize.builtin import load_builtin
    from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer

    pipeline = load_builtin(device="cpu", batch_size=3, embedding_batch_size=5)
    assert pipeline.segmentation_batch_size == 3
    embed = pipeline._embedding
    seen: list[torch.Tensor] = []

    class Recorded:  # the real embedding, its inputs kept
        sample_rate, dimension = embed.sample_rate, embed.dimension

        def __call__(self, chunks, masks):
            seen.append(chunks.clone())
            return embed(chunks, masks)

    pipeline._embedding = Recorded()
    audio = media.decode_audio(pyannote_sample["wav"])[: int(12.3 * 16000) + 7]
    assert PyannoteDiarizer(pipeline, name="builtin", device="cpu")(audio)
    count = pipeline.speech_count(
        {"waveform": torch.from_numpy(audio)[None], "sample_rate": 16000}, lambda *a, **k: None
    )
    frames = count.sliding_window
    centres = windows.frame_centres(frames.start, frames.duration, frames.step, len(count))
    found = windows.speech_windows(count.data[:, 0], centres, audio.size / 16000)
    assert len(found.starts) > 5 and found.starts[-1] + windows.WINDOW == audio.size / 16000
    assert [c.shape[0] for c in seen] == [min(5, len(found.starts) - i)
                                          for i in range(0, len(found.starts), 5)]  # fmt: skip
    size = round(windows.WINDOW * 16000)
    chunks = torch.cat(seen)[:, 0]
    for start, chunk in zip(found.starts, chunks):
        assert np.array_equal(chunk.numpy(), audio[round(start * 16000) :][:size])


def test_the_loader_asks_for_the_builtin_batches_of_the_device_or_those_set(monkeypatch) -> None:
    """On a GPU the segmentation's windows 256 a batch and the d-vectors' 1024; on a CPU 16
    and 16; ``embedding_batch_size`` set gives both its size. The GPU is the device the
    loader is told torch sees (this machine may have none): what it asks of
    ``load_builtin`` is recorded, the pipeline built on the CPU."""
    from transcriber_cli.config import Settings
    from transcriber_cli.diarize import builtin, loader, pyannote_pipeline

    asked: list[tuple[str, int, int]] = []
    real = builtin.load_builtin

    def recorded(*, device: str, batch_size: int, embedding_batch_size: int, native: bool):
        asked.append((device, batch_size, embedding_batch_size))
        return real(device="cpu", batch_size=batch_size,
                    embedding_batch_size=embedding_batch_size, native=native)  # fmt: skip

    monkeypatch.setattr(builtin, "load_builtin", recorded)
    for device in ("cuda", "cpu"):
        monkeypatch.setattr(pyannote_pipeline, "torch_device", lambda *_a, d=device: d)
        for size in (0, 8):
            settings = Settings(diarize=True, diarization_model="builtin",
                                embedding_batch_size=size)  # fmt: skip
            diarizer, _ = loader.load_diarizer(settings, device=device)
            batches = (
                diarizer.pipeline.segmentation_batch_size,
                diarizer.pipeline.embedding_batch_size,
            )
            assert batches == asked[-1][1:]
    assert asked == [("cuda:0", 256, 1024), ("cuda:0", 8, 8), ("cpu", 16, 16), ("cpu", 8, 8)]
