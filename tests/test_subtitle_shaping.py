"""Subtitle shaping: presets and limits, checked by parsing the srt/vtt files back, on the
conversation as tiny.en transcribes it and on transcripts built to hit each edge."""

from __future__ import annotations

import dataclasses
import re

import pytest

from tests.conftest import run_cli
from tests.parse_outputs import ParsedCue, parse_srt, parse_vtt, srt_speaker, vtt_speakers
from transcriber_cli.config import load_settings
from transcriber_cli.errors import ConfigError
from transcriber_cli.formats.cues import join_words
from transcriber_cli.formats.shaping import PRESETS, Shaping, shaping_from
from transcriber_cli.formats.subtitles import write_srt, write_vtt
from transcriber_cli.transcript import Segment, Transcript, Word

MS = 0.0015  # timestamps are printed to the millisecond
_TAG = re.compile(r"<[^>]+>")
_STAMP = re.compile(r"<(\d\d):(\d\d):(\d\d)\.(\d\d\d)>")
CUSTOM = Shaping(max_chars=20, max_lines=3, max_duration=2.5, min_gap=0.2, min_duration=0.5)
SHAPES = {**PRESETS, "custom": CUSTOM}


def visible(line: str) -> str:
    """What a player prints: markup (voice spans, classes, timestamps) removed, entities read."""
    return _TAG.sub("", line).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def check_limits(cues: list[ParsedCue], shaping: Shaping) -> None:
    assert cues
    for cue in cues:
        assert 1 <= len(cue.lines) <= shaping.max_lines, cue
        for line in cue.lines:
            assert len(visible(line)) <= shaping.max_chars, line
        assert cue.end - cue.start <= shaping.max_duration + MS, cue
        assert cue.end - cue.start >= shaping.min_duration - MS, cue
    for a, b in zip(cues, cues[1:], strict=False):
        assert b.start - a.end >= shaping.min_gap - MS, (a, b)


def shown_words(cues: list[ParsedCue], srt: bool) -> str:
    lines = [visible(ln) for c in cues for ln in c.lines]
    if srt:
        lines = [re.sub(r"^\[[^\]]+\] ", "", ln) for ln in lines]
    return " ".join(" ".join(lines).split())


def words_from(text: str, start: float, step: float, speaker: str | None = None) -> list[Word]:
    return [
        Word(start=start + i * step, end=start + i * step + step * 0.9, text=" " + w,
             speaker=speaker)
        for i, w in enumerate(text.split())
    ]  # fmt: skip


def transcript_of(*groups: list[Word]) -> Transcript:
    segments = [
        Segment(id=i, start=ws[0].start, end=ws[-1].end, text=join_words(ws), words=ws,
                speaker=ws[0].speaker)
        for i, ws in enumerate(groups)
    ]  # fmt: skip
    speakers = list(dict.fromkeys(s.speaker for s in segments if s.speaker))
    return Transcript(duration=segments[-1].end + 1, segments=segments, speakers=speakers)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_limit_holds_on_a_real_transcript(conversation_transcript, name) -> None:
    shaping = SHAPES[name]
    said = join_words(conversation_transcript.words())
    srt = parse_srt(write_srt(conversation_transcript, shaping))
    vtt = parse_vtt(write_vtt(conversation_transcript, shaping))
    for cues, is_srt in ((srt, True), (vtt, False)):
        check_limits(cues, shaping)
        assert shown_words(cues, is_srt) == said  # every word, once, in order
    if shaping.max_lines == 1:
        assert all(len(c.lines) == 1 for c in srt)


def test_presets_differ_where_they_say(conversation_transcript) -> None:
    counts = {
        name: len(parse_srt(write_srt(conversation_transcript, s))) for name, s in PRESETS.items()
    }
    assert counts["one-line"] > counts["web"]  # one line a cue: more cues, same words
    # The same words as one sentence without its stops: where tiny.en ends sentences varies
    # with the CPU's math library (MKL on Intel, oneDNN on AMD), and a line is only as long as
    # half a short sentence. Run on, they fill the lines a 7 s cue allows.
    words = [
        w.model_copy(update={"text": w.text.rstrip(".?!")}) for w in conversation_transcript.words()
    ]
    one = conversation_transcript.model_copy(
        update={"segments": [Segment(id=0, start=words[0].start, end=words[-1].end,
                                     text=join_words(words), words=words)]}
    )  # fmt: skip
    widest = {
        name: max(len(line) for c in parse_srt(write_srt(one, PRESETS[name])) for line in c.lines)
        for name in ("web", "broadcast")
    }
    assert widest["web"] > PRESETS["broadcast"].max_chars  # so broadcast's 37 had to re-wrap
    assert widest["broadcast"] <= PRESETS["broadcast"].max_chars


def test_vtt_word_highlighting_follows_the_words(conversation_transcript) -> None:
    shaping = dataclasses.replace(PRESETS["web"], highlight_words=True)
    text = write_vtt(conversation_transcript, shaping)
    cues = parse_vtt(text)
    plain = parse_vtt(write_vtt(conversation_transcript, PRESETS["web"]))
    assert [[visible(ln) for ln in c.lines] for c in cues] == [c.lines for c in plain]
    starts = {round(w.start, 3) for w in conversation_transcript.words()}
    stamps = 0
    for cue in cues:
        body = "\n".join(cue.lines)
        # Rounded as the starts are: 3 + 970 / 1000 is 3.9699999999999998, not 3.97.
        times = [round(int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000, 3)
                 for h, m, s, ms in _STAMP.findall(body)]  # fmt: skip
        assert times == sorted(times) and len(set(times)) == len(times)
        assert all(cue.start < t < cue.end for t in times), cue
        assert all(t in starts for t in times)
        # Each word is a class span; every word but the first has its timestamp.
        assert body.count("<c>") == len(visible(body).split())
        assert len(times) == body.count("<c>") - 1
        stamps += len(times)
    assert stamps > 50


