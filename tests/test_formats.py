"""Writers and subtitle cue shaping, on hand-built transcripts with known answers."""

from __future__ import annotations

import re

import pytest

from tests.helpers import parse_srt, parse_vtt
from transcriber_cli.errors import UsageError
from transcriber_cli.formats.cues import MAX_CHARS, build_cues, format_timestamp, wrap_lines
from transcriber_cli.formats.registry import parse_formats
from transcriber_cli.formats.subtitles import write_srt, write_vtt
from transcriber_cli.formats.tables import write_json, write_tsv
from transcriber_cli.formats.text import write_txt
from transcriber_cli.transcript import Segment, Transcript, Word


def words_from(
    text: str, start: float, step: float = 0.3, speaker: str | None = None
) -> list[Word]:
    out, t = [], start
    for token in text.split():
        out.append(
            Word(start=round(t, 3), end=round(t + step * 0.8, 3), text=" " + token, speaker=speaker)
        )
        t += step
    return out


def long_transcript() -> Transcript:
    """One 60-word batched-style segment with sentence ends inside."""
    text = (
        "This is the first sentence of a long batched segment that keeps going for a while. "
        "Here comes another sentence with more words to fill the subtitle lines nicely. "
        "And a third one, which is short. Finally the last sentence ends the whole segment here."
    )
    words = words_from(text, 1.0)
    return Transcript(
        duration=40.0,
        language="en",
        segments=[Segment(id=0, start=words[0].start, end=words[-1].end, text=text, words=words)],
    )


def test_wrap_lines_balances_two_lines() -> None:
    lines = wrap_lines("one two three four five six seven eight nine ten eleven twelve")
    assert lines is not None and len(lines) == 2
    assert all(len(ln) <= MAX_CHARS for ln in lines)
    assert abs(len(lines[0]) - len(lines[1])) <= 8
    assert wrap_lines("x " * 60) is None  # 120 chars cannot fit in 2 x 42


def test_cues_respect_limits_and_sentence_ends() -> None:
    transcript = long_transcript()
    cues = build_cues(transcript)
    assert len(cues) >= 5
    for cue in cues:
        assert len(cue.lines) <= 2
        assert all(len(line) <= MAX_CHARS for line in cue.lines)
        assert cue.end - cue.start <= 7.0 + 1e-6
    # Every sentence end closes a cue: no cue has a full stop in its middle.
    for cue in cues:
        assert "." not in cue.text.replace("\n", " ")[:-1]
    # No word lost or duplicated, order kept.
    joined = " ".join(c.text.replace("\n", " ") for c in cues)
    assert joined.split() == transcript.segments[0].text.split()
    # Monotonic, non-overlapping timing.
    for a, b in zip(cues, cues[1:]):
        assert a.end <= b.start


def test_cues_break_on_speaker_change_and_pause() -> None:
    w = words_from("Hello there Bob", 0.0, speaker="A") + words_from("hi Alice", 1.0, speaker="B")
    w += words_from("after a long pause", 5.0, speaker="B")
    t = Transcript(segments=[Segment(id=0, start=0, end=7, text="x", words=w)], speakers=["A", "B"])
    cues = build_cues(t)
    assert [c.text for c in cues] == ["Hello there Bob", "hi Alice", "after a long pause"]
    assert [c.speaker for c in cues] == ["A", "B", "B"]


def test_segment_text_without_words_is_still_split() -> None:
    text = "word " * 40
    t = Transcript(segments=[Segment(id=0, start=0.0, end=20.0, text=text.strip())])
    cues = build_cues(t)
    assert len(cues) >= 3
    assert all(c.end - c.start <= 7.0 + 1e-6 for c in cues)
    assert cues[0].start == 0.0 and cues[-1].end == pytest.approx(20.0, abs=0.01)


def test_srt_parses_back_with_limits() -> None:
    transcript = long_transcript()
    cues = parse_srt(write_srt(transcript))
    assert len(cues) == len(build_cues(transcript))
    assert cues[0].start == pytest.approx(1.0)
    assert all(len(c.lines) <= 2 and all(len(x) <= 42 for x in c.lines) for c in cues)


