"""WeSpeaker ResNet without pyannote.audio (diarize/native/wespeaker.py): bitwise the
filterbanks, frames and embeddings of pyannote's own models, on real speech, random weights."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
from pyannote.audio.models.embedding import WeSpeakerResNet34

from transcriber_cli import media
from transcriber_cli.diarize.native.wespeaker import WeSpeakerResNet, build_embedding

WINDOW = 160_000  # community-1's 10 s embedding window at 16 kHz
SEGMENTATION_FRAMES = 589  # its segmentation frames per window: the masks' resolution


def _randomized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``model`` in eval mode with random BatchNorm statistics and affine parameters: fresh
    ones (mean 0, variance 1, identity) would hide a normalisation applied wrongly."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                assert module.running_mean is not None and module.running_var is not None
                size = module.running_mean.shape
                module.running_mean.copy_(0.2 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.1 * torch.randn(size, generator=generator))
    return model.eval()


def _pyannote(architecture: str, seed: int) -> torch.nn.Module:
    from pyannote.audio.models.embedding import wespeaker

    torch.manual_seed(seed)
    return _randomized(getattr(wespeaker, architecture)(), seed)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: both models run the same kernels either way, and on CPUs shared
    with other work a second thread made this file three times slower, not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference() -> WeSpeakerResNet34:
    model = _pyannote("WeSpeakerResNet34", seed=0)
    assert isinstance(model, WeSpeakerResNet34)
    return model


@pytest.fixture(scope="module")
def native(reference: WeSpeakerResNet34) -> WeSpeakerResNet:
    return build_embedding("WeSpeakerResNet34", dict(reference.hparams), reference.state_dict())


@pytest.fixture(scope="module")
def waveforms(pyannote_sample: dict) -> torch.Tensor:
    """(3, 1, 10 s) windows of the two-speaker call, overlapping as the pipeline's do."""
    audio = torch.from_numpy(media.decode_audio(pyannote_sample["wav"]))
    starts = [0, 152_000, 320_000]
    return torch.stack([audio[start : start + WINDOW] for start in starts])[:, None]


@pytest.fixture(scope="module")
def masks() -> torch.Tensor:
    """(3 windows, 3 speakers, 589 frames) 0/1 weights as the pipeline passes them: a speaker
    alone, one overlapping it, a third speaking, then for one frame of the network's output,
    then not at all (all zeros)."""
    weights = torch.zeros(3, 3, SEGMENTATION_FRAMES)
    weights[:, 0, :350] = 1
    weights[:, 1, 300:520] = 1
    weights[0, 2, 100:200] = 1
    weights[1, 2, 40:46] = 1
    return weights


