"""Settings layering (defaults < TOML < env < flags), secrets masking, `config` commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_cli
from transcriber_cli.config import config_path, config_template, load_settings
from transcriber_cli.errors import ConfigError


def write_config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_layers_defaults_file_env_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().beam_size == 5
    write_config('beam_size = 3\nmodel = "small"\nlanguage = "de"\n')
    s = load_settings()
    assert (s.beam_size, s.model, s.language) == (3, "small", "de")
    monkeypatch.setenv("TRANSCRIBER_BEAM_SIZE", "4")
    assert load_settings().beam_size == 4
    assert load_settings().model == "small"
    assert load_settings(beam_size=2).beam_size == 2
    assert load_settings(beam_size=None).beam_size == 4  # an absent flag does not override


def test_hf_token_from_standard_env_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    s = load_settings()
    assert s.hf_token is not None and s.hf_token.get_secret_value() == "hf_secret_value"
    assert "hf_secret_value" not in repr(s) and "hf_secret_value" not in str(s.public_dict())


def test_aws_standard_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("TRANSCRIBER_BUCKET", "b1")
    s = load_settings()
    assert (s.region, s.bucket) == ("eu-west-1", "b1")


def test_bad_values_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        load_settings(batch_size=-1)
    with pytest.raises(ConfigError, match=r"window_seconds.*0 \(auto\) or at least 10"):
        load_settings(window_seconds=5)
    assert load_settings(window_seconds=0).window_seconds == 0  # auto
    write_config("beam_size = [not toml\n")
    with pytest.raises(ConfigError, match="cannot parse config file"):
        load_settings()


def test_template_parses_and_lists_every_setting() -> None:
    import tomllib

    text = config_template()
    assert tomllib.loads(text) == {}  # everything commented out: defaults stay defaults
    for name in ("model", "batch_size", "hf_token", "mongodb_url", "queue_url"):
        assert f"# {name} = " in text
    # Each default, uncommented, reads back as that default (lists as TOML arrays).
    lines = [line[2:].split("    (env")[0] for line in text.splitlines()
             if re.match(r"# [a-z_]+ = (?!\.\.\.)", line)]  # fmt: skip
    defaults = load_settings().model_dump()
    write_config("\n".join(lines) + "\n")
    assert load_settings().model_dump() == defaults


def test_config_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    proc = run_cli("config", "path", program="transcriber")
    assert proc.stdout.strip() == str(config_path())
    proc = run_cli("config", "init", program="transcriber")
    assert proc.returncode == 0 and config_path().exists()
    proc = run_cli("config", "init", program="transcriber")
    assert proc.returncode == 2 and "exists" in proc.stderr
    write_config('model = "medium"\nmongodb_url = "mongodb://user:pw@db.example/x"\n')
    proc = run_cli(
        "config", "show", "--json", program="transcriber", env={"HF_TOKEN": "hf_topsecret"}
    )
    data = json.loads(proc.stdout)
    assert data["schema"] == "transcriber.config/1"
    assert data["settings"]["model"] == "medium"
    assert data["settings"]["mongodb_url"] == "********"
    assert data["settings"]["hf_token"] == "********"
    assert "pw@" not in proc.stdout + proc.stderr and "hf_topsecret" not in proc.stdout


def test_worker_allowlists_from_env_file_and_their_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator narrows or widens what jobs may load; the worker's own models always run."""
    from faster_whisper import available_models

    from transcriber_cli.errors import InputError
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.worker.policy import check_allowed

    defaults = load_settings()
    assert list(defaults.worker_models) == available_models()  # the standard names, no more
    check_allowed(JobOptions(model="large-v3", diarize=True), defaults)
    with pytest.raises(InputError, match="'org/repo' is not allowed"):
        check_allowed(JobOptions(model="org/repo"), defaults)
    with pytest.raises(InputError, match="diarization pipeline '/tmp/pipe' is not allowed"):
        check_allowed(JobOptions(diarization_model="/tmp/pipe"), defaults)
    check_allowed(JobOptions(diarization_model="/tmp/pipe", diarize=False), defaults)  # unused
    check_allowed(JobOptions(diarization_model="builtin", diarize=True), defaults)  # shipped

    monkeypatch.setenv("TRANSCRIBER_WORKER_MODELS", "large-v3-turbo, myorg/* ")
    monkeypatch.setenv("TRANSCRIBER_MODEL", "/models/own")
    monkeypatch.setenv("TRANSCRIBER_DIARIZATION_MODEL", "/pipelines/own")
    write_config('worker_diarization_models = ["myorg/diarization-*"]\n')
    s = load_settings()
    assert s.worker_models == ("large-v3-turbo", "myorg/*")
    for allowed in ("large-v3-turbo", "myorg/whisper-de", "/models/own", "auto"):
        check_allowed(JobOptions(model=allowed, diarize=False), s)
    for allowed in ("myorg/diarization-2", "/pipelines/own"):
        check_allowed(JobOptions(diarization_model=allowed), s)
    for refused in ("large-v3", "other/myorg/x", "/models/own/.."):
        with pytest.raises(InputError, match="is not allowed"):
            check_allowed(JobOptions(model=refused, diarize=False), s)
    with pytest.raises(InputError, match="is not allowed"):
        check_allowed(JobOptions(), s)  # the default pipeline is no longer listed