def test_vtt_parses_back_and_escapes() -> None:
    t = Transcript(
        segments=[
            Segment(id=0, start=0.5, end=2.0, text="a <b> & c", words=words_from("a <b> & c.", 0.5))
        ]
    )
    text = write_vtt(t)
    cues = parse_vtt(text)
    assert cues[0].lines == ["a &lt;b&gt; &amp; c."]
    assert cues[0].start == pytest.approx(0.5)


def _visible(line: str) -> str:
    """What a player prints for a VTT line: the text inside the voice span, unescaped."""
    m = re.fullmatch(r"<v [^>]+>(.*)</v>", line)
    text = m.group(1) if m else line
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_srt_and_vtt_count_only_visible_characters() -> None:
    """One rule for both: the SRT label is on screen and counts, the VTT voice span does not.
    76 visible characters fit two VTT lines of 42, but not with a 13-character SRT label."""
    text = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike"
    words = words_from(text, 0.0, step=0.08, speaker="SPEAKER_00")
    t = Transcript(
        segments=[Segment(id=0, start=0.0, end=6.5, text=text, words=words)],
        speakers=["SPEAKER_00"],
    )
    srt, vtt = parse_srt(write_srt(t)), parse_vtt(write_vtt(t))
    assert len(vtt) == 1 and len(srt) == 2  # the same words, legitimately split differently
    assert all(len(_visible(line)) <= MAX_CHARS for c in vtt for line in c.lines)
    assert all(len(line) <= MAX_CHARS for c in srt for line in c.lines)
    assert max(len(_visible(line)) for c in vtt for line in c.lines) > MAX_CHARS - len(
        "[SPEAKER_00] "
    )
    srt_words = " ".join(" ".join(c.lines) for c in srt).replace("[SPEAKER_00] ", "").split()
    vtt_words = " ".join(_visible(line) for c in vtt for line in c.lines).split()
    assert srt_words == vtt_words == text.split()
    # Without speakers there is no label, and both formats cut the same cues.
    plain = Transcript(
        segments=[Segment(id=0, start=0.0, end=6.5, text=text, words=words_from(text, 0, 0.08))]
    )
    plain_srt, plain_vtt = parse_srt(write_srt(plain)), parse_vtt(write_vtt(plain))
    assert [(c.start, c.end, c.lines) for c in plain_srt] == [
        (c.start, c.end, c.lines) for c in plain_vtt
    ]


def test_timestamps() -> None:
    assert format_timestamp(3723.456, decimal=",") == "01:02:03,456"
    assert format_timestamp(0.0004) == "00:00:00.000"
    assert format_timestamp(59.9996) == "00:01:00.000"


def test_txt_and_tsv_and_json_round_trip() -> None:
    t = long_transcript()
    assert write_txt(t).strip() == t.segments[0].text
    rows = [r.split("\t") for r in write_tsv(t).strip().split("\n")]
    assert rows[0] == ["start", "end", "text"]
    assert rows[1][0] == "1000" and rows[1][2].startswith("This is the first")
    assert Transcript.model_validate_json(write_json(t)) == t


def test_words_keep_whisper_spacing() -> None:
    words = [
        Word(start=0, end=0.5, text=" It"),
        Word(start=0.5, end=1, text=" costs"),
        Word(start=1, end=1.5, text=" $20"),
        Word(start=1.5, end=2, text=",000."),
    ]
    t = Transcript(segments=[Segment(id=0, start=0, end=2, text="It costs $20,000.", words=words)])
    assert build_cues(t)[0].text == "It costs $20,000."


def test_parse_formats() -> None:
    assert [f.name for f in parse_formats("all")] == ["txt", "json", "srt", "vtt", "tsv"]
    assert [f.name for f in parse_formats("srt, txt,srt")] == ["srt", "txt"]
    with pytest.raises(UsageError, match="unknown format docx"):
        parse_formats("txt,docx")
