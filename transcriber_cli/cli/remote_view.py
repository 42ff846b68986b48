"""Rendering for remote jobs: one Rich bar per file on stderr, JSON lines on stdout."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from transcriber_cli.cli.errors import print_json_line, stderr


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.fields[name]}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("[dim]{task.description}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )


class RemoteView:
    """Implements ``remote.run.RemoteReporter`` (and the update callback of ``jobs wait``)."""

    def __init__(self, *, live: bool, json_lines: bool, quiet: bool) -> None:
        self.live, self.json_lines, self.quiet = live, json_lines, quiet
        self.progress = _progress() if live else None
        self.bars: dict[str, TaskID] = {}
        self.names: dict[str, str] = {}

    def __enter__(self) -> RemoteView:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()

    def _note(self, text: str) -> None:
        if self.live and not self.quiet:
            stderr.print(text)

    def submitting(self, path: Path, duration: float) -> None:
        self._note(f"[dim]uploading audio of {escape(path.name)} ({duration:.0f} s)[/]")

    def submitted(self, sub) -> None:
        self.names[sub.task_id] = sub.path.name
        verb = "reusing finished job" if sub.reused else "queued job"
        self._note(f"[dim]{escape(sub.path.name)}: {verb} {sub.task_id}[/]")

    def update(self, doc: dict) -> None:
        if not self.progress:
            return
        task_id = doc["_id"]
        if task_id not in self.bars:
            name = self.names.get(task_id) or doc.get("source", {}).get("name", task_id)
            self.bars[task_id] = self.progress.add_task("", total=100, name=escape(name))
        label = f"{doc['status']}: {doc.get('message') or doc.get('stage') or ''}"
        self.progress.update(
            self.bars[task_id], completed=doc.get("progress") or 0, description=escape(label)
        )

    def finished(self, result) -> None:
        if self.progress and result.task_id in self.bars:
            self.progress.remove_task(self.bars.pop(result.task_id))
        if self.json_lines:
            print_json_line(result.to_json())
        file = result.file
        if file.status == "failed":
            stderr.print(f"[bold red]error:[/] {escape(file.error or 'failed')}")
        elif self.quiet:
            return
        elif file.status == "done":
            exts = ",".join(Path(o).suffix.lstrip(".") for o in file.outputs)
            self._note(f"[green]done[/] {escape(file.path)} -> {{{exts}}} (job {result.task_id})")
        elif file.status in ("queued", "completed"):
            if not self.json_lines:
                # Plain stdout, one id per line, so scripts can capture the ids.
                sys.stdout.write(f"{result.task_id}\t{file.path}\n")
                sys.stdout.flush()
        else:
            self._note(f"[dim]{file.status} {escape(file.path)}: {escape(file.reason or '')}[/]")
