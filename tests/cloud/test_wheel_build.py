"""The wheel `fleet up` ships to the workers, built from the operator's checkout
(``artifacts.build_wheel``). pip built it in the checkout itself, and setuptools' ``build/``
there kept every module it had ever copied: a module removed from the checkout still went to
the fleet, and two builds at once (two `fleet up`s, or the test workers' fixtures) wrote the
same folder (one failed with "File exists" in 1 of 5 tries). It is now built from a copy."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from tests.conftest import ROOT
from transcriber_cli.cloud.artifacts import PACKAGE, build_wheel


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def _project(root: Path) -> Path:
    """A checkout of a small package of our distribution's name, built as ours is."""
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "transcriber-toolkit"\ndynamic = ["version"]\nreadme = "README.md"\n'
        'license = "Apache-2.0"\nlicense-files = ["LICENSE"]\n'
        '[tool.setuptools.dynamic]\nversion = { attr = "transcriber_cli.__version__" }\n'
        '[tool.setuptools.packages.find]\ninclude = ["transcriber_cli*"]\n'
    )
    for name in ("README.md", "LICENSE"):
        (root / name).write_text(f"{name}\n")
    (root / PACKAGE).mkdir()
    (root / PACKAGE / "__init__.py").write_text('__version__ = "0.0.1"\n')
    return root


def test_a_module_removed_from_the_checkout_is_not_shipped(tmp_path: Path) -> None:
    source = _project(tmp_path / "checkout")
    before = sorted(p.name for p in source.iterdir())
    gone = source / PACKAGE / "gone.py"
    gone.write_text("X = 1\n")
    assert f"{PACKAGE}/gone.py" in _names(build_wheel(tmp_path / "first", source))
    gone.unlink()
    second = build_wheel(tmp_path / "second", source)
    assert _names(second) >= {f"{PACKAGE}/__init__.py"}
    assert f"{PACKAGE}/gone.py" not in _names(second)
    # Nothing written into the checkout (no build/, no egg-info for another build to meet),
    # and the same code still gives the same bytes: `fleet up` again changes nothing.
    assert sorted(p.name for p in source.iterdir()) == before
    again = build_wheel(tmp_path / "again", source)
    assert hashlib.sha256(again.read_bytes()).digest() == \
        hashlib.sha256(second.read_bytes()).digest()  # fmt: skip


def test_the_wheel_built_from_the_copy_holds_the_whole_package(release_wheel: str) -> None:
    """Every module and data file of the package, and the licence, reach the wheel: the copy
    left out nothing the build reads."""
    package = ROOT / PACKAGE
    files = {
        p.relative_to(ROOT).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    names = _names(Path(release_wheel))
    assert files and files <= names, sorted(files - names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
