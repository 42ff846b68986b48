"""The generated references (docs/cli.md, docs/settings.md) match their sources, and the docs
name what the code has."""

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


def test_settings_reference_is_current() -> None:
    """docs/settings.md is generated from the settings model (every field, its env vars)."""
    spec = importlib.util.spec_from_file_location(
        "gen_config_docs", ROOT / "scripts/gen_config_docs.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert (ROOT / "docs/settings.md").read_text() == text, (
        "docs/settings.md is stale: run `python scripts/gen_config_docs.py --fix`"
    )
    from transcriber_cli.config import Settings

    for name in Settings.model_fields:
        assert f"| `{name}` | " in text
    assert "| `hf_token` | `TRANSCRIBER_HF_TOKEN`, `HF_TOKEN` | secret text, optional |" in text
