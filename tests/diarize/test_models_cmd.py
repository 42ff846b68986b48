"""``transcriber models pull|list`` and bundles, with a local stand-in for the hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import CONVERSATION, json_lines, run

from tests.parse_outputs import parse_rttm, parse_txt
from transcriber_cli.transcript import Transcript

HUB_ID = "pyannote/speaker-diarization-community-1"
SECRET = "hf_NotARealTokenButSecret123"


def models(*args: str, env: dict | None = None, input: str | None = None):
    return run("models", *args, program="transcriber", env=env, input=input)


def test_list_shows_the_bundled_tiny_model():
    proc = models("list", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "transcriber.models/1"
    (tiny,) = [m for m in data["models"] if m["name"] == "tiny.en"]
    assert tiny["kind"] == "whisper" and tiny["source"] == "bundled"
    assert (Path(tiny["path"]) / "model.bin").stat().st_size < tiny["size_bytes"]


def test_pull_offline_is_one_clear_line():
    proc = models("pull", "large-v3", env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 3
    assert (
        proc.stderr.strip() == "error: cannot pull 'large-v3': offline mode is on (HF_HUB_OFFLINE)"
    )


def test_pull_whisper_model_into_the_cache(fake_hub, tiny_model: str, isolated_settings: Path):
    hub = fake_hub("serve", {"Systran/faster-whisper-tiny.en": Path(tiny_model)})
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url}
    proc = models("pull", "tiny.en", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(proc.stdout)["model"]
    path = Path(entry["path"])
    assert path.is_relative_to(isolated_settings / "hf")
    assert (path / "model.bin").read_bytes() == (Path(tiny_model) / "model.bin").read_bytes()
    listed = json.loads(models("list", "--json", env={"HF_HUB_OFFLINE": "1"}).stdout)["models"]
    cached = [m for m in listed if m["source"] == "cache"]
    assert [(m["name"], m["kind"]) for m in cached] == [
        ("Systran/faster-whisper-tiny.en", "whisper")
    ]


@pytest.mark.slow
def test_pulled_pipeline_is_used_by_default_with_no_token_and_no_network(
    fake_hub, tiny_pipeline: Path, tmp_path: Path
):
    hub = fake_hub("serve", {HUB_ID: tiny_pipeline})
    proc = models(
        "pull",
        HUB_ID,
        "--hf-token-file",
        "-",
        "--json",
        env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url},
        input=SECRET,
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert f"Bearer {SECRET}" in {auth for _, auth in hub.requests}
    entry = json.loads(proc.stdout)["model"]
    assert entry["kind"] == "diarization"
    assert (Path(entry["path"]) / "plda" / "plda.npz").is_file()

    offline = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    listed = json.loads(models("list", "--json", env=offline).stdout)["models"]
    assert {"name": HUB_ID, "kind": "diarization", "source": "cache"}.items() <= next(
        m for m in listed if m["name"] == HUB_ID
    ).items()

    # The default pipeline is now available: diarization runs without --diarize or a token.
    out = tmp_path / "out"
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--num-speakers",
        "2",
        "--speaker-names",
        "Alice, Bob",
        "-f",
        "txt,json,rttm",
        "-o",
        str(out),
        "--json",
        env=offline,
    )
    assert proc.returncode == 0, proc.stderr
    t = Transcript.model_validate_json((out / "conversation.json").read_text())
    assert t.diarization == {"status": "done", "model": HUB_ID}
    assert t.speakers[0] == "Alice" and set(t.speakers) <= {"Alice", "Bob"}
    assert t.words()[0].speaker == "Alice"
    assert {spk for spk, _ in parse_txt((out / "conversation.txt").read_text())} == set(t.speakers)
    rttm = parse_rttm((out / "conversation.rttm").read_text())
    assert {x.speaker for x in rttm} <= {"Alice", "Bob"} and len(rttm) == len(t.turns)
    assert json_lines(proc.stdout)[0]["speakers"] == t.speakers


def test_bundle_from_local_directories_works_offline(
    tiny_pipeline: Path, tiny_model: str, tmp_path: Path
):
    bundle = tmp_path / "bundle"
    proc = models(
        "pull",
        "--bundle",
        str(bundle),
        "-m",
        "tiny.en",
        "--diarization-model",
        str(tiny_pipeline),
        "--json",
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["bundle"]
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["schema"] == "transcriber.bundle/1"
    assert manifest["whisper"] | {"size_bytes": 0} == {
        "name": "tiny.en",
        "path": "whisper/tiny.en",
        "source": "bundled",
        "size_bytes": 0,
    }
    assert manifest["diarization"]["source"] == "directory"
    assert result["settings"] == {
        "model": str(bundle / "whisper" / "tiny.en"),
        "diarization_model": str(bundle / manifest["diarization"]["path"]),
        "offline": "true",
    }
    for rel in (
        "config.yaml",
        "segmentation/pytorch_model.bin",
        "embedding/pytorch_model.bin",
        "plda/plda.npz",
        "plda/xvec_transform.npz",
    ):
        copied = bundle / manifest["diarization"]["path"] / rel
        assert copied.read_bytes() == (tiny_pipeline / rel).read_bytes()
    assert (bundle / "whisper/tiny.en/model.bin").stat().st_size == (
        Path(tiny_model) / "model.bin"
    ).stat().st_size
    assert not list(tmp_path.glob(".*partial"))

    listed = json.loads(models("list", "--bundle", str(bundle), "--json").stdout)["models"]
    from_bundle = {(m["name"], m["kind"]) for m in listed if m["source"] == "bundle"}
    assert from_bundle == {("tiny.en", "whisper"), (str(tiny_pipeline), "diarization")}

    # The bundle's pipeline loads with the real loader, offline.
    from transcriber_cli.config import Settings
    from transcriber_cli.diarize.loader import load_diarizer

    settings = Settings(
        diarize=True, diarization_model=result["settings"]["diarization_model"], offline=True
    )
    diarizer, note = load_diarizer(settings, device="cpu")
    assert note is None and diarizer.name == result["settings"]["diarization_model"]


def test_bundle_refuses_to_overwrite_without_force(tiny_pipeline: Path, tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("x")
    proc = models(
        "pull",
        "--bundle",
        str(tmp_path / "b"),
        "-m",
        "tiny.en",
        "--diarization-model",
        str(tiny_pipeline),
    )
    assert proc.returncode == 2
    assert "exists and is not empty; use --force" in proc.stderr
    assert (tmp_path / "b" / "keep.txt").exists()


def test_bundle_refuses_a_pipeline_that_needs_other_repos(tiny_pipeline: Path, tmp_path: Path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.yaml").write_text(
        (tiny_pipeline / "config.yaml")
        .read_text()
        .replace("segmentation: $model/segmentation", "segmentation: pyannote/segmentation-3.0")
    )
    proc = models(
        "pull",
        "--bundle",
        str(tmp_path / "b"),
        "-m",
        "tiny.en",
        "--diarization-model",
        str(legacy),
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 3
    assert "segmentation=pyannote/segmentation-3.0 from other hub repos" in proc.stderr
    assert not (tmp_path / "b").exists()
