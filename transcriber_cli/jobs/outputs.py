"""Where a run's outputs go: names, clashes, rendering, and writing them all or nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from transcriber_cli.errors import TranscriberError, WriterError, exception_line
from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.fsutil import NAME_MAX, write_files_atomically
from transcriber_cli.jobs.inputs import Candidate
from transcriber_cli.transcript import Transcript

log = logging.getLogger(__name__)


def output_base(candidate: Candidate, output_dir: Path | None) -> Path:
    """``DIR/NAME`` without extension; a folder's structure is mirrored under ``-o DIR``."""
    path = candidate.path
    if output_dir is None:
        return path.parent / path.stem
    if candidate.root is not None:
        return output_dir / path.relative_to(candidate.root).parent / path.stem
    return output_dir / path.stem


def safe_stem(name: str, fallback: str, formats: Sequence[OutputFormat]) -> str:
    """A stem for outputs named by someone else (a job's source name): one plain file name
    inside the output folder, never ``.``/``..``, a path or a NUL, cut to fit ``NAME_MAX``
    with its longest extension; ``fallback`` when nothing usable is left."""
    stem = "".join(ch for ch in name.replace("\\", "/").rsplit("/", 1)[-1] if ch != "\0")
    longest = max((len(f.extension.encode()) for f in formats), default=0)
    stem = stem.encode("utf-8", "ignore")[: NAME_MAX - 1 - longest].decode("utf-8", "ignore")
    return stem if stem.strip(". ") else fallback


def output_paths(base: Path, formats: Sequence[OutputFormat]) -> list[Path]:
    return [base.with_name(f"{base.name}.{f.extension}") for f in formats]


def render(transcript: Transcript, formats: Sequence[OutputFormat]) -> list[str]:
    """Every format's text, in the order of ``formats``; a writer's error leaves nothing.
    A writer that raises something else than our errors (a plugin's bug) fails this input
    alone, in one line; ``-v`` logs its traceback."""
    texts = []
    for fmt in formats:
        try:
            texts.append(fmt.write(transcript))
        except TranscriberError:
            raise
        except Exception as exc:
            log.debug("the %s writer failed", fmt.name, exc_info=True)
            raise WriterError(
                f"the {fmt.name} writer failed: {exception_line(exc)}".rstrip(": ")
            ) from exc
    return texts


def write_outputs(paths: Sequence[Path], texts: Sequence[str]) -> None:
    write_files_atomically([(p, t.encode("utf-8")) for p, t in zip(paths, texts, strict=True)])
