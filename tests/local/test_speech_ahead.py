"""The windows' speech regions found ahead on a GPU (pipeline/speech.py): the very regions
the engine finds itself, found while the windows before decode; a CPU finds each window's
when it starts, as before (tests/gpu/test_cuda.py: found while the models load)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.helpers import no_speakers
from transcriber_cli import media
from transcriber_cli.engine import vad
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.options import WhisperOptions
from transcriber_cli.pipeline.flow import transcribe_audio
from transcriber_cli.pipeline.models import LoadedModels
from transcriber_cli.pipeline.speech import SpeechAhead
from transcriber_cli.pipeline.windows import WindowCheckpoint, part, remaining_cuts
from transcriber_cli.transcript import Transcript


@pytest.fixture(scope="module")
def looped_audio(looped_media) -> np.ndarray:
    return media.decode_audio(looped_media(3))  # 100 s of two voices


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, float, np.ndarray]]:
    """Every Silero VAD search: (thread, start, end, the samples searched). faster-whisper's
    function is wrapped, not replaced: the regions are the real ones."""
    import faster_whisper.vad

    real = faster_whisper.vad.get_speech_timestamps
    seen: list[tuple[str, float, float, np.ndarray]] = []
    lock = threading.Lock()

    def timed(audio, *args, **kwargs):
        start = time.monotonic()
        found = real(audio, *args, **kwargs)
        with lock:
            seen.append((threading.current_thread().name, start, time.monotonic(), audio))
        return found

    monkeypatch.setattr(faster_whisper.vad, "get_speech_timestamps", timed)
    return seen


def test_the_regions_found_ahead_are_the_ones_the_engine_finds(looped_audio) -> None:
    cuts = remaining_cuts(looped_audio, WindowCheckpoint(), 40)
    assert len(cuts) >= 2
    ahead = SpeechAhead(looped_audio, cuts, 2, lead=1)
    for bounds in cuts:
        found = ahead.regions(bounds)
        assert found == vad.speech_regions(part(looped_audio, bounds), 2) and len(found) > 5
    assert ahead.regions((0.0, 1.0)) is None  # not one of its windows: the engine searches
    _ended(ahead)
    stopped = SpeechAhead(looped_audio, cuts, 2, lead=0)  # none ahead: each by its asker
    assert stopped.regions(cuts[0])
    stopped.stop()
    assert stopped.regions(cuts[1]) is None  # stopped before it: found by the engine then
    _ended(stopped)


def test_a_window_asked_for_before_its_search_began_searches_on_its_own_thread(
    looped_audio, searches
) -> None:
    """The thread searches one window after another, so a window asked for before it reached
    it (the first windows of a file spread over several GPUs) waited for the searches of the
    windows before. Now it searches at once on its own thread, as before; the thread takes
    the windows before it."""
    cuts = remaining_cuts(looped_audio, WindowCheckpoint(), 40)
    ahead = SpeechAhead(looped_audio, cuts, 1, lead=0)  # nothing ahead until a window asks
    found: list = []
    asker = threading.Thread(target=lambda: found.append(ahead.regions(cuts[1])), name="second")
    asker.start()
    asker.join(30)
    deadline = time.monotonic() + 30
    while len(searches) < 2 and time.monotonic() < deadline:  # window 0, on the thread
        time.sleep(0.01)
    assert sorted(thread for thread, *_ in searches) == ["second", "speech-ahead"], searches
    assert found == [vad.speech_regions(part(looped_audio, cuts[1]), 1)] and found[0]
    _ended(ahead)


def test_a_search_that_fails_leaves_the_window_to_its_engine(
    looped_audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread's first step, importing faster-whisper, could fail (here: made to) outside
    any window's search, and the windows waited for searches that would never come. Now a
    failed search gives None at once, and the window's engine searches (and says its error)
    as before."""
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # an import that raises
    cuts = remaining_cuts(looped_audio, WindowCheckpoint(), 40)
    ahead = SpeechAhead(looped_audio, cuts, 1, lead=2)
    got: list = []
    asker = threading.Thread(target=lambda: got.extend(ahead.regions(b) for b in cuts[:2]),
                             daemon=True)  # fmt: skip
    asker.start()
    asker.join(10)
    assert not asker.is_alive() and got == [None, None]
    _ended(ahead)  # its thread went on to the windows after: none may search once unpatched


def _ended(ahead: SpeechAhead) -> None:
    """Stop ``ahead`` and wait for its thread: a search it began after its test ended landed
    in the next test's record of searches (CI: one window too many)."""
    ahead.stop()
    ahead._thread.join(30)
    assert not ahead._thread.is_alive()


