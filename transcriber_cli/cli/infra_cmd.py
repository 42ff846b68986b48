"""``transcriber infra up|status|down|secrets set``."""

from __future__ import annotations

import sys

import typer

from transcriber_cli.cli.errors import handle_errors, stderr
from transcriber_cli.cli.stack_options import (
    Json,
    Profile,
    Region,
    StackName,
    Verbose,
    connect,
    on_stack,
)

app = typer.Typer(help="Create, inspect or remove the stack's AWS resources.", no_args_is_help=True)
secrets_app = typer.Typer(
    help="Store secrets for workers in SSM (SecureString).", no_args_is_help=True
)
app.add_typer(secrets_app, name="secrets")


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
    stack: StackName = None, region: Region = None, profile: Profile = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    admin_cidr: str = typer.Option(None, "--admin-cidr", help="Allow SSH (22) from this CIDR."),
    alarm_email: str = typer.Option(None, "--alarm-email", help="Email the alarms here."),
    uploads_days: int = typer.Option(
        7, "--uploads-expiry-days", help="Delete uploads/ after N days."
    ),
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Create or update the stack (idempotent; options not given return to their defaults)."""
    with on_stack(stack, region, profile, verbose) as (st, _):
        from transcriber_cli.cli.cloud_render import show
        from transcriber_cli.cloud import infra

        options = infra.InfraOptions(uploads_days, admin_cidr, alarm_email)
        show(infra.up(st, options, dry_run=dry_run).as_dict(), json_output)


@app.command("status")
def status_command(
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Show which resources exist and their key settings."""
    with on_stack(stack, region, profile, verbose) as (st, _):
        from transcriber_cli.cli.cloud_render import render_infra_status, show
        from transcriber_cli.cloud import infra

        show(infra.status(st).as_dict(), json_output, render_infra_status)


@app.command("down")
def down_command(
    stack: StackName = None, region: Region = None, profile: Profile = None,
    keep_data: bool = typer.Option(False, "--keep-data", help="Keep the bucket and its objects."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Delete everything the stack created (the bucket is emptied unless --keep-data)."""
    with on_stack(stack, region, profile, verbose) as (st, _):
        from transcriber_cli.cli.cloud_render import show
        from transcriber_cli.cloud import infra

        data_note = "keeping the bucket" if keep_data else f"including every object in {st.bucket}"
        confirm_or_refuse(f"delete stack {st.name} in {st.region} ({data_note})", yes)
        show(infra.down(st, keep_data=keep_data).as_dict(), json_output)


@secrets_app.command("set")
def secrets_set_command(
    name: str = typer.Argument(..., help="mongodb_url, hf_token, or one a plugin reads"),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    verbose: Verbose = False,
) -> None:  # fmt: skip
    """Store a secret read from stdin (never from the command line) as an SSM SecureString."""
    with handle_errors(verbose):
        from transcriber_cli.cloud.secrets import check_settable_name, set_secret
        from transcriber_cli.errors import UsageError

        check_settable_name(name)
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
