"""``transcribe PATH...``: local transcription (``--remote`` sends the work to the fleet)."""

from __future__ import annotations

from pathlib import Path

import typer

from transcriber_cli.cli.errors import handle_errors, is_interactive, setup_logging
from transcriber_cli.cli.first_run import show_version
from transcriber_cli.cli.secret_options import token_from


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip()) if value else ()


def transcribe_command(
    # Strings, made paths below: click's Path turned "" (an unset variable) into ".", the
    # whole current folder, and refused an unreadable file with usage text, ending the batch.
    names: list[str] = typer.Argument(
        ..., metavar="PATH", help="Files or folders (searched recursively)."
    ),
    output_dir: Path | None = typer.Option(
        None,
        "-o",
        "--output-dir",
        metavar="DIR",
        help="Where outputs go (default: beside inputs).",
    ),
    formats: str | None = typer.Option(
        None,
        "-f",
        "--format",
        metavar="LIST",
        help="Any of txt,json,srt,vtt,tsv,rttm, or 'all'.",
    ),
    model: str | None = typer.Option(
        None,
        "-m",
        "--model",
        metavar="NAME",
        help="Model name (tiny ... large-v3, turbo), hub id or directory.",
    ),
    language: str | None = typer.Option(
        None, "--language", help="Language code (default: detect)."
    ),
    task: str | None = typer.Option(None, "--task", help="transcribe or translate."),
    device: str | None = typer.Option(None, "--device", help="auto, cuda or cpu."),
    gpus: str | None = typer.Option(
        None,
        "--gpus",
        help="Spread a folder over GPUs: all (default), a count N, or indices 0,2 (one: 2,). "
        "On a CPU, N runs N model copies.",
    ),
    compute_type: str | None = typer.Option(
        None, "--compute-type", help="auto, float16, int8_float16, int8, float32."
    ),
    batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        help="Batched inference size (0 = auto: from free GPU memory; 1 = sequential).",
    ),
    beam_size: int | None = typer.Option(None, "--beam-size"),
    vad: bool | None = typer.Option(None, "--vad/--no-vad", help="Voice activity detection."),
    word_timestamps: bool | None = typer.Option(
        None, "--word-timestamps/--no-word-timestamps", help="Word timings (default on)."
    ),
    initial_prompt: str | None = typer.Option(None, "--initial-prompt"),
    hotwords: str | None = typer.Option(None, "--hotwords"),
    max_new_tokens: int | None = typer.Option(
        None, "--max-new-tokens", help="Most tokens decoded per 30 s chunk (default: no cap)."
    ),
    suppress_tokens: str | None = typer.Option(
        None,
        "--suppress-tokens",
        help='Token ids never emitted, e.g. "-1,50256" (-1 = the model\'s symbols).',
    ),
    audio_stream: int | None = typer.Option(
        None, "--audio-stream", min=0, help="Audio stream N (0 = first; default: one with sound)."
    ),
    subtitle_preset: str | None = typer.Option(
        None, "--subtitle-preset", help="Subtitle shaping: web (default), broadcast or one-line."
    ),
    max_line_width: int | None = typer.Option(
        None, "--max-line-width", help="Subtitle line width in characters (overrides the preset)."
    ),
    max_lines: int | None = typer.Option(None, "--max-lines", help="Lines a subtitle cue."),
    max_cue_duration: float | None = typer.Option(
        None, "--max-cue-duration", help="Most seconds a subtitle cue stays on screen."
    ),
    min_gap: float | None = typer.Option(
        None, "--min-gap", help="Seconds between two subtitle cues at least."
    ),
    vtt_highlight_words: bool | None = typer.Option(
        None,
        "--vtt-highlight-words/--no-vtt-highlight-words",
        help="WebVTT: timestamp each word so players highlight it as it is spoken.",
    ),
    diarize: bool | None = typer.Option(
        None, "--diarize/--no-diarize", help="Speaker labels (default: on when available)."
    ),
    num_speakers: int | None = typer.Option(None, "--num-speakers", min=1),
    min_speakers: int | None = typer.Option(None, "--min-speakers", min=1),
    max_speakers: int | None = typer.Option(None, "--max-speakers", min=1),
    speaker_names: str | None = typer.Option(
        None, "--speaker-names", help='Names in order of appearance: "Alice,Bob".'
    ),
    diarization_model: str | None = typer.Option(
        None,
        "--diarization-model",
        help="pyannote pipeline (hub id or local directory), or 'builtin' (shipped).",
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Never contact the model hub (cached or local models only)."
    ),
    hf_token_file: str | None = typer.Option(
        None, "--hf-token-file", help="Hugging Face token file ('-': stdin)."
    ),
    hf_token: str | None = typer.Option(None, "--hf-token", hidden=True),
    include: list[str] = typer.Option(
        [], "--include", metavar="GLOB", help="Glob of files to take in folders (repeat)."
    ),
    exclude: list[str] = typer.Option(
        [], "--exclude", metavar="GLOB", help="Glob of files to leave out (repeat)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo files whose outputs exist."),
    remote: bool = typer.Option(
        False, "--remote", help="Send the audio to the stack's GPU workers."
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="With --remote: print job ids, do not wait."
    ),
    max_cost: float | None = typer.Option(
        None, "--max-cost", help="With --remote: refuse a job estimated to cost more than USD."
    ),
    stack: str | None = typer.Option(None, "--stack", help="With --remote: the stack name."),
    region: str | None = typer.Option(None, "--region", help="With --remote: AWS region."),
    profile: str | None = typer.Option(None, "--profile", help="With --remote: AWS profile."),
    json_output: bool = typer.Option(
        False, "--json", help="One JSON object per input on stdout; human output on stderr."
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only errors."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Debug logs and tracebacks."),
    version: bool = typer.Option(
        False, "--version", callback=show_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Transcribe media files or folders, writing txt/json/srt/vtt/tsv beside each input."""
    setup_logging(verbose, quiet)
    with handle_errors(verbose, suggest_doctor=True):
        from transcriber_cli.config import load_settings
        from transcriber_cli.errors import UsageError
        from transcriber_cli.formats.registry import parse_formats
        from transcriber_cli.formats.shaping import shaped, shaping_from

        if not all(names):
            raise UsageError("an empty PATH (an unset variable?): name a file or folder")
        paths = [Path(name) for name in names]
        token = token_from(hf_token, hf_token_file)
        from transcriber_cli.jobs.options import JobOptions
        from transcriber_cli.jobs.results import exit_code

        settings = load_settings(
            model=model,
            language=language,
            task=task,
            device=device,
            gpus=gpus,
            compute_type=compute_type,
            batch_size=batch_size,
            beam_size=beam_size,
            vad=vad,
            word_timestamps=word_timestamps,
            initial_prompt=initial_prompt,
            hotwords=hotwords,
            max_new_tokens=max_new_tokens,
            suppress_tokens=suppress_tokens,
            formats=formats,
            audio_stream=audio_stream,
            subtitle_preset=subtitle_preset,
            max_line_width=max_line_width,
            max_lines=max_lines,
            max_cue_duration=max_cue_duration,
            min_gap=min_gap,
            vtt_highlight_words=vtt_highlight_words,
            diarize=diarize,
            diarization_model=diarization_model,
            hf_token=token,
            offline=offline or None,
            stack=stack,
            region=region,
            profile=profile,
            max_cost=max_cost,
        )
        options = JobOptions.build(
            settings,
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            speaker_names=_names(speaker_names) or None,
        )
        chosen = shaped(parse_formats(settings.formats), shaping_from(settings))
        live = is_interactive() and not json_output and not quiet
        if no_wait and not remote:
            raise UsageError("--no-wait only applies with --remote")
        if gpus and remote:
            raise UsageError("--gpus applies to local runs (workers: transcriber worker --gpus)")
        if remote:
            from transcriber_cli.aws.naming import check_stack
            from transcriber_cli.cli.interrupt import stops_interrupt
            from transcriber_cli.cli.remote_view import RemoteView
            from transcriber_cli.remote.run import run_remote

            check_stack(settings.stack)
            # In the main thread, as Ctrl-C: the extraction's folder and ffmpeg go, the
            # jobs in flight are reported with the command that reattaches.
            with stops_interrupt(), RemoteView(live=live, json_lines=json_output,
                                               quiet=quiet) as view:  # fmt: skip
                results = run_remote(
                    settings,
                    options,
                    paths,
                    chosen,
                    view,
                    output_dir=output_dir,
                    overwrite=overwrite,
                    include=include,
                    exclude=exclude,
                    wait=not no_wait,
                )
        else:
            from transcriber_cli.cli.interrupt import run_interruptibly
            from transcriber_cli.cli.progress import RichReporter
            from transcriber_cli.local.runner import LocalRunner

            with RichReporter(live=live, json_lines=json_output, quiet=quiet) as reporter:
                runner = LocalRunner(
                    settings,
                    options,
                    chosen,
                    output_dir=output_dir,
                    overwrite=overwrite,
                    reporter=reporter,
                )
                results = run_interruptibly(
                    lambda: runner.run(paths, include, exclude),
                    on_interrupt=lambda: reporter.__exit__(None, None, None),
                )
            reporter.summary(results, runner.devices_used)
        if not results:
            raise UsageError("no input files found")
        raise typer.Exit(int(exit_code(results)))
