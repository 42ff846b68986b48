"""pyannote.audio checkpoints read without pyannote.audio, and without running their pickles.

pyannote's ``Model.from_pretrained`` reads a checkpoint with ``torch.load(weights_only=False)``,
which runs whatever the pickle names, and needs pyannote's classes (hence its whole import)
to rebuild the task ``Specifications`` stored beside the weights. Here the file is read with
torch's weights-only unpickler: tensors, plain containers, torch's version string (pyannote
3.x stored it), and three stand-ins with the names and fields of pyannote's ``Problem``,
``Resolution`` and ``Specifications``. A checkpoint that pickles anything else is refused
(``Unsupported``) and the caller hands the pipeline to pyannote, which loads it as it always
did (unsafely): this reader spares the import, it is not a gate against hostile files.
"""

from __future__ import annotations

import enum
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINT = "pytorch_model.bin"  # the file name pyannote's from_pretrained looks for


class Unsupported(Exception):
    """A pipeline, checkpoint or architecture this package does not run itself."""


class Problem(enum.Enum):  # pyannote.audio.core.task.Problem, same values
    BINARY_CLASSIFICATION = 0
    MONO_LABEL_CLASSIFICATION = 1
    MULTI_LABEL_CLASSIFICATION = 2
    REPRESENTATION = 3
    REGRESSION = 4


class Resolution(enum.Enum):  # pyannote.audio.core.task.Resolution
    FRAME = 1
    CHUNK = 2


@dataclass
class Specifications:  # pyannote.audio.core.task.Specifications, the fields read here
    problem: Problem
    resolution: Resolution
    duration: float
    min_duration: float | None = None
    warm_up: tuple[float, float] | None = (0.0, 0.0)
    classes: list[str] | None = None
    powerset_max_classes: int | None = None
    permutation_invariant: bool = False

    @property
    def powerset(self) -> bool:
        """Classes are sets of speakers (pyannote allows that for mono-label problems only)."""
        if self.powerset_max_classes is None:
            return False
        if self.problem != Problem.MONO_LABEL_CLASSIFICATION:
            raise Unsupported(f"a powerset over a {self.problem.name} problem")
        return True


def _stand_ins() -> list[Any]:
    from torch.torch_version import TorchVersion  # a str subclass: nothing runs

    return [
        (Problem, "pyannote.audio.core.task.Problem"),
        (Resolution, "pyannote.audio.core.task.Resolution"),
        (Specifications, "pyannote.audio.core.task.Specifications"),
        TorchVersion,
    ]


@dataclass
class Checkpoint:
    """What a pyannote model checkpoint holds that inference needs."""

    architecture: str  # pyannote's class name, e.g. "PyanNet", "WeSpeakerResNet34"
    module: str  # and its module, e.g. "pyannote.audio.models.segmentation.PyanNet"
    hyper_parameters: dict[str, Any]
    state_dict: Mapping[str, Any]
    specifications: Specifications | None = None


def load_checkpoint(path: Path) -> Checkpoint:
    """Read ``path`` (a file, or a directory holding ``pytorch_model.bin``) on the CPU."""
    import torch

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    try:
        with torch.serialization.safe_globals(_stand_ins()):
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, OSError,
            EOFError) as exc:  # fmt: skip
        raise Unsupported(f"{path}: {_reason(exc)}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("state_dict"), Mapping):
        raise Unsupported(f"{path}: not a pyannote.audio model checkpoint")
    meta = raw.get("pyannote.audio") or {}
    architecture = (meta.get("architecture") or {}).get("class")
    module = (meta.get("architecture") or {}).get("module")
    if not isinstance(architecture, str) or not isinstance(module, str):
        raise Unsupported(f"{path}: the checkpoint names no pyannote.audio architecture")
    specifications = meta.get("specifications")
    if specifications is not None and not isinstance(specifications, Specifications):
        raise Unsupported(f"{path}: multi-task or unknown specifications")
    return Checkpoint(
        architecture=architecture,
        module=module,
        hyper_parameters=dict(raw.get("hyper_parameters") or {}),
        state_dict=raw["state_dict"],
        specifications=specifications,
    )


def _reason(exc: BaseException) -> str:
    """The line of torch's message that names what was refused (its other lines are advice)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [repr(exc)]
    named = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    return (named or lines)[0][:300]
