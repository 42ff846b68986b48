"""`transcribe` end to end: real ffmpeg, the real bundled tiny.en model, real subprocesses."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import json_lines, run_cli, video_without_audio
from tests.helpers import parse_srt, parse_vtt, wer
from transcriber_cli.transcript import Transcript

pytestmark = pytest.mark.slow
FORMATS = ["txt", "json", "srt", "vtt", "tsv"]


@pytest.fixture(scope="module")
def transcribed(tmp_path_factory: pytest.TempPathFactory, conversation: dict) -> dict:
    """One run on the example mp4 (default model: the bundled tiny.en, found without a path)."""
    work = tmp_path_factory.mktemp("single")
    src = work / "meeting.mp4"
    shutil.copy(conversation["path"], src)
    env = {"TRANSCRIBER_STATE_DIR": str(work / "state"), "TRANSCRIBER_CONFIG": str(work / "c.toml")}
    proc = run_cli(str(src), "--json", "--no-diarize", env=env)
    return {"proc": proc, "dir": work, "src": src, "env": env}


def test_writes_every_format_beside_the_input(transcribed: dict) -> None:
    proc = transcribed["proc"]
    assert proc.returncode == 0, proc.stderr
    for ext in FORMATS:
        assert (transcribed["dir"] / f"meeting.{ext}").stat().st_size > 0
    assert not list(transcribed["dir"].glob("*.part"))  # no temp files left behind


def test_text_matches_the_script(transcribed: dict, conversation: dict) -> None:
    reference = " ".join(t["text"] for t in conversation["turns"])
    text = (transcribed["dir"] / "meeting.txt").read_text()
    assert wer(reference, text) <= 0.25, text


def test_json_transcript_content_and_timings(transcribed: dict, conversation: dict) -> None:
    t = Transcript.model_validate_json((transcribed["dir"] / "meeting.json").read_text())
    assert t.language == "en"
    assert t.duration == pytest.approx(conversation["duration"], abs=0.3)
    assert t.model == "tiny.en"
    assert t.options["word_timestamps"] is True and t.options["device"] == "cpu"
    assert t.diarization == {"status": "skipped", "reason": "disabled (--no-diarize)"}
    words = t.words()
    assert len(words) > 60
    assert all(w.start <= w.end for w in words)
    assert all(a.start <= b.start + 0.01 for a, b in zip(words, words[1:]))
    # Each turn's first word is heard within half a second of when the script says it starts.
    for turn in conversation["turns"]:
        first = turn["text"].split()[0].lower().strip(".,")
        near = [
            w
            for w in words
            if w.text.strip(" .,").lower() == first and abs(w.start - turn["start"]) < 0.6
        ]
        assert near, f"no {first!r} near {turn['start']} s"


def test_json_line_contract(transcribed: dict) -> None:
    lines = json_lines(transcribed["proc"].stdout)
    assert len(lines) == 1
    line = lines[0]
    assert set(line) == {
        "schema",
        "path",
        "status",
        "outputs",
        "duration",
        "language",
        "speakers",
        "diarization",
        "error",
        "reason",
        "runtime",
        "quality",
    }
    assert line["schema"] == "transcriber.result/1"
    assert line["quality"] == []  # clean speech: nothing for a person to check
    assert set(line["runtime"]) == {
        "device", "compute_type", "encoder", "decoder", "batch_size", "stages",
    }  # fmt: skip
    assert line["status"] == "done" and line["error"] is None and line["language"] == "en"
    assert sorted(Path(p).suffix for p in line["outputs"]) == sorted("." + f for f in FORMATS)


def test_subtitles_parse_back_within_limits(transcribed: dict, conversation: dict) -> None:
    srt = parse_srt((transcribed["dir"] / "meeting.srt").read_text())
    vtt = parse_vtt((transcribed["dir"] / "meeting.vtt").read_text())
    assert len(srt) == len(vtt) >= len(conversation["turns"])
    for cue in srt:
        assert len(cue.lines) <= 2 and all(len(x) <= 42 for x in cue.lines)
        assert 0 < cue.end - cue.start <= 7.0
        assert cue.end <= conversation["duration"] + 0.5
    assert all(a.end <= b.start for a, b in zip(srt, srt[1:]))


def test_rerun_skips_instantly_then_overwrite_redoes(transcribed: dict) -> None:
    src, env = transcribed["src"], transcribed["env"]
    before = (transcribed["dir"] / "meeting.json").stat().st_mtime_ns
    started = time.monotonic()
    proc = run_cli(str(src), "--json", "--no-diarize", env=env)
    assert proc.returncode == 0
    assert json_lines(proc.stdout)[0]["status"] == "skipped"
    assert time.monotonic() - started < 20  # no model load; generous for a busy CI box
    assert (transcribed["dir"] / "meeting.json").stat().st_mtime_ns == before
    proc = run_cli(str(src), "--json", "--no-diarize", "--overwrite", "-f", "txt", env=env)
    assert json_lines(proc.stdout)[0]["status"] == "done"


def test_changed_options_redo(transcribed: dict) -> None:
    proc = run_cli(
        str(transcribed["src"]),
        "--json",
        "--no-diarize",
        "--beam-size",
        "2",
        "-f",
        "txt",
        env=transcribed["env"],
    )
    assert json_lines(proc.stdout)[0]["status"] == "done"


def test_no_vad_and_sequential_paths(tmp_path: Path, conversation: dict) -> None:
    src = tmp_path / "talk.mp4"
    shutil.copy(conversation["path"], src)
    reference = " ".join(t["text"] for t in conversation["turns"])
    for flags, name in ((["--no-vad"], "novad"), (["--batch-size", "1"], "seq")):
        out = tmp_path / name
        proc = run_cli(str(src), "-o", str(out), "-f", "txt", "--no-diarize", *flags)
        assert proc.returncode == 0, proc.stderr
        assert wer(reference, (out / "talk.txt").read_text()) <= 0.3


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory: pytest.TempPathFactory, conversation: dict, make_media) -> Path:
    """A folder of good recordings mixed with every kind of bad input."""
    root = tmp_path_factory.mktemp("batch") / "recordings"
    (root / "sub dir").mkdir(parents=True)
    shutil.copy(make_media("good.m4a", "-vn", "-c:a", "aac"), root / "good one.m4a")
    shutil.copy(
        make_media("good.ogg", "-vn", "-c:a", "libvorbis"), root / "sub dir" / "ünï [2].ogg"
    )
    (root / "empty.mp3").write_bytes(b"")
    (root / "random.mp4").write_bytes(np.random.default_rng(1).bytes(40_000))
    (root / "notes.txt").write_text("just some notes\n")
    (root / "blob.bin").write_bytes(np.random.default_rng(2).bytes(10_000))
    whole = make_media("whole.flac", "-vn").read_bytes()
    (root / "corrupt.flac").write_bytes(whole[:3000])
    video_without_audio(root / "no-audio.mp4")
    return root


def test_batch_folder_goes_on_past_bad_inputs(messy_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(str(messy_folder), "--json", "-o", str(out), "--no-diarize")
    assert proc.returncode == 1  # some inputs failed
    by_name = {Path(r["path"]).name: r for r in json_lines(proc.stdout)}
    assert by_name["good one.m4a"]["status"] == "done"
    assert by_name["ünï [2].ogg"]["status"] == "done"
    for other in ("notes.txt", "blob.bin"):  # not recordings: skipped, not failed
        assert by_name[other]["status"] == "ignored", by_name[other]
    expected = {
        "empty.mp3": "empty file",
        "random.mp4": "not a readable media file",
        "no-audio.mp4": "no audio stream",
        "corrupt.flac": "corrupt.flac: ",
    }
    for name, cause in expected.items():
        assert by_name[name]["status"] == "failed", by_name[name]
        assert name in by_name[name]["error"] and cause in by_name[name]["error"]
    # One clear line per failure on stderr, naming the file; no traceback.
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == len(expected) and "Traceback" not in proc.stderr
    # The folder structure is mirrored under -o; failed inputs leave no outputs at all.
    assert (out / "good one.txt").exists() and (out / "sub dir" / "ünï [2].srt").exists()
    assert sorted(p.name for p in out.rglob("*") if p.is_file() and "corrupt" in p.name) == []
    assert not list(out.rglob("no-audio.*"))


def test_inputs_that_would_share_outputs_fail_without_writing(tmp_path: Path, make_media) -> None:
    """a.m4a and a.wav both write a.txt: the second fails and the first's outputs stand;
    a file named twice is caught the same way."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(make_media("clip3.m4a", "-vn", "-c:a", "aac", "-t", "3"), folder / "a.m4a")
    shutil.copy(make_media("clip3.wav", "-vn", "-t", "3"), folder / "a.wav")
    proc = run_cli(str(folder), str(folder / "a.m4a"), "--json", "--no-diarize", "-f", "txt")
    assert proc.returncode == 1
    lines = [(Path(r["path"]).name, r["status"], r["error"]) for r in json_lines(proc.stdout)]
    assert lines[0][:2] == ("a.m4a", "done")
    for name, status, error in lines[1:]:
        assert status == "failed" and "outputs would overwrite those of" in error, name
        assert error.startswith(str(folder / name)) and error.endswith("rename one or use -o")
    assert [name for name, *_ in lines] == ["a.m4a", "a.wav", "a.m4a"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.m4a", "a.txt", "a.wav"]


def test_batch_resume_redoes_only_failed_or_changed(
    messy_folder: Path, tmp_path: Path, make_media
) -> None:
    out = tmp_path / "out"
    run_cli(str(messy_folder), "-o", str(out), "--no-diarize", "-f", "txt")
    good = messy_folder / "good one.m4a"
    proc = run_cli(str(messy_folder), "--json", "-o", str(out), "--no-diarize", "-f", "txt")
    status = {Path(r["path"]).name: r["status"] for r in json_lines(proc.stdout)}
    assert status["good one.m4a"] == "skipped" and status["ünï [2].ogg"] == "skipped"
    assert status["corrupt.flac"] == "failed"  # failures are retried, not skipped
    assert status["notes.txt"] == "ignored"
    # Change the content of one file: only that one is transcribed again.
    shutil.copy(make_media("other.m4a", "-vn", "-c:a", "aac", "-t", "8"), good)
    proc = run_cli(str(messy_folder), "--json", "-o", str(out), "--no-diarize", "-f", "txt")
    status = {Path(r["path"]).name: r["status"] for r in json_lines(proc.stdout)}
    assert status["good one.m4a"] == "done" and status["ünï [2].ogg"] == "skipped"
    assert len((out / "good one.txt").read_text().split()) < 40  # the 8-second version


def test_include_exclude(messy_folder: Path, tmp_path: Path) -> None:
    proc = run_cli(
        str(messy_folder),
        "--json",
        "-o",
        str(tmp_path),
        "--no-diarize",
        "-f",
        "txt",
        "--include",
        "*.ogg",
        "--include",
        "*.m4a",
        "--exclude",
        "good*",
    )
    names = [Path(r["path"]).name for r in json_lines(proc.stdout)]
    assert names == ["ünï [2].ogg"] and proc.returncode == 0


def test_named_bad_inputs_fail_with_one_line_each(tmp_path: Path, make_media) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    good = make_media("named.wav", "-vn", "-t", "5")
    proc = run_cli(
        str(tmp_path / "missing.mp4"),
        str(empty),
        str(notes),
        str(good),
        "-o",
        str(tmp_path / "o"),
        "--no-diarize",
        "-f",
        "txt",
    )
    assert proc.returncode == 1
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 3, proc.stderr
    assert "missing.mp4: no such file" in errors[0]
    assert "empty.wav: empty file" in errors[1]
    assert "notes.txt" in errors[2]
    assert (tmp_path / "o" / "named.txt").exists()
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["named.txt"]


def test_missing_ffmpeg(tmp_path: Path, make_media) -> None:
    good = make_media("named2.wav", "-vn", "-t", "3")
    env = {"PATH": str(Path(sys.executable).parent)}  # our scripts, but no ffmpeg
    proc = run_cli(str(good), "-o", str(tmp_path), env=env)
    assert proc.returncode == 1
    assert proc.stderr.count("error:") == 1
    assert f"{good}: ffmpeg not found on PATH (install ffmpeg" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_exit_2(tmp_path: Path, make_media) -> None:
    good = make_media("named3.wav", "-vn", "-t", "3")
    proc = run_cli(str(good), "-f", "docx")
    assert proc.returncode == 2 and "unknown format docx" in proc.stderr
    proc = run_cli(str(good), "--batch-size", "-1")  # 0 is auto
    assert proc.returncode == 2 and "batch_size" in proc.stderr
    proc = run_cli(str(good), "--device", "tpu")
    assert proc.returncode == 2
    proc = run_cli(str(tmp_path))  # an empty folder: nothing to do
    assert proc.returncode == 2 and "no input files" in proc.stderr


def test_model_directory_and_unknown_model(tmp_path: Path, make_media, tiny_model: str) -> None:
    good = make_media("named4.wav", "-vn", "-t", "6")
    proc = run_cli(str(good), "-m", tiny_model, "-o", str(tmp_path), "-f", "json", "--no-diarize")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "named4.json").read_text())["model"] == tiny_model
    proc = run_cli(str(good), "-m", "large-v3", "-o", str(tmp_path / "x"), "--overwrite")
    assert proc.returncode == 3
    assert "not in the cache and offline" in proc.stderr or "cannot download" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_too_long_input_is_refused_before_decoding(tmp_path: Path, conversation: dict) -> None:
    src = tmp_path / "long.mp4"
    shutil.copy(conversation["path"], src)
    proc = run_cli(
        str(src), "--json", "--no-diarize", env={"TRANSCRIBER_MAX_DURATION_HOURS": "0.005"}
    )
    assert proc.returncode == 1
    (line,) = json_lines(proc.stdout)
    assert line["status"] == "failed"
    assert "long.mp4: 0:00:33 long, over the 0:00:18 limit" in line["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


def test_missing_cuda_library_stops_the_run_with_one_line(tiny_model: str) -> None:
    """CTranslate2 reports a missing cuBLAS at the first GEMM; that is a setup error."""
    from transcriber_cli.engine.whisper import WhisperEngine, WhisperOptions
    from transcriber_cli.errors import ModelUnavailable

    engine = WhisperEngine(tiny_model, device="cpu")

    class NoCublas:
        def transcribe(self, *args, **kwargs):
            raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")

    # The library's own failure, as CTranslate2 raises it.
    engine.batched_pipeline = lambda model: NoCublas()
    with pytest.raises(ModelUnavailable, match="transcriber doctor"):  # no VAD: it decodes
        engine.transcribe(np.zeros(16000, dtype=np.float32), WhisperOptions(vad=False))


def test_offline_flag_refuses_a_download(tmp_path: Path, make_media, monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")  # only the flag may stop the download here
    good = make_media("named5.wav", "-vn", "-t", "3")
    proc = run_cli(str(good), "-m", "small", "--offline", "-o", str(tmp_path))
    assert proc.returncode == 3
    assert "model 'small' is not in the cache and offline mode is on" in proc.stderr


def test_special_files_and_links_fail_at_once(tmp_path: Path, make_media) -> None:
    """A named pipe would block the run waiting for a writer; a link loop is not "missing"."""
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    good = folder / "good.wav"
    good.write_bytes(make_media("special.wav", "-vn", "-t", "5").read_bytes())
    os.mkfifo(folder / "stream.mp3")  # named like a recording: a failure, not ignored
    os.mkfifo(folder / "pipe")  # not named like one: ignored in a folder
    (tmp_path / "loop-a.mp3").symlink_to(tmp_path / "loop-b.mp3")
    (tmp_path / "loop-b.mp3").symlink_to(tmp_path / "loop-a.mp3")
    (tmp_path / "gone.mp3").symlink_to(tmp_path / "nowhere.mp3")
    out = tmp_path / "o"
    proc = run_cli(str(folder), str(tmp_path / "loop-a.mp3"), str(tmp_path / "gone.mp3"),
                   "-o", str(out), "--no-diarize", "-f", "txt", "--json", timeout=120)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = {Path(r["path"]).name: r for r in json_lines(proc.stdout)}
    assert lines["good.wav"]["status"] == "done" and (out / "good.txt").exists()
    assert "not a regular file (a named pipe)" in lines["stream.mp3"]["error"]
    assert lines["pipe"]["status"] == "ignored"
    assert "symbolic link loop" in lines["loop-a.mp3"]["error"]
    assert "broken symbolic link" in lines["gone.mp3"]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["good.txt"]
    assert "Traceback" not in proc.stderr
    alone = run_cli(str(folder / "stream.mp3"), "--no-diarize", timeout=60)  # no hang
    assert alone.returncode == 1 and "named pipe" in alone.stderr
