"""``transcriber infra up|status|down|secrets set``."""

from __future__ import annotations

import sys

import typer

from transcriber_cli.cli.errors import handle_errors, stderr

app = typer.Typer(help="Create, inspect or remove the stack's AWS resources.", no_args_is_help=True)
secrets_app = typer.Typer(
    help="Store secrets for workers in SSM (SecureString).", no_args_is_help=True
)
app.add_typer(secrets_app, name="secrets")

STACK = typer.Option(None, "--stack", help="Stack name (default: setting 'stack').")
REGION = typer.Option(None, "--region", help="AWS region (default: AWS_REGION / setting).")
PROFILE = typer.Option(None, "--profile", help="AWS profile (default: AWS_PROFILE / setting).")
JSON = typer.Option(False, "--json", help="Machine-readable output.")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Tracebacks on errors.")


def connect(stack: str | None, region: str | None, profile: str | None):
    from transcriber_cli.cloud.stack import Stack
    from transcriber_cli.config import load_settings

    settings = load_settings(stack=stack, region=region, profile=profile)
    return Stack.from_settings(settings), settings


def confirm_or_refuse(what: str, yes: bool) -> None:
    from transcriber_cli.errors import UsageError

    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to {what} without --yes (no terminal to confirm)")
    if not typer.confirm(f"{what}?", default=False):
        raise typer.Exit(1)


@app.command("up")
def up_command(
    stack: str = STACK,
    region: str = REGION,
    profile: str = PROFILE,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    admin_cidr: str = typer.Option(None, "--admin-cidr", help="Allow SSH (22) from this CIDR."),
    alarm_email: str = typer.Option(None, "--alarm-email", help="Email the alarms here."),
    uploads_days: int = typer.Option(
        7, "--uploads-expiry-days", help="Delete uploads/ after N days."
    ),
    json_output: bool = JSON,
    verbose: bool = VERBOSE,
) -> None:
    """Create or update the stack (idempotent; options not given return to their defaults)."""
    with handle_errors(verbose):
        from transcriber_cli.cli.cloud_render import emit_json, render_actions
        from transcriber_cli.cloud import infra

        st, _ = connect(stack, region, profile)
        options = infra.InfraOptions(uploads_days, admin_cidr, alarm_email)
        data = infra.up(st, options, dry_run=dry_run).as_dict()
        emit_json(data) if json_output else render_actions(data)


@app.command("status")
def status_command(
    stack: str = STACK, region: str = REGION, profile: str = PROFILE,
    json_output: bool = JSON, verbose: bool = VERBOSE,
) -> None:  # fmt: skip
    """Show which resources exist and their key settings."""
    with handle_errors(verbose):
        from transcriber_cli.cli.cloud_render import emit_json, render_infra_status
        from transcriber_cli.cloud import infra

        st, _ = connect(stack, region, profile)
        data = infra.status(st).as_dict()
        emit_json(data) if json_output else render_infra_status(data)


@app.command("down")
def down_command(
    stack: str = STACK,
    region: str = REGION,
    profile: str = PROFILE,
    keep_data: bool = typer.Option(False, "--keep-data", help="Keep the bucket and its objects."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_output: bool = JSON,
    verbose: bool = VERBOSE,
) -> None:
    """Delete everything the stack created (the bucket is emptied unless --keep-data)."""
    with handle_errors(verbose):
        from transcriber_cli.cli.cloud_render import emit_json, render_actions
        from transcriber_cli.cloud import infra

        st, _ = connect(stack, region, profile)
        data_note = "keeping the bucket" if keep_data else f"including every object in {st.bucket}"
        confirm_or_refuse(f"delete stack {st.name} in {st.region} ({data_note})", yes)
        data = infra.down(st, keep_data=keep_data).as_dict()
        emit_json(data) if json_output else render_actions(data)


@secrets_app.command("set")
def secrets_set_command(
    name: str = typer.Argument(..., help="mongodb_url or hf_token"),
    stack: str = STACK,
    region: str = REGION,
    profile: str = PROFILE,
    verbose: bool = VERBOSE,
) -> None:
    """Store a secret read from stdin (never from the command line) as an SSM SecureString."""
    with handle_errors(verbose):
        from transcriber_cli.aws.secrets import check_secret_name
        from transcriber_cli.cloud.secrets import set_secret
        from transcriber_cli.errors import UsageError

        check_secret_name(name)
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass(f"{name}: ")
        else:
            value = sys.stdin.read()
        if not value.strip():
            raise UsageError(f"empty value for {name}: pipe the secret on stdin")
        st, _ = connect(stack, region, profile)
        result = set_secret(st, name, value)
        stderr.print(f"stored {result['parameter']} (SecureString, version {result['version']})")
