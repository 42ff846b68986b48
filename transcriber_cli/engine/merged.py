"""One decoder call for several files: CTranslate2 ``generate`` calls made at the same time
by files in flight on one model are merged into one batch.

Whisper's decoder is bound by its steps more than its batch: on an H200 (large-v3, beam 5)
a call of up to 64 windows of 30 s took about 3.1 s, one of up to 16 about 1.3 s. A folder
of short files gives each call a few windows, so it paid the steps once per file. Here a call
waits while another runs; when the decoder is free, whoever is waiting first runs every
waiting call that decodes alike (same options, prompt length and feature shape), up to
``limit`` windows, as one call, and each caller gets its own rows back. Beam search treats
each window on its own: the tokens are those of one call each, up to float rounding in a
batch of another size (on a GPU a token near a tie can flip). A lone caller goes straight
through. ``align`` (word timing) is not merged: with equal frame counts CTranslate2
normalises its attention over the whole batch, so a file's word times would depend on the
files merged with it. With ``lanes`` above one (replicas of the model on its GPU, sharing
its weights) that many groups run at once, each on its own replica; ``align`` takes
whichever replica is free (with fewer lanes than replicas, a lane).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(eq=False)  # by identity: taken out of the queue by identity, never by features
class _Call:
    key: tuple
    features: Any  # a StorageView (encoder output) or an array
    prompts: list[list[int]]
    options: dict[str, Any]
    result: list | None = None
    error: BaseException | None = None
    done: bool = False


def concat_features(parts: list[Any]) -> tuple[Any, Any]:
    """The batches one after another, as CTranslate2 takes them, and what must outlive the
    call (a StorageView made from a tensor or an array does not own its memory)."""
    import ctranslate2

    first = parts[0]
    if isinstance(first, ctranslate2.StorageView) and first.device == "cuda":
        import torch

        where = torch.device("cuda", first.device_index)
        merged = torch.cat([torch.as_tensor(p, device=where) for p in parts])
        # CTranslate2 reads it on its own stream, not torch's: the copy must be done first.
        torch.cuda.current_stream(where).synchronize()
        # It labels a view with the thread's current device (its issue #1467), not the data's.
        with torch.cuda.device(where):
            view = ctranslate2.StorageView.from_array(merged)
        return view, merged
    array = np.ascontiguousarray(np.concatenate([np.asarray(p) for p in parts]))
    return ctranslate2.StorageView.from_array(array), array


class MergedDecoder:
    """Stands in for a CTranslate2 ``Whisper`` model: ``generate`` merges calls made at the
    same time; everything else is the model's own. ``limit`` is the most windows one merged
    call may hold (the engine sets its batch size); ``lanes`` the most calls that run at once
    (the model's replicas on its device: one per call, sharing its weights)."""

    def __init__(self, model: Any, lanes: int = 1) -> None:
        self.model = model
        self.limit = 1
        self.lanes = lanes
        self.replicas = getattr(model, "num_workers", lanes)
        self._cond = threading.Condition()
        self._waiting: list[_Call] = []
        self._running = 0

    def set_lanes(self, lanes: int) -> None:
        """Run up to ``lanes`` calls at once from now on (at most the model's replicas)."""
        with self._cond:
            self.lanes = lanes
            self._cond.notify_all()  # a caller waiting for a lane may take a new one

    def _in_a_lane(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A call that is not merged: on a replica of its own where more are loaded than
        lanes run (auto lanes that picked one), it holds a lane, as with a single replica:
        it would otherwise run beside a decoder call in memory budgeted for that call alone."""
        if self.replicas <= self.lanes:  # a free replica takes it, or CTranslate2 queues it
            return getattr(self.model, name)(*args, **kwargs)
        with self._cond:
            while self._running >= self.lanes:
                self._cond.wait()
            self._running += 1
        try:
            return getattr(self.model, name)(*args, **kwargs)
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def align(self, *args: Any, **kwargs: Any) -> Any:
        return self._in_a_lane("align", *args, **kwargs)

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        return self._in_a_lane("encode", *args, **kwargs)

    def detect_language(self, *args: Any, **kwargs: Any) -> Any:
        return self._in_a_lane("detect_language", *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # only for what this class does not define
        if name.startswith("__"):  # copy/pickle probes: not the model's
            raise AttributeError(name)
        return getattr(self.model, name)

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> list:
        lengths = {len(p) for p in prompts}
        shape = tuple(features.shape)[1:]
        frozen = tuple(
            (k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(options.items())
        )  # suppress_tokens is a list
        key = (frozen, shape, lengths.pop() if len(lengths) == 1 else object())
        call = _Call(key, features, list(prompts), options)
        with self._cond:
            self._waiting.append(call)
            while not call.done:
                # A caller runs only a group led by its own call: one that ran another's
                # would return that group's time late (with several lanes, its own call may
                # end first elsewhere). Its call may also go in a group another caller leads.
                if self._running >= self.lanes or not self._waiting or self._waiting[0] is not call:
                    self._cond.wait()
                    continue
                group = self._take()
                self._running += 1
                busy = self._running  # lanes busy as this call starts (-v)
                self._cond.notify_all()  # the next caller in line may take a free lane
                self._cond.release()
                try:
                    self._run(group, busy)
                finally:
                    self._cond.acquire()
                    self._running -= 1
                    self._cond.notify_all()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _take(self) -> list[_Call]:
        """The first waiting call and the later ones that decode alike, up to the limit."""
        first = self._waiting[0]
        group, rows = [first], len(first.prompts)
        for other in self._waiting[1:]:
            if other.key == first.key and rows + len(other.prompts) <= self.limit:
                group.append(other)
                rows += len(other.prompts)
        for call in group:
            self._waiting.remove(call)
        return group

    def _run(self, group: list[_Call], busy: int) -> None:
        """Every call of the group ends done, with its rows or the error that stopped it."""
        try:
            try:
                merged = concat_features([c.features for c in group]) if len(group) > 1 else None
            except Exception:  # e.g. torch unusable: the calls still run, one by one
                for call in group:
                    self._run([call], busy)  # in the same lane, one after another
                return
            try:
                features = merged[0] if merged else group[0].features
                prompts = [p for c in group for p in c.prompts]
                began = time.perf_counter()
                results = self.model.generate(features, prompts, **group[0].options)
            except BaseException as exc:  # every caller in the group sees the failure
                for call in group:
                    call.error = exc
                return
            took = time.perf_counter() - began
            start = 0
            for call in group:
                call.result = results[start : start + len(call.prompts)]
                start += len(call.prompts)
            # How full the calls are and how they overlap: bench timelines read it (-v).
            log.debug("decoder call: %d rows of %d callers in %.2f s (%d of %d lanes busy "
                      "as it started)", len(prompts), len(group), took, busy,
                      self.lanes)  # fmt: skip
        finally:
            for call in group:
                if call.result is None and call.error is None:
                    call.error = RuntimeError("merged decoder call ended without a result")
                call.done = True
