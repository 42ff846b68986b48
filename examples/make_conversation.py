"""Render the example conversation with espeak-ng: two voices, known text and turn times.

Writes conversation.mp4 (a picture track + AAC audio) and conversation.script.json, the
ground truth the tests compare against. Needs espeak-ng and ffmpeg:

    apt-get install espeak-ng ffmpeg && python examples/make_conversation.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATE = 16000
GAP = 0.6  # seconds of silence between turns

VOICES = {"alice": "en-us+f3", "bob": "en-gb-x-rp"}
SCRIPT = [
    ("alice", "Good morning everyone. Thank you for joining the weekly planning meeting."),
    ("bob", "Thanks Alice. I would like to start with the budget for the new project."),
    ("alice", "Sure. We have twenty thousand dollars for the first quarter."),
    ("bob", "That should cover the servers and the design work."),
    ("alice", "Great. Can you send me the schedule by Friday?"),
    ("bob", "Yes, I will send the schedule and the report on Friday morning."),
    ("alice", "Perfect. Let us meet again next week."),
]


def speak(text: str, voice: str, out: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(out), text], check=True)


def main() -> None:
    turns = []
    with tempfile.TemporaryDirectory() as tmp:
        pieces: list[Path] = []
        t = 0.5
        for i, (speaker, text) in enumerate(SCRIPT):
            raw = Path(tmp) / f"{i}.wav"
            speak(text, VOICES[speaker], raw)
            norm = Path(tmp) / f"{i}n.wav"
            subprocess.run(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(raw),
                    "-ac",
                    "1",
                    "-ar",
                    str(RATE),
                    str(norm),
                ],
                check=True,
            )
            with wave.open(str(norm)) as w:
                dur = w.getnframes() / RATE
            turns.append(
                {"speaker": speaker, "start": round(t, 3), "end": round(t + dur, 3), "text": text}
            )
            pieces.append(norm)
            t += dur + GAP
        # Interleave silences with the turns; the concat filter keeps exact timing.
        inputs: list[str] = ["-f", "lavfi", "-t", "0.5", "-i", f"anullsrc=r={RATE}:cl=mono"]
        for p in pieces:
            inputs += [
                "-i",
                str(p),
                "-f",
                "lavfi",
                "-t",
                str(GAP),
                "-i",
                f"anullsrc=r={RATE}:cl=mono",
            ]
        n = 1 + 2 * len(pieces)
        concat = "".join(f"[{i}:a]" for i in range(n)) + f"concat=n={n}:v=0:a=1[a]"
        total = round(t, 3)
        mp4 = HERE / "conversation.mp4"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                *inputs,
                "-f",
                "lavfi",
                "-t",
                str(total),
                "-i",
                "testsrc2=size=320x180:rate=10",
                "-filter_complex",
                concat,
                "-map",
                f"{n}:v",
                "-map",
                "[a]",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "35",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
                "-movflags",
                "+faststart",
                "-shortest",
                str(mp4),
            ],
            check=True,
        )
    (HERE / "conversation.script.json").write_text(
        json.dumps({"duration": total, "voices": VOICES, "turns": turns}, indent=2) + "\n"
    )
    print(f"wrote {mp4} ({total:.1f} s, {len(turns)} turns)")


if __name__ == "__main__":
    main()
