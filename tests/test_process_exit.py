"""The console scripts leave once a command has returned: exit handlers run, the streams are
flushed, the status is the command's, and the interpreter's teardown (freeing the models
module by module) is skipped, unless a thread is still at work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import BIN

# Imported first by every Python started with this folder on PYTHONPATH: an object whose
# finalizer runs only in the interpreter's teardown, and an exit handler.
SITECUSTOMIZE = """
import atexit, os

class _Teardown:
    write = os.write

    def __del__(self):
        self.write(2, b"teardown ran\\n")

_watch = _Teardown()
atexit.register(lambda: os.write(2, b"exit handlers ran\\n"))
"""


def _path(*first: object) -> str:
    """PYTHONPATH with these first (the GPU machine's set-up needs the rest)."""
    rest = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*(str(p) for p in first), *([rest] if rest else [])])


def _python(tmp_path: Path, code: str, *, stdout: str = "piped") -> subprocess.CompletedProcess:
    """``code`` in a child Python; stdout block-buffered into a pipe, or closed."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": _path(site, os.getcwd())}
    env.pop("PYTHONUNBUFFERED", None)  # else nothing waits in a buffer for the flush
    argv = [sys.executable, "-c", textwrap.dedent(code)]
    if stdout == "closed":
        argv = ["sh", "-c", 'exec "$0" "$@" 1>&-', *argv]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def test_a_command_that_returned_leaves_without_the_teardown(tmp_path: Path) -> None:
    done = _python(
        tmp_path,
        """
        import sys
        from transcriber_cli.cli.process_exit import run_then_exit

        def app():
            sys.stdout.write("result line, still buffered")
            raise SystemExit(3)

        run_then_exit(app)
        """,
    )
    assert done.returncode == 3
    assert done.stdout == "result line, still buffered"
    assert "exit handlers ran" in done.stderr
    assert "teardown ran" not in done.stderr


def test_a_process_started_without_stdout_still_exits_0(tmp_path: Path) -> None:
    done = _python(
        tmp_path,
        """
        import sys
        from transcriber_cli.cli.process_exit import run_then_exit

        assert sys.stdout is None
        run_then_exit(lambda: None)
        """,
        stdout="closed",
    )
    assert done.returncode == 0, done.stderr
    assert "exit handlers ran" in done.stderr and "Traceback" not in done.stderr


def test_a_profiled_run_still_prints_its_profile(tmp_path: Path) -> None:
    script = tmp_path / "profiled.py"
    script.write_text(
        "from transcriber_cli.cli.process_exit import run_then_exit\nrun_then_exit(lambda: None)\n"
    )
    env = {**os.environ, "PYTHONPATH": _path(os.getcwd())}
    done = subprocess.run([sys.executable, "-m", "cProfile", str(script)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "function calls" in done.stdout  # cProfile's report, printed after the program


def test_a_message_exit_and_a_thread_at_work_keep_the_usual_exit(tmp_path: Path) -> None:
    marker = tmp_path / "thread-finished"
    done = _python(
        tmp_path,
        f"""
        import threading, time
        from pathlib import Path
        from transcriber_cli.cli.process_exit import run_then_exit

        def late():
            time.sleep(0.5)
            Path({str(marker)!r}).write_text("done")

        def app():
            threading.Thread(target=late).start()
            raise SystemExit("no inputs given")

        run_then_exit(app)
        """,
    )
    assert done.returncode == 1
    assert "no inputs given" in done.stderr
    assert marker.read_text() == "done"  # waited for, as the interpreter does
    assert "teardown ran" in done.stderr


def test_transcribe_leaves_with_nothing_left_running(
    tmp_path: Path, conversation: dict, tiny_model: str
) -> None:
    """A real run with speakers ends with no thread of its own at work, so its process skips
    the teardown; outputs and status are whole."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = tmp_path / "out"
    done = subprocess.run(
        [str(BIN / "transcribe"), str(conversation["path"]), "-m", tiny_model, "--diarize",
         "-f", "txt", "-o", str(out), "--json"],
        env={**os.environ, "PYTHONPATH": _path(site)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"status": "done"' in done.stdout
    text = (out / "conversation.txt").read_text()
    assert "[SPEAKER_00]" in text and "budget" in text.lower()
    assert "exit handlers ran" in done.stderr
    assert "teardown ran" not in done.stderr


def test_a_second_signal_does_not_interrupt_the_first_ones_cleanup() -> None:
    """systemd sends SIGHUP right after SIGTERM, and people press Ctrl-C twice: the second
    signal raised again inside the first one's cleanup, which then never finished (ffmpeg
    or a temporary folder outlived the process). Real signals, in a child interpreter."""
    code = textwrap.dedent(
        """
        import os, signal
        from transcriber_cli.cli.interrupt import stops_interrupt
        from transcriber_cli.errors import Terminated
        with stops_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                raise SystemExit("no Terminated")
            except Terminated as first:
                # the cleanup: further signals arrive and must change nothing
                os.kill(os.getpid(), signal.SIGHUP)
                os.kill(os.getpid(), signal.SIGINT)
                print("cleaned up after", signal.Signals(first.signum).name)
        """
    )
    at_default = lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL)  # noqa: E731 (nohup)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, preexec_fn=at_default)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cleaned up after SIGTERM"
