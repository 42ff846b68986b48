"""`transcriber --help` must answer instantly: the CLI imports no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["torch", "faster_whisper", "ctranslate2", "pyannote", "lightning", "huggingface_hub",
         "boto3", "botocore", "pymongo", "httpx", "numpy", "ffmpeg"]  # fmt: skip
# The CLI (which imports every command module) and the core modules it consults at start-up.
LIGHT = ["transcriber_cli.cli", "transcriber_cli.diarize.loader", "transcriber_cli.diarize.hub",
         "transcriber_cli.modelstore", "transcriber_cli.formats.builtin",
         "transcriber_cli.formats.registry", "transcriber_cli.aws.naming",
         "transcriber_cli.config", "transcriber_cli.jobs.options", "transcriber_cli.jobs.results",
         "transcriber_cli.store.documents", "transcriber_cli.cli.progress",
         "transcriber_cli.cli.remote_view"]  # fmt: skip


def test_cli_import_loads_no_heavy_module() -> None:
    code = (
        f"import sys, json; import {', '.join(LIGHT)}; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_help_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "transcriber_cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "transcribe" in out.stdout and "config" in out.stdout
