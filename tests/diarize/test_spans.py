"""Long recordings diarized span by span (issue 15): the linking of speakers across spans on
hand-made centroids, then the real CLI with the built-in weights on a conversation cut into
spans, whose speakers must come out as the two voices sentence by sentence."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_run import CONVERSATION, json_lines, run, voice_at

from transcriber_cli.config import Settings
from transcriber_cli.diarize.spans import LocalSpeaker, cut, link
from transcriber_cli.transcript import Transcript

SCRIPT = json.loads(CONVERSATION.with_suffix(".script.json").read_text())
RNG = np.random.default_rng(7)
A, B, C = (RNG.normal(size=16) for _ in range(3))


def near(v: np.ndarray) -> np.ndarray:
    return v + 0.05 * RNG.normal(size=v.size)


def test_spans_are_equal_and_cover_the_recording() -> None:
    assert cut(100.0, 30.0) == [(0.0, 25.0), (25.0, 50.0), (50.0, 75.0), (75.0, 100.0)]
    assert cut(100.0, 0.0) == [(0.0, 100.0)]
    assert cut(60.0, 60.0) == [(0.0, 60.0)]  # exactly one span long: not cut
    assert cut(3600.5, 3600.0) == [(0.0, 3600.5)]  # a decoded hour a little over: not cut
    assert len(cut(3600.0 * 1.02, 3600.0)) == 2
    assert cut(3600.0 * 4, 3600.0)[-1] == (3600.0 * 3, 3600.0 * 4)


def test_a_cut_moves_into_the_nearest_pause() -> None:
    rate = 16000
    audio = RNG.normal(size=rate * 100).astype(np.float32)  # 100 s of "speech"
    audio[rate * 46 : rate * 47] = 0  # a pause 3.5 s before the equal cut at 50 s
    audio[rate * 10 : rate * 12] = 0  # and one too far from it to be chosen
    (_, edge), (start, end) = cut(100.0, 50.0, audio, rate)
    assert 46.0 <= edge <= 47.0 and start == edge and end == 100.0


def test_the_same_voice_in_other_spans_is_one_speaker() -> None:
    local = [
        LocalSpeaker(0, "SPEAKER_00", A, 30.0),
        LocalSpeaker(0, "SPEAKER_01", B, 20.0),
        LocalSpeaker(1, "SPEAKER_00", near(B), 25.0),  # the span's first voice is B
        LocalSpeaker(1, "SPEAKER_01", near(A), 5.0),
        LocalSpeaker(2, "SPEAKER_00", near(A), 9.0),
        LocalSpeaker(2, "SPEAKER_01", C, 9.0),  # a third person, only in the last span
    ]
    assert link(local, threshold=0.7) == [0, 1, 1, 0, 0, 2]


def test_two_speakers_of_one_span_are_never_joined() -> None:
    # Nearly the same centroid twice in one span: that span's clustering told them apart.
    local = [LocalSpeaker(0, "a", A, 10.0), LocalSpeaker(0, "b", near(A), 10.0)]
    assert link(local, threshold=0.7) == [0, 1]
    assert link(local, threshold=0.7, num=1) == [0, 1]  # not even when a count asks for it
    # Across spans, one of them joins the other span's speaker, never both.
    three = [*local, LocalSpeaker(1, "a", near(A), 10.0)]
    groups = link(three, threshold=0.7)
    assert groups[2] in (groups[0], groups[1]) and groups[0] != groups[1]


def test_a_given_count_merges_past_the_threshold_and_bounds_hold() -> None:
    local = [LocalSpeaker(k, "x", v, 10.0) for k, v in enumerate((A, B, C))]
    assert link(local, threshold=0.1) == [0, 1, 2]  # three voices, all apart
    assert len(set(link(local, threshold=0.1, num=2))) == 2
    assert link(local, threshold=0.1, num=1) == [0, 0, 0]
    assert len(set(link(local, threshold=0.1, high=2))) == 2  # --max-speakers 2
    same = [LocalSpeaker(k, "x", near(A), 10.0) for k in range(3)]
    assert link(same, threshold=0.7) == [0, 0, 0]
    assert len(set(link(same, threshold=0.7, low=2))) == 2  # --min-speakers 2 stops merging


def test_a_speaker_without_centroid_joins_only_when_a_count_forces_it() -> None:
    # pyannote pads the centroid of a speaker it found no embedding for with zeros.
    local = [LocalSpeaker(0, "a", A, 10.0), LocalSpeaker(1, "a", np.zeros(16), 1.0)]
    assert link(local, threshold=1.9) == [0, 1]
    assert link(local, threshold=1.9, num=1) == [0, 0]


def test_the_span_setting_is_zero_or_long_enough() -> None:
    assert Settings(diarization_span_minutes=0).diarization_span_minutes == 0
    assert Settings().diarization_span_minutes == 60
    assert Settings(diarization_span_minutes=1).diarization_span_minutes == 1
    with pytest.raises(ValueError, match=r"or at least 1"):
        Settings(diarization_span_minutes=0.5)


@pytest.mark.slow
def test_a_conversation_cut_into_spans_keeps_two_speakers_sentence_by_sentence(tmp_path: Path):
    # The conversation twice (66.4 s) in spans of a minute: the cut moves into the pause
    # between the two, each span holds both voices (four local speakers), and the count is
    # not given, so the threshold links them.
    looped = tmp_path / "twice.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-stream_loop", "1", "-i", str(CONVERSATION), "-c", "copy",
         str(looped)],
        check=True,
    )  # fmt: skip
    proc = run(
        str(looped),
        "-m",
        "tiny.en",
        "--diarization-model",
        "builtin",
        "--speaker-names",
        "Alice,Bob",
        "-f",
        "json",
        "-o",
        str(tmp_path / "out"),
        "--json",
        "-v",
        env={"HF_TOKEN": None, "TRANSCRIBER_DIARIZATION_SPAN_MINUTES": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "in 2 spans" in proc.stderr and "4 local speakers linked into 2" in proc.stderr, (
        proc.stderr
    )
    (line,) = json_lines(proc.stdout)
    assert sorted(line["speakers"]) == ["Alice", "Bob"]
    stages = line["runtime"]["stages"]  # the diarizer's steps, summed over the spans
    steps = [stages[f"diarize_{k}"] for k in ("segmentation", "embeddings", "clustering", "turns")]
    assert min(steps) > 0 and sum(steps) <= stages["diarize"] + 0.01
    t = Transcript.model_validate_json((tmp_path / "out" / "twice.json").read_text())
    names = {"alice": "Alice", "bob": "Bob"}
    loop = SCRIPT["duration"]
    script = [
        {**x, "start": x["start"] + k * loop, "end": x["end"] + k * loop}
        for k in range(2)
        for x in SCRIPT["turns"]
    ]
    words = [w for seg in t.segments for w in seg.words]
    assert len(words) > 120
    for w in words:
        voice = voice_at(script, (w.start + w.end) / 2)
        assert voice is not None and w.speaker == names[voice], (w, voice)
    # The turns of both spans, in time order, named by the voices (none past the end).
    assert {turn.speaker for turn in t.turns} == {"Alice", "Bob"}
    assert all(a.start <= b.start for a, b in zip(t.turns, t.turns[1:]))
    assert t.turns[-1].end <= 2 * loop + 0.1


def _mapped_mib() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("RssFile:")) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc only")
def test_spans_done_leave_the_resident_set(tmp_path: Path) -> None:
    from transcriber_cli.diarize.pyannote_pipeline import _drop_pages

    samples = RNG.normal(size=16000 * 1200).astype(np.float32)  # 20 min: 77 MB
    samples.tofile(tmp_path / "audio.f32")
    with open(tmp_path / "audio.f32", "rb") as fh:
        mapped = np.memmap(fh, dtype=np.float32, mode="r")
        total = float(mapped.sum(dtype=np.float64))  # every page read: resident
        read = _mapped_mib()
        _drop_pages(mapped, len(mapped) // 2)  # the first span done
        half = _mapped_mib()
        _drop_pages(mapped, len(mapped))
        assert read - half > 30 and half - _mapped_mib() > 30, (read, half, _mapped_mib())
        assert float(mapped.sum(dtype=np.float64)) == total  # still readable, the same samples
        del mapped


class VoicesPipeline:
    """Stands in for a pyannote pipeline: a sample of 0.25 is voice A, 0.5 voice B, 0 nobody.
    Each call names its voices in the reverse of their first appearance, so labels differ
    between spans, and adds a speaker whose only turn lies past the end of the span (clipped
    away: a centroid without turns). Records the counts each call got."""

    link_threshold = 0.7

    def __init__(self, embeddings: bool = True) -> None:
        self.embeddings = embeddings
        self.counts: list[dict] = []

    def __call__(self, file: dict, hook=None, **counts):  # type: ignore[no-untyped-def]
        from pyannote.audio.pipelines.speaker_diarization import DiarizeOutput
        from pyannote.core import Annotation, Segment

        self.counts.append(counts)
        audio = file["waveform"][0].numpy()
        seconds = len(audio) / 16000
        hook("segmentation", None, total=2, completed=1)
        hook("embeddings", None, total=2, completed=2)
        frames = audio[: len(audio) // 1600 * 1600].reshape(-1, 1600)[:, 0]  # 0.1 s frames
        voice = np.where(frames == 0.25, "A", np.where(frames == 0.5, "B", ""))
        order = list(dict.fromkeys(v for v in voice if v))[::-1]
        label = {v: f"SPEAKER_{i:02d}" for i, v in enumerate(order)}
        out = Annotation()
        start = 0
        for i in range(1, len(voice) + 1):
            if i == len(voice) or voice[i] != voice[start]:
                if voice[start]:
                    out[Segment(start / 10, i / 10)] = label[voice[start]]
                start = i
        out[Segment(seconds + 1, seconds + 2)] = "SPEAKER_09"  # past the end: clipped away
        rows = [VOICE[v] for v in order] + [VOICE["A"]]  # the phantom sounds like A
        return DiarizeOutput(out, out, np.array(rows) if self.embeddings else None)


VOICE = {"A": RNG.normal(size=16), "B": RNG.normal(size=16)}


def _voices(pattern: list[tuple[str, float]]) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    pieces, truth, t = [], [], 0.0
    for who, seconds in pattern:
        value = {"A": 0.25, "B": 0.5, "": 0.0}[who]
        pieces.append(np.full(int(seconds * 16000), value, dtype=np.float32))
        if who:
            truth.append((t, t + seconds, who))
        t += seconds
    return np.concatenate(pieces), truth


def test_spans_are_diarized_apart_and_their_speakers_linked_in_process() -> None:
    from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer
    from transcriber_cli.options import SpeakerOptions

    # 100 s: A and B take turns; pauses of 1 s between turns, cuts every 25 s move into them.
    pattern = [(who, 9.0 if who else 1.0) for _ in range(5) for who in ("A", "", "B", "")]
    audio, truth = _voices(pattern)
    fake = VoicesPipeline()
    diarizer = PyannoteDiarizer(fake, name="fake", device="cpu", span=25.0)
    seen: list[tuple[float, float]] = []
    turns = diarizer(
        audio,
        speakers=SpeakerOptions(num_speakers=2),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(fake.counts) == 4 and all(c == {"max_speakers": 2} for c in fake.counts)
    names = {}
    for start, end, who in truth:  # each true turn is one turn of one name, shifted right
        (mine,) = [t for t in turns if t.start < end and t.end > start]
        # (the stand-in's 0.1 s frames start at each span's cut)
        assert abs(mine.start - start) <= 0.11 and abs(mine.end - end) <= 0.11, (mine, who)
        assert names.setdefault(who, mine.speaker) == mine.speaker
    assert names == {"A": "SPEAKER_00", "B": "SPEAKER_01"}  # named as they first talk
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (100.0, 100.0)
    assert {total for _, total in seen} == {100.0}


def test_a_pipeline_without_speaker_embeddings_runs_the_recording_whole() -> None:
    from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer

    audio, _ = _voices([("A", 20.0), ("B", 20.0), ("A", 20.0)])
    fake = VoicesPipeline(embeddings=False)
    turns = PyannoteDiarizer(fake, name="fake", device="cpu", span=25.0)(audio)
    assert len(fake.counts) == 2  # the first span, then the whole recording
    assert [t.speaker for t in turns] == ["SPEAKER_01", "SPEAKER_00", "SPEAKER_01"]
