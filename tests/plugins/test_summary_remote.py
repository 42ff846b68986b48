"""The summary on a worker: settings and key from SSM, one call per job, fetched beside the
other outputs (and not mistaken for NAME.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.plugins.conftest import API_KEY

pytestmark = pytest.mark.slow

SUMMARY_ENV = (
    "TRANSCRIBER_SUMMARY_URL",
    "TRANSCRIBER_SUMMARY_MODEL",
    "TRANSCRIBER_SUMMARY_API_KEY",
)


def test_the_worker_summarises_once_with_its_key_from_ssm(
    stack, workers, chat_server, conversation, tmp_path: Path, monkeypatch
) -> None:
    from transcriber_cli.aws.naming import ssm_parameter
    from transcriber_cli.aws.session import client

    server = chat_server("ok")
    for name in SUMMARY_ENV:  # the worker has them from SSM only
        monkeypatch.delenv(name)
    ssm = client("ssm", "us-east-1")
    values = {"summary_url": server.url, "summary_model": "fleet-model", "summary_api_key": API_KEY}
    for name, value in values.items():
        ssm.put_parameter(Name=ssm_parameter("transcriber", name), Value=value,
                          Type="SecureString", Overwrite=True)  # fmt: skip
    try:
        worker = workers.start("--idle-exit", "30")
        src = shutil.copy(conversation["path"], tmp_path / "standup.mp4")
        out = tmp_path / "out"
        # A job that does not ask for the summary costs no API call: workers write the
        # default formats and those asked for; other opt-in ones are rendered here.
        plain = run_cli(str(src), "--remote", "-f", "txt,qa", "-o", str(tmp_path / "plain"),
                        "--json")  # fmt: skip
        assert plain.returncode == 0, plain.stderr + workers.log(worker)
        assert server.requests() == []
        assert json.loads((tmp_path / "plain" / "standup.qa.json").read_text())
        proc = run_cli(str(src), "--remote", "-f", "txt,md,summary", "-o", str(out), "--json",
                       "--overwrite")  # fmt: skip
        assert proc.returncode == 0, proc.stderr + workers.log(worker)
    finally:
        for name in values:
            ssm.delete_parameter(Name=ssm_parameter("transcriber", name))
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(Path(o).name for o in line["outputs"]) == [
        "standup.md", "standup.summary.md", "standup.txt",
    ]  # fmt: skip
    (request,) = server.requests()  # once per job, though the worker renders every format
    assert request["auth"] == f"Bearer {API_KEY}" and request["body"]["model"] == "fleet-model"
    summary = (out / "standup.summary.md").read_text()
    assert summary.startswith("# Summary of standup.mp4\n")
    assert "- **SPEAKER** [00:00]: follow up on Good morning" in summary
    assert (out / "standup.md").read_text().startswith("# standup.mp4\n")
    assert API_KEY not in workers.log(worker) + proc.stdout + proc.stderr
