"""Windows and checkpoints: cuts at silence, seamless joins, and a local run that goes on
from its last finished window after Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import json_lines, run_cli
from transcriber_cli.media import SAMPLE_RATE
from transcriber_cli.pipeline.windows import WindowCheckpoint, next_cut, shift
from transcriber_cli.transcript import Segment, Word

BIN = Path(sys.executable).parent


def noise(seconds: float, level: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, level, int(seconds * SAMPLE_RATE)).astype(np.float32)


def test_cut_is_the_quiet_moment_before_the_boundary() -> None:
    audio = noise(200)
    quiet = slice(int(52.0 * SAMPLE_RATE), int(52.6 * SAMPLE_RATE))
    audio[quiet] = noise(0.6, level=0.001, seed=1)
    cut = next_cut(audio, 0.0, 60.0)
    assert 52.0 <= cut <= 52.6  # inside the pause, not at 60 s in the middle of "speech"
    # The next window is found from this cut, so a resumed run cuts at the same places.
    assert next_cut(audio, cut, 60.0) == next_cut(audio.copy(), cut, 60.0)
    assert cut < next_cut(audio, cut, 60.0) <= cut + 60.0
    # What is left fits in 1.25 windows: one last window to the end, no short tail.
    assert next_cut(audio, 130.0, 60.0) == pytest.approx(200.0)


def test_seam_keeps_every_word_once() -> None:
    def word(start: float, end: float, text: str) -> Word:
        return Word(start=start, end=end, text=text)

    # Whisper placed " the" (already in the previous window, ending at 60.4) again at the
    # start of this window; the window starts at 60.0 (window time 0).
    words = [word(0.0, 0.3, " the"), word(0.5, 0.9, " next"), word(1.0, 2.0, " words")]
    seg = Segment(id=0, start=0.0, end=2.0, text="the next words", words=words)
    moved = shift(seg, 60.0, after=60.4)
    assert moved is not None
    assert [w.text for w in moved.words] == [" next", " words"]
    assert moved.text == "next words" and moved.start == 60.5 and moved.end == 62.0
    # Entirely before the seam: dropped.
    assert shift(seg.model_copy(update={"end": 0.3, "words": seg.words[:1]}), 60.0, 60.4) is None
    # No overlap possible: a plain move, text untouched.
    plain = shift(seg, 60.0, after=59.0)
    assert plain is not None and plain.text == seg.text and plain.words[0].start == 60.0


def test_prompt_carries_the_end_of_the_text_before_the_cut() -> None:
    state = WindowCheckpoint(
        seconds=60,
        windows=1,
        segments=[Segment(id=0, start=0, end=59, text="word " * 100 + "last words here.")],
    )
    prompt = state.prompt("Glossary: Kubernetes.")
    assert prompt is not None and prompt.startswith("Glossary: Kubernetes. ")
    assert prompt.endswith("last words here.") and len(prompt) < 250
    assert WindowCheckpoint().prompt(None) is None


def words_of(path: Path) -> list[tuple[str, float, float]]:
    data = json.loads(path.read_text())
    return [(w["text"].strip(), w["start"], w["end"]) for s in data["segments"] for w in s["words"]]


def checkpoint_rows(state_dir: Path) -> list[str]:
    db = state_dir / "manifest.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=5) as conn:
        try:
            return [row[0] for row in conn.execute("SELECT state FROM checkpoints")]
        except sqlite3.OperationalError:  # the table is not there yet
            return []


@pytest.mark.slow
def test_local_run_goes_on_from_its_last_window_after_ctrl_c(
    looped_media, tiny_model, tmp_path, isolated_settings
) -> None:
    media = looped_media(4)  # ~2.2 min: five 30 s windows (the last one takes the rest)
    env = {
        "TRANSCRIBER_MODEL": tiny_model,
        "TRANSCRIBER_DEVICE": "cpu",
        "TRANSCRIBER_DIARIZE": "false",
        "TRANSCRIBER_WINDOW_SECONDS": "30",
    }
    whole = run_cli(str(media), "-o", str(tmp_path / "whole"), "-f", "json", env=env)
    assert whole.returncode == 0, whole.stderr
    reference = words_of(tmp_path / "whole" / media.with_suffix(".json").name)
    assert checkpoint_rows(isolated_settings / "state") == []  # finished: nothing kept

    out = tmp_path / "stopped"
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), str(media), "-o", str(out), "-f", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = checkpoint_rows(isolated_settings / "state")
        if rows and json.loads(rows[0])["windows"] >= 2:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("no checkpoint with two windows appeared")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert not out.exists() or not list(out.iterdir())  # no partial output
    saved = WindowCheckpoint.model_validate_json(checkpoint_rows(isolated_settings / "state")[0])
    assert saved.windows >= 2 and 2 * 22.5 <= saved.seconds < 125  # cuts in the last 7.5 s

    again = run_cli(str(media), "-o", str(out), "-f", "json", "--json", env=env)
    assert again.returncode == 0, again.stderr
    (line,) = json_lines(again.stdout)
    assert line["status"] == "done" and line["resumed_from"] == saved.seconds
    resumed = words_of(out / media.with_suffix(".json").name)
    # The same words as the uninterrupted run, timestamps continuous and within 0.5 s.
    assert [w[0] for w in resumed] == [w[0] for w in reference]
    assert max(abs(a[1] - b[1]) for a, b in zip(resumed, reference, strict=True)) <= 0.5
    starts = [w[1] for w in resumed]
    assert starts == sorted(starts)
    assert checkpoint_rows(isolated_settings / "state") == []


def test_an_auto_batch_size_of_one_still_carries_the_text_before_the_cut() -> None:
    from transcriber_cli.options import WhisperOptions
    from transcriber_cli.pipeline.windows import window_options

    state = WindowCheckpoint(seconds=600.0, windows=1, language="en", segments=[
        Segment(id=0, start=590.0, end=599.0, text="the end of the first window")])  # fmt: skip
    auto = WhisperOptions(batch_size=0)
    assert window_options(auto, state).initial_prompt is None  # batched: no context
    carried = window_options(auto, state, sequential=True).initial_prompt
    assert carried is not None and carried.endswith("the end of the first window")
