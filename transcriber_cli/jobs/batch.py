"""The steps every run takes for each input, wherever the transcription happens.

``Batch`` holds what a run decided up front (formats, output folder, ``--overwrite``, the
resume key) and answers, per input: does it clash with another input's outputs, can it be
skipped, is it media at all, and, once its outputs are known, writes them and records the
outcome in the manifest. The local runner and the remote client drive the same steps, so one
folder gives the same statuses and files either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from os import path as osp
from pathlib import Path

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.errors import (
    InputError,
    NotMediaError,
    OutputError,
    TranscriberError,
    os_cause,
)
from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.formats.registry import output_extensions
from transcriber_cli.fsutil import check_writable
from transcriber_cli.jobs.inputs import Candidate, Ignored, discover, probe_input
from transcriber_cli.jobs.manifest import Manifest
from transcriber_cli.jobs.outputs import output_base, output_paths, write_outputs
from transcriber_cli.jobs.results import FileResult, ResultSummary, Status


def _is_media(path: Path, timeout: float) -> bool:
    """Whether the probe finds media (or cannot tell: a file it cannot read fails on its
    own, saying why)."""
    try:
        media.probe(path, timeout=timeout)
    except NotMediaError:
        return False
    except (TranscriberError, OSError):
        return True
    return True


@dataclass(frozen=True)
class Item:
    """One input of the run and where its outputs go."""

    candidate: Candidate
    base: Path  # absolute output path without extension
    outputs: tuple[Path, ...]
    clash: Path | None  # an earlier input that writes the same outputs

    @property
    def path(self) -> Path:
        return self.candidate.path

    @property
    def name(self) -> str:
        return str(self.candidate.path)

    @property
    def named_like_media(self) -> bool:
        """Named on the command line, or named like a recording: it is media or a failure.
        Another file found in a folder (``notes.txt``, ``slides.pdf``) is media only if
        the probe says so, and is ignored otherwise."""
        return self.candidate.root is None or media.has_media_extension(self.path)


class Batch:
    def __init__(
        self,
        settings: Settings,
        formats: Sequence[OutputFormat],
        *,
        key: str,
        output_dir: Path | None = None,
        overwrite: bool = False,
    ) -> None:
        self.settings = settings
        self.formats = list(formats)
        self.key = key
        self.output_dir = output_dir
        self.overwrite = overwrite
        self.manifest = Manifest(settings.state_dir / "manifest.sqlite3")

    def close(self) -> None:
        self.manifest.close()

    def items(
        self, paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> list[Item]:
        # Outputs of any registered format, not only of those asked for now, are not inputs.
        found = discover(paths, include, exclude, output_extensions())
        items: list[Item] = []
        sharing: dict[Path, list[int]] = {}  # where outputs go -> the inputs writing there
        for cand in found:
            base = output_base(cand, self.output_dir).absolute()
            if cand.unlisted is not None:  # a folder that could not be listed: no outputs
                items.append(Item(cand, base, (), None))
                continue
            # The folder as the file system knows it: ``d/a.wav`` and ``link/a.m4a`` (a link
            # to ``d``) write the same files, and the second replaced the first's.
            where = Path(osp.realpath(base.parent)) / base.name
            sharing.setdefault(where, []).append(len(items))
            items.append(Item(cand, base, tuple(output_paths(base, self.formats)), None))
        # Of inputs writing the same outputs (also one file named twice), the first that is
        # media keeps them and every later one clashes. Media: named like it, or, for another
        # file of a folder, what a probe says: ``slides.pdf`` takes no outputs from
        # ``slides.pptx`` (both ignored), but ``call.mka`` does from ``call.mp3``.
        for members in sharing.values():
            owner: Item | None = None
            for i in members if len(members) > 1 else ():
                if not (
                    items[i].named_like_media
                    or _is_media(items[i].path, self.settings.probe_timeout)
                ):
                    continue
                if owner is None:
                    owner = items[i]
                else:
                    items[i] = replace(items[i], clash=owner.path)
        return items

    # --- before any work ---------------------------------------------------------------------
    def _conflict(self, item: Item) -> str | None:
        """Why the input's outputs cannot be written: over the input itself, or over
        another input's."""
        # The same file, not the same name: ``memo.TXT`` is ``memo.txt`` on macOS.
        if any(osp.exists(o) and osp.samefile(o, item.path) for o in item.outputs):
            # A recording named like an output (``memo.txt``) was replaced by its transcript.
            suffix = item.path.suffix.lstrip(".")
            return f"its .{suffix} output would overwrite it; rename it or use -o"
        if item.clash is not None:
            return f"outputs would overwrite those of {item.clash}; rename one or use -o"
        return None

    def precheck(self, item: Item) -> FileResult | None:
        """A result without any work: a clash fails, finished work is skipped. A file found
        in a folder and not named like media is checked for clashes once the probe finds
        it is media (``notes.txt`` beside recordings, or the outputs of an earlier run
        under ``-o`` inside the folder, are ignored, not failed)."""
        conflict = self._conflict(item)
        if conflict and item.named_like_media:
            return FileResult.failed(item.name, conflict)
        if conflict:
            return None  # the probe decides: ignored, or failed for this conflict
        reason = self._skip_reason(item)
        if reason:
            return FileResult(item.name, Status.SKIPPED, [str(o) for o in item.outputs],
                              reason=reason)  # fmt: skip
        return None

    def _skip_reason(self, item: Item) -> str | None:
        # os.path answers False where pathlib raises (a name over NAME_MAX, no permission).
        if self.overwrite or not osp.isfile(item.path):
            return None
        if not all(osp.exists(o) for o in item.outputs):
            return None
        entry = self.manifest.get(item.base)
        if entry is None:
            return "outputs exist (use --overwrite to redo)"
        if entry.status != "done" or entry.options_key != self.key:
            return None
        if self.manifest.content_hash(item.path, entry) != entry.sha256:
            return None
        return "already transcribed with these options"

    def probe(
        self, item: Item, probe: Callable[[Path], media.MediaInfo] = media.probe
    ) -> media.MediaInfo | FileResult:
        """The input's media info, or its ``ignored`` result; raises ``InputError``, also
        for outputs that could not be written (said before any work is done)."""
        try:
            info = probe_input(item.candidate, self.settings.max_duration_hours, probe)
        except Ignored as exc:
            return FileResult(item.name, Status.IGNORED, reason=str(exc))
        conflict = None if item.named_like_media else self._conflict(item)
        if conflict:
            raise InputError(f"{item.name}: {conflict}")
        try:
            check_writable(item.outputs)
        except OSError as exc:
            raise _output_error(item, exc) from None
        return info

    def content_hash(self, item: Item) -> str:
        try:
            return self.manifest.content_hash(item.path, self.manifest.get(item.base))
        except OSError as exc:  # e.g. removed or made unreadable since the run started
            raise InputError(f"{item.path}: {os_cause(exc)}") from None

    # --- after the work ----------------------------------------------------------------------
    def finish(self, item: Item, sha: str, texts: Sequence[str], summary: ResultSummary,
               **remote: object) -> FileResult:  # fmt: skip
        """Write every output (all or nothing) and record the input as done."""
        try:
            write_outputs(item.outputs, texts)
        except OSError as exc:  # read-only or full disk, no permission, name too long
            raise _output_error(item, exc) from None
        self.manifest.record(item.base, item.path, sha256=sha, key=self.key, status="done",
                             outputs=list(item.outputs))  # fmt: skip
        return FileResult.done(item.name, [str(o) for o in item.outputs], summary, **remote)

    def fail(self, item: Item, sha: str, error: str, **remote: object) -> FileResult:
        """Record the failure (a rerun redoes the input) and say why, naming the file."""
        if sha and osp.isfile(item.path):
            self.manifest.record(item.base, item.path, sha256=sha, key=self.key,
                                 status="failed", error=error)  # fmt: skip
        return FileResult.failed(item.name, error, **remote)


def _output_error(item: Item, exc: OSError) -> OutputError:
    return OutputError(f"{item.path}: cannot write its outputs in {item.base.parent}: "
                       f"{os_cause(exc)}")  # fmt: skip
