"""Build the benchmark audio reproducibly from Debian's ``asterisk-core-sounds-en-wav``.

Those are real recordings of one speaker (8 kHz prompts) with a published script, so each
tool's output can also be scored for word error rate: a check that all tools were run with
settings that give the same quality, not only the same speed.

- ``long.m4a``: prompts joined (0.4 s gaps) until ~5 minutes, AAC in MP4.
- ``folder/clip_NN.mp3``: 50 clips of 5-15 s, each a few prompts joined, MP3.

The prompt order comes from a fixed seed, so the same package version gives the same files.
Everything is cached under ``bench/.data/`` (gitignored); ``manifest.json`` holds durations and
the reference text of every file. bench_local.py builds it on first use; alone:

    python bench/dataset.py [--data-dir DIR]
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import make_parser

SOUNDS = Path("/usr/share/asterisk/sounds/en")
SCRIPT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
DATASET_VERSION = 1  # bump when the recipe changes: cached data is rebuilt
SEED = 2
GAP_SECONDS = 0.4
LONG_SECONDS = 300.0
CLIP_COUNT = 50
CLIP_MIN, CLIP_MAX = 5.0, 15.0
RATE = 8000  # the prompts' own rate; ffmpeg resamples to 16 kHz when encoding


@dataclass
class Prompt:
    name: str
    text: str
    samples: np.ndarray  # int16, 8 kHz

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


class MissingSounds(RuntimeError):
    pass


def _read_script() -> dict[str, str]:
    script: dict[str, str] = {}
    with gzip.open(SCRIPT, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(";") or ": " not in line:
                continue
            name, text = line.split(": ", 1)
            script[name.strip()] = text.strip()
    return script


def _read_wav(path: Path) -> np.ndarray | None:
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != RATE or w.getsampwidth() != 2 or w.getnchannels() != 1:
            return None
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def load_prompts() -> list[Prompt]:
    """Spoken prompts (not tones, not single digits/letters), sorted by name."""
    if not SOUNDS.is_dir() or not SCRIPT.is_file():
        raise MissingSounds(
            "real-speech prompts not found: apt-get install asterisk-core-sounds-en-wav"
        )
    script = _read_script()
    prompts = []
    for name, text in sorted(script.items()):
        if "[" in text or not text or name.split("/")[0] in {"digits", "letters", "phonetic"}:
            continue
        path = SOUNDS / f"{name}.wav"
        if not path.is_file():
            continue
        samples = _read_wav(path)
        if samples is not None and len(samples) > RATE // 2:
            prompts.append(Prompt(name, text, samples))
    return prompts


def _join(prompts: list[Prompt]) -> np.ndarray:
    gap = np.zeros(int(GAP_SECONDS * RATE), dtype=np.int16)
    parts: list[np.ndarray] = []
    for p in prompts:
        parts += [p.samples, gap]
    return np.concatenate(parts[:-1])


def _encode(samples: np.ndarray, dest: Path, codec_args: list[str]) -> None:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        with wave.open(tmp.name, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(samples.tobytes())
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-i",
                tmp.name,
                "-ar",
                "16000",
                "-ac",
                "1",
                *codec_args,
                "-map_metadata",
                "-1",
                str(dest),
            ],
            check=True,
        )


def plan(prompts: list[Prompt]) -> tuple[list[Prompt], list[list[Prompt]]]:
    """Split the shuffled prompts into the long file and the clips."""
    rng = random.Random(SEED)
    pool = list(prompts)
    rng.shuffle(pool)
    long: list[Prompt] = []
    total = 0.0
    while total < LONG_SECONDS:
        p = pool.pop()
        long.append(p)
        total += p.seconds + GAP_SECONDS
    short_pool = [p for p in pool if p.seconds <= CLIP_MAX - 1]
    clips: list[list[Prompt]] = []
    for _ in range(CLIP_COUNT):
        target = rng.uniform(CLIP_MIN, CLIP_MAX)
        clip: list[Prompt] = []
        length = 0.0
        i = 0
        while length < target and i < len(short_pool):
            p = short_pool[i]
            extra = p.seconds + (GAP_SECONDS if clip else 0.0)
            if length + extra <= CLIP_MAX:
                clip.append(short_pool.pop(i))
                length += extra
            else:
                i += 1
        if length < CLIP_MIN:
            raise RuntimeError("not enough prompts left for the clips")
        clips.append(clip)
    return long, clips


def build(data_dir: Path) -> dict:
    """Build (or reuse) the data set; returns the manifest."""
    manifest_path = data_dir / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        files = [data_dir / manifest["long"]["file"]] + [
            data_dir / c["file"] for c in manifest["folder"]["files"]
        ]
        if manifest.get("version") == DATASET_VERSION and all(f.is_file() for f in files):
            return manifest
    long, clips = plan(load_prompts())
    folder = data_dir / "folder"
    folder.mkdir(parents=True, exist_ok=True)
    long_samples = _join(long)
    _encode(long_samples, data_dir / "long.m4a", ["-c:a", "aac", "-b:a", "64k"])
    clip_entries = []
    for n, clip in enumerate(clips):
        samples = _join(clip)
        name = f"folder/clip_{n:02d}.mp3"
        _encode(samples, data_dir / name, ["-c:a", "libmp3lame", "-b:a", "64k"])
        clip_entries.append(
            {
                "file": name,
                "seconds": round(len(samples) / RATE, 3),
                "text": " ".join(p.text for p in clip),
            }
        )
    manifest = {
        "version": DATASET_VERSION,
        "source": "Debian asterisk-core-sounds-en-wav (one speaker, real speech, 8 kHz)",
        "long": {
            "file": "long.m4a",
            "seconds": round(len(long_samples) / RATE, 3),
            "prompts": len(long),
            "text": " ".join(p.text for p in long),
        },
        "folder": {
            "dir": "folder",
            "seconds": round(sum(c["seconds"] for c in clip_entries), 3),
            "files": clip_entries,
        },
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


if __name__ == "__main__":
    parser = make_parser(__doc__)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(__file__).parent / ".data", help="output folder"
    )
    m = build(parser.parse_args().data_dir)
    print(
        f"long: {m['long']['seconds']} s; folder: {len(m['folder']['files'])} files, "
        f"{m['folder']['seconds']} s"
    )
