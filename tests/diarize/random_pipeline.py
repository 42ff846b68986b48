"""Build a pyannote.audio 4 speaker-diarization pipeline directory with random weights.

The directory has the layout of ``pyannote/speaker-diarization-community-1`` (``config.yaml``,
``segmentation/`` and ``embedding/`` checkpoints, ``plda/`` transforms), so the product's real
loading and diarization code runs on it fully offline. Random weights make speaker identity
arbitrary: tests built on it check structure and labels, never who spoke when.

Two sizes:
- ``tiny``: small PyanNet + small x-vector; loads and runs in seconds (tests).
- ``community``: the community-1 architectures (PyanNet with its default sizes, WeSpeaker
  ResNet34 256-d, PLDA 128-d), so timings measure what the real pipeline costs (bench).
- ``realseg``: the built-in pipeline's real segmentation weights (pyannote/segmentation v2,
  5 s windows, sliding 1 s like community-1's) with the tiny embedding. Random segmentation
  finds no clean single-speaker stretch, so pyannote's clustering never runs on the other two;
  real segmentation gives it as many training embeddings as real speech does.
- ``realseg-community``: those real segmentation weights with community-1's embedding and
  PLDA shapes, so VBx clustering runs on community-1's embedding network.

Also importable from ``bench/diarization.py`` (it puts this folder on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEGMENTATION_DURATION = 10.0  # seconds per window, as in segmentation-3.0 / community-1
LOCAL_SPEAKERS = ("speaker#1", "speaker#2", "speaker#3")

CONFIG_YAML = """\
dependencies:
  pyannote.audio: 4.0.0
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    embedding: $model/embedding
    embedding_batch_size: 32{step}
    embedding_exclude_overlap: true
    plda: $model/plda
    segmentation: $model/segmentation
    segmentation_batch_size: 32
params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0{threshold}
"""


def _save_checkpoint(model, path: Path) -> None:
    """Write the plain checkpoint dict that ``Model.from_pretrained`` reads (what Lightning's
    ``Trainer.save_checkpoint`` would write, minus the optimizer state)."""
    import lightning
    import torch

    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)


def _segmentation(size: str):
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    if size == "tiny":
        model = PyanNet(
            lstm={"hidden_size": 16, "num_layers": 1, "bidirectional": True},
            linear={"hidden_size": 16, "num_layers": 1},
        )
    else:
        model = PyanNet()  # segmentation-3.0 sizes: 2 x 128 BiLSTM, 2 x 128 linear
    # Powerset: 3 local speakers, at most 2 at once (7 classes), like segmentation-3.0.
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=SEGMENTATION_DURATION,
        min_duration=SEGMENTATION_DURATION,
        warm_up=(0.0, 0.0),
        classes=list(LOCAL_SPEAKERS),
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    model.setup()  # adds the task-dependent classifier for these specifications
    import torch

    with torch.no_grad():
        # Random weights give near-constant class scores, hence one endless turn; sharper
        # scores make the argmax follow the audio, so turns start and stop with the speech.
        model.classifier.weight.mul_(30.0)
        model.classifier.bias.zero_()
    return model


def _real_segmentation():
    from transcriber_cli.diarize.builtin_pyannote import load_segmentation

    return load_segmentation()


def _embedding(size: str):
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    if size == "tiny":
        from pyannote.audio.models.embedding import XVectorMFCC

        model = XVectorMFCC(mfcc={"n_mfcc": 20}, dimension=32)
    else:
        from pyannote.audio.models.embedding import WeSpeakerResNet34

        model = WeSpeakerResNet34()
    model.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=SEGMENTATION_DURATION
    )
    return model


def _plda(directory: Path, dimension: int, lda_dimension: int, rng: np.random.Generator) -> None:
    """Random but well-conditioned x-vector transform and PLDA (the keys ``vbx_setup`` reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    lda = np.linalg.qr(rng.standard_normal((dimension, dimension)))[0][:, :lda_dimension]
    np.savez(
        directory / "xvec_transform.npz",
        mean1=rng.standard_normal(dimension) * 0.01,
        mean2=rng.standard_normal(lda_dimension) * 0.01,
        lda=lda,
    )
    np.savez(
        directory / "plda.npz",
        mu=np.zeros(lda_dimension),
        tr=np.linalg.qr(rng.standard_normal((lda_dimension, lda_dimension)))[0],
        psi=np.sort(rng.uniform(0.5, 5.0, lda_dimension))[::-1].copy(),
    )


def build_random_pipeline(directory: Path, *, size: str = "tiny", seed: int = 0) -> Path:
    """Write a complete offline pipeline directory and return it."""
    import torch

    if size not in ("tiny", "community", "realseg", "realseg-community"):
        raise ValueError(f"unknown size {size!r}")
    torch.manual_seed(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    real = size.startswith("realseg")
    segmentation = _real_segmentation() if real else _segmentation(size)
    _save_checkpoint(segmentation, directory / "segmentation" / "pytorch_model.bin")
    embedding = _embedding("community" if size.endswith("community") else "tiny")
    _save_checkpoint(embedding, directory / "embedding" / "pytorch_model.bin")
    dimension = int(embedding.dimension)
    _plda(directory / "plda", dimension, min(dimension, 128), np.random.default_rng(seed))
    # The tiny pipeline slides its window by half a window (community-1: a tenth), so tests
    # compute five times fewer embeddings; the bench keeps the real step.
    step = "\n    segmentation_step: 0.5" if size == "tiny" else ""
    step = "\n    segmentation_step: 0.2" if real else step
    # segmentation v2 is multi-label (a threshold); the powerset models need none.
    threshold = "\n    threshold: 0.5" if real else ""
    (directory / "config.yaml").write_text(CONFIG_YAML.format(step=step, threshold=threshold))
    return directory