class _Engine:
    """A stand-in engine on ``device`` that notes what each window was given, and when its
    decoding ran (``decode_s`` each)."""

    device_index, name, compute_type, encoder, decoder_lanes = 0, "stand-in", "int8", "x", 1
    decoder = "ctranslate2"
    cpu_threads = 1

    def __init__(self, device: str, decode_s: float = 0.4) -> None:
        self.device = device
        self.decode_s = decode_s
        self.windows: list[tuple[float, float, list | None, np.ndarray]] = []
        self._lock = threading.Lock()

    def batch_size(self, options) -> int:
        return 8

    def transcribe(self, audio, options, progress=None, *, regions=None) -> Transcript:
        start = time.monotonic()
        time.sleep(self.decode_s)
        with self._lock:
            self.windows.append((start, time.monotonic(), regions, audio))
        return Transcript(language="en", language_probability=1.0,
                          duration=len(audio) / media.SAMPLE_RATE)  # fmt: skip


def test_on_a_gpu_the_next_windows_speech_is_found_while_the_windows_before_decode(
    looped_audio, searches
) -> None:
    # Two windows' searches (20-60 ms each here) run while the first two decode: a second's
    # decoding leaves them room on a loaded CI machine (0.4 s left 0.29 s at the least).
    engine = _Engine("cuda", decode_s=1.0)
    transcribe_audio(looped_audio, LoadedModels(engine, no_speakers()),  # type: ignore[arg-type]
                     WhisperOptions(language="en"), window_seconds=20,
                     windows_in_flight=2)  # fmt: skip
    cuts = remaining_cuts(looped_audio, WindowCheckpoint(), 20)
    n = len(cuts)
    assert len(engine.windows) == n >= 4
    windows = [part(looped_audio, b) for b in cuts]

    def window(audio: np.ndarray) -> int:
        return next(i for i, w in enumerate(windows) if np.array_equal(w, audio))

    decoded = {}  # window -> when its decoding ended
    flow = [(window(audio), thread, end) for thread, _, end, audio in searches]
    for _, end, regions, audio in engine.windows:  # every window was given the engine's own
        assert regions == vad.speech_regions(audio, engine.cpu_threads) and regions
        decoded[window(audio)] = end
    # Each window searched once (by its samples: two searches may end in either order): the
    # first two by the thread ahead or by their own window, every later one by the thread
    # ahead, before the window two places before it (in flight with it) had decoded.
    assert sorted(i for i, _, _ in flow) == list(range(n)), flow
    for i, thread, end in flow:
        if i >= 2:
            assert thread == "speech-ahead" and end < decoded[i - 2], (flow, decoded)


def test_speech_found_for_other_windows_is_searched_again_for_these(looped_audio, searches) -> None:
    """A local run cuts the windows its search starts with while the models load, from the
    batch size it plans; the engine's may differ, and the windows with it. Their speech was
    then not found ahead at all (each window's engine searched on its own, and the thread
    searched windows nobody asked for). Now the search starts again for the windows cut."""
    engine = _Engine("cuda", decode_s=0.2)
    guessed = remaining_cuts(looped_audio, WindowCheckpoint(), 40)
    stale = SpeechAhead(looped_audio, guessed, 1, lead=2)
    transcribe_audio(looped_audio, LoadedModels(engine, no_speakers()),  # type: ignore[arg-type]
                     WhisperOptions(language="en"), window_seconds=20, windows_in_flight=2,
                     ahead=stale)  # fmt: skip
    _ended(stale)
    cuts = remaining_cuts(looped_audio, WindowCheckpoint(), 20)
    assert len(engine.windows) == len(cuts) >= 4 and cuts[0] != guessed[0]
    for _, _, regions, audio in engine.windows:  # each given the regions of its own samples
        assert regions == vad.speech_regions(audio, engine.cpu_threads) and regions
    # The later windows' speech found ahead, by the new search: the windows cut, not the guess.
    later = [part(looped_audio, bounds) for bounds in cuts[2:]]
    ahead = [audio for thread, _, _, audio in searches if thread == "speech-ahead"]
    assert all(any(np.array_equal(a, w) for a in ahead) for w in later), len(ahead)


def test_a_resumed_file_keeps_the_windows_it_was_cut_in(looped_audio) -> None:
    """The auto length depends on where a file runs (alone on a GPU or not, its batch size):
    a job resumed on another worker cut other windows after the checkpoint than an
    uninterrupted run would have. The checkpoint now keeps the length."""
    engine = _Engine("cpu", decode_s=0.0)
    cuts = remaining_cuts(looped_audio, WindowCheckpoint(), 20)
    done = WindowCheckpoint(seconds=cuts[0][1], windows=1, language="en", window_seconds=20)
    transcript = transcribe_audio(looped_audio, LoadedModels(engine, no_speakers()),  # type: ignore[arg-type]
                                  WhisperOptions(language="en"), window_seconds=40,
                                  resume=done)  # fmt: skip
    assert [len(a) for *_, a in engine.windows] == [len(part(looped_audio, b)) for b in cuts[1:]]
    assert transcript.options["window_seconds"] == 20
    saved: list[WindowCheckpoint] = []
    transcribe_audio(looped_audio, LoadedModels(engine, no_speakers()),  # type: ignore[arg-type]
                     WhisperOptions(language="en"), window_seconds=40,
                     on_checkpoint=lambda state, _s: saved.append(state.model_copy()))  # fmt: skip
    assert saved and all(state.window_seconds == 40 for state in saved)  # a fresh run's own


