"""Check what `nox -s build` made before anyone installs or uploads it.

python scripts/check_dist.py [DIST_DIR]     (default: dist/)

The wheel and the sdist of the checkout's version must each hold every module of
transcriber_cli, the built-in speaker pipeline's weights and their NOTICE.md (package data
that a missed glob would silently drop: the wheel would then install and fail at the first
run with speakers), the two console scripts and the `offline` extra; neither may carry the
tests, the benchmarks, the examples or bytecode. Exit 1 with one line per problem.
"""

from __future__ import annotations

import ast
import configparser
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "transcriber_cli"
DIST = "transcriber_toolkit"
WEIGHTS = f"{PACKAGE}/diarize/weights"
NOT_SHIPPED = ("tests/", "bench/", "examples/", "plugins/", "scripts/", ".ci/")
SCRIPTS = {
    "transcriber": "transcriber_cli.cli:main",
    "transcribe": "transcriber_cli.cli:transcribe_main",
}


def source_version() -> str:
    """``__version__`` as transcriber_cli/__init__.py spells it: the one place it is set."""
    tree = ast.parse((ROOT / PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise SystemExit(f"no __version__ in {PACKAGE}/__init__.py")


def expected_files() -> set[str]:
    """What the package must ship: its modules and the speaker pipeline's data files."""
    modules = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / PACKAGE).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    data = {p.relative_to(ROOT).as_posix() for p in (ROOT / WEIGHTS).glob("*.pt")}
    return modules | data | {f"{WEIGHTS}/NOTICE.md"}


def _stray(names: set[str]) -> list[str]:
    return sorted(
        n for n in names if n.startswith(NOT_SHIPPED) or "__pycache__/" in n or n.endswith(".pyc")
    )


def check_wheel(wheel: Path, version: str) -> list[str]:
    info = f"{DIST}-{version}.dist-info"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        read = {n: zf.read(f"{info}/{n}").decode() for n in ("METADATA", "entry_points.txt")
                if f"{info}/{n}" in names}  # fmt: skip
    problems = [f"{wheel.name}: missing {n}" for n in sorted(expected_files() - names)]
    stray = set(_stray(names))
    problems += [f"{wheel.name}: must not ship {n}" for n in sorted(stray)]
    others = sorted(n for n in names - stray if not n.startswith((f"{PACKAGE}/", f"{info}/")))
    problems += [f"{wheel.name}: unexpected file {n}" for n in others]
    if "METADATA" not in read:
        return [*problems, f"{wheel.name}: no {info}/METADATA"]
    meta = Parser().parsestr(read["METADATA"])
    if meta["Version"] != version:
        problems.append(f"{wheel.name}: metadata version {meta['Version']}, source says {version}")
    if "offline" not in (meta.get_all("Provides-Extra") or []):
        problems.append(f"{wheel.name}: no 'offline' extra (the bundled tiny.en model)")
    entry_points = configparser.ConfigParser()
    entry_points.read_string(read.get("entry_points.txt", ""))
    scripts = dict(entry_points["console_scripts"]) if "console_scripts" in entry_points else {}
    problems += [
        f"{wheel.name}: console script {name} is not {target}"
        for name, target in SCRIPTS.items()
        if scripts.get(name) != target
    ]
    return problems


def check_sdist(sdist: Path, version: str) -> list[str]:
    top = f"{DIST}-{version}/"
    with tarfile.open(sdist) as tf:
        names = {m.name.removeprefix(top) for m in tf.getmembers() if m.isfile()}
    needed = expected_files() | {"pyproject.toml", "README.md", "LICENSE", "constraints.txt"}
    problems = [f"{sdist.name}: missing {n}" for n in sorted(needed - names)]
    return problems + [f"{sdist.name}: must not ship {n}" for n in _stray(names)]


def check(dist: Path) -> list[str]:
    version = source_version()
    wheel = dist / f"{DIST}-{version}-py3-none-any.whl"
    sdist = dist / f"{DIST}-{version}.tar.gz"
    problems = [f"no {p.name} in {dist}" for p in (wheel, sdist) if not p.is_file()]
    if wheel.is_file():
        problems += check_wheel(wheel, version)
    if sdist.is_file():
        problems += check_sdist(sdist, version)
    return problems


def main(argv: list[str]) -> int:
    dist = Path(argv[0]) if argv else ROOT / "dist"
    problems = check(dist)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if problems:
        return 1
    print(f"{dist}: wheel and sdist of {source_version()} hold the package, its weights and "
          "NOTICE.md, and no tests or benchmarks")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
