"""The per-file quality report: measures of a finished transcript that point a person at the
files worth checking (docs/quality.md), and the flags past their thresholds.

Everything comes from the transcript, so local runs, workers and ``jobs fetch`` agree: where
speech is comes from word timings, where Whisper heard none from its per-segment no-speech
probability, overlaps from the diarization turns.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel

from transcriber_cli.options import QualityOptions
from transcriber_cli.transcript import Transcript

QA_SCHEMA = "transcriber.qa/1"
MAX_PHRASE_WORDS = 8  # longest repeated phrase looked for
PAUSE_IN_SPEECH = 0.5  # seconds between words still counted as speaking
NO_SPEECH_PROB = 0.6  # faster-whisper's no_speech_threshold
_WORD = re.compile(r"[\w']+")


class Loop(BaseModel):
    phrase: str
    times: int
    start: float | None = None


class QualityReport(BaseModel):
    source: str | None = None
    duration: float
    flags: list[str]
    repeated_phrases: list[Loop]
    nonspeech_words: int
    nonspeech_text: list[str]  # the segments' text, for a person to look at
    silence_share: float
    low_confidence_share: float | None  # None without word probabilities
    speaking_time: dict[str, float]
    overlap_seconds: float
    overlap_share: float
    language: str | None
    language_probability: float | None
    thresholds: QualityOptions

    def to_json(self) -> str:
        data = {"schema": QA_SCHEMA, **self.model_dump()}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _tokens(transcript: Transcript) -> list[tuple[str, float | None]]:
    """Normalised words with their start time (segment text when there are no word timings)."""
    out: list[tuple[str, float | None]] = []
    for seg in transcript.segments:
        pieces = [(w.text, w.start) for w in seg.words] or [(seg.text, seg.start)]
        for text, start in pieces:
            out.extend((t.lower(), start) for t in _WORD.findall(text))
    return out


def repeated_phrases(transcript: Transcript, max_repeats: int) -> list[Loop]:
    """Phrases of up to 8 words said ``max_repeats`` times or more in a row (a single word
    twice as often: "no, no, no" is speech, forty of them a decoding loop)."""
    tokens = _tokens(transcript)
    words = [t for t, _ in tokens]
    loops: list[Loop] = []
    i = 0
    while i < len(words):
        for n in range(1, MAX_PHRASE_WORDS + 1):
            phrase = words[i : i + n]
            times = 1
            while words[i + times * n : i + (times + 1) * n] == phrase:
                times += 1
            if times >= (2 * max_repeats if n == 1 else max_repeats):
                loops.append(Loop(phrase=" ".join(phrase), times=times, start=tokens[i][1]))
                i += times * n - 1
                break
        i += 1
    return loops


def _union(spans: Iterable[tuple[float, float]], join: float = 0.0) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= join:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(spans: Iterable[tuple[float, float]]) -> float:
    return sum(end - start for start, end in spans)


def silence_share(transcript: Transcript) -> float:
    """The share of the audio without speech: word timings, pauses within speech joined."""
    if transcript.duration <= 0:
        return 0.0
    spans = [(w.start, w.end) for s in transcript.segments for w in s.words] or [
        (s.start, s.end) for s in transcript.segments if s.text.strip()
    ]
    speech = _length(_union(spans, PAUSE_IN_SPEECH))
    return round(max(0.0, 1 - speech / transcript.duration), 3)


def overlap(transcript: Transcript) -> tuple[float, float, dict[str, float]]:
    """Seconds with two or more speakers at once, their share of the time anyone speaks, and
    each speaker's speaking time (diarization turns; else labelled segments)."""
    turns = [(t.start, t.end, t.speaker) for t in transcript.turns] or [
        (s.start, s.end, s.speaker) for s in transcript.segments if s.speaker
    ]
    per_speaker: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for start, end, speaker in turns:
        per_speaker[speaker].append((start, end))
    merged = {spk: _union(spans) for spk, spans in per_speaker.items()}
    speaking = {spk: round(_length(spans), 3) for spk, spans in merged.items()}
    events = sorted(
        [(s, 1) for spans in merged.values() for s, _ in spans]
        + [(e, -1) for spans in merged.values() for _, e in spans]
    )
    both, active, last = 0.0, 0, 0.0
    for t, step in events:
        if active >= 2:
            both += t - last
        active, last = active + step, t
    anyone = _length(_union((s, e) for spans in merged.values() for s, e in spans))
    return round(both, 3), round(both / anyone, 3) if anyone else 0.0, speaking


def assess(transcript: Transcript, limits: QualityOptions | None = None) -> QualityReport:
    limits = limits or QualityOptions.model_validate({})
    loops = repeated_phrases(transcript, limits.qa_max_repeats)
    silent_segments = [
        s for s in transcript.segments
        if s.no_speech_prob is not None and s.no_speech_prob > NO_SPEECH_PROB and s.text.strip()
    ]  # fmt: skip
    nonspeech = sum(len(_WORD.findall(s.text)) for s in silent_segments)
    probs = [
        w.probability for s in transcript.segments for w in s.words if w.probability is not None
    ]
    low = (
        round(sum(p < limits.qa_min_word_probability for p in probs) / len(probs), 3)
        if probs
        else None
    )
    overlap_s, overlap_share, speaking = overlap(transcript)
    silence = silence_share(transcript)
    lang_p = transcript.language_probability
    flags = [
        name
        for name, hit in (
            ("repeated_phrases", bool(loops)),
            ("text_in_nonspeech", nonspeech > limits.qa_max_nonspeech_words),
            ("mostly_silence", silence > limits.qa_max_silence),
            ("low_confidence", low is not None and low > limits.qa_max_low_confidence),
            ("overlapping_speech", overlap_share > limits.qa_max_overlap),
            ("uncertain_language",
             lang_p is not None and bool(transcript.segments)
             and lang_p < limits.qa_min_language_probability),
        )
        if hit
    ]  # fmt: skip
    return QualityReport(
        source=transcript.source,
        duration=transcript.duration,
        flags=flags,
        repeated_phrases=loops,
        nonspeech_words=nonspeech,
        nonspeech_text=[s.text.strip() for s in silent_segments],
        silence_share=silence,
        low_confidence_share=low,
        speaking_time=speaking,
        overlap_seconds=overlap_s,
        overlap_share=overlap_share,
        language=transcript.language,
        language_probability=lang_p,
        thresholds=limits,
    )


def configured() -> QualityOptions:
    """The thresholds of this process's settings (env vars, config file)."""
    from transcriber_cli.config import load_settings

    settings = load_settings()
    return QualityOptions.model_validate(
        settings.model_dump(include=set(QualityOptions.model_fields))
    )


def write_qa(transcript: Transcript) -> str:
    return assess(transcript, configured()).to_json()
