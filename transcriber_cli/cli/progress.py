"""Rich rendering of batch progress on stderr; JSON lines on stdout with --json."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TypeVar

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from transcriber_cli.cli.errors import error_line, print_json_line, stderr
from transcriber_cli.errors import one_line
from transcriber_cli.jobs.results import FileResult, Status, clock, quality_lines

_STAGE_LABEL = {"transcribe": "transcribing", "diarize": "diarizing"}
_Bars = TypeVar("_Bars", bound="LiveBars")


class LiveBars:
    """What the local and the remote reporters share: a Rich progress display on stderr,
    shown only when ``live`` (a terminal, neither quiet nor --json)."""

    def __init__(self, *columns: ProgressColumn, live: bool, json_lines: bool, quiet: bool) -> None:
        self.live, self.json_lines, self.quiet = live, json_lines, quiet
        self.progress = Progress(*columns, console=stderr, transient=True) if live else None

    def __enter__(self: _Bars) -> _Bars:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            try:
                self.progress.stop()
            except OSError:  # the terminal went away (SIGHUP): the exception under way wins
                if exc[0] is None:
                    raise

    @property
    def human(self) -> bool:
        """Whether people read stderr: result lines and notes for them."""
        return self.live and not self.quiet

    def _note(self, markup: str) -> None:
        if self.human:
            stderr.print(markup)


class RichReporter(LiveBars):
    """Bars for files and for audio seconds within a file (with ETA), on stderr.

    ``live=False`` (quiet, --json or not a terminal) prints only errors."""

    def __init__(self, *, live: bool, json_lines: bool, quiet: bool) -> None:
        super().__init__(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            live=live,
            json_lines=json_lines,
            quiet=quiet,
        )
        self.files_task: TaskID | None = None
        self.audio_tasks: dict[str, tuple[TaskID, str]] = {}  # files in flight (several GPUs)

    def batch_started(self, total: int) -> None:
        if self.progress and total > 1:
            self.files_task = self.progress.add_task("files", total=total)

    def file_started(self, path: Path, duration: float) -> None:
        if not self.progress:
            return
        self._drop(str(path))
        name = escape(one_line(path.name))
        task = self.progress.add_task(f"{name} decoding", total=max(round(duration), 1))
        self.audio_tasks[str(path)] = (task, name)

    def file_progress(self, path: Path, stage: str, done: float, total: float) -> None:
        if self.progress and str(path) in self.audio_tasks:
            task, name = self.audio_tasks[str(path)]
            label = _STAGE_LABEL.get(stage, stage)
            self.progress.update(
                task,
                completed=round(done),
                total=max(round(total), 1),
                description=f"{name} {label}",
            )

    def _drop(self, key: str) -> None:
        if self.progress and key in self.audio_tasks:
            self.progress.remove_task(self.audio_tasks.pop(key)[0])

    def file_finished(self, result: FileResult) -> None:
        if self.progress:
            self._drop(result.path)
            if self.files_task is not None:
                self.progress.advance(self.files_task)
        show_result(result, json_lines=self.json_lines, human=self.human)

    def note(self, text: str) -> None:
        self._note(f"[dim]{escape(one_line(text))}[/]")

    def summary(self, results: list[FileResult], devices: list[str] | None = None) -> None:
        if self.human and len(results) > 1:
            where = f" on {len(devices)} devices ({', '.join(devices)})" if devices else ""
            stderr.print(summary_line(results) + where)
        if self.human:
            for line in quality_lines(results):
                stderr.print(f"[yellow]{escape(one_line(line))}[/]")


def show_result(result: FileResult, *, json_lines: bool, human: bool, remote: bool = False) -> None:
    """One input's result, the same for local and remote runs: a JSON line on stdout with
    --json, an ``error:`` line on stderr for a failure, else a human line when ``human``."""
    if json_lines:
        print_json_line(result.to_json(remote=remote))
    if result.status is Status.FAILED:
        error_line(result.error or "failed")
    elif human:
        stderr.print(_human_line(result))


def _human_line(result: FileResult) -> str:
    name = escape(one_line(result.path))
    job = f" (job {result.job_id})" if result.job_id else ""
    if result.status is Status.QUEUED:
        return f"[cyan]queued[/] {name}{job}"
    if result.status is Status.DONE:
        exts = ",".join(Path(o).suffix.lstrip(".") for o in result.outputs)
        bits = [f"{result.duration:.1f} s" if result.duration else "", result.language or ""]
        if result.speakers:
            bits.append(f"{len(result.speakers)} speakers")
        if result.resumed_from:
            bits.append(f"resumed at {clock(result.resumed_from)}")
        detail = ", ".join(b for b in bits if b)
        return f"[green]done[/] {name} -> {{{exts}}} ({detail}){job}"
    reason = escape(one_line((result.reason or "").removeprefix(f"{result.path}: ")))
    if result.status is Status.SKIPPED:
        return f"[yellow]skipped[/] {name}: {reason}"
    return f"[dim]ignored {name}: {reason}[/]"


def summary_line(results: list[FileResult]) -> str:
    counts = Counter(r.status for r in results)
    return ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
