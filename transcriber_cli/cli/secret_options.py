"""How commands take a secret: from the environment or a file, never from an argument."""

from __future__ import annotations


def token_from(argument: str | None, file: str | None) -> str | None:
    """The Hugging Face token of ``--hf-token-file``. ``--hf-token VALUE`` (hidden; it was
    an option before 0.1.0) is refused: the value would show in every user's `ps`."""
    from transcriber_cli.config import read_secret_file
    from transcriber_cli.errors import UsageError

    if argument is not None:
        raise UsageError(
            "--hf-token puts the token in the process list, where every user of this machine "
            "can read it",
            hint="set HF_TOKEN, or use --hf-token-file FILE ('-' reads it from stdin)",
        )
    return read_secret_file(file, "Hugging Face token") if file is not None else None
