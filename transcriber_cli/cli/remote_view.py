"""Rendering for remote jobs: one Rich bar per file on stderr, JSON lines on stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import BarColumn, TaskID, TextColumn, TimeElapsedColumn

from transcriber_cli.cli.progress import LiveBars, show_result
from transcriber_cli.jobs.results import FileResult, Status

if TYPE_CHECKING:
    from transcriber_cli.remote.client import Submission
    from transcriber_cli.store.documents import JobDocument


class RemoteView(LiveBars):
    """Implements ``remote.run.RemoteReporter`` (and the update callback of ``jobs wait``)."""

    def __init__(self, *, live: bool, json_lines: bool, quiet: bool) -> None:
        super().__init__(
            TextColumn("{task.fields[name]}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("[dim]{task.description}"),
            TimeElapsedColumn(),
            live=live,
            json_lines=json_lines,
            quiet=quiet,
        )
        self.bars: dict[str, TaskID] = {}
        self.names: dict[str, str] = {}

    def submitting(self, path: Path, duration: float) -> None:
        self._note(f"[dim]uploading audio of {escape(path.name)} ({duration:.0f} s)[/]")

    def submitted(self, sub: Submission) -> None:
        self.names[sub.job_id] = sub.path.name
        verb = "reusing finished job" if sub.reused else "queued job"
        self._note(f"[dim]{escape(sub.path.name)}: {verb} {sub.job_id}[/]")

    def update(self, doc: JobDocument) -> None:
        if not self.progress:
            return
        if doc.id not in self.bars:
            name = self.names.get(doc.id) or doc.source.name
            self.bars[doc.id] = self.progress.add_task("", total=100, name=escape(name))
        label = f"{doc.status.value}: {doc.message or doc.stage}"
        self.progress.update(self.bars[doc.id], completed=doc.progress, description=escape(label))

    def finished(self, result: FileResult) -> None:
        if self.progress and result.job_id in self.bars:
            self.progress.remove_task(self.bars.pop(result.job_id))
        if result.status is Status.QUEUED and not self.json_lines:
            # Plain stdout, one id per line, so scripts can capture the ids.
            sys.stdout.write(f"{result.job_id}\t{result.path}\n")
            sys.stdout.flush()
            return
        show_result(result, json_lines=self.json_lines, human=self.human, remote=True)
