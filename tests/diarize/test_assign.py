"""Exact speaker assignment with hand-made turns and words."""

from __future__ import annotations

from transcriber_cli.diarize.assign import assign_speakers
from transcriber_cli.transcript import Segment, SpeakerTurn, Transcript, Word


def T(start: float, end: float, speaker: str) -> SpeakerTurn:
    return SpeakerTurn(start=start, end=end, speaker=speaker)


def transcript(*segments: list[tuple[float, float, str]]) -> Transcript:
    segs = []
    for i, words in enumerate(segments):
        ws = [Word(start=s, end=e, text=" " + t) for s, e, t in words]
        segs.append(
            Segment(
                id=i, start=ws[0].start, end=ws[-1].end, text="".join(w.text for w in ws), words=ws
            )
        )
    return Transcript(segments=segs, duration=max(s.end for s in segs))


def word_speakers(t: Transcript) -> list[str | None]:
    return [w.speaker for w in t.words()]


def test_each_word_takes_the_turn_it_overlaps_most():
    # "b" spans the change at 2.0: 0.3 s with A, 0.1 s with B -> A. "c" is 0.1/0.3 -> B.
    t = transcript([(0.0, 1.0, "a"), (1.7, 2.1, "b"), (2.2, 2.6, "c")])
    out = assign_speakers(t, [T(0.0, 2.0, "A"), T(2.0, 4.0, "B")])
    assert word_speakers(out) == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01"]


def test_word_spanning_a_change_sums_overlap_per_speaker():
    # The word 1.0-4.0 meets A for 0.5+0.5 s (two turns) and B for 0.8 s: A wins although
    # B has the single longest piece.
    t = transcript([(1.0, 4.0, "long")])
    turns = [T(0.0, 1.5, "A"), T(1.5, 2.3, "B"), T(3.5, 6.0, "A")]
    out = assign_speakers(t, turns)
    assert word_speakers(out) == ["SPEAKER_00"]
    assert out.turns == [
        T(0.0, 1.5, "SPEAKER_00"),
        T(1.5, 2.3, "SPEAKER_01"),
        T(3.5, 6.0, "SPEAKER_00"),
    ]


def test_words_in_gaps_take_the_nearest_turn():
    # Gap 2.0-5.0 between A and B: a word at 2.4-2.6 is nearer A, one at 4.3-4.5 nearer B.
    t = transcript([(2.4, 2.6, "near_a"), (4.3, 4.5, "near_b"), (9.0, 9.5, "after_all")])
    out = assign_speakers(t, [T(0.0, 2.0, "A"), T(5.0, 6.0, "B")])
    assert word_speakers(out) == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]


def test_gap_after_a_long_early_turn_finds_the_turn_that_ends_last():
    # A starts first but ends at 19.5; B starts later and ends at 10.1. A word at 20 is
    # nearest to A (0.5 s) although B is the turn that started last before it.
    t = transcript([(19.9, 20.1, "w")])
    out = assign_speakers(t, [T(9.5, 19.5, "A"), T(10.0, 10.1, "B"), T(30.0, 31.0, "C")])
    assert [w.speaker for w in out.words()] == ["SPEAKER_00"]
    assert out.speakers == ["SPEAKER_00"]
    assert out.turns[0] == T(9.5, 19.5, "SPEAKER_00")  # A is the speaker the word got
    assert [x.speaker for x in out.turns[1:]] == ["SPEAKER_01", "SPEAKER_02"]


def test_words_before_the_first_turn_take_the_first_turn():
    t = transcript([(0.0, 0.2, "early"), (3.0, 3.5, "inside")])
    out = assign_speakers(t, [T(1.0, 4.0, "X")])
    assert word_speakers(out) == ["SPEAKER_00", "SPEAKER_00"]


def test_ties_go_to_the_turn_that_started_first():
    # Overlap tie: 0.5 s with each. Gap tie: equally far from both -> the earlier turn.
    # (Times are exact binary fractions, so the distances are exactly equal.)
    t = transcript([(1.5, 2.5, "overlap_tie")], [(5.0, 5.5, "gap_tie")])
    out = assign_speakers(t, [T(0.0, 2.0, "B"), T(2.0, 3.0, "A"), T(7.5, 8.0, "C")])
    assert word_speakers(out) == ["SPEAKER_00", "SPEAKER_01"]
    # B appeared first in the transcript, so B -> SPEAKER_00 even though "A" sorts first.
    assert out.turns[0].speaker == "SPEAKER_00"
    assert out.turns[1].speaker == "SPEAKER_01"


