"""No garbage collection while a run's models load; the collector back on once they are
ready (what exists then frozen), and nothing left frozen when the run ends."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from transcriber_cli import gc_pause

# The real `transcribe` in a process of its own, watched from inside: every collection's
# start (gc.callbacks) with the objects frozen then, and each of the run's log lines with
# the collector's state then; first the objects frozen before the run.
WATCH = r"""
import gc, json, logging, os, sys, time
events = [["frozen before", gc.get_freeze_count()]]
gc.callbacks.append(lambda phase, info: phase == "start" and events.append(
    ["gc", info["generation"], time.perf_counter(), gc.get_freeze_count()]))
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
        capture_output=True, text=True, timeout=300, env={**os.environ, "WATCH_OUT": str(out)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "budget" in (tmp_path / "out" / "conversation.txt").read_text().lower()
    events = json.loads(out.read_text())
    logs = [e for e in events if e[0] == "log"]
    start = next(e for e in logs if e[1].startswith("started conversation"))  # load started
    ready = next(e for e in logs if e[1].startswith("models ready"))
    done = next(e for e in logs if e[1].startswith("transcribed"))
    assert start[3] is False  # off while the model loads
    # Before "models ready" a collection may come only once the loads have ended: the
    # callback that freezes and turns collection on runs on the loading thread and can
    # precede that line. So none with nothing more frozen than before the run.
    before = events[0][1]
    loading = [e for e in events
               if e[0] == "gc" and start[2] <= e[2] <= ready[2] and e[3] == before]  # fmt: skip
    assert loading == [], f"{len(loading)} collections while the models loaded"
    # On again once loaded, with the loaded objects frozen; collections go on during the
    # transcription.
    assert done[3] is True and done[4] > 10_000
    assert any(e[0] == "gc" and ready[2] < e[2] <= done[2] for e in events)


@pytest.fixture
def thawed() -> Iterator[None]:
    """Nothing frozen when the test starts (an environment may freeze objects at start-up),
    and whatever a failing test left behind undone after it: collection on, no run held,
    frozen again only if something was before."""
    was = gc.get_freeze_count()
    gc.unfreeze()
    yield
    if gc_pause._runs:  # a test that failed inside a run
        gc_pause._runs = gc_pause._loads = 0
        gc_pause._held = gc_pause._froze = False
        gc_pause._epoch += 1
    gc.enable()
    gc.unfreeze()
    if was:
        gc.freeze()


def test_an_in_process_run_gives_the_collector_back(
    conversation: dict, tiny_model: str, tmp_path: Path, thawed: None
) -> None:
    """Off while the model loads (seen from the load's own thread), on and nothing frozen
    after the run, also when the model does not load."""
    from transcriber_cli.config import Settings
    from transcriber_cli.errors import ModelUnavailable
    from transcriber_cli.formats.registry import parse_formats
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.local.runner import LocalRunner, NullReporter

    class Loading(NullReporter):
        def __init__(self) -> None:
            self.collecting: list[bool] = []

        def note(self, text: str) -> None:
            if text.startswith("loading model"):
                self.collecting.append(gc.isenabled())

    for model in (tiny_model, str(tmp_path / "no-model")):
        settings = Settings(model=model, device="cpu", diarize=False, offline=True)
        reporter = Loading()
        runner = LocalRunner(settings, JobOptions.build(settings), parse_formats("txt"),
                             output_dir=tmp_path / "out", reporter=reporter)  # fmt: skip
        if model == tiny_model:
            runner.run([conversation["path"]])
        else:
            with pytest.raises(ModelUnavailable):
                runner.run([conversation["path"]])
        assert reporter.collecting == [False]
        assert gc.isenabled() and gc.get_freeze_count() == 0
    assert "budget" in (tmp_path / "out" / "conversation.txt").read_text().lower()


def test_loads_in_flight_hold_collection_until_the_last_one_ends(thawed: None) -> None:
    """Two devices loading at once: collection comes back (with what exists then frozen)
    when both have loaded; a load outside a run, or after its run ended, changes nothing."""
    assert gc_pause.model_load() is not None and gc.isenabled()  # no run: nothing
    with gc_pause.run():
        first, second = gc_pause.model_load(), gc_pause.model_load()
        assert not gc.isenabled()
        first()
        first()  # a second call does nothing
        assert not gc.isenabled() and gc.get_freeze_count() == 0
        second()
        frozen = gc.get_freeze_count()
        assert gc.isenabled() and frozen > 0
        late = gc_pause.model_load()  # a device that starts later holds it again
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0  # the run ended: all given back
    late()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_load_holds_collection_a_limited_time(
    thawed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load that takes long (a download) lets collection come back after ``MAX_HOLD``."""
    monkeypatch.setattr(gc_pause, "MAX_HOLD", 0.2)
    with gc_pause.run():
        loaded = gc_pause.model_load()
        assert not gc.isenabled()
        time.sleep(1.0)
        assert gc.isenabled() and gc.get_freeze_count() > 0
        loaded()
        assert gc.isenabled()


def test_overlapping_runs_leave_nothing_frozen(thawed: None) -> None:
    """Two runs in one process, the second starting after the first froze: the last one to
    end thaws, whichever it is."""
    with ExitStack() as first:
        first.enter_context(gc_pause.run())
        gc_pause.model_load()()
        assert gc.get_freeze_count() > 0
        with gc_pause.run():
            loaded = gc_pause.model_load()
            first.close()  # the first run ends while the second one's load is in flight
            assert not gc.isenabled()
            loaded()
            assert gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_the_pause_leaves_a_caller_s_choices_alone(thawed: None) -> None:
    gc.disable()  # the caller's choice: no collection
    try:
        with gc_pause.run():
            gc_pause.model_load()()
            assert not gc.isenabled() and gc.get_freeze_count() == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()  # the caller's own freeze: kept, with what the run froze
    callers = gc.get_freeze_count()
    try:
        with gc_pause.run():
            loaded = gc_pause.model_load()
            junk = [[] for _ in range(1000)]
            loaded()
        assert gc.isenabled() and gc.get_freeze_count() >= callers + len(junk)
    finally:
        gc.unfreeze()
