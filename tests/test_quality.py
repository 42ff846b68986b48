"""The quality report: each flag raised by real runs on media made to trigger it (silence after
speech, a looped phrase, noise), and by transcripts built with the text shape it is about."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, json_lines, run_cli
from transcriber_cli.formats.registry import parse_formats
from transcriber_cli.jobs.results import FileResult, ResultSummary, Status, quality_lines
from transcriber_cli.options import QualityOptions
from transcriber_cli.quality import assess, configured, write_qa
from transcriber_cli.transcript import Segment, SpeakerTurn, Transcript, Word

DEFAULTS = QualityOptions.model_validate({})


def said(text: str, start: float = 0.0, step: float = 0.3, prob: float = 0.9) -> Segment:
    words = [
        Word(start=start + i * step, end=start + (i + 1) * step - 0.05, text=" " + w,
             probability=prob)
        for i, w in enumerate(text.split())
    ]  # fmt: skip
    return Segment(id=0, start=words[0].start, end=words[-1].end, text=text, words=words)


def transcript(*segments: Segment, duration: float | None = None, **extra) -> Transcript:
    end = max((s.end for s in segments), default=0.0)
    return Transcript(duration=duration or end, segments=list(segments), language="en",
                      language_probability=0.99, **extra)  # fmt: skip


def test_clean_speech_raises_no_flag(conversation_transcript) -> None:
    report = assess(conversation_transcript)
    assert report.flags == []
    assert 0.05 < report.silence_share < 0.4  # pauses between the turns
    assert report.low_confidence_share is not None and report.low_confidence_share < 0.1
    assert report.language == "en" and report.repeated_phrases == []


def test_a_decoding_loop_is_found_and_speech_repeats_are_not() -> None:
    loop = " ".join(["thank you for watching."] * 10)
    t = transcript(said("We start with the budget."), said(loop, 2.0), said("no no no", 15))
    report = assess(t)
    assert report.flags == ["repeated_phrases"]
    [found] = report.repeated_phrases
    assert (found.phrase, found.times, found.start) == ("thank you for watching", 10, 2.0)
    # A word needs twice as many: "no no no" is speech, eight in a row a loop.
    assert assess(transcript(said("no " * 7))).repeated_phrases == []
    assert [lp.times for lp in assess(transcript(said("no " * 8))).repeated_phrases] == [8]
    # The same loop split over segments is one loop.
    split = transcript(*(said("thank you for watching.", i * 1.5) for i in range(5)))
    assert [lp.times for lp in assess(split).repeated_phrases] == [5]


def test_text_where_whisper_heard_no_speech() -> None:
    speech = said("Hello there.")
    ghost = said("Thank you.", 20).model_copy(update={"no_speech_prob": 0.9})
    report = assess(transcript(speech, ghost, duration=22))
    assert "text_in_nonspeech" in report.flags
    assert report.nonspeech_words == 2 and report.nonspeech_text == ["Thank you."]
    assert "text_in_nonspeech" not in assess(transcript(speech)).flags


def test_low_confidence_and_language() -> None:
    unsure = said("mumbled words nobody could make out at all", prob=0.3)
    assert assess(transcript(unsure)).flags == ["low_confidence"]
    assert assess(transcript(unsure)).low_confidence_share == 1.0
    t = transcript(said("bonjour tout le monde")).model_copy(update={"language_probability": 0.4})
    assert assess(t).flags == ["uncertain_language"]
    # Nothing said: no language to doubt, only silence.
    assert assess(transcript(duration=30)).flags == ["mostly_silence"]


def test_speaking_time_and_overlapping_speech_from_turns() -> None:
    seg = said("a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j")
    turns = [SpeakerTurn(start=0, end=6, speaker="A"), SpeakerTurn(start=5, end=10, speaker="B"),
             SpeakerTurn(start=8, end=10, speaker="A")]  # fmt: skip
    report = assess(transcript(seg, duration=10, turns=turns))
    assert report.speaking_time == {"A": 8.0, "B": 5.0}
    assert report.overlap_seconds == 3.0 and report.overlap_share == 0.3
    assert report.flags == ["overlapping_speech"]
    light = [SpeakerTurn(start=0, end=6, speaker="A"), SpeakerTurn(start=5.5, end=10, speaker="B")]
    assert assess(transcript(seg, duration=10, turns=light)).flags == []


def test_thresholds_come_from_settings(monkeypatch, isolated_settings) -> None:
    loop = transcript(said(" ".join(["see you soon"] * 6)))
    assert json.loads(write_qa(loop))["flags"] == ["repeated_phrases"]
    (isolated_settings / "config.toml").write_text("qa_max_repeats = 7\n")
    monkeypatch.setenv("TRANSCRIBER_QA_MAX_SILENCE", "0.01")
    limits = configured()
    assert (limits.qa_max_repeats, limits.qa_max_silence) == (7, 0.01)
    report = json.loads(write_qa(loop.model_copy(update={"duration": 10})))
    assert report["schema"] == "transcriber.qa/1" and report["flags"] == ["mostly_silence"]
    assert report["thresholds"]["qa_max_repeats"] == 7
    # The result line's flags are judged with the same thresholds.
    assert ResultSummary.of(loop).quality == []


def test_qa_is_an_opt_in_format_and_flags_reach_the_summary() -> None:
    assert "qa" not in [f.name for f in parse_formats("all")]
    [qa] = [f for f in parse_formats("all,qa") if f.name == "qa"]
    assert qa.extension == "qa.json"
    ok = FileResult("a.mp4", Status.DONE, quality=[])
    bad = FileResult("b.mp4", Status.DONE, quality=["mostly_silence", "low_confidence"])
    assert quality_lines([ok, bad]) == ["check b.mp4: mostly_silence, low_confidence"]
    assert bad.to_json()["quality"] == ["mostly_silence", "low_confidence"]
    assert "quality" not in FileResult("c.mp4", Status.SKIPPED).to_json()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def flagged_media(tmp_path_factory, conversation: dict) -> Path:
    """Speech then a minute of silence; one sentence said eight times over; pink noise."""
    root = tmp_path_factory.mktemp("qa")
    talk = str(conversation["path"])
    ffmpeg("-i", talk, "-f", "lavfi", "-t", "60", "-i", "anullsrc=r=16000:cl=mono",
           "-filter_complex", "[0:a]aresample=16000,aformat=channel_layouts=mono[a];"
           "[a][1:a]concat=n=2:v=0:a=1", str(root / "silence.wav"))  # fmt: skip
    ffmpeg("-t", "2.2", "-i", talk, "-vn", str(root / "clip.wav"))  # "Good morning, everyone."
    ffmpeg("-stream_loop", "7", "-i", str(root / "clip.wav"), str(root / "looped.wav"))
    (root / "clip.wav").unlink()
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=20:c=pink:r=16000:a=0.3:seed=7",
           str(root / "noise.wav"))  # fmt: skip
    return root


@pytest.mark.slow
def test_real_runs_flag_the_media_made_for_each_flag(flagged_media: Path, tmp_path) -> None:
    out = tmp_path / "out"
    proc = run_cli(str(flagged_media), "-o", str(out), "--no-diarize", "-f", "txt,qa", "--json",
                   "--exclude", "noise.wav")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    flags = {Path(r["path"]).stem: r["quality"] for r in json_lines(proc.stdout)}
    # On the loop Whisper's own no-speech probability sits near its 0.6 threshold: under it
    # with MKL (Intel CPUs), over it with oneDNN (AMD), which adds text_in_nonspeech there.
    assert flags["silence"] == ["mostly_silence"] and set(flags) == {"silence", "looped"}
    assert flags["looped"][0] == "repeated_phrases"
    assert set(flags["looped"]) <= {"repeated_phrases", "text_in_nonspeech"}
    looped = json.loads((out / "looped.qa.json").read_text())
    [loop] = looped["repeated_phrases"]
    assert loop["phrase"] == "good morning everyone" and loop["times"] >= 6
    silence = json.loads((out / "silence.qa.json").read_text())
    assert silence["silence_share"] == pytest.approx(1 - 26 / 93.2, abs=0.1)
    # Without VAD, Whisper writes text over noise and says itself it heard no speech.
    noisy = run_cli(str(flagged_media / "noise.wav"), "-o", str(out), "--no-diarize", "--no-vad",
                    "-f", "txt,qa", "--json")  # fmt: skip
    assert noisy.returncode == 0, noisy.stderr
    [line] = json_lines(noisy.stdout)
    assert "text_in_nonspeech" in line["quality"], (out / "noise.txt").read_text()
    report = json.loads((out / "noise.qa.json").read_text())
    assert report["nonspeech_words"] > 0 and report["nonspeech_text"]


@pytest.mark.slow
def test_the_run_summary_names_each_flagged_file(flagged_media: Path, tmp_path) -> None:
    """On a terminal (a pty), the summary ends with one line per flagged file."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), str(flagged_media), "-o", str(tmp_path), "--no-diarize",
         "-f", "txt", "--exclude", "noise.wav"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    os.close(follower)
    seen = b""
    while True:  # read as it comes: a full pty buffer would block the child
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    proc.wait(timeout=300)
    assert proc.returncode == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode(errors="replace"))
    checks = sorted(ln.strip() for ln in text.splitlines() if ln.strip().startswith("check "))
    flagged = [c.split(": ")[1] for c in checks]  # the loop may add text_in_nonspeech (above)
    assert flagged[0] in ("repeated_phrases", "repeated_phrases, text_in_nonspeech")
    assert flagged[1:] == ["mostly_silence"]
    assert "looped.wav" in checks[0] and "silence.wav" in checks[1]