def test_a_word_longer_than_a_line_is_cut_to_the_line() -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3  # 135 characters
    t = transcript_of([Word(start=1.0, end=4.0, text=" " + word)])
    for shaping in PRESETS.values():
        for cues, is_srt in ((parse_srt(write_srt(t, shaping)), True),
                             (parse_vtt(write_vtt(t, shaping)), False)):  # fmt: skip
            check_limits(cues, shaping)
            assert shown_words(cues, is_srt).replace(" ", "") == word


def test_twenty_seconds_without_a_pause_is_cut_by_duration() -> None:
    said = " ".join(["and", "then"] * 40)  # 80 words over 20 s, no sentence end, no pause
    t = transcript_of(words_from(said, 0.5, 0.25))
    for shaping in (PRESETS["web"], PRESETS["broadcast"], CUSTOM):
        shaping = dataclasses.replace(shaping, max_chars=200, max_lines=3)  # time must cut
        cues = parse_srt(write_srt(t, shaping))
        check_limits(cues, shaping)
        assert len(cues) >= 20 / shaping.max_duration
        assert shown_words(cues, True) == said


def test_segments_closer_than_the_gap_are_pushed_apart() -> None:
    first = words_from("Yes.", 1.0, 0.2)  # a 0.18 s word, 0.02 s before the next
    second = words_from("Then we go on.", 1.2, 0.3)
    third = words_from("Right away.", second[-1].end + 0.01, 0.3)
    t = transcript_of(first, second, third)
    shaping = PRESETS["broadcast"]
    cues = parse_srt(write_srt(t, shaping))
    check_limits(cues, shaping)
    assert [shown_words([c], True) for c in cues] == ["Yes.", "Then we go on.", "Right away."]
    assert cues[0].start == pytest.approx(1.0, abs=MS)  # cues start with their speech...
    assert cues[1].start == pytest.approx(1.0 + shaping.min_duration + shaping.min_gap, abs=MS)


def test_speaker_changes_start_new_cues_and_labels_count() -> None:
    a = words_from("I think we should ship it on Monday morning", 0.0, 0.3, "SPEAKER_00")
    b = words_from("No we cannot ship it before the tests pass", a[-1].end + 0.05, 0.3,
                   "SPEAKER_01")  # fmt: skip
    t = transcript_of(a, b, words_from("Fine", b[-1].end + 0.05, 0.3, "SPEAKER_00"))
    shaping = Shaping(max_chars=25, max_lines=2, min_gap=0.1)
    srt = parse_srt(write_srt(t, shaping))
    vtt = parse_vtt(write_vtt(t, shaping))
    check_limits(srt, shaping)
    check_limits(vtt, shaping)
    turns = ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]
    assert [srt_speaker(c) for c in srt] == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01",
                                             "SPEAKER_01", "SPEAKER_00"]  # fmt: skip
    for cue in vtt:
        assert len(set(vtt_speakers(cue))) == 1
    assert [vtt_speakers(c)[0] for c in vtt] == turns
    # The SRT label is on screen and takes width; the VTT voice span does not.
    assert len(srt) > len(vtt)


def test_a_preset_comes_from_flags_env_or_config_and_explicit_limits_win(
    monkeypatch, isolated_settings
) -> None:
    assert shaping_from(load_settings()) == PRESETS["web"]
    (isolated_settings / "config.toml").write_text('subtitle_preset = "broadcast"\nmax_lines = 1\n')
    assert shaping_from(load_settings()) == dataclasses.replace(PRESETS["broadcast"], max_lines=1)
    monkeypatch.setenv("TRANSCRIBER_MIN_GAP", "0")
    monkeypatch.setenv("TRANSCRIBER_VTT_HIGHLIGHT_WORDS", "true")
    got = shaping_from(load_settings(max_line_width=30))
    assert got == dataclasses.replace(PRESETS["broadcast"], max_lines=1, min_gap=0.0,
                                      max_chars=30, highlight_words=True)  # fmt: skip
    with pytest.raises(ConfigError, match="subtitle_preset"):
        load_settings(subtitle_preset="cinema")
    with pytest.raises(ConfigError, match="max_line_width"):
        load_settings(max_line_width=3)


@pytest.mark.slow
def test_cli_flags_shape_the_files(conversation: dict, tmp_path, tiny_model) -> None:
    out = tmp_path / "out"
    args = [str(conversation["path"]), "-o", str(out), "-m", tiny_model, "--no-diarize",
            "-f", "srt,vtt"]  # fmt: skip
    proc = run_cli(*args, "--subtitle-preset", "broadcast", "--max-lines", "1",
                   "--max-cue-duration", "3", "--vtt-highlight-words")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shaping = dataclasses.replace(PRESETS["broadcast"], max_lines=1, max_duration=3.0)
    check_limits(parse_srt((out / "conversation.srt").read_text()), shaping)
    vtt = (out / "conversation.vtt").read_text()
    check_limits(parse_vtt(vtt), shaping)
    assert _STAMP.search(vtt)
    bad = run_cli(*args, "--overwrite", "--subtitle-preset", "cinema")
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "subtitle_preset" in bad.stderr
