"""``transcriber models pull|list|push``: fetch models into the cache, write offline bundles,
mirror them into the stack's bucket for the workers."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from transcriber_cli.cli.errors import handle_errors, stderr
from transcriber_cli.cli.secret_options import token_from
from transcriber_cli.cli.stack_options import Json, Profile, Region, StackName, Verbose, on_stack

app = typer.Typer(
    help="Download Whisper models and diarization pipelines; list what is available offline.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

LIST_SCHEMA = "transcriber.models/1"
PULL_SCHEMA = "transcriber.pull/1"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


@app.command("pull")
def pull_command(
    name: str | None = typer.Argument(
        None, help="Whisper model (tiny.en, large-v3, turbo, org/repo) or pyannote pipeline id."
    ),
    bundle: Path | None = typer.Option(
        None,
        "--bundle",
        help="Write a Whisper model + diarization pipeline into DIR for offline use.",
    ),
    model: str | None = typer.Option(
        None,
        "-m",
        "--model",
        help="Whisper model for --bundle (default: settings, else large-v3-turbo).",
    ),
    diarization_model: str | None = typer.Option(
        None, "--diarization-model", help="Pipeline for --bundle: hub id or local directory."
    ),
    kind: str = typer.Option("auto", "--kind", help="auto, whisper or diarization."),
    hf_token_file: str | None = typer.Option(
        None, "--hf-token-file", help="Hugging Face token file ('-': stdin)."
    ),
    hf_token: str | None = typer.Option(None, "--hf-token", hidden=True),
    force: bool = typer.Option(False, "--force", help="Replace an existing bundle directory."),
    json_output: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Download NAME into the model cache, or write an offline bundle with --bundle DIR."""
    with handle_errors():
        from transcriber_cli.config import load_settings
        from transcriber_cli.errors import UsageError
        from transcriber_cli.modelstore import pull, write_bundle

        token = token_from(hf_token, hf_token_file)
        settings = load_settings(hf_token=token)
        if bundle is not None:
            if name:
                raise UsageError("give either NAME or --bundle DIR (with -m / --diarization-model)")
            result = write_bundle(
                bundle,
                settings,
                whisper_model=model,
                diarization_model=diarization_model,
                token=token,
                force=force,
            )
            if json_output:
                typer.echo(json.dumps({"schema": PULL_SCHEMA, "bundle": result}, indent=2))
                return
            typer.echo(result["directory"])
            for key, value in result["settings"].items():
                stderr.print(f"[dim]TRANSCRIBER_{key.upper()}={value}[/]")
            return
        if not name:
            raise UsageError("name a model to pull, or use --bundle DIR")
        if kind not in ("auto", "whisper", "diarization"):
            raise UsageError("--kind is auto, whisper or diarization")
        entry = pull(name, settings, kind=kind, token=token)
        if json_output:
            typer.echo(json.dumps({"schema": PULL_SCHEMA, "model": entry.to_json()}, indent=2))
        else:
            typer.echo(entry.path)


@app.command("list")
def list_command(
    bundle: list[Path] = typer.Option([], "--bundle", help="Also list the models of a bundle."),
    json_output: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Models a run can use without the network: bundled, cached, bundles, local directories."""
    with handle_errors():
        from rich.console import Console
        from rich.table import Table

        from transcriber_cli.config import load_settings
        from transcriber_cli.modelstore import list_models

        entries = list_models(load_settings(), bundle)
        if json_output:
            data = {"schema": LIST_SCHEMA, "models": [e.to_json() for e in entries]}
            typer.echo(json.dumps(data, indent=2))
            return
        table = Table("name", "kind", "source", "size", box=None)
        table.add_column("path", overflow="fold")
        for e in entries:
            table.add_row(e.name, e.kind, e.source, _size(e.size_bytes), e.path)
        Console(soft_wrap=True).print(table)


PUSH_SCHEMA = "transcriber.models-push/1"


@app.command("push")
def push_command(
    bundle: Path | None = typer.Option(
        None, "--bundle", help="An offline bundle to push (default: write one from the options)."
    ),
    model: str | None = typer.Option(
        None,
        "-m",
        "--model",
        help="Whisper model (by default the one in settings, else large-v3-turbo).",
    ),
    diarization_model: str | None = typer.Option(
        None, "--diarization-model", help="Diarization pipeline: hub id or local directory."
    ),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Mirror a Whisper model and a diarization pipeline into the stack's bucket: workers
    fetch them at boot (hashes checked) and never need the model hub or a token."""
    import tempfile

    with on_stack(stack, region, profile, verbose) as (st, settings):
        from transcriber_cli.aws.s3 import Storage
        from transcriber_cli.cloud.artifacts import push_models
        from transcriber_cli.modelstore import write_bundle

        with tempfile.TemporaryDirectory(prefix="transcriber-bundle-") as tmp:
            if bundle is None:
                bundle = Path(tmp) / "bundle"
                write_bundle(bundle, settings, whisper_model=model,
                             diarization_model=diarization_model)  # fmt: skip
            pushed = push_models(Storage(st.client("s3"), st.bucket), bundle)
            manifest = json.loads((bundle / "bundle.json").read_text())
        result = {
            "schema": PUSH_SCHEMA,
            "stack": st.name,
            **pushed.as_dict(),
            "whisper": manifest["whisper"]["name"],
            "diarization": manifest["diarization"]["name"],
        }
        if json_output:
            typer.echo(json.dumps(result, indent=2))
        else:
            where = f"s3://{st.bucket}/models/"
            typer.echo(f"pushed {result['whisper']} and {result['diarization']} to {where}; "
                       "run 'transcriber fleet up' to use them")  # fmt: skip
