"""The segmentation network and checkpoint reading without pyannote.audio: pyannote's own
``Model.from_pretrained`` on the same file is the reference, score for score."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from random_pipeline import _save_checkpoint, _segmentation

from transcriber_cli import media
from transcriber_cli.diarize.native.checkpoint import Unsupported, load_checkpoint
from transcriber_cli.diarize.native.segmentation import build_segmentation


@pytest.fixture(scope="module")
def speech(pyannote_sample: dict) -> torch.Tensor:
    """Five 10 s windows of the real two-speaker call and one of silence."""
    audio = torch.from_numpy(np.ascontiguousarray(media.decode_audio(pyannote_sample["wav"])))
    windows = [audio[i * 40000 : i * 40000 + 160000] for i in range(5)]
    return torch.stack([*windows, torch.zeros(160000)])[:, None]


def _checkpoints(tmp: Path) -> dict[str, Path]:
    from transcriber_cli.diarize.builtin_pyannote import load_segmentation

    torch.manual_seed(0)
    models = {"powerset": _segmentation("community"), "real-v2": load_segmentation()}
    from pyannote.audio.models.segmentation import PyanNet

    split = PyanNet(lstm={"monolithic": False, "num_layers": 3, "hidden_size": 32},
                    linear={"num_layers": 0})  # fmt: skip
    split.specifications = models["powerset"].specifications
    split.setup()
    models["split-lstm"] = split
    paths = {}
    for name, model in models.items():
        paths[name] = tmp / name / "pytorch_model.bin"
        _save_checkpoint(model, paths[name])
    return paths


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _checkpoints(tmp_path_factory.mktemp("segmentation"))


@pytest.mark.parametrize("name", ["powerset", "real-v2", "split-lstm"])
def test_scores_and_frames_are_pyannotes(checkpoints: dict, speech: torch.Tensor, name: str):
    from pyannote.audio import Model

    reference = Model.from_pretrained(checkpoints[name]).eval()
    ours = build_segmentation(load_checkpoint(checkpoints[name].parent))
    with torch.inference_mode():
        expected, got = reference(speech), ours(speech)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)
    assert ours.dimension == reference.dimension
    assert ours.specifications.powerset == reference.specifications.powerset
    for samples in (160000, 80000, 159999, 3000):
        assert ours.num_frames(samples) == reference.num_frames(samples)
    a, b = ours.receptive_field, reference.receptive_field
    assert (a.start, a.duration, a.step) == (b.start, b.duration, b.step)


def test_real_weights_find_the_speech(checkpoints: dict, speech: torch.Tensor):
    """Not only the same numbers: the real model hears speech in speech and none in silence."""
    model = build_segmentation(load_checkpoint(checkpoints["real-v2"]))
    with torch.inference_mode():
        active = (model(speech) > 0.5).any(dim=-1).float().mean(dim=-1)
    assert (active[:5] > 0.25).all() and active[:5].mean() > 0.6 and active[5] == 0.0


class Trojan:  # any class a checkpoint pickles beyond pyannote's task records
    def __reduce__(self):
        return (print, ("ran",))


def test_refuses_what_it_does_not_run(checkpoints: dict, tmp_path: Path):
    raw = torch.load(checkpoints["powerset"], weights_only=False)
    raw["callbacks"] = {"x": Trojan()}
    torch.save(raw, tmp_path / "trojan.bin")
    with pytest.raises(Unsupported, match="GLOBAL print"):
        load_checkpoint(tmp_path / "trojan.bin")
    embedding = tmp_path / "embedding.bin"
    from random_pipeline import _embedding

    _save_checkpoint(_embedding("tiny"), embedding)
    with pytest.raises(Unsupported, match="XVectorMFCC"):
        build_segmentation(load_checkpoint(embedding))
    # the built-in pipeline's stripped file names no architecture
    from transcriber_cli.diarize.builtin import SEGMENTATION

    with pytest.raises(Unsupported, match="architecture"):
        load_checkpoint(SEGMENTATION)


def test_loads_no_pyannote_audio_nor_lightning(checkpoints: dict):
    code = (
        "import sys; from transcriber_cli.diarize.native.checkpoint import load_checkpoint;"
        "from transcriber_cli.diarize.native.segmentation import build_segmentation;"
        f"m = build_segmentation(load_checkpoint({str(checkpoints['powerset'])!r}));"
        "m.receptive_field;"
        "print('pyannote.audio' in sys.modules, 'lightning' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_reads_checkpoints_as_lightning_and_pyannote_3_wrote_them(checkpoints: dict, tmp_path):
    """pyannote 3.x stored torch's version (a ``TorchVersion``) and a trainer leaves its
    epoch, optimizer and callback states: all plain data, read without running anything."""
    from torch.torch_version import TorchVersion

    raw = torch.load(checkpoints["powerset"], weights_only=False)
    raw["pyannote.audio"]["versions"]["torch"] = TorchVersion(torch.__version__)
    raw.update(
        epoch=3, global_step=1200, hparams_name="kwargs",
        optimizer_states=[{"state": {0: {"exp_avg": torch.zeros(3)}},
                           "param_groups": [{"lr": 1e-3, "params": [0]}]}],
        callbacks={"EarlyStopping{'monitor': 'loss'}": {"wait_count": 0,
                                                         "best_score": torch.tensor(0.5)}},
        loops={"fit_loop": {"epoch_progress": {"total": {"ready": 4}}}},
    )  # fmt: skip
    torch.save(raw, tmp_path / "trained.bin")
    checkpoint = load_checkpoint(tmp_path / "trained.bin")
    assert checkpoint.module == "pyannote.audio.models.segmentation.PyanNet"
    build_segmentation(checkpoint)
