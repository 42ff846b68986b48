"""The release files work without the checkout: `python -m build` makes the wheel and the
sdist, scripts/check_dist.py accepts them (and refuses a wheel that lost its weights or
gained tests), and the wheel installed with its `offline` extra into a clean venv outside the
checkout transcribes the example with speakers, offline, with no PYTHONPATH (and the example
plugin, plugins/transcriber-markdown, installed beside it adds its format).

The venv is made with uv: from a warm cache the ~5 GB of torch and CUDA wheels are hard-linked
(about 3 s); a cold cache, as on a fresh CI machine (nox installs with pip), downloads them
once (about 30 s more).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import BIN, EXAMPLES, ROOT
from transcriber_cli import __version__

pytestmark = pytest.mark.slow

WHEEL = f"transcriber_toolkit-{__version__}-py3-none-any.whl"


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and the sdist, built once per session as `nox -s build` builds them."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def _check_dist(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_dist.py"), str(folder)],
        capture_output=True,
        text=True,
    )


def test_release_files_hold_the_package_data_and_no_tests(dist: Path, tmp_path: Path) -> None:
    assert sorted(p.name for p in dist.iterdir()) == [
        WHEEL,
        f"transcriber_toolkit-{__version__}.tar.gz",
    ]
    ok = _check_dist(dist)
    assert ok.returncode == 0, ok.stderr
    with zipfile.ZipFile(dist / WHEEL) as zf:
        names = set(zf.namelist())
    weights = "transcriber_cli/diarize/weights/"
    assert {f"{weights}NOTICE.md", f"{weights}segmentation.pt", f"{weights}dvector.pt"} <= names
    # The same check refuses a wheel that lost the NOTICE and gained a test file.
    shutil.copy(dist / f"transcriber_toolkit-{__version__}.tar.gz", tmp_path)
    with zipfile.ZipFile(dist / WHEEL) as src, zipfile.ZipFile(tmp_path / WHEEL, "w") as bad:
        for item in src.infolist():
            if not item.filename.endswith("NOTICE.md"):
                bad.writestr(item, src.read(item))
        bad.writestr("tests/test_media.py", "")
    refused = _check_dist(tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: {WHEEL}: missing {weights}NOTICE.md",
        f"error: {WHEEL}: must not ship tests/test_media.py",
    ]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


@pytest.fixture
def clean_venv(tmp_path_factory: pytest.TempPathFactory):
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    yield venv
    shutil.rmtree(venv, ignore_errors=True)  # ~5 GB of (hard-linked) torch and CUDA files


def test_wheel_installs_and_transcribes_offline_with_speakers(
    dist: Path, clean_venv: Path, tmp_path: Path, conversation: dict
) -> None:
    uv = shutil.which("uv", path=str(BIN))
    assert uv, "uv must be installed (the test extra)"
    for place in (clean_venv, tmp_path):
        assert not place.resolve().is_relative_to(ROOT)
    # A user's environment: no PYTHONPATH, no virtualenv active, the test venv's bin off PATH.
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = path
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(clean_venv)], env=env,
                   check=True)  # fmt: skip
    assert "include-system-site-packages = false" in (clean_venv / "pyvenv.cfg").read_text()
    python = clean_venv / "bin" / "python"
    install = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(python),
         "-c", str(ROOT / "constraints.txt"), f"{dist / WHEEL}[offline]",
         str(ROOT / "plugins" / "transcriber-markdown")],  # the plugin example, beside it
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(EXAMPLES / "conversation.mp4", work / "talk.mp4")
    home = tmp_path / "home"  # no config, no model cache, no token: a first run
    user_env = {"PATH": path, "HOME": str(home), "HF_HUB_OFFLINE": "1", "LANG": "C.UTF-8"}

    where = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m, transcriber_cli as t; "
         "print(t.__file__); print(t.__version__, m.version('transcriber-toolkit'))"],
        capture_output=True, text=True, cwd=work, env=user_env, check=True,
    ).stdout.splitlines()  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, env=user_env, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where[0]).is_relative_to(site) and Path(site).is_relative_to(clean_venv)
    assert where[1] == f"{__version__} {__version__}"

    proc = subprocess.run(
        [str(clean_venv / "bin" / "transcribe"), "talk.mp4", "--diarize", "-f", "txt,json,md"],
        capture_output=True, text=True, cwd=work, env=user_env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((work / "talk.json").read_text())
    assert doc["model"] == "tiny.en"  # the bundled model of the offline extra
    assert doc["diarization"] == {"status": "done", "model": "builtin"}
    lines = (work / "talk.txt").read_text().splitlines()
    turns = conversation["turns"]
    # One line per turn, its speaker the script's (labels numbered by first appearance).
    labels = [re.match(r"\[(SPEAKER_\d\d)\] ", line).group(1) for line in lines]  # type: ignore[union-attr]
    first_seen = list(dict.fromkeys(t["speaker"] for t in turns))
    assert labels == [f"SPEAKER_{first_seen.index(t['speaker']):02d}" for t in turns]
    said = _words(" ".join(t["text"] for t in turns))
    heard = _words(" ".join(lines))
    assert len(said & heard) >= 0.85 * len(said), sorted(said - heard)
    # The plugin example's format, from its entry point in the installed environment.
    markdown = (work / "talk.md").read_text().splitlines()
    assert markdown[0] == "# talk.mp4"
    assert markdown[4].startswith("**SPEAKER_00** [00:00] Good morning")
