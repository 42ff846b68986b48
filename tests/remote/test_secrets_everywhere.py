"""Planted secrets reach no output: a real remote run (client and worker at debug level)
with a MongoDB URL, an HF token and AWS keys that are all marked, then every place a secret
could leak is searched: stdout, stderr, `-v` logs, `--json`, `config show`, `doctor`, the
task store's documents and the arguments of every process on the machine during the run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.remote.test_e2e import EXAMPLE, job_store

pytestmark = pytest.mark.slow

MONGO_MARK = "planted-mongo-secret-7f3a"
HF_TOKEN = "hf_plantedtoken" + "Z" * 20
AWS_SECRET = "planted/aws+secret" + "K" * 22
SESSION_TOKEN = "planted-session-token-" + "S" * 30
SECRETS = (MONGO_MARK, HF_TOKEN, AWS_SECRET, SESSION_TOKEN)


class ArgvWatch:
    """Reads every process's command line on the machine until stopped; a process that
    carries a secret in its arguments (visible to any user in `ps`) is recorded."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                self.seen += 1
                if any(secret in argv for secret in SECRETS):
                    self.hits.append(argv)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join()
        return self.hits


def test_secrets_reach_no_output_log_document_or_argument(stack, workers, mongo_wire, tmp_path):
    env = {
        # The whole URL is the secret; a marked appname makes any copy of it findable.
        "TRANSCRIBER_MONGODB_URL": f"{mongo_wire}?appname={MONGO_MARK}",
        "HF_TOKEN": HF_TOKEN,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
    }
    watch = ArgvWatch()
    worker = workers.start("-v", "--idle-exit", "3", env=env)
    client = run_cli(str(EXAMPLE), "--remote", "-v", "--json", "-o", str(tmp_path), env=env)
    assert worker.wait(timeout=120) == 0, workers.log(worker)
    shown = [
        run_cli("config", "show", program="transcriber", env=env),
        run_cli("config", "show", "--json", program="transcriber", env=env),
        run_cli("doctor", program="transcriber", env=env),
        run_cli("jobs", "list", "--json", program="transcriber", env=env),
    ]
    hits = watch.stop()

    assert client.returncode == 0, client.stderr[-2000:]
    (line,) = [json.loads(x) for x in client.stdout.splitlines() if x.startswith("{")]
    assert line["status"] == "done"  # the secrets were used, not left aside
    assert "DEBUG" in client.stderr and "DEBUG" in workers.log(worker)
    store = job_store()
    documents = json.dumps([list(store.jobs.find()), list(store.workers.find())], default=str)
    store.close()
    places = {
        "client stdout": client.stdout,
        "client stderr": client.stderr,
        "worker log": workers.log(worker),
        "task store": documents,
        **{" ".join(p.args[1:3]): p.stdout + p.stderr for p in shown},
    }
    for where, text in places.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} in {where}"
    assert watch.seen > 100 and hits == [], hits
