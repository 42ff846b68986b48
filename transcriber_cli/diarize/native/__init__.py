"""A diarizer for pyannote's pipelines that does not import pyannote.audio."""
