"""community-1-shaped pipelines run without pyannote.audio (diarize/native/pipeline.py): the
same turns, annotations and speaker centroids as pyannote's pipeline as this package runs it
(its one-pass embeddings and run-edge turns, each compared with pyannote's own elsewhere)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from random_pipeline import build_random_pipeline

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.diarize.loader import load_diarizer
from transcriber_cli.diarize.native.checkpoint import Unsupported
from transcriber_cli.diarize.native.pipeline import NativeSpeakerDiarization, load_native
from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer, load_pipeline


@pytest.fixture(scope="module")
def directories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("native")
    return {
        size: build_random_pipeline(root / size, size=size)
        for size in ("community", "realseg-community")
    }


@pytest.fixture(scope="module")
def audio(pyannote_sample: dict) -> np.ndarray:
    return media.decode_audio(pyannote_sample["wav"])


def _pair(directory: Path) -> tuple[PyannoteDiarizer, PyannoteDiarizer]:
    """(native, pyannote) diarizers of one directory, as load_diarizer builds them."""
    native, pyannote = (
        load_pipeline(directory, device="cpu", embedding_batch_size=8, native=native)
        for native in (True, False)
    )
    return (
        PyannoteDiarizer(native, name="test", device="cpu"),
        PyannoteDiarizer(pyannote, name="test", device="cpu"),
    )


@pytest.fixture(scope="module")
def pairs(directories: dict[str, Path]) -> dict[str, tuple[PyannoteDiarizer, PyannoteDiarizer]]:
    return {size: _pair(directory) for size, directory in directories.items()}


def _tracks(annotation) -> list[tuple[float, float, str, str]]:
    return [(s.start, s.end, str(t), str(label))
            for s, t, label in annotation.itertracks(yield_label=True)]  # fmt: skip


@pytest.mark.parametrize(
    ("size", "counts"),
    [
        ("community", {}),
        ("realseg-community", {}),
        ("realseg-community", {"num_speakers": 3}),  # more than VBx finds: KMeans decides
        ("realseg-community", {"min_speakers": 1, "max_speakers": 1}),
    ],
)
def test_the_pipeline_gives_pyannotes_output(pairs: dict, audio: np.ndarray, size, counts):
    import torch

    native, reference = pairs[size]
    assert isinstance(native.pipeline, NativeSpeakerDiarization)
    assert not isinstance(reference.pipeline, NativeSpeakerDiarization)
    file = {"waveform": torch.from_numpy(audio)[None], "sample_rate": 16000, "uri": "call"}
    steps: dict[str, list] = {"native": [], "pyannote": []}
    outputs = {}
    for name, diarizer in (("native", native), ("pyannote", reference)):
        hook = lambda step, artefact=None, **kw: steps[name].append((step, kw.get("total")))  # noqa: E731,B023
        outputs[name] = diarizer.pipeline(dict(file), hook=hook, **counts)
    ours, theirs = outputs["native"], outputs["pyannote"]
    assert _tracks(ours.speaker_diarization) == _tracks(theirs.speaker_diarization)
    assert _tracks(ours.exclusive_speaker_diarization) == _tracks(
        theirs.exclusive_speaker_diarization
    )
    assert ours.speaker_diarization.labels()  # someone speaks in a phone call
    np.testing.assert_array_equal(ours.speaker_embeddings, theirs.speaker_embeddings)
    assert steps["native"] == steps["pyannote"]  # the same progress calls, in order


def test_turns_in_spans_progress_and_steps_match(pairs: dict, audio: np.ndarray):
    """Spans link speakers by the centroids, so those must line up with the labels too."""
    native, reference = pairs["realseg-community"]
    results = {}
    for name, diarizer in (("native", native), ("pyannote", reference)):
        diarizer.span = 12.0
        done: list[tuple[float, float]] = []
        steps: dict[str, float] = {}
        try:
            turns = diarizer(audio, progress=lambda d, t: done.append((d, t)), steps=steps)  # noqa: B023
        finally:
            diarizer.span = 0.0
        results[name] = turns, done, set(steps)
    (ours, done, steps), (theirs, _, their_steps) = results["native"], results["pyannote"]
    assert ours and ours == theirs
    assert {t.speaker for t in ours} >= {"SPEAKER_00"}
    assert steps == their_steps == {"segmentation", "embeddings", "clustering", "turns"}
    assert [d for d, _ in done] == sorted(d for d, _ in done)
    assert done[-1] == (pytest.approx(audio.size / 16000),) * 2


def test_loader_runs_community_shapes_natively_unless_told(directories: dict):
    directory = str(directories["community"])
    native, _ = load_diarizer(Settings(diarize=True, diarization_model=directory), device="cpu")
    assert isinstance(native.pipeline, NativeSpeakerDiarization)
    settings = Settings(diarize=True, diarization_model=directory, diarization_runtime="pyannote")
    pyannote, _ = load_diarizer(settings, device="cpu")
    assert type(pyannote.pipeline).__name__ == "SpeakerDiarization"


def test_other_pipelines_go_to_pyannote(tiny_pipeline: Path, directories: dict, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture):  # fmt: skip
    with pytest.raises(Unsupported, match="XVectorMFCC"):
        load_native(tiny_pipeline)  # another embedding architecture
    with caplog.at_level(logging.INFO, logger="transcriber_cli.diarize.pyannote_pipeline"):
        pipeline = load_pipeline(tiny_pipeline, device="cpu", embedding_batch_size=4)
    assert type(pipeline).__name__ == "SpeakerDiarization"
    assert "pyannote.audio runs this pipeline" in caplog.text and "XVectorMFCC" in caplog.text

    copy = shutil.copytree(directories["community"], tmp_path / "p")
    shutil.copytree(copy / "plda", tmp_path / "plda")  # a real folder, outside the pipeline's
    config = (copy / "config.yaml").read_text()
    load_native(copy)  # as built: taken
    variants = {  # each something pyannote reads, refuses or runs otherwise
        "freeze": config + "freeze:\n  segmentation:\n    min_duration_off: 0.0\n",
        "clustering": config.replace("clustering: VBxClustering", "clustering: KMeans"),
        "outside": config.replace("$model/plda", "$model/../plda"),
        "hub": config.replace("$model/embedding", "pyannote/wespeaker-voxceleb-resnet34-LM"),
        "param": config.replace("    Fb: 0.8", "    Fb: 0.8\n    extra: 1"),
        "partial": config.replace("    Fb: 0.8\n", ""),  # pyannote: all to defaults
        "section": config + "  embedding:\n    x: 1\n",
        "later": config.replace("pyannote.audio: 4.0.0", "pyannote.audio: 5.0.0"),
        "v3": config.replace("dependencies:\n  pyannote.audio: 4.0.0", "version: 3.1.0"),
        "step": config.replace("    embedding_batch_size", "    segmentation_step: 1.5\n"
                               "    embedding_batch_size"),
        "legacy": config.replace("    embedding_batch_size", "    legacy: true\n"
                                 "    embedding_batch_size"),
        "threshold": config.replace("    min_duration_off: 0.0", "    min_duration_off: 0.0\n"
                                    "    threshold: 0.5"),  # a powerset model has none
        "type": config.replace("Fa: 0.07", "Fa: low"),
    }  # fmt: skip
    for name, text in variants.items():
        (copy / "config.yaml").write_text(text)
        with pytest.raises(Unsupported):
            load_native(copy)
            pytest.fail(name)


def _edit_checkpoint(path: Path, edit) -> None:
    import torch

    raw = torch.load(path, weights_only=False)
    edit(raw)
    torch.save(raw, path)


def test_embedding_checkpoints_it_does_not_run_go_to_pyannote(directories: dict, tmp_path: Path):
    for name, edit in {
        "rate": lambda raw: raw["hyper_parameters"].update(sample_rate=8000),
        "module": lambda raw: raw["pyannote.audio"]["architecture"].update(module="mypkg.nets"),
    }.items():
        copy = shutil.copytree(directories["community"], tmp_path / name)
        _edit_checkpoint(copy / "embedding" / "pytorch_model.bin", edit)
        with pytest.raises(Unsupported, match=r"8000 Hz|mypkg"):
            load_native(copy)


@pytest.mark.parametrize("diarize", [None, True])
def test_a_broken_folder_fails_as_it_does_in_pyannote(directories: dict, tmp_path: Path, diarize):
    """Whatever the native reader makes of a damaged folder, the user gets pyannote's answer:
    a skip note in auto mode, ``DiarizationUnavailable`` (exit 3) when speakers are required."""
    from transcriber_cli.errors import DiarizationUnavailable

    for damage in ("plda/plda.npz", "segmentation/pytorch_model.bin"):
        copy = shutil.copytree(directories["community"], tmp_path / damage.split("/")[0])
        (copy / damage).write_bytes(b"")
        outcomes = []
        for runtime in ("auto", "pyannote"):
            settings = Settings(diarize=diarize, diarization_model=str(copy),
                                diarization_runtime=runtime)  # fmt: skip
            try:
                diarizer, note = load_diarizer(settings, device="cpu")
            except DiarizationUnavailable as exc:
                outcomes.append(("error", str(exc)))
            else:
                assert diarizer is None
                outcomes.append(("skipped", note["reason"]))
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][0] == ("error" if diarize else "skipped")


def test_a_whole_diarization_imports_no_pyannote_audio(directories: dict, pyannote_sample):
    code = (
        "import sys; from pathlib import Path; from transcriber_cli import media;"
        "from transcriber_cli.config import Settings;"
        "from transcriber_cli.diarize.loader import load_diarizer;"
        f"s = Settings(diarize=True, diarization_model={str(directories['community'])!r});"
        "d, note = load_diarizer(s, device='cpu');"
        f"turns = d(media.decode_audio(Path({str(pyannote_sample['wav'])!r}))[:160000]);"
        "print(len(turns) > 0, 'pyannote.audio' in sys.modules, 'lightning' in sys.modules,"
        " 'matplotlib' in sys.modules)"  # pyannote.core's notebook module's (pyannote_core.py)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False", "False"]