@pytest.fixture(scope="module")
def frames(native: WeSpeakerResNet, waveforms: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return native.forward_frames(waveforms)


def test_filterbanks_are_pyannotes(reference, native, waveforms) -> None:
    with torch.inference_mode():
        assert torch.equal(native.compute_fbank(waveforms), reference.compute_fbank(waveforms))


@pytest.mark.parametrize("span", [0.5, 3.0])
def test_running_average_centering_is_pyannotes(
    reference, native, waveforms, monkeypatch: pytest.MonkeyPatch, span: float
) -> None:
    with torch.inference_mode():
        global_mean = native.compute_fbank(waveforms)
        monkeypatch.setitem(reference.hparams, "fbank_centering_span", span)
        monkeypatch.setattr(native, "fbank_centering_span", span)
        fbank = native.compute_fbank(waveforms)
        assert torch.equal(fbank, reference.compute_fbank(waveforms))
    assert not torch.equal(fbank, global_mean)


def test_frames_and_embeddings_are_pyannotes(reference, native, waveforms, frames) -> None:
    with torch.inference_mode():
        expected_frames = reference.forward_frames(waveforms)
        expected = reference(waveforms)
        embeddings = native(waveforms)
    assert torch.equal(frames, expected_frames)
    assert torch.equal(embeddings, expected)
    assert embeddings.shape == (3, 256) and embeddings.isfinite().all()
    assert not torch.equal(embeddings[0], embeddings[1])


def test_per_speaker_embeddings_are_pyannotes(reference, native, waveforms, masks) -> None:
    with torch.inference_mode():
        expected = reference(waveforms, weights=masks)
        embeddings = native(waveforms, weights=masks)
    assert torch.equal(embeddings, expected)
    assert embeddings.shape == (3, 3, 256) and embeddings.isfinite().all()
    # No speech: zero statistics, so the embedding layer's bias (pyannote's too, not NaN).
    assert torch.equal(embeddings[2, 2], native.resnet.seg_1.bias.detach())


def test_pooling_of_shared_frames_is_pyannotes(reference, native, frames, masks) -> None:
    """chunk_embeddings.py's use: frames once per window, pooled per speaker's (batch,
    frames) mask; also (batch, speakers, frames) masks and masks already at frame rate."""
    with torch.inference_mode():
        for speaker in range(masks.shape[1]):
            weights = masks[:, speaker]
            assert torch.equal(
                native.forward_embedding(frames, weights=weights),
                reference.forward_embedding(frames, weights=weights),
            )
        assert torch.equal(
            native.forward_embedding(frames, weights=masks),
            reference.forward_embedding(frames, weights=masks),
        )
        at_frame_rate = masks[:, :, ::4][:, :, : frames.shape[-1]]
        assert at_frame_rate.shape[-1] == frames.shape[-1]
        assert torch.equal(
            native.forward_embedding(frames, weights=at_frame_rate),
            reference.forward_embedding(frames, weights=at_frame_rate),
        )
        assert torch.equal(native.forward_embedding(frames), reference.forward_embedding(frames))


def test_sizes_are_pyannotes(reference, native, frames) -> None:
    assert native.num_frames(WINDOW) == frames.shape[-1]
    for num_samples in [400, 401, 2_000, 16_000, 16_123, WINDOW, 479_999]:
        assert native.num_frames(num_samples) == reference.num_frames(num_samples)
    assert native.dimension == reference.dimension == 256
    assert native.sample_rate == reference.audio.sample_rate == 16000
    assert not native.training


def test_checkpoint_hyper_parameters_load_as_pyannote_loads_them(reference, waveforms) -> None:
    """pyannote builds a checkpoint's model through Lightning, which passes on only what the
    class's __init__ takes: WeSpeakerResNet34 takes frame_shift and window_type, not
    fbank_centering_span or snip_edges, whatever the checkpoint says."""
    import lightning
    from pyannote.audio import Model, __version__
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    hyper_parameters = dict(reference.hparams) | {
        "frame_shift": 12,
        "window_type": "povey",
        "fbank_centering_span": 3.0,
        "snip_edges": False,
    }
    checkpoint = {
        "state_dict": reference.state_dict(),
        "hyper_parameters": hyper_parameters,
        "pytorch-lightning_version": lightning.__version__,
        "pyannote.audio": {
            "versions": {"pyannote.audio": __version__},
            "architecture": {
                "module": "pyannote.audio.models.embedding.wespeaker",
                "class": "WeSpeakerResNet34",
            },
            "specifications": Specifications(
                problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=10.0
            ),
        },
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    loaded = Model.from_pretrained(buffer).eval()
    assert loaded.hparams.fbank_centering_span is None and loaded.hparams.snip_edges
    native = build_embedding("WeSpeakerResNet34", hyper_parameters, checkpoint["state_dict"])
    short = waveforms[:2, :, :32_000]
    with torch.inference_mode():
        fbank = native.compute_fbank(short)
        assert torch.equal(fbank, loaded.compute_fbank(short))
        assert fbank.shape[1] == 1 + (32_000 - 400) // 192
        assert torch.equal(native(short), loaded(short))
        assert native.num_frames(32_000) == loaded.num_frames(32_000)


@pytest.mark.parametrize("architecture", ["WeSpeakerResNet152", "WeSpeakerResNet221"])
def test_bottleneck_resnets_are_pyannotes(architecture: str, waveforms, masks) -> None:
    """The deeper models (bottleneck blocks), on a second of speech to stay fast."""
    reference = _pyannote(architecture, seed=1)
    native = build_embedding(architecture, dict(reference.hparams), reference.state_dict())
    short = waveforms[:2, :, :16_000]
    with torch.inference_mode():
        assert torch.equal(native(short), reference(short))
        assert torch.equal(native(short, weights=masks[:2]), reference(short, weights=masks[:2]))
    assert native.num_frames(16_000) == reference.num_frames(16_000)
    assert native.dimension == reference.dimension


def test_a_model_not_ported_is_a_value_error(reference) -> None:
    with pytest.raises(ValueError, match="XVectorMFCC"):
        build_embedding("XVectorMFCC", dict(reference.hparams), reference.state_dict())
    with pytest.raises(ValueError, match="WeSpeakerResNet152"):
        build_embedding("WeSpeakerResNet152", dict(reference.hparams), reference.state_dict())


def test_importing_it_loads_neither_pyannote_audio_nor_lightning() -> None:
    code = (
        "import sys, transcriber_cli.diarize.native.wespeaker; "
        "print('pyannote.audio' in sys.modules, 'lightning' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["False", "False"]
