"""No garbage collection while a run's models load; the collector back on (and nothing left
frozen) once the models are ready and when the run ends."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from transcriber_cli.gc_pause import StartupPause

# The real `transcribe` in a process of its own, watched from inside: every collection's
# start (gc.callbacks) and each of the run's log lines, with the collector's state then.
WATCH = r"""
import gc, json, logging, os, sys, time
events = []
gc.callbacks.append(lambda phase, info: phase == "start" and events.append(
    ["gc", info["generation"], time.perf_counter()]))
class Watch(logging.Handler):
    def emit(self, record):
        text = record.getMessage()
        events.append(["log", text, time.perf_counter(), gc.isenabled(), gc.get_freeze_count()])
        if text.startswith("finished"):
            with open(os.environ["WATCH_OUT"], "w") as f:
                json.dump(events, f)
logger = logging.getLogger("transcriber_cli")
logger.addHandler(Watch(logging.DEBUG))
logger.setLevel(logging.DEBUG)
from transcriber_cli.cli import transcribe_main
sys.argv = ["transcribe", *sys.argv[1:]]
transcribe_main()
"""


def test_no_collection_while_the_models_load(
    conversation: dict, tiny_model: str, tmp_path: Path
) -> None:
    out = tmp_path / "events.json"
    proc = subprocess.run(
        [sys.executable, "-c", WATCH, str(conversation["path"]), "--model", tiny_model,
         "--device", "cpu", "--offline", "-o", str(tmp_path / "out"), "-f", "txt"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "WATCH_OUT": str(out)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "budget" in (tmp_path / "out" / "conversation.txt").read_text().lower()
    events = json.loads(out.read_text())
    logs = [e for e in events if e[0] == "log"]
    start = next(e for e in logs if "inputs," in e[1])  # the run's first line
    ready = next(e for e in logs if e[1].startswith("models ready"))
    assert start[3] is False  # off from the run's start
    loading = [e for e in events if e[0] == "gc" and start[2] <= e[2] <= ready[2]]
    assert loading == [], f"{len(loading)} collections while the models loaded"
    assert ready[3] is True and ready[4] > 10_000  # on again, start-up's objects frozen
    # Collections go on during the transcription (the run allocates): only young objects.
    assert any(e[0] == "gc" and e[2] > ready[2] for e in events)


@pytest.fixture
def thawed() -> Iterator[None]:
    """Nothing frozen when the test starts (an environment may freeze objects at start-up),
    frozen again after it if something was."""
    was = gc.get_freeze_count()
    gc.unfreeze()
    yield
    if was:
        gc.freeze()


def test_collection_comes_back_after_an_in_process_run(
    conversation: dict, tiny_model: str, tmp_path: Path, thawed: None
) -> None:
    """A caller of the library gets its collector back as it was, nothing left frozen, also
    when the run fails before its models are ready."""
    from transcriber_cli.config import Settings
    from transcriber_cli.errors import ModelUnavailable
    from transcriber_cli.formats.registry import parse_formats
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.local.runner import LocalRunner

    assert gc.isenabled() and gc.get_freeze_count() == 0
    for model in (tiny_model, str(tmp_path / "no-model")):
        settings = Settings(model=model, device="cpu", diarize=False, offline=True)
        runner = LocalRunner(settings, JobOptions.build(settings), parse_formats("txt"),
                             output_dir=tmp_path / "out")  # fmt: skip
        if model == tiny_model:
            runner.run([conversation["path"]])
        else:
            with pytest.raises(ModelUnavailable):
                runner.run([conversation["path"]])
        assert gc.isenabled() and gc.get_freeze_count() == 0
    assert (tmp_path / "out" / "conversation.txt").exists()


def test_the_pause_leaves_a_caller_s_choice_alone(thawed: None) -> None:
    gc.disable()
    try:
        with StartupPause() as pause:
            pause.resume()
            assert not gc.isenabled() and gc.get_freeze_count() == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()  # the caller's own freeze: kept, with what the run froze
    callers = gc.get_freeze_count()
    try:
        with StartupPause() as pause:
            junk = [[] for _ in range(1000)]
            pause.resume()
        assert gc.isenabled() and gc.get_freeze_count() >= callers + len(junk)
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("resumed", [True, False])
def test_the_pause_freezes_once_and_thaws_at_the_end(resumed: bool, thawed: None) -> None:
    with StartupPause() as pause:
        assert not gc.isenabled()
        with StartupPause() as inner:  # a second run meanwhile: the first one owns it
            inner.resume()
            assert not gc.isenabled()
        if resumed:
            pause.resume()
            frozen = gc.get_freeze_count()
            assert gc.isenabled() and frozen > 0
            pause.resume()
            assert gc.get_freeze_count() == frozen
    assert gc.isenabled() and gc.get_freeze_count() == 0
