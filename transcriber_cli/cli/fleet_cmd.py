"""``transcriber fleet up|update|scale|status|down``."""

from __future__ import annotations

from pathlib import Path

import typer

from transcriber_cli.cli.stack_options import Json, Profile, Region, StackName, Verbose, on_stack

app = typer.Typer(help="The Spot GPU worker fleet (Auto Scaling group).", no_args_is_help=True)


@app.command("up")
def up_command(
    instance_types: str = typer.Option(
        "g4dn.xlarge,g5.xlarge,g6.xlarge",
        "--instance-types",
        help="GPU instance types, comma-separated; a type with several GPUs (g5.12xlarge) "
        "counts each.",
    ),
    max_size: int = typer.Option(
        4, "--max", help="Most GPUs at once (capacity is counted in GPUs, not instances)."
    ),
    on_demand: bool = typer.Option(False, "--on-demand", help="On-demand instead of Spot."),
    version: str = typer.Option(
        None, "--version", help="A version already shipped (to roll back)."
    ),
    wheel: Path = typer.Option(
        None, "--wheel", help="The wheel to ship (default: one built from the checkout)."
    ),
    ami: str = typer.Option(None, "--ami", help="AMI id (default: latest GPU DLAMI via SSM)."),
    public_ip: bool = typer.Option(
        False, "--public-ip",
        help="Give workers public IPs (default: none; the subnets then need NAT or endpoints).",
    ),
    allow_model: list[str] = typer.Option(
        None, "--allow-model", metavar="NAME",
        help="A Whisper model jobs may ask the workers for (repeat; default: the worker's list).",
    ),
    allow_diarization_model: list[str] = typer.Option(
        None, "--allow-diarization-model", metavar="NAME",
        help="A diarization pipeline jobs may ask the workers for (repeat).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Create or update the launch template, the group (min 0, desired 0, capacity in GPUs)
    and queue scaling."""
    with on_stack(stack, region, profile, verbose) as (st, _):
        from transcriber_cli import __version__
        from transcriber_cli.cli.cloud_render import show
        from transcriber_cli.cloud import fleet

        types = tuple(t.strip() for t in instance_types.split(",") if t.strip())
        options = fleet.FleetOptions(
            types,
            max_size,
            on_demand,
            version or __version__,
            ami,
            wheel=wheel,
            public_ip=public_ip,
            allow_models=tuple(allow_model or ()),
            allow_diarization_models=tuple(allow_diarization_model or ()),
        )
        result = fleet.up(st, options, dry_run=dry_run)
        show({**result.as_dict(), "dry_run": dry_run}, json_output)


@app.command("update")
def update_command(
    wheel: Path = typer.Option(
        None, "--wheel", help="The wheel to ship (default: one built from the checkout)."
    ),
    wait: bool = typer.Option(False, "--wait", help="Follow the instance refresh to its end."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Ship the installed version to the fleet: publish it, point the launch template at it,
    and replace running instances a few at a time (their jobs resume from checkpoints)."""
    with on_stack(stack, region, profile, verbose) as (st, _):
        from transcriber_cli.cli.cloud_render import show
        from transcriber_cli.cli.errors import stderr
        from transcriber_cli.cloud import rollout

        def progress(state: dict) -> None:
            if not json_output:
                stderr.print(f"refresh {state['status']}: {state['percent']}% "
                             f"({state['to_update']} to update)", markup=False)  # fmt: skip

        result = rollout.update(st, wheel=wheel, dry_run=dry_run,
                                wait=progress if wait else None)  # fmt: skip
        show({**result.as_dict(), "dry_run": dry_run}, json_output)


@app.command("scale")
def scale_command(
    desired: int = typer.Argument(
        ..., help="GPUs wanted now (a 4-GPU instance counts 4; rounded up to whole instances)."
    ),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Set the desired capacity in GPUs (0..max); queue scaling may change it later."""
    with on_stack(stack, region, profile, verbose) as (st, _):
        from transcriber_cli.cli.cloud_render import show
        from transcriber_cli.cloud import fleet

        show(fleet.scale(st, desired).as_dict(), json_output)


@app.command("status")
def status_command(
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Instances, capacity, queue and dead-letter depth, and worker heartbeats."""
    with on_stack(stack, region, profile, verbose) as (st, settings):
        from transcriber_cli.cli.cloud_render import render_fleet_status, show
        from transcriber_cli.cloud.fleet_status import status

        show(status(st, settings).as_dict(), json_output, render_fleet_status)


@app.command("down")
def down_command(
    destroy: bool = typer.Option(
        False, "--destroy", help="Also delete the group, launch template and scaling alarms."
    ),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Scale to zero (or, with --destroy, remove the fleet)."""
    with on_stack(stack, region, profile, verbose) as (st, _):
        from transcriber_cli.cli.cloud_render import show
        from transcriber_cli.cloud import fleet

        show(fleet.down(st, destroy=destroy).as_dict(), json_output)
