"""The manifest: which outputs were produced from which content with which options.

A SQLite file in the state directory (safe for concurrent runs and crashes). Keyed by the
output base path; a rerun skips an entry whose file is unchanged (size + mtime, else
SHA-256) and whose options key matches, so finished files are skipped without hashing.

It also keeps the checkpoint of a long file in progress (its finished windows), keyed by
content and options, so a run stopped by Ctrl-C, a crash or a reboot goes on from there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from transcriber_cli.errors import SetupError, os_cause
from transcriber_cli.fsutil import sha256_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    output_base TEXT PRIMARY KEY,
    input_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    options_key TEXT NOT NULL,
    status TEXT NOT NULL,
    outputs TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    sha256 TEXT NOT NULL,
    options_key TEXT NOT NULL,
    state TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (sha256, options_key)
)
"""


@dataclass
class Entry:
    output_base: str
    input_path: str
    size: int
    mtime_ns: int
    sha256: str
    options_key: str
    status: str
    outputs: list[str]
    error: str | None


def _state_folder(path: Path, cause: str) -> SetupError:
    return SetupError(
        f"cannot use the state folder {path.parent}: {cause}",
        hint="set TRANSCRIBER_STATE_DIR (or state_dir) to a folder this user can write",
    )


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # A state folder that cannot be made, or a manifest that is not a database, was a
        # traceback: one line naming the file, the set-up's exit code.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Several devices' threads record their files: one statement at a time.
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                       check_same_thread=False)  # fmt: skip
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except OSError as exc:
            raise _state_folder(path, os_cause(exc)) from None
        except sqlite3.Error as exc:
            if not os.access(path.parent, os.W_OK):  # sqlite says "unable to open database file"
                raise _state_folder(path, "permission denied") from None
            raise SetupError(
                f"cannot use the run manifest {path}: {exc}",
                hint="move it aside: it only lets reruns skip finished files",
            ) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _row(self, sql: str, params: tuple) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _run(self, sql: str, params: tuple) -> None:
        with self._lock:
            self._db.execute(sql, params)

    def get(self, output_base: Path) -> Entry | None:
        row = self._row(
            "SELECT output_base, input_path, size, mtime_ns, sha256, options_key, status, "
            "outputs, error FROM entries WHERE output_base = ?",
            (_text(output_base),),
        )
        if row is None:
            return None
        base, input_path, size, mtime_ns, sha, key, status, outputs, error = row
        return Entry(base, input_path, size, mtime_ns, sha, key, status, json.loads(outputs), error)

    def record(
        self,
        output_base: Path,
        input_path: Path,
        *,
        sha256: str,
        key: str,
        status: str,
        outputs: list[Path] | None = None,
        error: str | None = None,
    ) -> None:
        st = input_path.stat()
        self._run(
            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _text(output_base),
                _text(input_path),
                st.st_size,
                st.st_mtime_ns,
                sha256,
                key,
                status,
                json.dumps([str(p) for p in outputs or []]),
                None if error is None else _text(error),
                time.time(),
            ),
        )

    # --- checkpoints of files in progress ------------------------------------------------
    def checkpoint(self, sha256: str, key: str) -> str | None:
        row = self._row(
            "SELECT state FROM checkpoints WHERE sha256 = ? AND options_key = ?", (sha256, key)
        )
        return row[0] if row else None

    def save_checkpoint(self, sha256: str, key: str, state: str) -> None:
        self._run(
            "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)",
            (sha256, key, state, time.time()),
        )

    def drop_checkpoint(self, sha256: str, key: str) -> None:
        self._run("DELETE FROM checkpoints WHERE sha256 = ? AND options_key = ?", (sha256, key))

    def content_hash(self, input_path: Path, entry: Entry | None) -> str:
        """SHA-256 of the input, reusing the recorded one while size and mtime are unchanged."""
        st = input_path.stat()
        if entry and entry.size == st.st_size and entry.mtime_ns == st.st_mtime_ns:
            return entry.sha256
        return sha256_file(input_path)


def _text(value: object) -> str:
    """``value`` as text SQLite can store: a name that is not UTF-8 (its bytes live on as
    lone surrogates in Python) keeps them as ``\\udcff`` escapes, one key per name."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")
