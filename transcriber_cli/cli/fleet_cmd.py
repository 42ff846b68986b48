"""``transcriber fleet up|scale|status|down``."""

from __future__ import annotations

import typer

from transcriber_cli.cli.errors import handle_errors
from transcriber_cli.cli.infra_cmd import JSON, PROFILE, REGION, STACK, VERBOSE, connect

app = typer.Typer(help="The Spot GPU worker fleet (Auto Scaling group).", no_args_is_help=True)


@app.command("up")
def up_command(
    instance_types: str = typer.Option(
        "g4dn.xlarge,g5.xlarge,g6.xlarge", "--instance-types", help="Comma-separated GPU types."
    ),
    max_size: int = typer.Option(4, "--max", help="Most instances at once."),
    on_demand: bool = typer.Option(False, "--on-demand", help="On-demand instead of Spot."),
    version: str = typer.Option(None, "--version", help="Package version workers install."),
    ami: str = typer.Option(None, "--ami", help="AMI id (default: latest GPU DLAMI via SSM)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    stack: str = STACK,
    region: str = REGION,
    profile: str = PROFILE,
    json_output: bool = JSON,
    verbose: bool = VERBOSE,
) -> None:
    """Create or update the launch template, the group (min 0, desired 0) and queue scaling."""
    with handle_errors(verbose):
        from transcriber_cli import __version__
        from transcriber_cli.cli.cloud_render import emit_json, render_actions
        from transcriber_cli.cloud import fleet

        st, _ = connect(stack, region, profile)
        types = tuple(t.strip() for t in instance_types.split(",") if t.strip())
        options = fleet.FleetOptions(types, max_size, on_demand, version or __version__, ami)
        result = fleet.up(st, options, dry_run=dry_run)
        data = {**result.as_dict(), "dry_run": dry_run}
        emit_json(data) if json_output else render_actions(data)


@app.command("scale")
def scale_command(
    desired: int = typer.Argument(..., help="Number of instances wanted now."),
    stack: str = STACK, region: str = REGION, profile: str = PROFILE,
    json_output: bool = JSON, verbose: bool = VERBOSE,
) -> None:  # fmt: skip
    """Set the desired capacity (0..max); queue scaling may change it later."""
    with handle_errors(verbose):
        from transcriber_cli.cli.cloud_render import emit_json, render_actions
        from transcriber_cli.cloud import fleet

        st, _ = connect(stack, region, profile)
        data = fleet.scale(st, desired).as_dict()
        emit_json(data) if json_output else render_actions(data)


@app.command("status")
def status_command(
    stack: str = STACK, region: str = REGION, profile: str = PROFILE,
    json_output: bool = JSON, verbose: bool = VERBOSE,
) -> None:  # fmt: skip
    """Instances, capacity, queue and dead-letter depth, and worker heartbeats."""
    with handle_errors(verbose):
        from transcriber_cli.cli.cloud_render import emit_json, render_fleet_status
        from transcriber_cli.cloud.fleet_status import status

        st, settings = connect(stack, region, profile)
        data = status(st, settings).as_dict()
        emit_json(data) if json_output else render_fleet_status(data)


@app.command("down")
def down_command(
    destroy: bool = typer.Option(
        False, "--destroy", help="Also delete the group, launch template and scaling alarms."
    ),
    stack: str = STACK, region: str = REGION, profile: str = PROFILE,
    json_output: bool = JSON, verbose: bool = VERBOSE,
) -> None:  # fmt: skip
    """Scale to zero (or, with --destroy, remove the fleet)."""
    with handle_errors(verbose):
        from transcriber_cli.cli.cloud_render import emit_json, render_actions
        from transcriber_cli.cloud import fleet

        st, _ = connect(stack, region, profile)
        data = fleet.down(st, destroy=destroy).as_dict()
        emit_json(data) if json_output else render_actions(data)
