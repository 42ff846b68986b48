"""The built-in pipeline without pyannote.audio gives pyannote's built-in pipeline's output.

``builtin.BuiltinDiarization`` slides, thresholds and counts with this package's ports
(native/); ``builtin_pyannote.BuiltinSpeakerDiarization`` with pyannote.audio's own code.
Both share the windows method, so on the same real recordings every turn, label and centroid
must be the same, bitwise, and the hook must hear the same steps.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transcriber_cli import media

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def pipelines():
    from transcriber_cli.diarize.builtin import BuiltinDiarization, load_builtin
    from transcriber_cli.diarize.builtin_pyannote import BuiltinSpeakerDiarization

    native = load_builtin(device="cpu", batch_size=16)
    pyannote = load_builtin(device="cpu", batch_size=16, native=False)
    assert isinstance(native, BuiltinDiarization)
    assert isinstance(pyannote, BuiltinSpeakerDiarization)
    return native, pyannote


def run(pipeline, audio: np.ndarray, **counts):
    import torch

    steps: list[tuple] = []

    def hook(step, artefact=None, *, file=None, total=None, completed=None):
        assert file is not None  # bound to the file, as pyannote's setup_hook does
        steps.append((step, total, completed))

    waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
    file = {"waveform": waveform, "sample_rate": media.SAMPLE_RATE, "uri": "call"}
    return pipeline(file, hook=hook, **counts), steps


def same(native, pyannote) -> None:
    assert native.speaker_diarization == pyannote.speaker_diarization
    assert native.exclusive_speaker_diarization == pyannote.exclusive_speaker_diarization
    assert native.speaker_diarization.labels() == pyannote.speaker_diarization.labels()
    assert np.array_equal(native.speaker_embeddings, pyannote.speaker_embeddings)


@pytest.mark.parametrize(
    ("counts", "found"),
    [({}, 2), ({"num_speakers": 3}, 3), ({"min_speakers": 2, "max_speakers": 4}, 2),
     ({"max_speakers": 1}, 1)],
)  # fmt: skip
def test_the_pyannote_sample_gets_the_same_speakers(
    pipelines, pyannote_sample: dict, counts: dict, found: int
):
    audio = media.decode_audio(pyannote_sample["wav"])
    (native, native_steps), (pyannote, pyannote_steps) = (
        run(p, audio, **counts) for p in pipelines
    )
    same(native, pyannote)
    assert native_steps == pyannote_steps  # the same step ends and progress calls
    assert len(native.speaker_diarization.labels()) == found


def test_three_voices_get_the_same_speakers(pipelines):
    audio = media.decode_audio(DATA / "three-voices.opus")
    native, pyannote = (run(p, audio)[0] for p in pipelines)
    same(native, pyannote)
    assert len(native.speaker_diarization.labels()) == 3


def test_silence_gives_the_same_empty_output(pipelines):
    audio = np.zeros(5 * media.SAMPLE_RATE, dtype=np.float32)
    native, pyannote = (run(p, audio)[0] for p in pipelines)
    same(native, pyannote)
    assert len(native.speaker_diarization) == 0 and native.speaker_embeddings.shape == (0, 256)


def test_other_audio_is_refused_not_misread(pipelines):
    import torch

    native = pipelines[0]
    stereo = {"waveform": torch.zeros(2, 16000), "sample_rate": 16000}
    with pytest.raises(ValueError, match="mono audio at 16 kHz"):
        native(stereo)
    with pytest.raises(ValueError, match="mono audio at 16 kHz"):
        native({"waveform": torch.zeros(1, 8000), "sample_rate": 8000})


@pytest.mark.parametrize("runtime", ["auto", "pyannote"])
def test_the_runtime_setting_picks_the_pipeline(runtime: str, monkeypatch, caplog):
    """-v says which code runs; pyannote.audio, when it runs, sends no telemetry (its default
    is on): the promise of docs/diarization.md."""
    import os

    from transcriber_cli.config import Settings
    from transcriber_cli.diarize.builtin import BuiltinDiarization
    from transcriber_cli.diarize.loader import load_diarizer

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("PYANNOTE_METRICS_ENABLED", raising=False)
    settings = Settings(diarize=True, diarization_model="builtin", diarization_runtime=runtime)
    with caplog.at_level("INFO"):
        diarizer, note = load_diarizer(settings, device="cpu")
    assert note is None
    assert isinstance(diarizer.pipeline, BuiltinDiarization) == (runtime == "auto")
    said = " ".join(r.getMessage() for r in caplog.records)
    if runtime == "auto":
        assert "without pyannote.audio" in said
    else:
        assert "pyannote.audio runs the built-in pipeline" in said
        assert os.environ["PYANNOTE_METRICS_ENABLED"] == "false"
    assert diarizer.pipeline.embedding_batch_size == 16  # the CPU's auto batch


def test_a_whole_builtin_diarization_imports_no_pyannote_audio(pyannote_sample):
    """Nor matplotlib, which pyannote.core's notebook module imports (0.7-1.4 s holding the
    interpreter on a GPU machine's busy start); that module still imports when asked for."""
    code = (
        "import sys; from pathlib import Path; from transcriber_cli import media;"
        "from transcriber_cli.config import Settings;"
        "from transcriber_cli.diarize.loader import load_diarizer;"
        "s = Settings(diarize=True, diarization_model='builtin');"
        "d, note = load_diarizer(s, device='cpu');"
        f"turns = d(media.decode_audio(Path({str(pyannote_sample['wav'])!r})));"
        "print(len({t.speaker for t in turns}), 'pyannote.audio' in sys.modules,"
        " 'lightning' in sys.modules, 'matplotlib' in sys.modules);"
        "from pyannote.core.notebook import notebook; print(type(notebook).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "False", "False", "False", "Notebook"]


def test_the_load_does_not_wait_for_the_clusterings_imports(pyannote_sample):
    """scikit-learn and scipy (about 1 s) are imported beside the steps before clustering:
    with scikit-learn's import held back, the load still returns, and once let go the same
    speakers come. A gate holds scikit-learn's module code (not the finding of it, which
    holds Python's global import lock) for 20 s at most: a load that waits for it prints
    True, then the speakers."""
    code = f"""
import importlib.abc, importlib.util, sys, threading
from pathlib import Path
release = threading.Event()
class Held(importlib.abc.Loader):
    def __init__(self, real):
        self.real = real
    def create_module(self, spec):
        return self.real.create_module(spec)
    def exec_module(self, module):
        release.wait(20)
        self.real.exec_module(module)
class Gate(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "sklearn":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        spec.loader = Held(spec.loader)
        return spec
sys.meta_path.insert(0, Gate())
from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.diarize.loader import load_diarizer
d, note = load_diarizer(Settings(diarize=True, diarization_model="builtin"), device="cpu")
print("sklearn.cluster" in sys.modules, flush=True)
release.set()
turns = d(media.decode_audio(Path({str(pyannote_sample["wav"])!r})))
print(len({{t.speaker for t in turns}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=180
    )
    assert out.stdout.split() == ["False", "2"]


_HIDDEN = """
import importlib.abc, importlib.util, sys
class Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "sklearn":
            raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
        return None
class Broken(importlib.abc.MetaPathFinder):  # found, and fails each time it is imported
    finding = False
    def find_spec(self, name, path, target=None):
        if name != "sklearn" or self.finding:
            return None
        self.finding = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.finding = False
        def fail(module):
            raise ImportError("libgomp.so.1: cannot open shared object file")
        spec.loader.exec_module = fail
        return spec
sys.meta_path.insert(0, {finder}())
from pathlib import Path
from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.diarize.loader import load_diarizer
from transcriber_cli.errors import DiarizationUnavailable
try:
    d, note = load_diarizer(Settings(diarize=True, diarization_model="builtin"), device="cpu")
    print("loaded")
    d(media.decode_audio(Path({wav!r})))
except DiarizationUnavailable as exc:
    print("unavailable:", str(exc).splitlines()[0])
"""


@pytest.mark.parametrize(
    ("finder", "expected"),
    [
        ("Hidden", "unavailable: cannot load the built-in speaker weights in"),
        ("Broken", "loaded\nunavailable: the built-in speakers' clustering cannot be imported: "
                   "ImportError: libgomp.so.1"),
    ],
    ids=["not-installed", "broken"],
)  # fmt: skip
def test_a_missing_or_broken_clustering_package_is_one_line(pyannote_sample, finder, expected):
    """Not installed: the load fails, as when the clustering was imported there. Installed
    but failing to import: the diarizing fails with one line (not a traceback)."""
    code = _HIDDEN.format(finder=finder, wav=str(pyannote_sample["wav"]))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=180
    )
    assert out.stdout.startswith(expected), out.stdout + out.stderr
    assert "Traceback" not in out.stderr
