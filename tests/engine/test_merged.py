"""Decoder calls of files in flight merged into one batch (engine/merged.py), checked with the
real tiny.en on real speech: what each caller gets back is what it gets alone."""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pytest

from transcriber_cli.engine.merged import MergedDecoder
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.options import WhisperOptions

PROMPT = [50257, 50362]  # <|startoftranscript|> <|notimestamps|> (tiny.en)
OPTIONS = {"beam_size": 2, "max_length": 40, "return_scores": True}


@pytest.fixture(scope="module")
def engine(tiny_model: str) -> WhisperEngine:
    return WhisperEngine(tiny_model, device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def encoded(engine: WhisperEngine, conversation_audio: np.ndarray) -> list[Any]:
    """Encoder outputs of 1, 2 and 1 windows of the conversation (CPU StorageViews)."""
    n = 30 * 16000
    windows = [conversation_audio[i * n : (i + 1) * n] for i in range(3)]
    extract = engine.model.feature_extractor
    feats = [extract(np.pad(w, (0, n - len(w))))[:, :3000] for w in windows]
    return [engine.model.encode(np.stack(f)) for f in ([feats[0]], feats[1:3], [feats[2]])]


class Gate:
    """Stands in for CTranslate2's model: records each call's rows, holds the first call
    until released (so the next ones arrive while the decoder is busy), can fail a call."""

    def __init__(self, model: Any, fail_call: int | None = None) -> None:
        self.model = model
        self.rows: list[int] = []  # rows of each call, in order
        self.kinds: list[str] = []  # "generate" or "align"
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_call = fail_call

    def __getattr__(self, name: str) -> Any:  # encode, detect_language, ...: the model's
        return getattr(self.model, name)

    def generate(self, features: Any, prompts: list, **options: Any) -> list:
        run = lambda: self.model.generate(features, prompts, **options)  # noqa: E731
        return self._call("generate", run, prompts)

    def align(self, features: Any, start: list, tokens: list, frames: Any, **kw: Any) -> list:
        run = lambda: self.model.align(features, start, tokens, frames, **kw)  # noqa: E731
        return self._call("align", run, tokens)

    def _call(self, kind: str, run: Any, rows: list) -> list:
        self.kinds.append(kind)
        self.rows.append(len(rows))
        if len(self.rows) == 1:
            self.entered.set()
            assert self.release.wait(30)
        if self.fail_call == len(self.rows):
            raise RuntimeError("CUDA failed with error out of memory")
        return run()


def in_threads(calls: list, waiting: list, gate: Gate) -> list:
    """The first call enters the decoder; the others start once it is inside and are waiting
    before it is let go (``waiting``: the merger's queue). Returns each call's result or
    exception."""
    out: list = [None] * len(calls)

    def go(i: int) -> None:
        try:
            out[i] = calls[i]()
        except Exception as exc:  # handed to the test
            out[i] = exc

    threads = [threading.Thread(target=go, args=(i,), daemon=True) for i in range(len(calls))]
    threads[0].start()
    assert gate.entered.wait(30)
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 30
    while len(waiting) < len(calls) - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.release.set()
    for t in threads:
        t.join(60)
    return out


def tokens(results: list) -> list:
    return [r.sequences_ids[0] for r in results]


def test_waiting_calls_run_as_one_batch_and_get_their_own_rows(engine, encoded, caplog) -> None:
    raw = engine.model.model.model  # CTranslate2's own, under the engine's merged decoder
    alone = [raw.generate(e, [PROMPT] * n, **OPTIONS) for e, n in zip(encoded, (1, 2, 1))]
    gate = Gate(raw)
    decoder = MergedDecoder(gate)
    decoder.limit = 8

    def call(i: int, n: int) -> Callable[[], list]:
        return partial(decoder.generate, encoded[i], [PROMPT] * n, **OPTIONS)

    with caplog.at_level(logging.DEBUG, logger="transcriber_cli.engine.merged"):
        out = in_threads([call(0, 1), call(1, 2), call(2, 1)], decoder._waiting, gate)
    assert gate.rows == [1, 3]  # the two that waited went as one call of 3 windows
    # -v says how full each call was (the bench timelines read it)
    said = [r.getMessage() for r in caplog.records if "decoder call" in r.getMessage()]
    assert [m.split(" in ")[0] + m[m.index(" s (") + 2 :] for m in said] == [
        "decoder call: 1 rows of 1 callers (1 of 1 lanes busy as it started)",
        "decoder call: 3 rows of 2 callers (1 of 1 lanes busy as it started)",
    ], said
    assert sum(len(t) for r in out for t in tokens(r)) > 20  # real speech, real text
    for got, want in zip(out, alone, strict=True):
        assert tokens(got) == tokens(want)
        assert [r.scores[0] for r in got] == pytest.approx([r.scores[0] for r in want], 1e-3)


def test_calls_that_decode_differently_or_exceed_the_limit_are_not_merged(engine, encoded) -> None:
    raw = engine.model.model.model
    gate = Gate(raw)
    decoder = MergedDecoder(gate)
    decoder.limit = 2

    def call(i: int, n: int, beam: int) -> Callable[[], list]:
        return partial(decoder.generate, encoded[i], [PROMPT] * n, **{**OPTIONS, "beam_size": beam})

    # After the first: a beam of 1 (other options), then 2 + 1 windows (over the limit of 2).
    out = in_threads([call(0, 1, 2), call(2, 1, 1), call(1, 2, 2), call(0, 1, 2)],
                     decoder._waiting, gate)  # fmt: skip
    assert sorted(gate.rows[1:]) == [1, 1, 2] and gate.rows[0] == 1
    want = raw.generate(encoded[2], [PROMPT], **{**OPTIONS, "beam_size": 1})
    assert tokens(out[1]) == tokens(want)


def test_with_two_lanes_a_call_runs_while_another_is_in_the_decoder(engine, encoded) -> None:
    raw = engine.model.model.model
    alone = [raw.generate(e, [PROMPT] * n, **OPTIONS) for e, n in zip(encoded, (1, 2))]
    gate = Gate(raw)
    decoder = MergedDecoder(gate, lanes=2)
    decoder.limit = 2
    out: list = [None] * 2

    def go(i: int, n: int) -> None:
        try:
            out[i] = decoder.generate(encoded[i], [PROMPT] * n, **OPTIONS)
        except Exception as exc:  # handed to the test
            out[i] = exc

    first = threading.Thread(target=go, args=(0, 1), daemon=True)
    second = threading.Thread(target=go, args=(1, 2), daemon=True)
    first.start()
    assert gate.entered.wait(30)
    second.start()  # 2 windows: over the limit with the first, so never merged with it
    second.join(30)  # one lane: it would wait for the first, held until released
    assert not second.is_alive() and out[0] is None
    gate.release.set()
    first.join(30)
    assert gate.rows == [1, 2]
    for got, want in zip(out, alone, strict=True):
        assert tokens(got) == tokens(want)


def test_a_lane_opened_later_takes_a_caller_already_waiting(engine, encoded) -> None:
    """Lanes set while a caller waits for one (``set_lanes``): a lane opened then must start
    its call at once, not at the running call's end."""
    gate = Gate(engine.model.model.model)
    decoder = MergedDecoder(gate, lanes=1)
    decoder.limit = 2
    out: list = [None] * 2

    def go(i: int, n: int) -> None:
        out[i] = decoder.generate(encoded[i], [PROMPT] * n, **OPTIONS)

    first = threading.Thread(target=go, args=(0, 1), daemon=True)
    second = threading.Thread(target=go, args=(1, 2), daemon=True)
    first.start()
    assert gate.entered.wait(30)
    second.start()
    second.join(1)
    assert second.is_alive()  # one lane: it waits behind the first
    decoder.set_lanes(2)
    second.join(30)
    assert not second.is_alive() and out[0] is None and len(out[1]) == 2
    gate.release.set()
    first.join(30)
    assert gate.rows == [1, 2] and len(out[0]) == 1


def test_a_cpu_engine_keeps_one_lane_whatever_is_asked(tiny_model: str) -> None:
    # CTranslate2 replicas on a CPU would split its cores between calls instead.
    for asked in (3, 0):  # 0: auto
        engine = WhisperEngine(tiny_model, device="cpu", compute_type="int8", decoder_lanes=asked)
        engine.batch_size(WhisperOptions())  # where auto lanes are picked on a GPU
        assert engine.decoder_lanes == engine.model.model.lanes == 1
        assert engine.model.model.model.num_workers == 1


def test_a_failed_merged_call_fails_every_caller_in_it(engine, encoded) -> None:
    gate = Gate(engine.model.model.model, fail_call=2)
    decoder = MergedDecoder(gate)
    decoder.limit = 8

    def call(i: int, n: int) -> Callable[[], list]:
        return partial(decoder.generate, encoded[i], [PROMPT] * n, **OPTIONS)

    first, second, third = in_threads([call(0, 1), call(1, 2), call(2, 1)], decoder._waiting, gate)
    assert gate.rows == [1, 3]
    assert isinstance(first, list) and len(first) == 1
    for failed in (second, third):
        assert isinstance(failed, RuntimeError) and "out of memory" in str(failed)


def test_files_transcribed_at_once_share_calls_and_keep_their_words(
    engine, conversation_audio
) -> None:
    """Three clips through one engine on three threads, as files in flight run: the two that
    came while the decoder was busy went as one call, and every clip has the words (and
    times) it has alone."""
    clips = [
        conversation_audio[: 16000 * 40],
        conversation_audio[16000 * 20 : 16000 * 75],
        conversation_audio[16000 * 5 : 16000 * 50],
    ]
    options = WhisperOptions(batch_size=8)
    alone = [engine.transcribe(c, options) for c in clips]
    decoder = engine.model.model
    raw = decoder.model
    gate = Gate(raw)
    decoder.model = gate
    try:
        calls = [lambda i=i: engine.transcribe(clips[i], options) for i in range(3)]
        out = in_threads(calls, decoder._waiting, gate)
    finally:
        decoder.model = raw
    generated = [n for kind, n in zip(gate.kinds, gate.rows, strict=True) if kind == "generate"]
    assert len(generated) == 2, gate.kinds  # one call for the first clip, one for the others
    for got, want in zip(out, alone, strict=True):
        assert got.segments and [(w.text, w.start, w.end) for s in got.segments
                                 for w in s.words] == [
            (w.text, w.start, w.end) for s in want.segments for w in s.words
        ]  # fmt: skip


def test_a_dropped_engine_is_freed_at_once(tiny_model: str) -> None:
    """The model cache drops an engine and counts on it being freed then (its GPU memory),
    not at some later garbage collection: the merged decoder must not make a cycle."""
    engine = WhisperEngine(tiny_model, device="cpu", compute_type="int8")
    engine.transcribe(np.zeros(16000 * 2, dtype=np.float32), WhisperOptions(batch_size=4))
    model = weakref.ref(engine.model)
    gc.disable()
    try:
        del engine
        assert model() is None
    finally:
        gc.enable()


def test_a_call_skipped_for_the_limit_stays_queued_with_array_features() -> None:
    """Calls whose features are arrays (``concat_features`` takes them): one skipped for
    the limit stayed ahead of a later one that was merged, and taking that one out of the
    queue compared the two by value, features included, which numpy cannot answer."""

    class Rows:  # the model: one row out per prompt in
        def generate(self, features: Any, prompts: list, **options: Any) -> list:
            return [tuple(p) for p in prompts]

    gate = Gate(Rows())
    decoder = MergedDecoder(gate)
    decoder.limit = 3
    features = [np.full((n, 4, 2), i, np.float32) for i, n in enumerate((1, 2, 2, 1))]

    def call(i: int) -> Callable[[], list]:
        return partial(decoder.generate, features[i], [[i]] * len(features[i]))

    out = in_threads([call(0), call(1), call(2), call(3)], decoder._waiting, gate)
    assert out == [[(0,)], [(1,), (1,)], [(2,), (2,)], [(3,)]]
    assert gate.rows == [1, 3, 2]  # 2 + 1 merged; the 2 skipped for the limit went next


def test_with_lanes_each_caller_runs_only_its_own_calls() -> None:
    """With two lanes, a caller whose call was already running elsewhere used to take the
    next caller's call as well, and came back only when that one ended too: a whole decoder
    call late. Now a caller runs only calls its own call leads (here never merged: the limit
    is one window), so it returns when its own call is done."""
    ran_by: dict[int, int] = {}  # a call's id -> the thread whose model call ran it
    rng = np.random.default_rng(0)
    pauses = iter(rng.uniform(0.005, 0.03, size=200).tolist())
    lock = threading.Lock()

    class Slow:  # the model: each call takes its time, as a decoder call does
        def generate(self, features: Any, prompts: list, **options: Any) -> list:
            with lock:
                pause = next(pauses)
            time.sleep(pause)
            ran_by[int(features[0, 0, 0])] = threading.get_ident()
            return [tuple(p) for p in prompts]

    decoder = MergedDecoder(Slow(), lanes=2)
    decoder.limit = 1
    callers: dict[int, int] = {}  # a call's id -> the thread that made it

    def caller(k: int) -> None:
        for j in range(6):
            cid = k * 10 + j
            callers[cid] = threading.get_ident()
            out = decoder.generate(np.full((1, 4, 2), cid, np.float32), [[cid]])
            assert out == [(cid,)]

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(ran_by) == sorted(callers) and len(callers) == 24
    assert {c: ran_by[c] for c in callers} == callers


@pytest.mark.parametrize("lanes", [1, 2])
def test_word_timing_waits_for_a_lane_only_where_lanes_are_fewer_than_replicas(lanes: int) -> None:
    """Auto lanes load two replicas and may pick one lane (too little memory for two): word
    timing must then wait for the running decoder call, as on a single replica, instead of
    running beside it in memory budgeted for that call alone. With two lanes it need not."""
    inside, release = threading.Event(), threading.Event()
    events: list[str] = []

    class TwoReplicas:  # the model: a decoder call held until released
        num_workers = 2

        def generate(self, features: Any, prompts: list, **options: Any) -> list:
            inside.set()
            assert release.wait(30)
            events.append("generate done")
            return [tuple(p) for p in prompts]

        def align(self, *args: Any, **kwargs: Any) -> list:
            events.append("align")
            return ["aligned"]

    decoder = MergedDecoder(TwoReplicas(), lanes=lanes)
    decoder.limit = 1
    decoding = threading.Thread(
        target=decoder.generate, args=(np.zeros((1, 4, 2), np.float32), [[1]])
    )
    decoding.start()
    assert inside.wait(30)
    aligned: list = []
    aligning = threading.Thread(target=lambda: aligned.append(decoder.align("f", [1], [[2]], [3])))
    aligning.start()
    aligning.join(1.0)  # two lanes: done at once (a second on a loaded machine)
    assert aligning.is_alive() == (lanes == 1)
    release.set()
    decoding.join(30)
    aligning.join(30)
    assert aligned == [["aligned"]]
    assert events == (["generate done", "align"] if lanes == 1 else ["align", "generate done"])
