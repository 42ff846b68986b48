"""Synthetic conversations with known speaker turns, spoken by espeak-ng.

Each voice has its own espeak voice, pitch and speed (voices of one sex at one pitch are
nearly one voice to a speaker encoder). ``--overlap`` starts some turns before the previous
one ends. Writes NAME.wav (16 kHz mono), NAME.rttm and NAME.json (turns with their text):

    python bench/diarization/synth.py OUT --set dev     # the files bench/diarization.md tunes on
    python bench/diarization/synth.py OUT --set test    # the files it only scores
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

RATE = 16000
# (espeak voice, pitch 0-99, words per minute). Dev and test use different voices.
VOICES = {
    "dev": [
        ("en-us", 30, 150),
        ("en-us+f3", 70, 170),
        ("en-gb-x-rp", 55, 130),
        ("en-us+f2", 45, 185),
    ],
    "test": [
        ("en-gb", 25, 160),
        ("en-gb+f4", 75, 140),
        ("en-us+m3", 60, 180),
        ("en-gb-scotland+f1", 40, 150),
    ],
}
SENTENCES = [
    "Good morning, thank you all for joining the call today.",
    "I would like to start with the budget for next quarter.",
    "The servers were upgraded last week without any trouble.",
    "Can you send me the updated schedule before Friday?",
    "We still need a decision on the design of the new office.",
    "The customer asked for a demonstration early next month.",
    "I think we should hire two more engineers this spring.",
    "Let us review the results of the survey together.",
    "The train was late again, so I missed the first meeting.",
    "Our sales grew by twelve percent compared to last year.",
    "Please remember to book the meeting room for Tuesday.",
    "That sounds reasonable, but the timeline is rather tight.",
    "I agree with the plan, as long as the testing is done first.",
    "The report will be ready by the end of the afternoon.",
    "Could we move the workshop to the following week?",
    "The new website launches on the first of next month.",
    "We received three complaints about the delivery times.",
    "Thanks, that answers my question about the contract.",
    "I will check with the legal team and come back to you.",
    "The weather forecast says it will rain all weekend.",
]
# Files per set: (voices, overlapping turns, seed). Seeds differ between dev and test.
LAYOUT = {
    "dev": [(2, False, 1), (2, True, 2), (3, False, 3), (3, True, 4), (4, False, 5), (4, True, 6)],
    "test": [
        (2, False, 11),
        (2, True, 12),
        (3, False, 13),
        (3, True, 14),
        (4, False, 15),
        (4, True, 16),
    ],
}


def speak(text: str, voice: tuple[str, int, int], tmp: Path) -> np.ndarray:
    name, pitch, speed = voice
    out = tmp / "turn.wav"
    cmd = ["espeak-ng", "-v", name, "-p", str(pitch), "-s", str(speed), "-w", str(out), text]
    subprocess.run(cmd, check=True)
    with wave.open(str(out)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    audio = resample_poly(pcm.astype(np.float32) / 32768, RATE, rate)
    voiced = np.flatnonzero(np.abs(audio) > 1e-3)  # trim espeak's silent edges
    return audio[voiced[0] : voiced[-1] + 1]


def conversation(
    voices: list, turns: int, overlap: bool, seed: int, balanced: bool = False
) -> tuple[np.ndarray, list]:
    """Every voice speaks first in order; then turns go at random (or round robin when
    ``balanced``), never one voice twice in a row."""
    rng = random.Random(seed)
    pieces, script, t, previous = [], [], 0.5, -1
    with tempfile.TemporaryDirectory() as tmp:
        order = list(range(len(voices))) + [rng.randrange(len(voices)) for _ in range(turns)]
        if balanced:
            order = list(range(len(voices))) * turns
        for i in order[:turns]:
            if i == previous:
                i = (i + 1) % len(voices)
            text = rng.choice(SENTENCES)
            audio = speak(text, voices[i], Path(tmp))
            start = t - (rng.uniform(0.3, 1.0) if overlap and script else 0.0)
            start = max(start, script[-1]["start"] + 0.5) if script else start
            pieces.append((start, audio))
            end = start + len(audio) / RATE
            script.append({"speaker": f"voice{i}", "start": round(start, 3),
                           "end": round(end, 3), "text": text})  # fmt: skip
            t = end + (0.0 if overlap else rng.uniform(0.3, 0.9))
            previous = i
    total = np.zeros(int((t + 0.5) * RATE), dtype=np.float32)
    for start, audio in pieces:
        s = int(start * RATE)
        total[s : s + len(audio)] += audio
    return total / max(1.0, float(np.abs(total).max()) / 0.9), script


def write(folder: Path, name: str, audio: np.ndarray, script: list) -> None:
    with wave.open(str(folder / f"{name}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((audio * 32767).astype(np.int16).tobytes())
    rttm = [f"SPEAKER {name} 1 {t['start']:.3f} {t['end'] - t['start']:.3f} <NA> <NA> "
            f"{t['speaker']} <NA> <NA>" for t in script]  # fmt: skip
    (folder / f"{name}.rttm").write_text("\n".join(rttm) + "\n")
    (folder / f"{name}.json").write_text(json.dumps({"turns": script}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--set", choices=sorted(LAYOUT), default="dev")
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for n, overlap, seed in LAYOUT[args.set]:
        name = f"{args.set}-{n}v{'-overlap' if overlap else ''}"
        audio, script = conversation(VOICES[args.set][:n], args.turns, overlap, seed)
        write(args.out, name, audio, script)
        print(f"{name}: {len(audio) / RATE:.1f} s, {len(script)} turns")


if __name__ == "__main__":
    main()
