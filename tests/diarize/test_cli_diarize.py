"""``transcribe --diarize`` end to end: the real CLI, the real tiny.en model, the real pyannote
loading and diarization code on a random-weight pipeline directory.

Random weights make *who* speaks arbitrary, so these tests check structure, labels and that
every output agrees with the JSON transcript; exact assignment lives in test_assign.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cli_run import CONVERSATION, json_lines, run

from tests.parse_outputs import (
    parse_rttm,
    parse_srt,
    parse_tsv,
    parse_txt,
    parse_vtt,
    srt_speaker,
    vtt_speakers,
)
from transcriber_cli.formats.cues import join_words
from transcriber_cli.transcript import Transcript

pytestmark = pytest.mark.slow
LABEL = re.compile(r"SPEAKER_\d\d")
VOICE_TEXT = re.compile(r"<v [^>]+>(.*)</v>")
HUB_ID = "pyannote/speaker-diarization-community-1"
# Another hub pipeline: one the user names explicitly, so no built-in pipeline replaces it.
OTHER_HUB = "pyannote/speaker-diarization-3.1"
SECRET = "hf_NotARealTokenButSecret123"


@pytest.fixture(scope="module")
def diarized(tiny_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("diarized")
    state = tmp_path_factory.mktemp("state")
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarize",
        "--diarization-model",
        str(tiny_pipeline),
        "-f",
        "all,rttm",
        "-o",
        str(out),
        "--json",
        # Module scope runs before the per-test isolation fixture: isolate it here.
        env={
            "TRANSCRIBER_STATE_DIR": str(state),
            "TRANSCRIBER_CONFIG": str(state / "none.toml"),
            "HF_HOME": str(state / "hf"),
            "HF_HUB_OFFLINE": "1",
            "HF_TOKEN": None,
        },
    )
    assert proc.returncode == 0, proc.stderr
    files = {
        ext: (out / f"conversation.{ext}").read_text()
        for ext in ("txt", "json", "srt", "vtt", "tsv", "rttm")
    }
    return {
        "proc": proc,
        "files": files,
        "transcript": Transcript.model_validate_json(files["json"]),
        "pipeline": tiny_pipeline,
    }


def test_result_line_reports_speakers(diarized: dict):
    (line,) = json_lines(diarized["proc"].stdout)
    t = diarized["transcript"]
    assert line["status"] == "done" and line["diarization"] == "done"
    assert line["speakers"] == t.speakers and len(t.speakers) >= 1
    assert len(line["outputs"]) == 6 and line["outputs"][-1].endswith("conversation.rttm")


def test_json_has_speaker_per_word_and_segment_and_the_raw_turns(diarized: dict):
    t = diarized["transcript"]
    assert t.diarization == {"status": "done", "model": str(diarized["pipeline"])}
    assert "weekly planning meeting" in t.text.lower()  # real transcription underneath
    assert all(LABEL.fullmatch(s) for s in t.speakers)
    words = t.words()
    assert words and all(w.speaker in t.speakers for w in words)
    assert all(s.speaker in t.speakers for s in t.segments)
    # Labels are numbered in order of first appearance among the words.
    first_seen = list(dict.fromkeys(w.speaker for w in words))
    assert first_seen == t.speakers == [f"SPEAKER_{i:02d}" for i in range(len(t.speakers))]
    assert t.turns and all(0 <= x.start < x.end <= t.duration for x in t.turns)
    assert [x.start for x in t.turns] == sorted(x.start for x in t.turns)
    assert {x.speaker for x in t.turns} >= set(t.speakers)


def test_txt_paragraphs_follow_the_word_speakers(diarized: dict):
    t = diarized["transcript"]
    paragraphs = parse_txt(diarized["files"]["txt"])
    assert [spk for spk, _ in paragraphs] == [
        spk
        for i, spk in enumerate(w.speaker for w in t.words())
        if i == 0 or t.words()[i - 1].speaker != spk
    ]
    assert " ".join(text for _, text in paragraphs) == join_words(t.words())


def _speaker_at(t: Transcript, start: float, end: float) -> set[str | None]:
    return {w.speaker for w in t.words() if w.start >= start - 0.01 and w.end <= end + 0.01}


def test_srt_cues_carry_the_speaker_of_their_words(diarized: dict):
    t = diarized["transcript"]
    cues = parse_srt(diarized["files"]["srt"])
    assert cues
    for cue in cues:
        speaker = srt_speaker(cue)
        assert speaker in t.speakers, cue
        assert _speaker_at(t, cue.start, cue.end) <= {speaker}, cue  # cues break at changes
    spoken = " ".join(" ".join(c.lines) for c in cues)
    assert "planning meeting" in re.sub(r"\[SPEAKER_\d\d\] ", "", spoken)


def test_vtt_cues_use_voice_spans(diarized: dict):
    t = diarized["transcript"]
    cues = parse_vtt(diarized["files"]["vtt"])
    # The SRT label counts towards line width and the voice span does not (formats/cues.py),
    # so VTT can need fewer cues for the same words, never more.
    assert len(cues) <= len(parse_srt(diarized["files"]["srt"]))
    # Every word once, in order (spaces aside: a cue may break inside "$20" + ",000").
    spoken = "".join(VOICE_TEXT.sub(r"\1", line) for cue in cues for line in cue.lines)
    words = join_words(t.words()).replace("&", "&amp;").replace("<", "&lt;")
    assert "".join(spoken.split()) == "".join(words.split())
    for cue in cues:
        voices = set(vtt_speakers(cue))
        assert len(voices) == 1 and voices <= set(t.speakers), cue
        assert _speaker_at(t, cue.start, cue.end) <= voices


def test_tsv_has_a_speaker_column(diarized: dict):
    t = diarized["transcript"]
    header, rows = parse_tsv(diarized["files"]["tsv"])
    assert header == ["start", "end", "speaker", "text"]
    assert rows and all(r["speaker"] in t.speakers for r in rows)
    for r in rows:
        start, end = int(r["start"]) / 1000, int(r["end"]) / 1000
        assert _speaker_at(t, start, end) == {r["speaker"]}, r
    assert " ".join(r["text"] for r in rows) == join_words(t.words())


def test_rttm_lists_the_json_turns(diarized: dict):
    t = diarized["transcript"]
    lines = parse_rttm(diarized["files"]["rttm"])
    assert {x.uri for x in lines} == {"conversation"}
    assert [(x.start, round(x.start + x.duration, 3), x.speaker) for x in lines] == [
        (pytest.approx(x.start, abs=1e-3), pytest.approx(x.end, abs=2e-3), x.speaker)
        for x in t.turns
    ]


def test_no_diarize_writes_plain_outputs(tiny_pipeline: Path, tmp_path: Path):
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--no-diarize",
        "--diarization-model",
        str(tiny_pipeline),
        "-f",
        "json,tsv,txt",
        "-o",
        str(tmp_path),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert line["speakers"] == [] and line["diarization"] == "disabled (--no-diarize)"
    t = Transcript.model_validate_json((tmp_path / "conversation.json").read_text())
    assert t.diarization == {"status": "skipped", "reason": "disabled (--no-diarize)"}
    assert t.turns == [] and all(w.speaker is None for w in t.words())
    assert (tmp_path / "conversation.tsv").read_text().startswith("start\tend\ttext\n")
    assert "[" not in (tmp_path / "conversation.txt").read_text()


# --- when no pipeline is available -------------------------------------------------------

ONLINE_NO_NETWORK = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}


def test_auto_mode_without_token_skips_a_named_hub_pipeline_with_a_note(tmp_path: Path):
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarization-model",
        OTHER_HUB,
        "-f",
        "json",
        "-o",
        str(tmp_path),
        "--json",
        env=ONLINE_NO_NETWORK,
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert line["status"] == "done" and line["speakers"] == []
    reason = line["diarization"]
    assert "needs a Hugging Face token" in reason
    assert f"https://hf.co/{OTHER_HUB}" in reason and "HF_TOKEN" in reason
    assert "--diarization-model DIR" in reason
    t = Transcript.model_validate_json((tmp_path / "conversation.json").read_text())
    assert t.diarization == {"status": "skipped", "reason": reason}


def _one_error_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_diarize_without_token_is_a_setup_error(tmp_path: Path):
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarize",
        "--diarization-model",
        OTHER_HUB,
        "-o",
        str(tmp_path),
        env=ONLINE_NO_NETWORK,
    )
    assert proc.returncode == 3
    line = _one_error_line(proc)
    assert f"accept its conditions at https://hf.co/{OTHER_HUB}" in line
    assert "HF_TOKEN" in line and "--diarization-model DIR" in line
    assert not list(tmp_path.iterdir())  # nothing written


def token_file(folder: Path) -> Path:
    path = folder / "hf-token"
    path.write_text(SECRET + "\n")
    return path


def test_a_token_is_never_a_process_argument(tmp_path: Path):
    """`--hf-token VALUE` would show in every user's `ps`: refused, with the ways that work."""
    proc = run(str(CONVERSATION), "--hf-token", SECRET, "-o", str(tmp_path))
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "process list" in line and "HF_TOKEN" in line and "--hf-token-file" in line
    assert SECRET not in proc.stderr + proc.stdout
    assert not list(tmp_path.iterdir())
    for content in ("", "two\nlines\n"):
        (tmp_path / "bad").write_text(content)
        bad = run(str(CONVERSATION), "--hf-token-file", str(tmp_path / "bad"), "-o", str(tmp_path))
        assert bad.returncode == 2 and "must hold the Hugging Face token on one line" in bad.stderr
    missing = run(str(CONVERSATION), "--hf-token-file", str(tmp_path / "nope"), "-o", str(tmp_path))
    assert missing.returncode == 2 and "No such file or directory" in missing.stderr