def test_on_a_cpu_the_windows_find_their_own_speech(looped_audio, searches) -> None:
    engine = _Engine("cpu")
    transcribe_audio(looped_audio, LoadedModels(engine, no_speakers()),  # type: ignore[arg-type]
                     WhisperOptions(language="en"), window_seconds=20,
                     windows_in_flight=2)  # fmt: skip
    assert len(engine.windows) >= 4
    assert [regions for _, _, regions, _ in engine.windows] == [None] * len(engine.windows)
    assert searches == []  # the stand-in searches nothing itself


def test_a_transcript_with_speech_found_ahead_is_the_same(
    looped_audio, tiny_model: str, searches
) -> None:
    """The regions a GPU's run finds ahead, handed to a real engine's windows (here a CPU's,
    given them as a GPU's run is): the same words at the same times."""
    engine = WhisperEngine(tiny_model, device="cpu", compute_type="int8", cpu_threads=2)
    models = LoadedModels(engine, no_speakers())
    cuts = remaining_cuts(looped_audio, WindowCheckpoint(), 40)
    ahead = SpeechAhead(looped_audio, cuts, engine.cpu_threads, lead=1)
    found = transcribe_audio(looped_audio, models, WhisperOptions(), window_seconds=40,
                             ahead=ahead)  # fmt: skip
    assert len(searches) == len(cuts)  # each window's once: the engine used what was found
    _ended(ahead)
    own = transcribe_audio(looped_audio, models, WhisperOptions(), window_seconds=40)

    def words(transcript: Transcript) -> list[tuple[str, float, float]]:
        return [(w.text, w.start, w.end) for s in transcript.segments for w in s.words]

    assert words(found) == words(own) and len(words(own)) > 150


def test_a_local_run_on_a_cpu_finds_each_windows_speech_when_it_starts(
    conversation: dict, tiny_model: str, tmp_path
) -> None:
    """Found during the load, a CPU's speech made the 5-minute file slower on two cores
    (its load and the search shared them): a CPU run searches as before."""
    proc = run_cli(str(conversation["path"]), "-m", tiny_model, "--device", "cpu",
                   "--offline", "--no-diarize", "-o", str(tmp_path), "-v")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "models ready" in proc.stderr and "found ahead" not in proc.stderr
    assert "Good morning" in (tmp_path / "conversation.txt").read_text()


RACE = """
import importlib.abc, importlib.machinery, json, sys, threading, time
import numpy as np

started = threading.Event()
found_by = []  # (thread, module) for each faster-whisper module looked for

class SlowTokenizer(importlib.abc.MetaPathFinder):
    # faster-whisper's transcribe module imports its tokenizer before its VAD module: slowed,
    # the load's thread is inside the package's import when the search starts.
    def find_spec(self, name, path, target=None):
        if name.startswith("faster_whisper"):
            found_by.append((threading.current_thread().name, name))
        if name != "faster_whisper.tokenizer":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        real = spec.loader.exec_module
        def slow(module):
            started.set()
            time.sleep(1.0)
            real(module)
        spec.loader.exec_module = slow
        return spec

sys.meta_path.insert(0, SlowTokenizer())
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.pipeline.speech import SpeechAhead

assert "faster_whisper" not in sys.modules
done = {}

def load():
    try:
        WhisperEngine(sys.argv[1], device="cpu", compute_type="int8", cpu_threads=1)
        done["loaded"] = True
    except BaseException as exc:
        done["error"] = repr(exc)

thread = threading.Thread(target=load, name="load")
thread.start()
started.wait(60)
audio = np.random.default_rng(0).normal(0, 0.1, 16000 * 70).astype(np.float32)
found = SpeechAhead(audio, [(0.0, 70.0)], 1, 1).regions((0.0, 70.0))
thread.join()
print(json.dumps({**done, "regions": found is not None,
                  "threads": sorted({thread for thread, _ in found_by})}))
"""


def test_the_search_waits_for_the_whisper_loads_import_of_faster_whisper(tiny_model: str) -> None:
    """On a GPU the search starts while the Whisper model loads on another thread, and both
    import faster-whisper. The search's thread began with the package's VAD module while the
    load was inside the package's import, and the load was handed that module half-initialised
    (an ImportError that failed a run on an H100). In a fresh interpreter, the load held
    inside the package's import (its tokenizer, 1 s) while the search starts: the search
    waits for the package, so every faster-whisper module is imported by the load alone."""
    proc = subprocess.run([sys.executable, "-c", RACE, tiny_model], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == {"loaded": True, "regions": True, "threads": ["load"]}, result
