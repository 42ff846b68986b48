"""The built-in formats, registered through the same hook a third-party plugin uses."""

from __future__ import annotations

from collections.abc import Callable

from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.formats.rttm import write_rttm
from transcriber_cli.formats.subtitles import write_srt, write_vtt
from transcriber_cli.formats.tables import write_json, write_tsv
from transcriber_cli.formats.text import write_txt
from transcriber_cli.hookspecs import hookimpl
from transcriber_cli.quality import write_qa


@hookimpl
def register_formats(register: Callable[[OutputFormat], None]) -> None:
    register(OutputFormat("txt", "txt", write_txt))
    register(OutputFormat("json", "json", write_json))
    register(OutputFormat("srt", "srt", write_srt, write_shaped=write_srt))
    register(OutputFormat("vtt", "vtt", write_vtt, write_shaped=write_vtt))
    register(OutputFormat("tsv", "tsv", write_tsv))
    # Opt-in (-f rttm or -f all,rttm): only useful with diarization, and empty without it.
    register(OutputFormat("rttm", "rttm", write_rttm, default=False))
    # Opt-in (-f all,qa): the quality report; its flags are in every result line anyway.
    register(OutputFormat("qa", "qa.json", write_qa, default=False))