def test_diarize_offline_says_how_to_pull(tmp_path: Path):
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarize",
        "--diarization-model",
        OTHER_HUB,
        "--hf-token-file",
        str(token_file(tmp_path)),
        "-o",
        str(tmp_path / "out"),
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 3
    line = _one_error_line(proc)
    assert "offline mode is on" in line and f"transcriber models pull {OTHER_HUB}" in line
    assert SECRET not in proc.stderr + proc.stdout


def test_diarize_with_no_network(tmp_path: Path):
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarize",
        "-o",
        str(tmp_path),
        env={**ONLINE_NO_NETWORK, "HF_TOKEN": SECRET},
    )
    assert proc.returncode == 3
    line = _one_error_line(proc)
    assert "cannot reach the Hugging Face hub" in line and "ConnectError" in line
    assert SECRET not in proc.stderr + proc.stdout


def test_gated_pipeline_names_the_page_to_accept(tmp_path: Path, fake_hub):
    hub = fake_hub("gated")
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarize",
        "-o",
        str(tmp_path),
        env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url, "TRANSCRIBER_HF_TOKEN": SECRET},
    )
    assert proc.returncode == 3
    line = _one_error_line(proc)
    assert f"{HUB_ID} is gated" in line and f"accept them at https://hf.co/{HUB_ID}" in line
    assert SECRET not in proc.stderr + proc.stdout
    # The token did reach the hub, as a bearer header, from TRANSCRIBER_HF_TOKEN.
    assert (f"Bearer {SECRET}") in {auth for _, auth in hub.requests}


