"""Every writer, given a hand-built speaker-labelled Transcript: exact text, and it parses back."""

from __future__ import annotations

import pytest

from tests.parse_outputs import (
    parse_rttm,
    parse_srt,
    parse_tsv,
    parse_txt,
    parse_vtt,
    srt_speaker,
    vtt_speakers,
)
from transcriber_cli.formats.registry import parse_formats
from transcriber_cli.formats.rttm import write_rttm
from transcriber_cli.formats.subtitles import write_srt, write_vtt
from transcriber_cli.formats.tables import write_json, write_tsv
from transcriber_cli.formats.text import write_txt
from transcriber_cli.transcript import Segment, SpeakerTurn, Transcript, Word


def W(start: float, end: float, text: str, speaker: str | None) -> Word:
    return Word(start=start, end=end, text=text, speaker=speaker)


@pytest.fixture
def labelled() -> Transcript:
    # One Whisper segment holds two speakers (as batched segments often do).
    seg0 = [
        W(0.0, 0.5, " Hello", "Alice"),
        W(0.5, 1.0, " there.", "Alice"),
        W(2.0, 2.3, " How", "Bob"),
        W(2.3, 2.6, " are", "Bob"),
        W(2.6, 3.0, " you?", "Bob"),
    ]
    seg1 = [W(4.0, 4.6, " Fine,", "Alice"), W(4.6, 5.5, " thanks.", "Alice")]
    return Transcript(
        source="team meeting.mp4",
        language="en",
        duration=6.0,
        segments=[
            Segment(
                id=0,
                start=0.0,
                end=3.0,
                text=" Hello there. How are you?",
                words=seg0,
                speaker="Bob",
            ),
            Segment(id=1, start=4.0, end=5.5, text=" Fine, thanks.", words=seg1, speaker="Alice"),
        ],
        speakers=["Alice", "Bob"],
        turns=[
            SpeakerTurn(start=0.0, end=1.2, speaker="Alice"),
            SpeakerTurn(start=1.8, end=3.25, speaker="Bob"),
            SpeakerTurn(start=3.9, end=5.6, speaker="Alice"),
        ],
        diarization={"status": "done", "model": "test"},
    )


def test_txt_one_paragraph_per_speaker_turn(labelled: Transcript):
    text = write_txt(labelled)
    assert text == "[Alice] Hello there.\n[Bob] How are you?\n[Alice] Fine, thanks.\n"
    assert parse_txt(text) == [
        ("Alice", "Hello there."),
        ("Bob", "How are you?"),
        ("Alice", "Fine, thanks."),
    ]


def test_srt_prefixes_each_cue_with_its_speaker(labelled: Transcript):
    cues = parse_srt(write_srt(labelled))
    assert [(c.start, c.end, c.lines) for c in cues] == [
        (0.0, 1.0, ["[Alice] Hello there."]),
        (2.0, 3.0, ["[Bob] How are you?"]),
        (4.0, 5.5, ["[Alice] Fine, thanks."]),
    ]
    assert [srt_speaker(c) for c in cues] == ["Alice", "Bob", "Alice"]


def test_vtt_uses_voice_spans(labelled: Transcript):
    text = write_vtt(labelled)
    assert "<v Alice>Hello there.</v>" in text
    cues = parse_vtt(text)
    assert [vtt_speakers(c) for c in cues] == [["Alice"], ["Bob"], ["Alice"]]
    assert [(c.start, c.end) for c in cues] == [(0.0, 1.0), (2.0, 3.0), (4.0, 5.5)]


def test_cues_break_at_a_speaker_change_without_punctuation_or_pause():
    words = [W(0.0, 0.3, " and", "A"), W(0.3, 0.6, " then", "A"), W(0.6, 0.9, " right", "B")]
    t = Transcript(
        segments=[Segment(id=0, start=0.0, end=0.9, text=" and then right", words=words)],
        speakers=["A", "B"],
    )
    cues = parse_srt(write_srt(t))
    assert [(c.start, c.lines) for c in cues] == [(0.0, ["[A] and then"]), (0.6, ["[B] right"])]
    vtt = parse_vtt(write_vtt(t))
    assert [vtt_speakers(c) for c in vtt] == [["A"], ["B"]]


