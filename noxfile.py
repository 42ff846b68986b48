"""The one entry point for checks: `nox -s tests`, `nox -s lint`, `nox -s typing`, `nox -s docs`,
`nox -s imports`, and for the release files: `nox -s build`.

CI runs `scripts/bootstrap.sh test`, which installs system tools and calls these sessions.
Every session installs with constraints.txt (torch & co.) and constraints-dev.txt (the tools
and test dependencies, exact versions), so a fresh machine runs what the last green run ran.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typing", "imports", "docs", "tests"]
nox.options.reuse_existing_virtualenvs = True
# A Python of PYTHON that is missing fails the run instead of skipping its sessions.
nox.options.error_on_missing_interpreters = True

# What pyproject.toml claims (requires-python, classifiers) and CI tests: keep them equal.
PYTHON = ["3.11"]
CONSTRAINTS = ("-c", "constraints.txt", "-c", "constraints-dev.txt")
# What the CLI, settings and docs need without the ML and cloud SDKs.
LIGHT_DEPS = ("typer", "rich", "pydantic", "pydantic-settings", "platformdirs", "pluggy", "numpy",
              "ffmpeg-python", "httpx", "tenacity")  # fmt: skip
# The site's exact pins, kept once: pyproject.toml's `docs` extra.
DOCS_DEPS = tuple(nox.project.load_toml("pyproject.toml")["project"]["optional-dependencies"]
                  ["docs"])  # fmt: skip
# Line coverage of transcriber_cli over the whole suite, subprocesses included, may not drop
# below this: 2026-12-03 measured 90.3 % (7702 statements), 2026-12-05 91.8 %.
COVERAGE_FLOOR = 88
# pytest arguments that run part of the suite: the floor is for the whole suite only.
SELECTING = ("-m", "-k", "--deselect", "--lf", "--last-failed", "--sw", "--stepwise")
# About half of the suite's time is spent waiting (servers, worker subprocesses, injected
# outages), so it runs on a pytest-xdist worker per logical CPU, at most 4 (each one starts
# its own moto and MongoDB servers and loads its own models). A test file stays on one
# worker: its module fixtures load once, and the chaos file's timed outages never share one.
PARALLEL = ("-n", "logical", "--maxprocesses", "4", "--dist", "loadfile")
# Arguments that choose the workers themselves (`-n0`: one process) or need one process
# (a debugger, output shown as it comes, stepwise's stop at the first failure).
IN_ONE_PROCESS = ("-n", "--numprocesses", "--pdb", "--trace", "-s", "--capture", "--sw",
                  "--stepwise")  # fmt: skip
# Options that do not select tests but take the next argument as their value.
TAKES_A_VALUE = ("-n", "--numprocesses", "--maxprocesses", "--dist", "--durations", "--timeout",
                 "-p", "-o", "-W", "--tb", "-c", "--rootdir", "--basetemp")  # fmt: skip


def install_project(session: nox.Session, extras: str) -> None:
    session.install(*CONSTRAINTS, "-e", f".[{extras}]", "-e", "plugins/transcriber-markdown",
                    "-e", "plugins/transcriber-summary")  # fmt: skip


def whole_suite(args: list[str]) -> bool:
    """No test selection among the pytest arguments (options only, none that selects)."""
    rest = iter(args)
    for arg in rest:
        if arg in TAKES_A_VALUE:
            next(rest, None)  # `-n 0`, `--timeout 900`: the value is no test path
        elif not arg.startswith("-") or arg.startswith(SELECTING):
            return False
    return True


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite with coverage (pass `-- -m "not slow"` for the quick subset)."""
    install_project(session, "test")
    args = session.posargs or ["-q"]
    whole = whole_suite(args)
    if not any(a.startswith(IN_ONE_PROCESS) for a in args):
        args = [*PARALLEL, *args]
    cov = ["--cov=transcriber_cli", "--cov-report=term"]
    if whole:
        cov.append(f"--cov-fail-under={COVERAGE_FLOOR}")
        # The slowest tests listed at the end: the suite's time is kept in check by them.
        if not any(a.startswith("--durations") for a in args):
            cov.append("--durations=25")
    session.run("python", "-m", "pytest", *cov, *args)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy on the package. The heavy SDKs (torch, boto3, ...) are left out: typed as Any."""
    session.install(*CONSTRAINTS, "mypy", *LIGHT_DEPS)
    session.install("-e", ".", "-e", "plugins/transcriber-summary", "--no-deps")
    session.run("mypy", "transcriber_cli", "plugins/transcriber-summary/transcriber_summary")


@nox.session(python=PYTHON)
def imports(session: nox.Session) -> None:
    """The layering of docs/architecture.md: import-linter contracts in pyproject.toml."""
    session.install(*CONSTRAINTS, "import-linter", *LIGHT_DEPS)
    session.install("-e", ".", "--no-deps")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Fail when docs/cli.md or docs/settings.md no longer match the code (regenerate with
    `-- --fix`), then build the site into site/ with --strict: a broken link, anchor or
    image, or a page left out of the nav, fails."""
    session.install("-e", ".", "--no-deps")
    session.install(*CONSTRAINTS, *LIGHT_DEPS, *DOCS_DEPS)
    mode = "--fix" if "--fix" in session.posargs else "--check"
    session.run("python", "scripts/gen_cli_docs.py", mode)
    session.run("python", "scripts/gen_config_docs.py", mode)
    session.run("mkdocs", "build", "--strict", "--site-dir", "site",
                env={"NO_MKDOCS_2_WARNING": "1"})  # fmt: skip


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """The wheel and the sdist into dist/, then a check of what they hold (package data in,
    tests and benchmarks out: scripts/check_dist.py)."""
    session.install("build>=1.2")
    session.run("python", "-c", "import shutil; shutil.rmtree('dist', ignore_errors=True)")
    session.run("python", "-m", "build", "--outdir", "dist", ".")
    session.run("python", "scripts/check_dist.py", "dist")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Install with the bundled offline model and transcribe examples/."""
    install_project(session, "offline")
    session.run("transcribe", "examples/", *session.posargs)