def test_segment_speaker_is_the_majority_of_word_time():
    t = transcript([(0.0, 0.4, "x"), (0.5, 0.9, "y"), (1.0, 3.0, "zzzz")])
    out = assign_speakers(t, [T(0.0, 1.0, "A"), T(1.0, 3.0, "B")])
    assert word_speakers(out) == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01"]
    assert out.segments[0].speaker == "SPEAKER_01"  # 2.0 s of B against 0.8 s of A
    assert out.speakers == ["SPEAKER_00", "SPEAKER_01"]


def test_segment_without_words_uses_its_own_span():
    t = Transcript(segments=[Segment(id=0, start=0.0, end=4.0, text="no words here")], duration=4.0)
    out = assign_speakers(t, [T(0.0, 1.0, "A"), T(1.0, 4.0, "B")])
    assert out.segments[0].speaker == "SPEAKER_00"  # B is the only speaker heard: first
    assert out.speakers == ["SPEAKER_00"]
    assert [t.speaker for t in out.turns] == ["SPEAKER_01", "SPEAKER_00"]


def test_labels_follow_first_appearance_and_names_map_in_that_order():
    t = transcript([(0.0, 1.0, "first"), (2.0, 3.0, "second"), (4.0, 5.0, "third")])
    turns = [T(0.0, 1.5, "SPEAKER_07"), T(1.5, 3.5, "SPEAKER_02"), T(3.5, 5.0, "SPEAKER_07")]
    out = assign_speakers(t, turns, ["Alice", "Bob"])
    assert word_speakers(out) == ["Alice", "Bob", "Alice"]
    assert out.speakers == ["Alice", "Bob"]
    assert [x.speaker for x in out.turns] == ["Alice", "Bob", "Alice"]


def test_fewer_names_than_speakers_keeps_numbered_labels_for_the_rest():
    t = transcript([(0.0, 1.0, "a"), (2.0, 3.0, "b"), (4.0, 5.0, "c")])
    turns = [T(0.0, 1.5, "x"), T(1.5, 3.5, "y"), T(3.5, 5.0, "z")]
    out = assign_speakers(t, turns, ["Alice"])
    assert out.speakers == ["Alice", "SPEAKER_01", "SPEAKER_02"]


def test_speakers_only_in_turns_stay_in_turns_but_not_in_speakers():
    t = transcript([(0.0, 1.0, "a")])
    out = assign_speakers(t, [T(0.0, 1.0, "A"), T(10.0, 11.0, "B")])
    assert out.speakers == ["SPEAKER_00"]
    assert [x.speaker for x in out.turns] == ["SPEAKER_00", "SPEAKER_01"]


def test_no_turns_leaves_everything_unlabelled():
    t = transcript([(0.0, 1.0, "a"), (1.0, 2.0, "b")])
    out = assign_speakers(t, [])
    assert word_speakers(out) == [None, None]
    assert out.segments[0].speaker is None
    assert out.speakers == [] and out.turns == []


def test_input_transcript_is_not_modified():
    t = transcript([(0.0, 1.0, "a")])
    assign_speakers(t, [T(0.0, 1.0, "A")])
    assert t.words()[0].speaker is None and t.speakers == []


def test_unsorted_turns_are_handled():
    t = transcript([(0.0, 1.0, "a"), (5.0, 6.0, "b")])
    out = assign_speakers(t, [T(5.0, 6.0, "B"), T(0.0, 1.0, "A")])
    assert word_speakers(out) == ["SPEAKER_00", "SPEAKER_01"]
    assert [(x.start, x.speaker) for x in out.turns] == [(0.0, "SPEAKER_00"), (5.0, "SPEAKER_01")]


def test_zero_length_word_inside_a_turn():
    t = transcript([(2.0, 2.0, "blip")])
    out = assign_speakers(t, [T(0.0, 1.0, "A"), T(1.5, 3.0, "B")])
    assert out.words()[0].speaker == "SPEAKER_00"
    assert [x.speaker for x in out.turns] == ["SPEAKER_01", "SPEAKER_00"]
