"""One transcription flow (``flow``) and the models it runs with (``models``)."""
