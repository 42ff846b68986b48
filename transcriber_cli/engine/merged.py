"""One decoder call for several files: CTranslate2 ``generate``/``align`` calls made at the
same time by files in flight on one model are merged into one batch.

Whisper's decoder is bound by its steps, not its batch: on an H200 (large-v3, beam 5) a call
with 16 windows of 30 s took 1.3 s and one with 64 took 3.1 s. A folder of short files gives
each call a few windows, so it paid the steps once per file. Here a call waits while another
runs; when the decoder is free, whoever is waiting first runs every waiting call that decodes
alike (same options, same prompt length), up to ``limit`` windows, as one call, and each
caller gets its own rows back. Beam search treats each window on its own, so the words are
the same as one call each. A lone caller goes straight through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Call:
    key: tuple
    features: Any  # a StorageView (encoder output) or an array
    rows: int
    args: dict[str, list]  # the batch-wise arguments, one entry per row
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
        return ctranslate2.StorageView.from_array(merged), merged
    array = np.ascontiguousarray(np.concatenate([np.asarray(p) for p in parts]))
    return ctranslate2.StorageView.from_array(array), array


class _Merger:
    """Runs calls of one method, merging those that wait together."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._cond = threading.Condition()
        self._waiting: list[_Call] = []
        self._busy = False

    def __call__(self, call: _Call, run: Callable[[Any, dict[str, list]], list]) -> list:
        with self._cond:
            self._waiting.append(call)
            while not call.done:
                if self._busy:
                    self._cond.wait()
                    continue
                group = self._take()
                self._busy = True
                self._cond.release()
                try:
                    self._run(group, run)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _take(self) -> list[_Call]:
        """The first waiting call and the later ones that decode alike, up to the limit."""
        first = self._waiting[0]
        group, rows, limit = [first], first.rows, self._limit()
        for other in self._waiting[1:]:
            if other.key == first.key and rows + other.rows <= limit:
                group.append(other)
                rows += other.rows
        for call in group:
            self._waiting.remove(call)
        return group

    @staticmethod
    def _run(group: list[_Call], run: Callable[[Any, dict[str, list]], list]) -> None:
        try:
            if len(group) == 1:
                features, keep = group[0].features, None
            else:
                features, keep = concat_features([c.features for c in group])
            args = {name: [v for c in group for v in c.args[name]] for name in group[0].args}
            results = run(features, args)
            del keep
        except BaseException as exc:  # every caller in the group sees the failure
            for call in group:
                call.error, call.done = exc, True
            return
        start = 0
        for call in group:
            call.result, call.done = results[start : start + call.rows], True
            start += call.rows


class MergedDecoder:
    """Stands in for a CTranslate2 ``Whisper`` model: ``generate`` and ``align`` merge calls
    made at the same time; everything else is the model's own. ``limit()`` gives the most
    windows one merged call may hold (the engine's batch size)."""

    def __init__(self, model: Any, limit: Callable[[], int]) -> None:
        self.model = model
        self._generate = _Merger(limit)
        self._align = _Merger(limit)

    def __getattr__(self, name: str) -> Any:  # only for what this class does not define
        return getattr(self.model, name)

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> list:
        lengths = {len(p) for p in prompts}
        key = (_frozen(options), lengths.pop() if len(lengths) == 1 else id(prompts))
        call = _Call(key, features, len(prompts), {"prompts": list(prompts)})

        def run(merged: Any, args: dict[str, list]) -> list:
            return self.model.generate(merged, args["prompts"], **options)

        return self._generate(call, run)

    def align(
        self,
        features: Any,
        start_sequence: list[int],
        text_tokens: list[list[int]],
        num_frames: int | list[int],
        **options: Any,
    ) -> list:
        rows = len(text_tokens)
        frames = [num_frames] * rows if isinstance(num_frames, int) else list(num_frames)
        key = (_frozen(options), tuple(start_sequence))
        call = _Call(key, features, rows, {"text_tokens": list(text_tokens), "frames": frames})

        def run(merged: Any, args: dict[str, list]) -> list:
            return self.model.align(
                merged, start_sequence, args["text_tokens"], args["frames"], **options
            )

        return self._align(call, run)


def _frozen(options: dict[str, Any]) -> tuple:
    """Options as a key: lists (suppress_tokens) become tuples."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(options.items()))
