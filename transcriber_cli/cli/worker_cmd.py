"""``transcriber worker``: run a queue consumer on this machine (the fleet runs it as a service)."""

from __future__ import annotations

import typer

from transcriber_cli.cli.errors import handle_errors, setup_logging, stderr


def worker_command(
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        min=0,
        help="Jobs at once per GPU (per model copy); 0 = auto: 16 on a GPU with 16 GiB free, "
        "else 4; 1 on a CPU or with --once.",
    ),
    gpus: str | None = typer.Option(
        None,
        "--gpus",
        help="GPUs to use, one consumer each: all (default), a count N, or indices 0,2 "
        "(one GPU: 2,). On a CPU a count runs N model copies.",
    ),
    once: bool = typer.Option(
        False, "--once", help="Handle one job (one per consumer), then exit (or on an empty poll)."
    ),
    idle_exit: float | None = typer.Option(
        None, "--idle-exit", min=0, help="Exit after N seconds without work."
    ),
    stack: str | None = typer.Option(None, "--stack", help="Stack name (default: transcriber)."),
    region: str | None = typer.Option(None, "--region", help="AWS region."),
    profile: str | None = typer.Option(None, "--profile", help="AWS profile."),
    model: str | None = typer.Option(None, "-m", "--model", help="Model for 'auto' tasks."),
    device: str | None = typer.Option(None, "--device", help="auto, cuda or cpu."),
    compute_type: str | None = typer.Option(None, "--compute-type"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only errors."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Debug logs and tracebacks."),
) -> None:
    """Consume the job queue: transcribe each task and publish its outputs."""
    setup_logging(verbose, quiet)
    if not verbose and not quiet:
        import logging

        logging.getLogger("transcriber_cli.worker").setLevel(logging.INFO)
    with handle_errors(verbose):
        from transcriber_cli.aws.naming import check_stack
        from transcriber_cli.config import load_settings
        from transcriber_cli.worker.loop import Worker

        settings = load_settings(
            stack=check_stack(stack) if stack else None,
            region=region,
            profile=profile,
            model=model,
            device=device,
            compute_type=compute_type,
            gpus=gpus,
        )
        worker = Worker(
            settings,
            concurrency=settings.worker_concurrency if concurrency is None else concurrency,
            once=once,
            idle_exit=settings.worker_idle_exit if idle_exit is None else idle_exit,
        )
        worker.install_signal_handlers()
        if not quiet:
            stderr.print(
                f"[dim]worker {worker.state.worker_id} on {worker.devices} "
                f"polling {worker.queue.url}[/]"
            )
        summary = worker.run()
        if not quiet:
            done = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())) or "no jobs"
            stderr.print(f"[dim]worker stopped ({summary.reason}): {done}[/]")
