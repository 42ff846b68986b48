"""What a new user meets first, through the real console scripts: --version, `transcribe`
with nothing to do, --help at 80 columns for every command, shell completion, and setup
errors that point at `transcriber doctor`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT, run_cli
from transcriber_cli import __version__

HELP_COLUMNS = 80
MIN_HELP_WIDTH = 30  # the option help column


def test_version_is_set_once_and_both_programs_print_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # pyproject names no version: setuptools reads transcriber_cli.__version__ at build time.
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "transcriber_cli.__version__"
    }
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    for program in ("transcribe", "transcriber"):
        proc = run_cli("--version", program=program)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{program} {__version__}\n", "")


@pytest.mark.parametrize("argv", [["transcribe"], ["transcriber", "transcribe"]])
def test_transcribe_with_no_arguments_says_what_to_pass(argv: list[str]) -> None:
    proc = run_cli(*argv[1:], program=argv[0])
    prog = " ".join(argv)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == f"usage: {prog} PATH... [OPTIONS]"
    assert any(line.startswith(f"  {prog} meeting.mp4 ") for line in lines)  # an example
    assert f"Every option: {prog} --help" in lines
    assert "Check this machine's set-up: transcriber doctor" in lines
    assert len(lines) <= 15 and max(map(len, lines)) <= HELP_COLUMNS  # short, not the help


def _commands() -> list[list[str]]:
    """Every command line that has a help page: `transcriber`, each (sub)command, `transcribe`."""
    import typer

    from transcriber_cli.cli import app

    def walk(cmd, path: list[str]):  # type: ignore[no-untyped-def]
        yield path
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            if not sub.hidden:
                yield from walk(sub, [*path, name])

    return [["transcriber", *p] for p in walk(typer.main.get_command(app), [])] + [["transcribe"]]


def _help(argv: list[str]) -> str:
    env = {**os.environ, "COLUMNS": str(HELP_COLUMNS)}
    proc = subprocess.run(
        [str(BIN / argv[0]), *argv[1:], "--help"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _help_problems(text: str) -> list[str]:
    """Lines wider than the terminal, an option help column narrower than MIN_HELP_WIDTH,
    and wrapped help lines that hold one lone word; in click's plain layout or in Rich's
    boxed panels (the layout this replaced)."""
    problems = []
    in_options = False
    for line in text.splitlines():
        if len(line) > HELP_COLUMNS:
            problems.append(f"wider than {HELP_COLUMNS}: {line!r}")
        if line and line[0] not in " │":  # "Options:", "Usage: ...", "╭─ Options ───╮"
            in_options = (
                re.match(r"(Options:|Arguments:|╭─ (Options|Arguments) )", line) is not None
            )
            continue
        content = line.strip(" │")
        if not in_options or not content:
            continue
        indent = len(line) - len(line.lstrip(" │"))
        name_and_help = re.match(r"(\S.*?\S)  +(\S.*)$", content)
        if indent <= 2 and name_and_help:  # "  --name <type>   help text"
            start = indent + name_and_help.start(2)
            if HELP_COLUMNS - start < MIN_HELP_WIDTH:
                problems.append(f"help column {HELP_COLUMNS - start} wide: {line!r}")
        elif indent > 2 and len(content.split()) == 1:  # a continuation line of help
            problems.append(f"one lone word: {line!r}")
    return problems


def test_every_help_page_reads_well_at_80_columns() -> None:
    commands = _commands()
    assert len(commands) > 30 and ["transcriber", "fleet", "up"] in commands
    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = dict(zip(map(" ".join, commands), pool.map(_help, commands)))
    assert "Options:" in pages["transcribe"] and "--diarize / --no-diarize" in pages["transcribe"]
    problems = [f"{cmd}: {p}" for cmd, page in pages.items() for p in _help_problems(page)]
    assert problems == []


def test_the_help_check_catches_one_word_lines() -> None:
    """What `transcribe --help` printed at 80 columns before (Rich's option table), and
    the same help column squeezed in click's plain layout."""
    rich_layout = """\
╭─ Options ────────────────────────────────────────────────────────────────────╮
│ --batch-size                              <int>             Batched          │
│                                                             inference size   │
│ --audio-stream                            <int range>       Audio stream N   │
│                                           [x>=0]            (0 = first;      │
│ --vad                  --no-vad           <bool>            Voice activity   │
│                                                             detection.       │
"""
    assert [p.split(":")[0] for p in _help_problems(rich_layout)] == ["one lone word"]
    column = HELP_COLUMNS - 15
    plain = f"Options:\n{'  --batch-size <int>':<{column}}Batched\n"
    assert [p.split(":")[0] for p in _help_problems(plain)] == ["help column 15 wide"]
    assert _help_problems("Options:\n  --json  One JSON object per input on stdout.\n") == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["transcriber", "fl"], ["fleet"]),
        (["transcriber", "fleet", ""], ["up", "update", "scale", "status", "down"]),
        (["transcribe", "--diar"], ["--diarize", "--diarization-model"]),
    ],
)
def test_bash_completion(words: list[str], expected: list[str]) -> None:
    """The script `--show-completion` prints in bash, sourced in bash, completes as bash
    would call it on TAB (COMP_WORDS / COMP_CWORD, the program asked through its
    _PROG_COMPLETE variable)."""
    prog = words[0]
    comp_words = " ".join(f"'{w}'" for w in words)
    script = (
        f"source <({prog} --show-completion) || exit 9\n"
        f"COMP_WORDS=({comp_words}); COMP_CWORD={len(words) - 1}\n"
        f"_{prog}_completion {prog}\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == expected


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_installs_into_bashrc(tmp_path: Path) -> None:
    """`--install-completion` run from bash (a fresh HOME): a new shell that reads ~/.bashrc
    completes `transcriber fl` to `fleet`."""
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", "transcriber --install-completion; exit $?"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "bash completion installed in" in proc.stdout
    assert "_transcriber_completion" in (tmp_path / ".bash_completions/transcriber.sh").read_text()
    script = (
        "source ~/.bashrc\n"
        "COMP_WORDS=(transcriber fl); COMP_CWORD=1; _transcriber_completion transcriber\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert (proc.returncode, proc.stdout) == (0, "fleet\n"), proc.stderr


def test_setup_errors_point_at_doctor(tmp_path: Path, make_media) -> None:
    """ffmpeg missing (a PATH with our scripts and python, no ffmpeg) fails the input with one
    line that says how to install it and that `transcriber doctor` checks the set-up."""
    assert shutil.which("ffmpeg", path=str(BIN)) is None
    good = make_media("first-run.wav", "-vn", "-t", "3")
    proc = run_cli(str(good), "-o", str(tmp_path), env={"PATH": str(Path(sys.executable).parent)})
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {good}: ffmpeg not found on PATH (install ffmpeg: apt-get install ffmpeg, "
        "brew install ffmpeg, or winget install ffmpeg); "
        "'transcriber doctor' checks this machine's set-up"
    ]


def test_cuda_asked_for_without_a_gpu_points_at_doctor(make_media) -> None:
    from transcriber_cli.engine.device import cuda_device_count

    if cuda_device_count():
        pytest.skip("this machine has a CUDA GPU")
    proc = run_cli(str(make_media("first-run-gpu.wav", "-vn", "-t", "3")), "--device", "cuda")
    assert proc.returncode == 3
    assert proc.stderr.strip().endswith("; 'transcriber doctor' checks this machine's set-up")
    assert "CTranslate2 sees no CUDA GPU" in proc.stderr


def test_a_usage_error_does_not_point_at_doctor(make_media) -> None:
    proc = run_cli(str(make_media("first-run-usage.wav", "-vn", "-t", "3")), "-f", "docx")
    assert proc.returncode == 2 and "unknown format docx" in proc.stderr
    assert "doctor" not in proc.stderr