def test_multi_line_vtt_cue_keeps_the_voice_on_every_line():
    words = [W(i * 0.2, i * 0.2 + 0.2, f" word{i:02d}", "Carol") for i in range(9)]
    t = Transcript(
        segments=[
            Segment(id=0, start=0.0, end=1.8, text="".join(w.text for w in words), words=words)
        ],
        speakers=["Carol"],
    )
    (cue,) = parse_vtt(write_vtt(t))
    assert len(cue.lines) == 2 and vtt_speakers(cue) == ["Carol", "Carol"]


def test_vtt_escapes_markup_in_speaker_names():
    t = Transcript(
        segments=[
            Segment(
                id=0, start=0.0, end=1.0, text=" Hi.", words=[W(0.0, 1.0, " Hi.", "R&D <lead>")]
            )
        ],
        speakers=["R&D <lead>"],
    )
    assert "<v R&amp;D &lt;lead&gt;>Hi.</v>" in write_vtt(t)


def test_tsv_splits_segments_where_the_speaker_changes(labelled: Transcript):
    header, rows = parse_tsv(write_tsv(labelled))
    assert header == ["start", "end", "speaker", "text"]
    assert rows == [
        {"start": "0", "end": "1000", "speaker": "Alice", "text": "Hello there."},
        {"start": "2000", "end": "3000", "speaker": "Bob", "text": "How are you?"},
        {"start": "4000", "end": "5500", "speaker": "Alice", "text": "Fine, thanks."},
    ]


def test_tsv_without_speakers_keeps_whisper_columns(labelled: Transcript):
    plain = labelled.model_copy(update={"speakers": []})
    header, rows = parse_tsv(write_tsv(plain))
    assert header == ["start", "end", "text"]
    assert [r["text"] for r in rows] == ["Hello there. How are you?", "Fine, thanks."]


def test_json_round_trips_speakers_and_turns(labelled: Transcript):
    back = Transcript.model_validate_json(write_json(labelled))
    assert back == labelled
    assert [w.speaker for w in back.words()][:3] == ["Alice", "Alice", "Bob"]
    assert back.turns[1] == SpeakerTurn(start=1.8, end=3.25, speaker="Bob")


def test_rttm_lists_turns_with_standard_fields(labelled: Transcript):
    text = write_rttm(labelled)
    assert text.splitlines()[1] == ("SPEAKER team_meeting 1 1.800 1.450 <NA> <NA> Bob <NA> <NA>")
    lines = parse_rttm(text)
    assert [(x.uri, x.start, x.duration, x.speaker) for x in lines] == [
        ("team_meeting", 0.0, 1.2, "Alice"),
        ("team_meeting", 1.8, 1.45, "Bob"),
        ("team_meeting", 3.9, 1.7, "Alice"),
    ]


def test_rttm_reads_back_with_pyannote(labelled: Transcript, tmp_path):
    from pyannote.database.util import load_rttm

    path = tmp_path / "x.rttm"
    path.write_text(
        write_rttm(
            labelled.model_copy(
                update={
                    "turns": [
                        SpeakerTurn(start=0.0, end=1.0, speaker="Dr Who"),
                    ]
                }
            )
        )
    )
    annotation = load_rttm(path)["team_meeting"]
    assert annotation.labels() == ["Dr_Who"]
    assert annotation.get_timeline()[0].end == pytest.approx(1.0)


def test_rttm_is_empty_without_diarization(labelled: Transcript):
    assert write_rttm(labelled.model_copy(update={"turns": []})) == ""


def test_rttm_is_opt_in_next_to_all():
    assert [f.name for f in parse_formats("all")] == ["txt", "json", "srt", "vtt", "tsv"]
    assert [f.name for f in parse_formats("all,rttm")][-1] == "rttm"
    assert [f.extension for f in parse_formats("rttm")] == ["rttm"]
