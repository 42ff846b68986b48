"""Re-save the two PyPI-shipped checkpoints the built-in speaker pipeline uses as plain
state_dicts (no pickled classes, so they load with ``torch.load(weights_only=True)`` and
without omegaconf or pytorch-lightning).

    pip download --no-deps whisperx==3.8.6 resemblyzer==0.1.4 -d wheels
    unzip wheels/whisperx-3.8.6-py3-none-any.whl 'whisperx/assets/pytorch_model.bin' -d wx
    unzip wheels/Resemblyzer-0.1.4-py3-none-any.whl 'resemblyzer/pretrained.pt' -d rz
    PYTHONPATH=<dir with omegaconf> python bench/diarization/make_weights.py \
        wx/whisperx/assets/pytorch_model.bin rz/resemblyzer/pretrained.pt

Reading the whisperx checkpoint needs omegaconf (it pickles its hyper-parameters); the
files written here do not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[2] / "transcriber_cli" / "diarize" / "weights"


def main(segmentation: str, encoder: str) -> None:
    ckpt = torch.load(segmentation, map_location="cpu", weights_only=False)
    spec = ckpt["pyannote.audio"]["specifications"]
    hparams = {k: v for k, v in ckpt["hyper_parameters"].items()}
    torch.save(
        {
            "state_dict": {k: v.contiguous() for k, v in ckpt["state_dict"].items()},
            "hyper_parameters": hparams,
            "specifications": {
                "duration": float(spec.duration),
                "classes": list(spec.classes),
                "warm_up": list(spec.warm_up),
            },
        },
        OUT / "segmentation.pt",
    )
    state = torch.load(encoder, map_location="cpu", weights_only=False)["model_state"]
    # similarity_* are GE2E training-loss parameters, not part of the encoder.
    torch.save(
        {k: v.contiguous() for k, v in state.items() if not k.startswith("similarity_")},
        OUT / "dvector.pt",
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
