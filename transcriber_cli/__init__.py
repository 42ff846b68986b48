"""transcriber: speaker-labelled transcripts from recordings, locally or on a Spot GPU fleet."""

__version__ = "0.1.0"

from transcriber_cli.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
