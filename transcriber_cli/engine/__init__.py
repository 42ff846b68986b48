"""faster-whisper loading and transcription."""
