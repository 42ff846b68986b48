"""docs/cli.md is generated from the Typer app and must match it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts/gen_cli_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs/cli.md").read_text() == module.render(), (
        "docs/cli.md is stale: run `python scripts/gen_cli_docs.py --fix`"
    )


def test_every_exit_code_is_documented() -> None:
    from transcriber_cli.errors import ExitCode

    text = (ROOT / "docs/exit-codes.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}`" in text


def test_every_result_status_is_documented() -> None:
    """docs/usage.md names exactly the statuses a ``transcriber.result/1`` line can carry."""
    import re

    from transcriber_cli.jobs.results import Status

    text = (ROOT / "docs/usage.md").read_text()
    table = text.split("| status | meaning |", 1)[1].split("\n\n", 1)[0]
    documented = re.findall(r"^\| `([a-z]+)` \|", table, flags=re.MULTILINE)
    assert documented == [s.value for s in Status]
