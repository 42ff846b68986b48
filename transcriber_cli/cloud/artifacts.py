"""What a worker installs, shipped through the stack's bucket instead of a package index.

Our distribution is ``transcriber-toolkit`` (``transcriber`` on the public index belongs to
another project). Workers never install our code by name from an index: ``fleet up`` and
``fleet update`` upload the wheel of the exact version the operator runs, plus the pinned
versions of its dependencies, under ``artifacts/{version}/`` with their SHA-256. The user
data carries the hashes (it is written by the operator, not read from the bucket) and checks
every file before installing it, so an object replaced in the bucket is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from transcriber_cli.aws.s3 import Storage, StorageNotFound
from transcriber_cli.errors import SetupError, UsageError
from transcriber_cli.fsutil import sha256_file

DIST = "transcriber-toolkit"
PREFIX = "artifacts/"
CONSTRAINTS = "constraints.txt"
MANIFEST = "SHA256SUMS"
VENV_TOOLS = ("pip", "setuptools", "wheel")
REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest date a zip entry can carry


@dataclass(frozen=True)
class Artifact:
    key: str
    sha256: str

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Release:
    """One version's files in the bucket."""

    version: str
    wheel: Artifact
    constraints: Artifact

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "wheel": {"key": self.wheel.key, "sha256": self.wheel.sha256, "name": self.wheel.name},
            "constraints": {"key": self.constraints.key, "sha256": self.constraints.sha256},
        }


def prefix(version: str) -> str:
    return f"{PREFIX}{version}/"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints(dist: str = DIST) -> str:
    """``name==version`` for every distribution the installed ``dist`` needs (no extras),
    as installed here: the worker gets the versions the operator runs."""
    pins: dict[str, str] = {}
    todo = [dist]
    while todo:
        name = _canonical(todo.pop())
        if name in pins:
            continue
        try:
            found = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform or Python (its marker is false here)
        pins[name] = found.version
        for requirement in found.requires or []:
            spec, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
            if match:
                todo.append(match.group(1))
    pins.pop(_canonical(dist), None)
    for tool in VENV_TOOLS:  # the venv's own; pinning them would only force a reinstall
        pins.pop(tool, None)
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def checkout() -> Path | None:
    """The source tree the running code comes from (an editable install or a checkout on
    the path), when it is the tree of ``DIST``."""
    import transcriber_cli

    root = Path(transcriber_cli.__file__).resolve().parents[1]
    project = root / "pyproject.toml"
    if project.is_file() and f'name = "{DIST}"' in project.read_text():
        return root
    return None


# What the wheel is built from: the package and the files pyproject.toml and MANIFEST.in name.
BUILD_FILES = ("pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", CONSTRAINTS, "CHANGELOG.md")
PACKAGE = "transcriber_cli"


def build_wheel(dest: Path, source: Path | None = None) -> Path:
    """The wheel of the installed version, built from its checkout (or ``source``)."""
    source = source or checkout()
    if source is None:
        raise SetupError(
            f"cannot find the source of the installed {DIST} to build its wheel",
            hint="pass --wheel PATH (the wheel you installed), or run from a checkout",
        )
    with tempfile.TemporaryDirectory(prefix="transcriber-source-") as tmp:
        # Built from a copy: built in the checkout, setuptools' build/ kept every module it
        # had ever copied, so one removed from the checkout still went to the fleet, and two
        # builds at once (two `fleet up`s, the tests' workers) wrote the same folder.
        tree = Path(tmp)
        for name in BUILD_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, tree / name)
        shutil.copytree(source / PACKAGE, tree / PACKAGE,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
        # A fixed timestamp makes the wheel reproducible: the same code gives the same hash,
        # so running `fleet up` again changes nothing.
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest), str(tree)],
            capture_output=True,
            text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH},
        )
    wheels = sorted(dest.glob("transcriber_toolkit-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no wheel was written"])[-1]
        raise SetupError(f"building the {DIST} wheel failed: {last}")
    return wheels[-1]


def _wheel_version(wheel: Path) -> str:
    match = re.match(r"transcriber_toolkit-([^-]+)-", wheel.name)
    if not match:
        raise UsageError(f"{wheel.name} is not a {DIST} wheel")
    return match.group(1)


