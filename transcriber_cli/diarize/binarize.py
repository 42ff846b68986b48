"""Speaker frames to turns without a Python step per frame.

pyannote's ``to_annotation`` (its ``Binarize``) walks every frame of every speaker in Python
and builds a ``Segment`` per frame for the timestamps: about 0.8 s per hour of 4 speakers on
one core here, twice per recording (with overlap, then exclusive), while transcription waits
for the same GIL. The frames it gets from the reconstruction are 0/1, so their runs are found
with numpy and only each run's two edges become timestamps, through the same ``SlidingWindow``
arithmetic: the annotation is the same (tests/diarize/test_binarize.py compares them). Any
other input goes to pyannote's own code.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def use_run_edges(pipeline: Any) -> bool:
    """Give ``pipeline`` this ``to_annotation`` when it has pyannote's own (a pipeline that
    brings another keeps it); True when given."""
    from pyannote.audio.pipelines import SpeakerDiarization

    if getattr(type(pipeline), "to_annotation", None) is not SpeakerDiarization.to_annotation:
        return False
    pipeline.to_annotation = to_annotation  # a staticmethod there: called without self
    return True


def to_annotation(
    discrete_diarization: Any, min_duration_on: float = 0.0, min_duration_off: float = 0.0
) -> Any:
    """pyannote's ``SpeakerDiarization.to_annotation``, same arguments, same result."""
    from pyannote.core import Annotation, Segment
    from pyannote.core.utils.generators import string_generator

    data = np.asarray(discrete_diarization.data)
    frames = discrete_diarization.sliding_window
    last = data.shape[0] - 1
    # One frame: pyannote's loop never runs (and fails if the speaker is active); values
    # other than 0 and 1 (scores, NaN) follow its thresholds with memory; a window that ends
    # before its frames do makes it fail: its code decides all three.
    if (data.ndim != 2 or last < 1 or not np.isin(data, (0, 1)).all()
            or frames[last] is None):  # fmt: skip
        from pyannote.audio.pipelines import SpeakerDiarization

        return SpeakerDiarization.to_annotation(
            discrete_diarization, min_duration_on=min_duration_on,
            min_duration_off=min_duration_off,
        )  # fmt: skip
    labels = discrete_diarization.labels
    active = Annotation()
    tracks = string_generator()
    for k, column in enumerate(data.T):
        label = k if labels is None else labels[k]
        track = next(tracks)
        on = column == 1
        change = np.flatnonzero(on[1:] != on[:-1]) + 1  # first frame of each new state
        starts = change[on[change]].tolist()
        ends = change[~on[change]].tolist()  # a run ends at the middle of its first silent frame
        if on[0]:
            starts.insert(0, 0)
        if on[-1]:
            ends.append(last)  # still talking at the end: closed at the last frame's middle
        for start, end in zip(starts, ends):
            active[Segment(frames[start].middle, frames[end].middle), track] = label
    # What pyannote's Binarize does after its loop (its pads are 0 here).
    if min_duration_off > 0.0:
        active = active.support(collar=min_duration_off)
    if min_duration_on > 0:
        for segment, track in list(active.itertracks()):
            if segment.duration < min_duration_on:
                del active[segment, track]
    return active
