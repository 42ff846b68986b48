"""Speaker diarization (pyannote.audio) and speaker assignment."""
