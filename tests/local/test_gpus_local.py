"""Several devices in one local run (``--gpus``), tested with two CPU "devices": two real
tiny.en copies in one ``transcribe`` process. Every file is done exactly once, both copies
work, and a file split by window over them reads the same as one copy's transcript."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import json_lines, run_cli
from tests.helpers import no_speakers, wav_without_data, wer
from transcriber_cli import media
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.options import WhisperOptions
from transcriber_cli.pipeline.flow import transcribe_audio
from transcriber_cli.pipeline.models import LoadedModels
from transcriber_cli.pipeline.windows import WindowCheckpoint, next_cut

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
# One thread per copy whatever the machine, so one copy and two give the same numbers.
ENV = {"TRANSCRIBER_CPU_THREADS": "1"}


def _cut(src: Path, dest: Path, seconds: float) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", str(seconds), "-vn",
                    str(dest)], check=True)  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, conversation: dict, looped_media) -> Path:
    """Six recordings of 8-66 s, the longest listed last (as a folder listing may)."""
    root = tmp_path_factory.mktemp("gpus")
    for name, seconds in (("a", 8), ("b", 14), ("c", 20), ("d", 33), ("e", 30)):
        _cut(conversation["path"], root / f"{name}.mp3", seconds)
    _cut(looped_media(2), root / "z-long.mp3", 66)
    return root


def _script_text(conversation: dict, seconds: float) -> str:
    return " ".join(t["text"] for t in conversation["turns"] if t["end"] <= seconds)


def test_a_folder_over_two_copies_does_every_file_once(
    folder: Path, tiny_model: str, conversation: dict
) -> None:
    args = (str(folder), "--device", "cpu", "--gpus", "2", "-m", tiny_model, "--no-diarize",
            "--offline", "--json")  # fmt: skip
    proc = run_cli(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    paths = [line["path"] for line in lines]
    assert sorted(paths) == sorted(str(p) for p in folder.glob("*.mp3"))  # each once
    assert {line["status"] for line in lines} == {"done"}
    # Both copies worked, and every file names the one that did it.
    slots = {line["path"]: line["runtime"]["slot"] for line in lines}
    assert set(slots.values()) == {"cpu#0", "cpu#1"}
    # Longest first: the 66 s file started at once, so it did not finish last of all (the
    # other copy has 105 s of audio); in the listed order it would start last.
    assert paths[-1] != str(folder / "z-long.mp3")
    for mp3 in folder.glob("*.mp3"):
        assert all(mp3.with_suffix(f".{ext}").is_file() for ext in FORMATS)
    for name, seconds in (("b", 14), ("d", 33)):
        text = (folder / f"{name}.txt").read_text()
        assert wer(_script_text(conversation, seconds), text) < 0.35, (name, text)
    # One manifest: a rerun over two copies skips everything.
    again = run_cli(*args, env=ENV)
    assert again.returncode == 0, again.stderr
    assert {line["status"] for line in json_lines(again.stdout)} == {"skipped"}


def test_one_long_file_is_split_by_window_over_both_copies(
    folder: Path, tiny_model: str, tmp_path: Path
) -> None:
    """Also two windows in flight on one copy (a GPU's default is four): their decoder calls are
    merged, and the transcript is the same."""
    src = folder / "z-long.mp3"
    texts = {}
    for copies, windows in (("1", "1"), ("2", "1"), ("1", "2")):
        out = tmp_path / f"{copies}x{windows}"
        proc = run_cli(str(src), "--device", "cpu", "--gpus", copies, "-m", tiny_model,
                       "--no-diarize", "--offline", "--json", "-o", str(out),
                       env={**ENV, "TRANSCRIBER_WINDOW_SECONDS": "15",
                            "TRANSCRIBER_WINDOWS_PER_DEVICE": windows})  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        (line,) = json_lines(proc.stdout)
        texts[copies, windows] = (out / "z-long.json").read_text(), (out / "z-long.txt").read_text()
        if copies == "2":
            assert line["runtime"]["slots"] == ["cpu#0", "cpu#1"]
        else:
            assert "slot" not in line["runtime"]
        if windows == "2":
            assert line["runtime"]["windows_in_flight"] == 2
        else:
            assert "windows_in_flight" not in line["runtime"]
    # The same cuts, language and seams: word for word the one-copy transcript.
    assert texts["2", "1"][1] == texts["1", "1"][1] == texts["1", "2"][1]
    assert len(texts["2", "1"][1].split()) > 100

    def words(text: str) -> list[tuple[str, float, float]]:
        doc = json.loads(text)
        return [(w["text"], w["start"], w["end"]) for s in doc["segments"] for w in s["words"]]

    # Windows in flight on one copy: every word at the same time, too.
    assert words(texts["1", "2"][0]) == words(texts["1", "1"][0])


def test_split_windows_checkpoint_only_what_is_done_without_a_gap(
    looped_media, tiny_model: str
) -> None:
    """Windows finish out of order on two engines; each checkpoint is the finished prefix,
    so a resumed run never skips a window that was not done."""
    audio = media.decode_audio(looped_media(2))
    engines = [WhisperEngine(tiny_model, device="cpu", compute_type="int8", cpu_threads=1)
               for _ in range(2)]  # fmt: skip
    saved: list[WindowCheckpoint] = []
    transcript = transcribe_audio(
        audio,
        LoadedModels(engines[0], no_speakers()),
        WhisperOptions(),
        window_seconds=12,
        on_checkpoint=lambda state, _s: saved.append(state.model_copy(deep=True)),
        helpers=engines[1:],
    )
    assert transcript.options["device"] == "cpu"
    windows = [s.windows for s in saved]
    assert windows == list(range(1, len(saved) + 1)) and len(saved) >= 4
    ends = [s.seconds for s in saved]
    assert ends == sorted(ends) and ends[-1] == pytest.approx(transcript.duration, abs=0.01)
    final = [seg.text for seg in transcript.segments]
    for state in saved:  # every checkpoint is a prefix of the final transcript
        assert [seg.text for seg in state.segments] == final[: len(state.segments)]
        assert all(seg.end <= state.seconds + 0.5 for seg in state.segments)
    # A run resumed from the second checkpoint ends with the same transcript.
    resumed = transcribe_audio(
        audio,
        LoadedModels(engines[0], no_speakers()),
        WhisperOptions(),
        window_seconds=12,
        resume=saved[1],
        helpers=engines[1:],
    )
    assert [seg.text for seg in resumed.segments] == final


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gpus", "0,1", "--device", "cpu"), "names GPUs, but this run is on the CPU"),
        (("--gpus", "two"), "--gpus 'two': use all, a count"),
        (("--gpus", "2", "--remote"), "--gpus applies to local runs"),
    ],
)
def test_gpus_misuse_is_one_line(args, message, folder: Path) -> None:
    proc = run_cli(str(folder / "a.mp3"), *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # the line (and a hint)


def test_two_files_in_flight_share_one_copy_and_its_speaker_pipeline(
    folder: Path, tiny_model: str, tmp_path: Path, conversation: dict
) -> None:
    """files_per_device 2: two files at once share one model copy; the built-in speaker
    pipeline takes them in turn and each file gets the conversation's two voices."""
    names = ("c", "d", "e")
    inputs = [str(folder / f"{n}.mp3") for n in names]
    proc = run_cli(*inputs, "--device", "cpu", "-m", tiny_model, "--diarize",
                   "--diarization-model", "builtin", "--num-speakers", "2", "--offline",
                   "--json", "-v", "-o", str(tmp_path),
                   env={**ENV, "TRANSCRIBER_FILES_PER_DEVICE": "2"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert sorted(line["path"] for line in lines) == sorted(inputs)
    for line in lines:
        assert line["diarization"] == "done" and len(line["speakers"]) == 2, line
    # Two files were in flight: the second started before the first one finished.
    events = [ln.split("runner: ", 1)[1].split(" on ")[0] for ln in proc.stderr.splitlines()
              if "local.runner: started" in ln or "local.runner: finished" in ln]  # fmt: skip
    assert events[:2] == [f"started {events[0].split()[1]}", f"started {events[1].split()[1]}"]
    assert events[0] != events[1] and len(events) == 6, events
    assert "local.runner: started c.mp3 on cpu#0" in proc.stderr
    lines_d = (tmp_path / "d.txt").read_text().splitlines()
    assert all(ln.startswith(("[SPEAKER_00] ", "[SPEAKER_01] ")) for ln in lines_d)
    spoken = " ".join(ln.split("] ", 1)[1] for ln in lines_d)
    assert wer(_script_text(conversation, 33), spoken) < 0.35


def test_one_file_keeps_the_one_device_path_whatever_files_per_device(
    folder: Path, tiny_model: str, tmp_path: Path
) -> None:
    """A second lane has nothing to overlap with one input: the plain one-device run."""
    proc = run_cli(str(folder / "c.mp3"), "--device", "cpu", "-m", tiny_model, "--no-diarize",
                   "--json", "-v", "-o", str(tmp_path),
                   env={**ENV, "TRANSCRIBER_FILES_PER_DEVICE": "2"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [line["status"] for line in json_lines(proc.stdout)] == ["done"]
    assert "started c.mp3 on the device" in proc.stderr  # not "on cpu#0": no device slots
    assert "slot" not in json_lines(proc.stdout)[0]["runtime"]


def test_one_file_left_to_do_keeps_the_one_device_path(
    folder: Path, tiny_model: str, tmp_path: Path
) -> None:
    """Inputs already transcribed do not count: one file left to do runs as one input does."""
    common = ("--device", "cpu", "-m", tiny_model, "--no-diarize", "--json", "-v",
              "-o", str(tmp_path))  # fmt: skip
    env = {**ENV, "TRANSCRIBER_FILES_PER_DEVICE": "2"}
    assert run_cli(str(folder / "a.mp3"), *common, env=env).returncode == 0
    proc = run_cli(str(folder / "a.mp3"), str(folder / "c.mp3"), *common, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = {Path(line["path"]).name: line for line in json_lines(proc.stdout)}
    assert {name: line["status"] for name, line in lines.items()} == {"a.mp3": "skipped",
                                                                      "c.mp3": "done"}  # fmt: skip
    assert "started c.mp3 on the device" in proc.stderr  # not "on cpu#0": no device slots
    assert "slot" not in lines["c.mp3"]["runtime"]


def test_a_bad_file_among_several_devices_fails_alone(folder: Path, tiny_model: str,
                                                      tmp_path: Path) -> None:  # fmt: skip
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00not audio" * 500)
    good = [str(folder / "a.mp3"), str(folder / "b.mp3")]
    proc = run_cli(*good, str(bad), "--device", "cpu", "--gpus", "2", "-m", tiny_model,
                   "--no-diarize", "--offline", "--json", "-o", str(tmp_path / "out"),
                   env=ENV)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    status = {line["path"]: line["status"] for line in json_lines(proc.stdout)}
    assert status == {good[0]: "done", good[1]: "done", str(bad): "failed"}
    assert proc.stderr.count("error:") == 1 and "broken.mp3" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "out").glob("broken.*"))


class _Engine:
    """A stand-in engine with a known delay per window, to make windows finish out of order.
    The audio is piecewise constant: window k holds the level (k + 1) / 100."""

    device, device_index, name, compute_type = "cpu", 0, "stand-in", "int8"
    encoder, decoder, decoder_lanes, cpu_threads = "ctranslate2", "ctranslate2", 1, 1

    def __init__(self, slow: dict[int, float], fail: int | None = None) -> None:
        import threading

        self.slow, self.fail = slow, fail
        self.finished: list[tuple[int, float]] = []
        self.running, self.most = 0, 0  # windows in this engine at once, and the most seen
        self._count = threading.Lock()

    def batch_size(self, options) -> int:
        return 8

    def transcribe(self, part, options, progress=None, *, regions=None):
        import time

        from transcriber_cli.errors import TranscriberError
        from transcriber_cli.transcript import Segment, Transcript

        k = round(float(part.max()) * 100) - 1
        with self._count:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.slow.get(k, 0.02))
        with self._count:
            self.running -= 1
        if k == self.fail:
            raise TranscriberError(f"window {k} cannot be decoded")
        self.finished.append((k, time.monotonic()))
        seconds = len(part) / 16000
        return Transcript(language="en", language_probability=1.0, duration=seconds,
                          segments=[Segment(id=0, start=0.2, end=seconds - 0.2,
                                            text=f"window {k}")])  # fmt: skip


def _levels(windows: int) -> np.ndarray:

    pieces = []
    for k in range(windows):  # 8 s at the window's level, then 2 s of silence to cut in
        pieces += [np.full(8 * 16000, (k + 1) / 100, np.float32),
                   np.zeros(2 * 16000, np.float32)]  # fmt: skip
    return np.concatenate(pieces)


def test_windows_finishing_out_of_order_are_joined_and_checkpointed_in_order() -> None:
    import time

    first, second = _Engine({1: 0.8}), _Engine({1: 0.8})  # window 1 is slow on either
    saved: list[tuple[int, float, list[str]]] = []
    transcript = transcribe_audio(
        _levels(5), LoadedModels(first, no_speakers()), WhisperOptions(language="en"),
        window_seconds=12,
        on_checkpoint=lambda st, _s: saved.append(
            (st.windows, time.monotonic(), [s.text for s in st.segments])),
        helpers=[second],
    )  # fmt: skip
    assert [s.text for s in transcript.segments] == [f"window {k}" for k in range(5)]
    done = dict(first.finished + second.finished)
    assert done[2] < done[1]  # window 2 finished before window 1 ...
    assert [w for w, _, _ in saved] == [1, 2, 3, 4, 5]  # ... yet checkpoints go in order
    by_windows = {w: (t, texts) for w, t, texts in saved}
    assert by_windows[2][0] >= done[1] and by_windows[3][0] >= done[1]
    assert by_windows[3][1] == ["window 0", "window 1", "window 2"]
    assert {k for k, _ in first.finished} and {k for k, _ in second.finished}  # both worked


def test_windows_in_flight_share_one_engine_and_are_joined_in_order() -> None:
    """``windows_in_flight`` (a GPU's default is 4) runs that many windows of one recording
    on one engine at once; the transcript and its checkpoints still go window by window."""
    engine = _Engine({0: 1.0, 1: 1.0})  # both in flight at once, even on a loaded machine
    saved: list[int] = []
    transcript = transcribe_audio(
        _levels(5), LoadedModels(engine, no_speakers()), WhisperOptions(language="en"),
        window_seconds=12, on_checkpoint=lambda st, _s: saved.append(st.windows),
        windows_in_flight=2,
    )  # fmt: skip
    assert engine.most == 2
    assert [s.text for s in transcript.segments] == [f"window {k}" for k in range(5)]
    assert saved == [1, 2, 3, 4, 5]
    assert transcript.options["windows_in_flight"] == 2
    alone = _Engine({})
    transcribe_audio(_levels(5), LoadedModels(alone, no_speakers()),
                     WhisperOptions(language="en"), window_seconds=12)  # fmt: skip
    assert alone.most == 1
    # What ran is what is reported: a recording of one window had nothing beside it.
    short = transcribe_audio(_levels(1), LoadedModels(_Engine({}), no_speakers()),
                             WhisperOptions(language="en"), window_seconds=12,
                             windows_in_flight=2)  # fmt: skip
    assert "windows_in_flight" not in short.options
    # Two engines (GPUs) with two windows each: the first windows go one to each engine.
    first, second = _Engine({0: 0.3, 1: 0.3}), _Engine({})
    both = transcribe_audio(_levels(2), LoadedModels(first, no_speakers()),
                            WhisperOptions(language="en"), window_seconds=12,
                            helpers=[second], windows_in_flight=2)  # fmt: skip
    assert len(first.finished) == len(second.finished) == 1
    assert "windows_in_flight" not in both.options  # one window on each, never two at once
    assert "decoder_lanes" not in both.options  # one lane: nothing to report


def test_a_transcript_says_how_many_decoder_lanes_ran() -> None:
    engine = _Engine({})
    engine.decoder_lanes = 2  # what a GPU engine loaded with decoder_lanes = 2 holds
    transcript = transcribe_audio(_levels(2), LoadedModels(engine, no_speakers()),
                                  WhisperOptions(language="en"), window_seconds=12)  # fmt: skip
    assert transcript.options["decoder_lanes"] == 2
    assert [s.text for s in transcript.segments] == ["window 0", "window 1"]


def test_a_failing_window_stops_the_file_with_its_error_and_keeps_the_prefix() -> None:
    from transcriber_cli.errors import TranscriberError

    first, second = _Engine({}, fail=3), _Engine({}, fail=3)
    saved: list[int] = []
    with pytest.raises(TranscriberError, match="window 3 cannot be decoded"):
        transcribe_audio(
            _levels(6), LoadedModels(first, no_speakers()), WhisperOptions(language="en"),
            window_seconds=12, on_checkpoint=lambda st, _s: saved.append(st.windows),
            helpers=[second],
        )  # fmt: skip
    assert saved == list(range(1, len(saved) + 1)) and max(saved, default=0) <= 3


def test_windows_in_flight_follow_the_files_in_flight_on_the_device(
    folder: Path, tiny_model: str, tmp_path: Path, watch_windows_rule
) -> None:
    """The automatic windows in flight are chosen from the files in flight on the device (a
    GPU's 4 only with one file: files in flight already fill the decoder calls). A folder
    run tells the rule its files at once, a run of one file 1; watched in-process."""
    from transcriber_cli.config import Settings
    from transcriber_cli.formats.registry import parse_formats
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.local import runner as local

    told = watch_windows_rule(local)
    settings = Settings(model=tiny_model, device="cpu", diarize=False, offline=True,
                        files_per_device=2, cpu_threads=1)  # fmt: skip
    options = JobOptions.build(settings)
    formats = parse_formats("txt")
    files = [folder / "a.mp3", folder / "b.mp3", folder / "c.mp3"]
    local.LocalRunner(settings, options, formats, output_dir=tmp_path / "three").run(files)
    assert told == [2, 2, 2]
    told.clear()
    local.LocalRunner(settings, options, formats, output_dir=tmp_path / "one").run(files[:1])
    assert told == [1]
    assert (tmp_path / "one" / "a.txt").read_text().strip()


@pytest.mark.parametrize("name, window", [("d.mp3", 600), ("z-long.mp3", 15)])
def test_a_copy_that_cannot_load_gives_its_file_to_another(
    folder: Path,
    tiny_model: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    window: int,
) -> None:
    """Two copies, one file: the first copy's CTranslate2 load fails (a full GPU on a shared
    machine: injected into CTranslate2, once). The file goes to the other copy, with a note;
    the run stopped instead ("no device can load"). A file shorter than a window had the
    other copy idle, never tried; a longer one, split by window, had it as a helper only."""
    import threading

    import ctranslate2

    from transcriber_cli.config import Settings
    from transcriber_cli.formats.registry import parse_formats
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.local import runner as local

    real = ctranslate2.models.Whisper
    failed = threading.Event()

    def whisper(*args, **kwargs):
        if not failed.is_set():
            failed.set()
            raise RuntimeError("CUDA failed with error out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(ctranslate2.models, "Whisper", whisper)

    class Notes(local.NullReporter):
        def __init__(self) -> None:
            self.notes: list[str] = []

        def note(self, text: str) -> None:
            self.notes.append(text)

    notes = Notes()
    settings = Settings(model=tiny_model, device="cpu", gpus="2", diarize=False, offline=True,
                        cpu_threads=1, window_seconds=window)  # fmt: skip
    runner = local.LocalRunner(settings, JobOptions.build(settings), parse_formats("txt"),
                               output_dir=tmp_path, reporter=notes)  # fmt: skip
    (result,) = runner.run([folder / name])
    assert result.status.value == "done", result
    assert result.runtime["slot"] == "cpu#1"
    assert any(n.startswith("cpu#0: cannot load model") and n.endswith("going on without it")
               for n in notes.notes), notes.notes  # fmt: skip
    text = (tmp_path / name).with_suffix(".txt").read_text()
    assert "Good morning" in text and len(text.split()) > (100 if window == 15 else 60)


class _Lingual(_Engine):
    """Detects "de" in a window with speech, no language in one without (as a multilingual
    model's batched pipeline does when VAD finds no speech)."""

    def __init__(self) -> None:
        super().__init__({})
        self.asked: list[tuple[bool, str | None]] = []  # (speech, language asked for)
        self.detected: list[bool] = []  # speech in each window a detection was asked of

    multilingual = True

    def detect_language(self, part, options, *, regions=None):
        with self._count:
            self.detected.append(bool(part.any()))
        return ("de", 0.83) if part.any() else None

    def transcribe(self, part, options, progress=None, *, regions=None):
        from transcriber_cli.transcript import Transcript

        with self._count:
            self.asked.append((bool(part.any()), options.language))
        if not part.any():
            return Transcript(language=None, duration=len(part) / 16000)
        found = super().transcribe(part, options, progress)
        return found.model_copy(update={"language": options.language or "de"})


@pytest.mark.parametrize(
    "setup", ["one window", "two windows in flight", "two devices", "two decoder lanes"]
)
def test_the_language_comes_from_the_first_window_with_speech(setup: str) -> None:
    """A multilingual recording whose first window is silence (a waiting room): the language
    was taken from that window (none), so the transcript had none and every later window
    detected its own, two at a time in flight. Now it comes from the first window with
    speech and the later ones are given it: on one device with one decoder lane that window
    detects it while it is transcribed, alone; over several devices, or on a GPU's decoder
    lanes, it is detected before the windows start, so they start together."""
    audio = np.concatenate([np.zeros(11 * 16000, np.float32), _levels(4)])
    engine = _Lingual()
    if setup == "two decoder lanes":
        engine.decoder_lanes = 2
    helpers = [_Lingual()] if setup == "two devices" else []
    transcript = transcribe_audio(
        audio, LoadedModels(engine, no_speakers()), WhisperOptions(), window_seconds=12,
        windows_in_flight=1 if setup in ("one window", "two devices") else 2, helpers=helpers,
    )  # fmt: skip
    assert transcript.language == "de"
    assert engine.asked[0] == (False, None)  # the silence, first
    speech = [language for e in (engine, *helpers) for has, language in e.asked if has]
    assert len(speech) >= 3
    if helpers or setup == "two decoder lanes":
        assert speech == ["de"] * len(speech), (engine.asked, helpers and helpers[0].asked)
        assert engine.detected == [False, True]
        assert not helpers or helpers[0].detected == []
        assert transcript.language_probability == 0.83
    else:
        assert speech[0] is None and speech[1:] == ["de"] * (len(speech) - 1), engine.asked
        assert engine.detected == []
    assert [s.text for s in transcript.segments] == [f"window {k}" for k in range(4)]


class _Timed(WhisperEngine):
    """A real engine that notes when each of its transcriptions ran."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spans: list[tuple[float, float]] = []

    def transcribe(self, audio, options, progress=None, *, regions=None):
        start = time.perf_counter()
        found = super().transcribe(audio, options, progress, regions=regions)
        self.spans.append((start, time.perf_counter()))
        return found


def test_windows_over_two_devices_start_together_when_the_language_is_to_be_detected(
    folder: Path, tiny_model: str
) -> None:
    """The first window ran alone until it had found the language, so a recording of two
    windows over two devices had them one after the other on the first device (the hour's
    first window took 3.5-3.9 s with large-v3 on an H200, the other GPUs idle). Now the
    language is detected before the windows start: one window on each device, at the same
    time, with the same words, times and language as one device gives."""
    audio = media.decode_audio(folder / "d.mp3")  # 33 s: two windows of 20 s
    first = next_cut(audio, 0.0, 20)
    assert next_cut(audio, first, 20) == pytest.approx(len(audio) / media.SAMPLE_RATE)
    engines = [_Timed(tiny_model, device="cpu", compute_type="int8", cpu_threads=1)
               for _ in range(2)]  # fmt: skip
    spread = transcribe_audio(audio, LoadedModels(engines[0], no_speakers()), WhisperOptions(),
                              window_seconds=20, helpers=engines[1:])  # fmt: skip
    ((a_start, a_end),), ((b_start, b_end),) = engines[0].spans, engines[1].spans
    assert a_start < b_end and b_start < a_end  # at the same time
    alone = transcribe_audio(audio, LoadedModels(engines[0], no_speakers()), WhisperOptions(),
                             window_seconds=20)  # fmt: skip

    def words(transcript) -> list[tuple[str, float, float]]:
        return [(w.text, w.start, w.end) for s in transcript.segments for w in s.words]

    assert words(spread) == words(alone) and len(words(alone)) > 40
    assert (spread.language, spread.language_probability) == ("en", 1.0)
    assert (alone.language, alone.language_probability) == ("en", 1.0)


def test_a_required_diarizer_that_cannot_load_stops_the_transcription_early() -> None:
    """On a GPU the diarizer loads beside transcription. One that ``--diarize`` requires
    but cannot load was said only once every window was transcribed (and the work thrown
    away); now the transcription stops at its next progress report."""
    from concurrent.futures import Future

    from transcriber_cli.errors import DiarizationUnavailable

    class Gpu(_Engine):
        device = "cuda"

        def transcribe(self, part, options, progress=None, *, regions=None):
            found = super().transcribe(part, options, progress)
            if progress:  # as an engine reports each batch of a window
                progress(found.duration, found.duration)
            return found

    engine = Gpu({k: 0.05 for k in range(6)})
    failed: Future = Future()
    failed.set_exception(DiarizationUnavailable("cannot load the diarization pipeline"))
    with pytest.raises(DiarizationUnavailable, match="cannot load the diarization pipeline"):
        transcribe_audio(
            _levels(6), LoadedModels(engine, failed), WhisperOptions(language="en"),
            window_seconds=12, progress=lambda *_: None,
        )  # fmt: skip
    assert len(engine.finished) <= 2, engine.finished  # not all 6 windows


def test_progress_of_windows_in_flight_goes_one_way_one_call_at_a_time() -> None:
    """Two windows in flight report progress from two threads. The total was summed under
    the lock but reported outside it, so a slow report let a smaller total arrive after a
    larger one, and two reports ran at once (the worker's progress writer is not
    thread-safe)."""
    import random
    import threading
    import time

    class Reporting(_Engine):
        def transcribe(self, part, options, progress=None, *, regions=None):
            seconds = len(part) / 16000
            for step in range(1, 11):
                if progress:
                    progress(seconds * step / 10, seconds)
            return super().transcribe(part, options, progress)

    rng = random.Random(0)
    seen: list[float] = []
    inside = threading.Semaphore(1)
    overlapped: list[bool] = []

    def progress(stage: str, done: float, total: float) -> None:
        if not inside.acquire(blocking=False):
            overlapped.append(True)
            return
        try:
            time.sleep(rng.random() / 500)
            seen.append(done)
        finally:
            inside.release()

    transcribe_audio(
        _levels(6), LoadedModels(Reporting({}), no_speakers()), WhisperOptions(language="en"),
        window_seconds=12, windows_in_flight=2, progress=progress,
    )  # fmt: skip
    assert not overlapped
    assert len(seen) > 30 and seen == sorted(seen)


@pytest.mark.parametrize("why, tries", [("model.bin is corrupt", 2), ("out of memory", 3)])
def test_a_load_that_fails_alike_on_two_devices_is_not_tried_on_all(
    folder: Path, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    why: str, tries: int,
) -> None:  # fmt: skip
    """Three copies, one file, CTranslate2's load failing on each (injected). A second
    device failing the same way says the cause is not the device: the run stops there
    rather than loading on every device; a full GPU (out of memory) is worth every one."""
    import threading

    import ctranslate2

    from transcriber_cli.config import Settings
    from transcriber_cli.errors import ModelUnavailable
    from transcriber_cli.formats.registry import parse_formats
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.local import runner as local

    calls: list[int] = []
    count = threading.Lock()

    def whisper(*args, **kwargs):
        with count:
            calls.append(1)
        raise RuntimeError(f"CUDA failed with error {why}")

    monkeypatch.setattr(ctranslate2.models, "Whisper", whisper)
    settings = Settings(model=tiny_model, device="cpu", gpus="3", diarize=False, offline=True,
                        cpu_threads=1)  # fmt: skip
    runner = local.LocalRunner(settings, JobOptions.build(settings), parse_formats("txt"),
                               output_dir=tmp_path)  # fmt: skip
    with pytest.raises(ModelUnavailable, match=why):
        runner.run([folder / "d.mp3"])
    assert len(calls) == tries
    assert not list(tmp_path.glob("d.*"))


def test_a_device_that_cannot_load_with_files_in_flight_leaves_the_run_going(
    folder: Path, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies with two files in flight each, one copy's load failing (injected into
    CTranslate2, once) for another reason than memory: both of its lanes see the failure,
    and the second must not count as another device failing alike (that stopped the run)."""
    import threading

    import ctranslate2

    from transcriber_cli.config import Settings
    from transcriber_cli.formats.registry import parse_formats
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.local import runner as local

    real = ctranslate2.models.Whisper
    failed = threading.Event()
    once = threading.Lock()

    def whisper(*args, **kwargs):
        with once:
            first = not failed.is_set()
            failed.set()
        if first:
            raise RuntimeError("CUDA failed with error device busy or unavailable")
        return real(*args, **kwargs)

    monkeypatch.setattr(ctranslate2.models, "Whisper", whisper)
    settings = Settings(model=tiny_model, device="cpu", gpus="2", diarize=False, offline=True,
                        cpu_threads=1, files_per_device=2)  # fmt: skip
    runner = local.LocalRunner(settings, JobOptions.build(settings), parse_formats("txt"),
                               output_dir=tmp_path)  # fmt: skip
    names = ["a.mp3", "b.mp3", "c.mp3", "e.mp3"]
    results = runner.run([folder / n for n in names])
    assert [r.status.value for r in results] == ["done"] * 4
    assert len({r.runtime["slot"] for r in results}) == 1  # the copy that loaded did all
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == sorted(
        n.replace(".mp3", ".txt") for n in names
    )


def test_a_file_whose_probe_runs_out_of_time_is_probed_once(
    tmp_path: Path, tiny_model: str, conversation: dict
) -> None:
    """Over several devices every input is probed first (to take the longest first), and
    one that could not be was probed again in its turn: a broken file cost the time limit
    twice. ffprobe is counted through a stand-in on PATH that runs the real one."""
    import os
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    broken = wav_without_data(folder / "broken.wav")
    _cut(conversation["path"], folder / "talk.mp3", 8)
    calls = tmp_path / "calls"
    shim = tmp_path / "bin" / "ffprobe"
    shim.parent.mkdir()
    shim.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {calls}\nexec {shutil.which("ffprobe")} "$@"\n'
    )
    shim.chmod(0o755)
    env = {**ENV, "TRANSCRIBER_PROBE_TIMEOUT": "3",
           "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    proc = run_cli(str(folder), "--device", "cpu", "--gpus", "2", "-m", tiny_model,
                   "--no-diarize", "--offline", "-f", "txt", env=env)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert f"{broken}: ffprobe could not read its headers in 3 s" in proc.stderr
    assert (folder / "talk.txt").is_file() and not (folder / "broken.txt").exists()
    probes = [line for line in calls.read_text().splitlines() if str(broken) in line]
    assert len(probes) == 1, probes