def test_refused_token(tmp_path: Path, fake_hub):
    hub = fake_hub("refused")
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarize",
        "--hf-token-file",
        "-",
        "-o",
        str(tmp_path),
        env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url},
        input=SECRET + "\n",
    )
    assert proc.returncode == 3
    line = _one_error_line(proc)
    assert "token was refused (401)" in line and "https://hf.co/settings/tokens" in line
    assert SECRET not in proc.stderr + proc.stdout


def test_missing_local_directory(tmp_path: Path):
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarize",
        "--diarization-model",
        str(tmp_path / "nowhere"),
        "-o",
        str(tmp_path),
    )
    assert proc.returncode == 3
    assert "nowhere does not exist" in _one_error_line(proc)


def test_directory_without_config(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--diarize",
        "--diarization-model",
        str(tmp_path / "empty"),
        "-o",
        str(tmp_path),
    )
    assert proc.returncode == 3
    assert "has no config.yaml" in _one_error_line(proc)


def test_auto_mode_redoes_a_file_once_a_pipeline_is_reachable(tiny_pipeline: Path, tmp_path: Path):
    """Resume in auto mode: transcribed without speakers while no pipeline was reachable, the
    file is transcribed again (with speakers) once one is, then skipped."""
    pipeline = tmp_path / "pipeline"
    args = [str(CONVERSATION), "-m", "tiny.en", "-f", "json", "-o", str(tmp_path / "out"), "--json"]
    env = {"TRANSCRIBER_DIARIZATION_MODEL": str(pipeline), "HF_TOKEN": None}
    (first,) = json_lines(run(*args, env=env).stdout)
    assert first["status"] == "done" and first["speakers"] == []
    shutil.copytree(tiny_pipeline, pipeline)
    (second,) = json_lines(run(*args, env=env).stdout)
    assert second["status"] == "done" and second["diarization"] == "done", second
    assert second["speakers"]
    (third,) = json_lines(run(*args, env=env).stdout)
    assert third["status"] == "skipped"
