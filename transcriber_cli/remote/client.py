"""The remote-mode client: submit inputs, tail their progress, fetch the outputs.

Only the extracted 16 kHz mono mp3 leaves the machine, never the original (video) file.
The client never talks to a worker: it writes a task document and a queue message, then
polls the task document by id (about once a second) until the job ends.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.formats import OutputFormat
from transcriber_cli.fsutil import atomic_write_text, sha256_file
from transcriber_cli.manifest import options_key
from transcriber_cli.pipeline import DiarizeOptions, check_duration
from transcriber_cli.remote import storage as storage_mod
from transcriber_cli.remote import tasks as tasks_mod
from transcriber_cli.remote.queue import JobQueue
from transcriber_cli.remote.storage import Storage
from transcriber_cli.remote.tasks import TaskStore

Update = Callable[[dict], None]


def task_options(settings: Settings, diarize_options: DiarizeOptions | None = None) -> dict:
    """The options that change results, as the worker will apply them.

    ``model``/``compute_type`` "auto" stay unresolved: the worker resolves them for its GPU."""
    from transcriber_cli.batch import result_options

    d = diarize_options or DiarizeOptions()
    return {
        **result_options(settings, settings.model),
        "num_speakers": d.num_speakers,
        "min_speakers": d.min_speakers,
        "max_speakers": d.max_speakers,
        "speaker_names": list(d.speaker_names),
    }


@dataclass
class Submission:
    task_id: str
    path: Path
    duration: float
    reused: bool  # an identical completed task was found: nothing uploaded, nothing queued
    timings: dict[str, float]


class RemoteClient:
    """Connections are opened on first use: ``jobs list`` needs only MongoDB."""

    def __init__(
        self,
        settings: Settings,
        *,
        storage: Storage | None = None,
        queue: JobQueue | None = None,
        tasks: TaskStore | None = None,
    ) -> None:
        self.settings = settings
        self._storage = storage
        self._queue = queue
        self._tasks = tasks

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = Storage.from_settings(self.settings)
        return self._storage

    @property
    def queue(self) -> JobQueue:
        if self._queue is None:
            self._queue = JobQueue.from_settings(self.settings)
        return self._queue

    @property
    def tasks(self) -> TaskStore:
        if self._tasks is None:
            self._tasks = TaskStore.from_settings(self.settings)
        return self._tasks

    def close(self) -> None:
        if self._tasks is not None:
            self._tasks.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- submit -----------------------------------------------------------------------------------
    def submit(
        self,
        path: Path,
        options: dict,
        *,
        formats: Sequence[str],
        info: media.MediaInfo | None = None,
        on_upload: Callable[[int, int], None] | None = None,
    ) -> Submission:
        """probe -> sha256 -> reuse? -> extract mp3 -> upload -> task (queued) -> message."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        info = info or media.probe(path)
        check_duration(info, self.settings.max_duration_hours)
        timings["probe"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        sha = sha256_file(path)
        key = options_key(options)
        timings["hash"] = time.perf_counter() - t0
        reusable = self.tasks.find_reusable(sha, key)
        if reusable is not None:
            return Submission(reusable["_id"], path, info.duration, True, timings)

        task_id = uuid.uuid4().hex
        audio_key = storage_mod.audio_key(task_id)
        with tempfile.TemporaryDirectory(prefix="transcriber-") as tmp:
            t0 = time.perf_counter()
            mp3 = media.extract_mp3(path, Path(tmp) / "audio.mp3")
            timings["extract"] = time.perf_counter() - t0
            size = mp3.stat().st_size
            sent = 0

            def uploaded(n: int) -> None:
                nonlocal sent
                sent += n
                if on_upload:
                    on_upload(sent, size)

            t0 = time.perf_counter()
            self.storage.upload_file(mp3, audio_key, progress=uploaded)
            timings["upload"] = time.perf_counter() - t0
            audio_sha = sha256_file(mp3)
        t0 = time.perf_counter()
        self.tasks.create(
            {
                "_id": task_id,
                "options": options,
                "options_key": key,
                "formats": list(formats),
                "source": {
                    "name": path.name,
                    "duration": round(info.duration, 3),
                    "sha256": sha,
                    "has_video": info.has_video,
                },
                "audio_key": audio_key,
                "audio": {"sha256": audio_sha, "bytes": size},
            }
        )
        self.queue.send(task_id)
        timings["enqueue"] = time.perf_counter() - t0
        return Submission(task_id, path, info.duration, False, timings)

    # --- tail -------------------------------------------------------------------------------------
    def wait(
        self,
        task_ids: Sequence[str],
        on_update: Update | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, dict]:
        """Poll until every task ended; ``on_update`` sees each changed document."""
        pending = list(dict.fromkeys(task_ids))
        seen: dict[str, Any] = {}
        final: dict[str, dict] = {}
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending:
            docs = self.tasks.get_many(pending)
            for task_id in list(pending):
                doc = docs.get(task_id)
                if doc is None:
                    raise tasks_mod.TaskNotFound(f"no task {task_id}")
                mark = (doc["status"], doc.get("stage"), doc.get("progress"), doc.get("message"))
                if seen.get(task_id) != mark:
                    seen[task_id] = mark
                    if on_update:
                        on_update(doc)
                if doc["status"] in tasks_mod.TERMINAL:
                    final[task_id] = doc
                    pending.remove(task_id)
            if not pending:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"still running after {timeout:g} s: {', '.join(pending)}")
            time.sleep(self.settings.remote_poll_seconds)
        return final

    # --- fetch ------------------------------------------------------------------------------------
    def fetch(self, task: dict, base: Path, formats: Sequence[OutputFormat]) -> list[Path]:
        """Download ``output/{task}/`` exports to ``base.{ext}``: where a local run writes."""
        if task["status"] != tasks_mod.COMPLETED:
            raise tasks_mod.TaskStateError(f"task {task['_id']} is {task['status']}, not completed")
        by_ext = {Path(k).suffix.lstrip("."): k for k in task.get("outputs", [])}
        missing = [f.extension for f in formats if f.extension not in by_ext]
        if missing:
            raise tasks_mod.TaskStateError(
                f"task {task['_id']} has no {', '.join(missing)} output "
                f"(it has {', '.join(sorted(by_ext)) or 'none'})"
            )
        # Read everything first, then write: a failed download leaves no partial set.
        texts = [
            (
                base.with_name(f"{base.name}.{f.extension}"),
                self.storage.get_text(by_ext[f.extension]),
            )
            for f in formats
        ]
        for out, text in texts:
            atomic_write_text(out, text)
        return [out for out, _ in texts]

    # --- jobs -------------------------------------------------------------------------------------
    def cancel(self, task_id: str) -> dict:
        return self.tasks.cancel(task_id)

    def retry(self, task_id: str) -> dict:
        doc = self.tasks.retry(task_id)
        self.queue.send(task_id)
        return doc


class WaitTimeout(tasks_mod.TaskStateError):
    pass


def submission_json(sub: Submission) -> dict:
    data = asdict(sub)
    data["path"] = str(sub.path)
    return data


@contextlib.contextmanager
def remote_client(settings: Settings):
    client = RemoteClient(settings)
    try:
        yield client
    finally:
        client.close()
