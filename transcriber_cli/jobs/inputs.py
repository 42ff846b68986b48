"""Which inputs a run takes, and what probing one says about it.

Both runners find inputs the same way and classify a file ffprobe cannot read the same way:
found in a folder and not named like a recording (``notes.txt``) it is *ignored*; named on
the command line, or named like one (a broken ``talk.mp4``), it is a *failure*.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from transcriber_cli import media
from transcriber_cli.errors import InputError, NotMediaError, os_cause
from transcriber_cli.jobs.results import clock


@dataclass(frozen=True)
class Candidate:
    path: Path
    root: Path | None  # the folder it was found in (None: named on the command line)
    unlisted: OSError | None = None  # a folder below a named one that could not be listed


class Ignored(Exception):
    """Not media, found in a folder: reported, not a failure."""


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def discover(
    paths: Iterable[Path],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    output_extensions: Iterable[str] = (),
) -> Iterator[Candidate]:
    """Yield named files as they are and every file below named folders, sorted, recursively.

    Hidden files and folders are left out, and so are outputs: a file with an output
    extension beside a file of the same stem."""
    out_ext = {"." + e.lower() for e in output_extensions}
    for path in paths:
        if not os.path.isdir(path):  # False, not an error, for a name over NAME_MAX
            yield Candidate(path, None)
            continue
        # A folder the walk cannot list (no permission) was passed over without a word: it
        # is a failed input now, as an unreadable file is (named, so never ignored).
        unreadable: list[OSError] = []
        for dirpath, dirnames, filenames in os.walk(path, onerror=unreadable.append):
            yield from _unlisted(unreadable, path, exclude)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            stems = {Path(f).stem for f in filenames if Path(f).suffix.lower() not in out_ext}
            for name in sorted(filenames):
                file = Path(dirpath) / name
                rel = file.relative_to(path).as_posix()
                if name.startswith("."):
                    continue
                if file.suffix.lower() in out_ext and file.stem in stems:
                    continue
                if include and not _matches(rel, include):
                    continue
                if exclude and _matches(rel, exclude):
                    continue
                yield Candidate(file, path)
        yield from _unlisted(unreadable, path, exclude)


def _unlisted(errors: list[OSError], root: Path, exclude: Sequence[str]) -> Iterator[Candidate]:
    """The folders below ``root`` the walk could not list, but those ``exclude`` names
    (``--exclude 'lost+found'`` at a volume's root)."""
    while errors:
        exc = errors.pop(0)
        if exc.filename is None:
            continue
        folder = Path(exc.filename)
        rel = folder.relative_to(root).as_posix() if folder != root else folder.name
        if exclude and _matches(rel, exclude):
            continue
        yield Candidate(folder, None, exc)


def check_duration(info: media.MediaInfo, max_hours: float) -> None:
    if info.duration > max_hours * 3600:
        raise InputError(
            f"{info.path}: {clock(info.duration)} long, over the {clock(max_hours * 3600)} "
            "limit (raise max_duration_hours to allow it)"
        )


def probe_input(
    candidate: Candidate,
    max_hours: float,
    probe: Callable[[Path], media.MediaInfo] = media.probe,
) -> media.MediaInfo:
    """Probe one input: ``Ignored`` for a non-media file found in a folder, ``InputError``
    for a bad input (missing, empty, corrupt, no audio, too long)."""
    if candidate.unlisted is not None:
        raise InputError(f"{candidate.path}: {os_cause(candidate.unlisted)}")
    try:
        info = probe(candidate.path)
    except NotMediaError as exc:
        if candidate.root is not None and not media.has_media_extension(candidate.path):
            raise Ignored(str(exc)) from None
        raise
    check_duration(info, max_hours)
    return info