@dataclass(frozen=True)
class Prepared:
    release: Release
    files: dict[str, bytes]  # key -> content, the manifest included


def prepare(version: str, wheel: Path | None = None) -> Prepared:
    """The release of ``version``, the installed one: its wheel (``wheel``, or built from
    the checkout) and the pinned constraints, with their hashes. Nothing is uploaded."""
    with tempfile.TemporaryDirectory(prefix="transcriber-wheel-") as tmp:
        wheel = wheel or build_wheel(Path(tmp))
        if _wheel_version(wheel) != version:
            raise UsageError(
                f"{wheel.name} is version {_wheel_version(wheel)}, not {version}",
                hint="workers run the version the operator runs",
            )
        named = {wheel.name: wheel.read_bytes(), CONSTRAINTS: constraints().encode()}
    base = prefix(version)
    sums = {name: _sha256(data) for name, data in named.items()}
    manifest = "".join(f"{digest}  {name}\n" for name, digest in sums.items())
    files = {f"{base}{name}": data for name, data in named.items()}
    files[f"{base}{MANIFEST}"] = manifest.encode()
    release = Release(
        version,
        Artifact(f"{base}{wheel.name}", sums[wheel.name]),
        Artifact(f"{base}{CONSTRAINTS}", sums[CONSTRAINTS]),
    )
    return Prepared(release, files)


def publish(storage: Storage, prepared: Prepared) -> Release:
    """Upload a prepared release; the manifest last, so it never lists a missing file."""
    for key, data in sorted(prepared.files.items(), key=lambda kv: kv[0].endswith(MANIFEST)):
        storage.put_bytes(key, data)
    return prepared.release


def published(storage: Storage, version: str) -> Release:
    """The set already in the bucket for ``version`` (e.g. to roll back to it)."""
    base = prefix(version)
    try:
        manifest = storage.get_text(f"{base}{MANIFEST}")
    except StorageNotFound:
        raise UsageError(
            f"no worker artifacts for version {version} in the stack's bucket",
            hint="run 'transcriber fleet up' from an install of that version",
        ) from None
    sums: dict[str, str] = {}
    for line in manifest.splitlines():
        digest, _, name = line.partition("  ")
        if re.fullmatch(r"[0-9a-f]{64}", digest) and name:
            sums[name] = digest
    wheels = [name for name in sums if name.endswith(".whl")]
    if len(wheels) != 1 or CONSTRAINTS not in sums:
        raise SetupError(f"{base}{MANIFEST} does not list one wheel and {CONSTRAINTS}")
    return Release(
        version,
        Artifact(f"{base}{wheels[0]}", sums[wheels[0]]),
        Artifact(f"{base}{CONSTRAINTS}", sums[CONSTRAINTS]),
    )


# --- models ---------------------------------------------------------------------------------
MODELS = "models/"


@dataclass(frozen=True)
class ModelsRelease:
    """The models in the bucket: the key of their manifest and the manifest's SHA-256 (the
    user data carries it; the manifest carries every file's)."""

    manifest: str
    sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"manifest": self.manifest, "sha256": self.sha256}


def push_models(storage: Storage, bundle: Path) -> ModelsRelease:
    """Upload an offline bundle (``models pull --bundle``) to ``models/``: every file, then
    the manifest of their hashes. Workers fetch it at boot and never need the hub."""
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    if not (bundle / "bundle.json").is_file():
        raise UsageError(f"{bundle} is not a bundle (no bundle.json)")
    lines = []
    for path in files:  # multi-GB weights: streamed and uploaded in parts, never in memory
        rel = path.relative_to(bundle).as_posix()
        storage.upload_file(path, f"{MODELS}{rel}")
        lines.append(f"{sha256_file(path)}  {rel}\n")
    manifest = "".join(lines).encode()
    storage.put_bytes(f"{MODELS}{MANIFEST}", manifest)
    return ModelsRelease(f"{MODELS}{MANIFEST}", _sha256(manifest))


def models_release(storage: Storage) -> ModelsRelease | None:
    """The models pushed to the bucket, if any."""
    try:
        manifest = storage.get_text(f"{MODELS}{MANIFEST}")
    except StorageNotFound:
        return None
    return ModelsRelease(f"{MODELS}{MANIFEST}", _sha256(manifest.encode()))
