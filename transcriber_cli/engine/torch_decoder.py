"""Whisper's beam search in torch, reading each window's audio keys and values once a step.

CTranslate2's beam search copies the encoder output for every beam before its first step
(``replicate_state``), so each step of a beam-5 call reads the cross-attention keys and values
five times: for large-v3 246 MB a window and a beam, 39 GB a step for 32 windows. That read is
what the large-v3 hour's decoding waits on (bench/production.md: 64 windows of 101 tokens in
2.5 s on an H100, 23.5 ms a step, where 79 GB a step at 3.35 TB/s is 23.6 ms). The beams of
one window attend to the same audio, so here they are the queries of one attention call on
one copy of it: a fifth of those bytes.

The search is CTranslate2's (``src/decoding.cc`` ``BeamSearch::search``, ``whisper.cc``
``generate``, 4.8), step for step: the prompt run once, ``2 * beam`` candidates a step, a
hypothesis for each end-of-text among the first ``beam`` candidates (its place taken by the
next candidate that is not one), a window done at ``round(beam * patience)`` hypotheses (or at
the first beam's end without a length penalty), the score divided by ``length **
length_penalty``, the suppressed tokens and the first step's, the no-speech probability at the
start-of-transcript position, ``max_length // 2`` steps at most. What it does not do (greedy
search, sampling, timestamps, a prefix, repetition penalties, several hypotheses) raises
``Unsupported`` before any work, and the caller runs CTranslate2's own search.

Alignment (word timing) and language detection stay CTranslate2's. This module imports torch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from transcriber_cli.engine.ct2_weights import read_weights
from transcriber_cli.engine.torch_encoder import LAYER_NORM_EPS

log = logging.getLogger(__name__)

DECODER = "decoder/"
_GELU = 3  # CTranslate2's Activation.GELU (specs/common_spec.py)
# What generate() takes besides the features and prompts: CTranslate2's Whisper.generate
# arguments, with the values this search supports (None: any value).
_SUPPORTED: dict[str, Any] = {
    "beam_size": None,
    "patience": None,
    "length_penalty": None,
    "max_length": None,
    "suppress_blank": None,
    "suppress_tokens": None,
    "return_scores": None,
    "return_no_speech_prob": None,
    "num_hypotheses": 1,
    "repetition_penalty": 1,
    "no_repeat_ngram_size": 0,
    "sampling_topk": 1,
    "return_logits_vocab": False,
    "max_initial_timestamp_index": None,  # only used with timestamps, which fall back
}


# A layer's weights in the order _forward takes them.
_LAYER_PARTS = tuple(
    f"{part}/{name}"
    for part, names in (
        ("self_attention", ("layer_norm/gamma", "layer_norm/beta", "linear_0/weight",
                            "linear_0/bias", "linear_1/weight", "linear_1/bias")),
        ("attention", ("layer_norm/gamma", "layer_norm/beta", "linear_0/weight",
                       "linear_0/bias", "linear_2/weight", "linear_2/bias")),
        ("ffn", ("layer_norm/gamma", "layer_norm/beta", "linear_0/weight", "linear_0/bias",
                 "linear_1/weight", "linear_1/bias")),
    )
    for name in names
)  # fmt: skip


class Unsupported(ValueError):
    """A call this search does not do as CTranslate2 would: run CTranslate2's."""


@dataclass
class GenerationResult:
    """What faster-whisper reads of CTranslate2's ``WhisperGenerationResult``."""

    sequences_ids: list[list[int]]
    scores: list[float] = field(default_factory=list)
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class SpecialTokens:
    sot: int
    eot: int
    no_timestamps: int
    no_speech: int

    @classmethod
    def of(cls, model_dir: str | Path) -> SpecialTokens:
        """From the model's vocabulary (``vocabulary.json`` or ``.txt``, one token a line),
        as CTranslate2's Whisper model finds them."""
        folder = Path(model_dir)
        if (folder / "vocabulary.json").is_file():
            tokens = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        else:
            text = (folder / "vocabulary.txt").read_text(encoding="utf-8")
            tokens = text.split("\n")
        ids = {token: i for i, token in enumerate(tokens)}
        no_speech = ids.get("<|nospeech|>", ids.get("<|nocaptions|>"))
        try:
            sot, eot = ids["<|startoftranscript|>"], ids["<|endoftext|>"]
            no_timestamps = ids["<|notimestamps|>"]
        except KeyError as exc:
            raise ValueError(f"the vocabulary has no {exc.args[0]}") from None
        if no_speech is None:
            raise ValueError("the vocabulary has no <|nospeech|> or <|nocaptions|>")
        return cls(sot, eot, no_timestamps, no_speech)


class WhisperTorchDecoder:
    """CTranslate2's ``layers::TransformerDecoder`` for Whisper (pre-norm, GELU, learned
    positions, the projection tied to the embeddings) and its beam search, in torch."""

    def __init__(self, weights: Mapping[str, np.ndarray], *, tokens: SpecialTokens,
                 suppress_ids: Sequence[int], suppress_ids_begin: Sequence[int],
                 device: Any = "cpu", dtype: torch.dtype = torch.float32) -> None:  # fmt: skip
        def scalar(name: str) -> int:
            if DECODER + name not in weights:
                raise ValueError(f"no {DECODER}{name} in the model file")
            return int(np.asarray(weights[DECODER + name]).reshape(-1)[0])

        if scalar("pre_norm") != 1 or scalar("activation") != _GELU or scalar("alibi"):
            raise ValueError("the decoder is not Whisper's (pre-norm, GELU, learned positions)")
        if scalar("scale_embeddings"):
            raise ValueError("the decoder scales its embeddings")
        self.heads = scalar("num_heads")
        self.tokens = tokens
        self.suppress_ids = [int(i) for i in suppress_ids]
        self.suppress_ids_begin = [int(i) for i in suppress_ids_begin]
        self.dtype = dtype
        self.device = torch.device(device)
        self.layers = sum(1 for n in weights if n.endswith("/self_attention/linear_0/weight"))
        names = ["embeddings/weight", "position_encodings/encodings", "layer_norm/gamma",
                 "layer_norm/beta"]  # fmt: skip
        for i in range(self.layers):
            for part, linears in (("self_attention", 2), ("attention", 3), ("ffn", 2)):
                names += [f"layer_{i}/{part}/layer_norm/{p}" for p in ("gamma", "beta")]
                names += [f"layer_{i}/{part}/linear_{j}/{p}" for j in range(linears)
                          for p in ("weight", "bias")]  # fmt: skip
        missing = [n for n in names if DECODER + n not in weights]
        if missing or not self.layers:
            raise ValueError(
                f"decoder layout not understood: no {', '.join(missing[:3]) or 'layers'}"
            )
        self._w: dict[str, torch.Tensor] = {}
        for name in names:  # one at a time on its way to the device (read_weights is lazy)
            self._w[name] = torch.from_numpy(weights[DECODER + name]).to(self.device, dtype)
        self.projection = self._w["embeddings/weight"]
        projection = DECODER + "projection/weight"
        if projection in weights:
            stored = weights[projection]
            embeddings = weights[DECODER + "embeddings/weight"]
            if not (np.may_share_memory(stored, embeddings) or np.array_equal(stored, embeddings)):
                self.projection = torch.from_numpy(stored).to(self.device, dtype)
        bias = DECODER + "projection/bias"
        self.projection_bias = (
            torch.from_numpy(weights[bias]).to(self.device, dtype) if bias in weights else None
        )
        self.vocabulary, self.width = self.projection.shape
        if self.width % self.heads:
            raise ValueError(f"{self.width} channels do not split into {self.heads} heads")
        self.head_dim = self.width // self.heads
        self.positions = int(self._w["position_encodings/encodings"].shape[0])
        # CUDA streams free for a call: one per call at a time (decoder lanes run side by
        # side), reused, since torch's allocator keeps a freed block for its stream alone.
        self._streams: list[Any] = []
        self._streams_lock = threading.Lock()
        if self.device.type == "cuda":  # the weights' copies, made on this thread's stream
            torch.cuda.synchronize(self.device)
        self._by_layer = [
            tuple(self._w[f"layer_{i}/{part}"] for part in _LAYER_PARTS) for i in range(self.layers)
        ]

    @classmethod
    def load(cls, model_dir: str | Path, *, device: Any, dtype: torch.dtype) -> WhisperTorchDecoder:
        config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
        return cls(
            read_weights(model_dir, DECODER),
            tokens=SpecialTokens.of(model_dir),
            suppress_ids=config.get("suppress_ids") or [],
            suppress_ids_begin=config.get("suppress_ids_begin") or [],
            device=device,
            dtype=dtype,
        )

    # -- the network -------------------------------------------------------------------

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.width,), self._w[name + "/gamma"], self._w[name + "/beta"],
                            LAYER_NORM_EPS)  # fmt: skip

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self._w[name + "/weight"], self._w[name + "/bias"])

    def _memory(self, audio: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each layer's cross-attention keys and values, ``[windows, heads, frames, dim]``."""
        windows, frames, _ = audio.shape
        out = []
        for i in range(self.layers):
            kv = self._linear(audio, f"layer_{i}/attention/linear_1")
            kv = kv.view(windows, frames, 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            out.append((kv[0].contiguous(), kv[1].contiguous()))
        return out

    def _forward(self, ids: torch.Tensor, position: int, cache: _Cache,
                 memory: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:  # fmt: skip
        """Hidden states ``[rows, steps, width]`` for ``ids`` ``[rows, steps]`` at
        ``position``; the rows are the windows' beams in order (``rows`` a multiple of the
        windows in ``memory``); each layer's self-attention keys and values go into
        ``cache`` at ``position``."""
        rows, steps = ids.shape
        windows = memory[0][0].shape[0]
        beams = rows // windows
        heads, dim = self.heads, self.head_dim
        end = position + steps
        if end > self.positions:
            raise ValueError(f"position {end} is past the model's {self.positions}")
        cache.reserve(end)
        x = F.embedding(ids, self._w["embeddings/weight"])
        x = x + self._w["position_encodings/encodings"][position:end]
        width, causal = self.width, position == 0 and steps > 1
        norm, linear, attend = F.layer_norm, F.linear, F.scaled_dot_product_attention
        # About 20 torch calls a layer and step: their Python overhead is most of a step's
        # time on a fast GPU, so the weights are looked up once (``_by_layer``).
        for i, w in enumerate(self._by_layer):
            h = norm(x, (width,), w[0], w[1], LAYER_NORM_EPS)
            qkv = linear(h, w[2], w[3]).view(rows, steps, 3, heads, dim)
            k, v = cache.write(i, position, qkv[:, :, 1], qkv[:, :, 2])
            a = attend(qkv[:, :, 0].transpose(1, 2), k, v, is_causal=causal)
            x = x + linear(a.transpose(1, 2).reshape(rows, steps, width), w[4], w[5])
            h = norm(x, (width,), w[6], w[7], LAYER_NORM_EPS)
            # A window's beams (and steps) are the queries of one call on its one copy of
            # the audio's keys and values.
            q = linear(h, w[8], w[9]).view(windows, beams * steps, heads, dim).transpose(1, 2)
            a = attend(q, *memory[i])
            x = x + linear(a.transpose(1, 2).reshape(rows, steps, width), w[10], w[11])
            h = norm(x, (width,), w[12], w[13], LAYER_NORM_EPS)
            x = x + linear(F.gelu(linear(h, w[14], w[15])), w[16], w[17])
        return self._norm(x, "layer_norm")

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, self.projection, self.projection_bias)

    # -- the search --------------------------------------------------------------------

    def _audio(self, features: Any) -> torch.Tensor:
        """The encoder output (a StorageView, tensor or array) as a tensor on the device."""
        if isinstance(features, torch.Tensor):
            audio = features
        elif getattr(features, "device", "cpu") == "cuda":
            audio = torch.as_tensor(features, device=self.device)
        else:
            audio = torch.from_numpy(np.asarray(features))
        return audio.to(self.device, self.dtype)

    def _prompt(self, prompts: Sequence[Sequence[int]]) -> tuple[int, int]:
        """The start-of-transcript index and the prompt length, as CTranslate2 checks them."""
        sot, no_timestamps = self.tokens.sot, self.tokens.no_timestamps
        found = set()
        for prompt in prompts:
            if sot not in prompt:
                raise ValueError("<|startoftranscript|> token was not found in the prompt")
            index = start = list(prompt).index(sot)
            while index < len(prompt) and sot <= prompt[index] <= no_timestamps:
                index += 1
            found.add((start, index, len(prompt)))
        if len(found) != 1:
            raise Unsupported("prompts of several layouts")
        start, length, total = found.pop()
        if total != length:
            raise Unsupported("a prefix after the task tokens")
        if prompts[0][length - 1] != no_timestamps:  # also a prompt of <|startoftranscript|> alone
            raise Unsupported("timestamps")
        return start, length

    @contextlib.contextmanager
    def _stream(self) -> Iterator[None]:
        """The call on a stream of its own, after what the caller's stream queued (the
        encoder output handed over, a tensor made there)."""
        if self.device.type != "cuda":
            yield
            return
        with self._streams_lock:
            stream = self._streams.pop() if self._streams else torch.cuda.Stream(self.device)
        try:
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream):
                yield
        finally:
            with self._streams_lock:
                self._streams.append(stream)

    def generate(self, features: Any, prompts: Sequence[Sequence[int]],
                 **options: Any) -> list[GenerationResult]:  # fmt: skip
        """CTranslate2's ``Whisper.generate`` for the options in ``_SUPPORTED`` with a beam
        of 2 or more; ``Unsupported`` for the rest, before any work."""
        for name, value in options.items():
            if name == "sampling_temperature":
                continue  # unused by a beam search: CTranslate2's sampler is its best-of-k
            if name not in _SUPPORTED:
                raise Unsupported(f"option {name}")
            wanted = _SUPPORTED[name]
            if wanted is not None and value != wanted:
                raise Unsupported(f"{name}={value!r}")
        beam = int(options.get("beam_size", 5))
        if beam < 2:
            raise Unsupported("greedy search")
        # CTranslate2 refuses these with its own error: let it say so.
        if float(options.get("patience", 1)) <= 0 or _most(beam, options) < 1:
            raise Unsupported("patience")
        if not prompts:
            return []
        sot_index, prompt_length = self._prompt(prompts)
        total = int(options.get("max_length", 448))
        if min(total // 2, total - (prompt_length - 1)) < 1:
            raise Unsupported("max_length")
        with torch.inference_mode(), self._stream():
            return self._search(features, prompts, sot_index, prompt_length, beam, options)

    def _search(self, features: Any, prompts: Sequence[Sequence[int]], sot_index: int,
                prompt_length: int, beam: int,
                options: dict[str, Any]) -> list[GenerationResult]:  # fmt: skip
        call = _Call.of(self, beam, options)
        device = self.device
        audio = self._audio(features)
        windows = len(prompts)
        if audio.shape[0] != windows:
            raise ValueError(f"{audio.shape[0]} encoder outputs for {windows} prompts")
        memory = self._memory(audio)
        del audio
        start_step = prompt_length - 1
        max_length = call.steps(start_step)
        cache = _Cache(self, windows, start_step + max_length)
        # The prompt but its last token (<|notimestamps|>: _prompt() checked), in one pass.
        ids = torch.tensor([list(p[:start_step]) for p in prompts], device=device)
        hidden = self._forward(ids, 0, cache, memory)
        search = _Hypotheses(call, windows, self.no_speech(hidden[:, sot_index], call))
        live = np.arange(windows)  # the original index of each window still searched
        ids = torch.tensor([[p[start_step]] for p in prompts], device=device)
        scores: torch.Tensor | None = None  # [window * beam], after the first step
        rows_per_window = 1  # the first step runs on one row a window, then on the beams

        for step in range(max_length):
            hidden = self._forward(ids, start_step + step, cache, memory)
            logits = self._logits(hidden[:, -1])
            logits.index_fill_(1, call.begin_ids if step == 0 else call.suppress_ids, call.lowest)
            log_probs = torch.log_softmax(logits, -1)
            if scores is not None:
                log_probs += scores.unsqueeze(1)
            top_scores, top_ids = log_probs.view(len(live), -1).topk(call.candidates, dim=1)
            origin, word, active, finished = search.take(
                step, step + 1 == max_length, top_scores, top_ids, live
            )
            keep = np.flatnonzero(~finished)
            if not len(keep):
                break
            chosen = keep[:, None] * call.candidates + active[keep]  # into the flat candidates
            flat_chosen = torch.from_numpy(chosen.reshape(-1)).to(device)
            scores = top_scores.reshape(-1).index_select(0, flat_chosen)
            parents = keep[:, None] * rows_per_window + origin[keep[:, None], active[keep]]
            reorder = torch.from_numpy(parents.reshape(-1)).to(device)
            cache.reorder(reorder, start_step + step + 1)
            if len(keep) != len(live):  # a layer at a time: one layer's old copy held, not all
                kept = torch.from_numpy(keep).to(device)
                for layer, (keys, values) in enumerate(memory):
                    memory[layer] = (keys.index_select(0, kept), values.index_select(0, kept))
            search.keep(keep, active)
            live, rows_per_window = live[keep], beam
            ids = torch.from_numpy(word[keep[:, None], active[keep]].reshape(-1, 1)).to(device)
        return search.results()

    def no_speech(self, hidden: torch.Tensor, call: _Call) -> np.ndarray:
        """Each window's no-speech probability from its hidden state at the start-of-transcript
        position (before any suppression), or zeros where it was not asked for."""
        if not call.want_no_speech:
            return np.zeros(len(hidden), dtype=np.float32)
        probs = torch.softmax(self._logits(hidden), -1)
        return probs[:, self.tokens.no_speech].float().cpu().numpy()


@dataclass(frozen=True)
class _Call:
    """A call's options as the search uses them (CTranslate2's DecodingOptions)."""

    beam: int
    candidates: int  # 2 * beam a step: finished ones are replaced from the second half
    most: int  # hypotheses a window ends with (with a length penalty)
    length_penalty: float
    total_length: int  # max_length as given: the prompt included
    want_no_speech: bool
    keep_scores: bool
    eot: int
    vocabulary: int
    lowest: float  # what a suppressed token's logit becomes (CTranslate2's float lowest())
    suppress_ids: torch.Tensor  # every step
    begin_ids: torch.Tensor  # the first step: also the blank and end-of-text

    @classmethod
    def of(cls, decoder: WhisperTorchDecoder, beam: int, options: Mapping[str, Any]) -> _Call:
        suppress: list[int] = []
        for token in options.get("suppress_tokens", [-1]):
            suppress += decoder.suppress_ids if token == -1 else [token] if token >= 0 else []
        begin = decoder.suppress_ids_begin if options.get("suppress_blank", True) else []
        float32 = decoder.dtype == torch.float32
        return cls(
            beam=beam,
            candidates=2 * beam,
            most=_most(beam, options),
            length_penalty=float(options.get("length_penalty", 1)),
            total_length=int(options.get("max_length", 448)),
            want_no_speech=bool(options.get("return_no_speech_prob", False)),
            keep_scores=bool(options.get("return_scores", False)),
            eot=decoder.tokens.eot,
            vocabulary=decoder.vocabulary,
            lowest=float(np.finfo(np.float32).min) if float32 else float("-inf"),
            suppress_ids=torch.tensor(
                sorted(set(suppress)), dtype=torch.long, device=decoder.device
            ),
            begin_ids=torch.tensor(
                sorted(set(begin + suppress)), dtype=torch.long, device=decoder.device
            ),
        )

    def steps(self, start_step: int) -> int:
        """Steps at most: CTranslate2's ``min(max_length / 2, max_length - start_step)``."""
        return min(self.total_length // 2, self.total_length - start_step)


class _Hypotheses:
    """The host's side of a search, CTranslate2's loop over each step's candidates: every
    window's tokens so far, the hypotheses it ended, and its result once done."""

    def __init__(self, call: _Call, windows: int, no_speech: np.ndarray, rows: int = 1) -> None:
        self.call = call
        self.no_speech = no_speech
        self.found: list[list[tuple[float, list[int]]]] = [[] for _ in range(windows)]
        self.done: list[GenerationResult | None] = [None] * windows
        self.top_finished = np.zeros(windows, dtype=bool)
        self.alive = np.zeros((windows, rows, 0), dtype=np.int64)  # [window, row, tokens]
        self.grown = self.alive

    def take(self, step: int, last: bool, top_scores: torch.Tensor, top_ids: torch.Tensor,
             live: np.ndarray, skip: np.ndarray | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """A step's candidates (``[windows searched, candidates]``, on the device) for the
        windows ``live`` (their original indices), but those ``skip`` marks: the end-of-text
        among each window's first ``beam`` become hypotheses, the next candidate still going
        taking each one's place; windows with enough hypotheses, or at the last step, are
        done. Each candidate's row of origin and token, the candidate each beam goes on with
        (``[windows, beam]``), and which windows are done now."""
        call, beam = self.call, self.call.beam
        # One copy to the CPU a step (the ids are below 2**24: exact in float32).
        packed = torch.stack([top_scores.float(), top_ids.float()]).cpu().numpy()
        host_scores, flat = packed[0], packed[1].astype(np.int64)
        origin, word = flat // call.vocabulary, flat % call.vocabulary
        count = len(live)
        self.grown = np.concatenate(
            [self.alive[np.arange(count)[:, None], origin], word[..., None]], axis=2
        )  # [window, candidate, tokens]
        active = np.tile(np.arange(beam), (count, 1))
        finished = np.zeros(count, dtype=bool)
        ended = (word[:, :beam] == call.eot).any(1) | last
        if skip is not None:
            ended &= ~skip
        for i in np.flatnonzero(ended):
            window = live[i]
            found = self.found[window]
            spare = beam
            for k in range(beam):
                is_eot = word[i, k] == call.eot
                if not (is_eot or last):
                    continue
                if k == 0:
                    self.top_finished[window] = True
                end = step if is_eot else step + 1
                found.append((float(host_scores[i, k]), self.grown[i, k, :end].tolist()))
                for j in range(spare, call.candidates):  # the next candidate still going
                    if word[i, j] != call.eot:
                        active[i, k], spare = j, j + 1
                        break
            if last:
                finished[i] = True
            elif call.length_penalty == 0:
                finished[i] = bool(self.top_finished[window]) and len(found) >= 1
            else:
                finished[i] = len(found) >= call.most
            if finished[i]:
                self.done[window] = _finish(found, call.length_penalty, self.no_speech[window],
                                            call.keep_scores)  # fmt: skip
        return origin, word, active, finished

    def keep(self, windows: np.ndarray, active: np.ndarray) -> None:
        """The tokens so far of ``windows`` (indices into the last step's), each beam's those
        of the candidate it goes on with."""
        self.alive = self.grown[windows[:, None], active[windows]]

    def results(self) -> list[GenerationResult]:
        assert all(d is not None for d in self.done)
        return self.done  # type: ignore[return-value]


class _Cache:
    """Every layer's self-attention keys and values in one tensor, time first: ``[steps,
    layers, 2, rows, heads, dim]``. The steps so far are then one contiguous block, which
    one ``index_select`` a step reorders for all layers (beams that took another beam's
    place), into a second buffer that is swapped in. Tensors that grew by a step every step
    left torch's allocator a new size to find each time: on an H100 that made a large-v3
    call of 32 windows three times slower than CTranslate2's, and ran the GPU out of memory.
    Room grows by doubling, from 64 steps, up to the call's ``most`` steps."""

    def __init__(self, decoder: WhisperTorchDecoder, rows: int, most: int) -> None:
        self.shape = (decoder.layers, 2, rows, decoder.heads, decoder.head_dim)
        self.dtype, self.device = decoder.dtype, decoder.device
        self.most = max(1, most)
        room = min(64, self.most)
        self.buffer = torch.empty((room, *self.shape), dtype=self.dtype, device=self.device)
        self.spare: torch.Tensor | None = None

    def reserve(self, steps: int) -> None:
        room = len(self.buffer)
        if steps <= room:
            return
        while room < steps:
            room *= 2
        room = max(steps, min(room, self.most))
        self.spare = None  # freed before the larger buffer is made: two buffers at most
        grown = torch.empty((room, *self.shape), dtype=self.dtype, device=self.device)
        grown[: len(self.buffer)] = self.buffer
        self.buffer = grown

    def write(self, layer: int, position: int, k: torch.Tensor,
              v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """``k`` and ``v`` ``[rows, steps, heads, dim]`` at ``position``; the layer's keys
        and values up to them, ``[rows, heads, steps so far, dim]``."""
        end = position + k.shape[1]
        self.buffer[position:end, layer, 0] = k.transpose(0, 1)
        self.buffer[position:end, layer, 1] = v.transpose(0, 1)
        keys, values = self.buffer[:end, layer].unbind(1)
        return keys.permute(1, 2, 0, 3), values.permute(1, 2, 0, 3)

    def reorder(self, rows: torch.Tensor, steps: int) -> None:
        """Row ``i`` from now on is row ``rows[i]`` before, for the first ``steps``."""
        shape = (self.shape[0], self.shape[1], len(rows), *self.shape[3:])
        if self.spare is None or self.spare.shape[1:] != shape:
            self.spare = None  # freed before its replacement is made
            self.spare = torch.empty((len(self.buffer), *shape), dtype=self.dtype,
                                     device=self.device)  # fmt: skip
        torch.index_select(self.buffer[:steps], 3, rows, out=self.spare[:steps])
        if shape != self.shape:  # windows done, or the first step's rows become beams
            self.shape, self.buffer, self.spare = shape, self.spare, None
        else:
            self.buffer, self.spare = self.spare, self.buffer


def _most(beam: int, options: Mapping[str, Any]) -> int:
    """Hypotheses a window ends with: CTranslate2's ``std::round(float(beam) * patience)``
    (float32, halves up; Python's round() takes halves to even: beam 3, patience 1.5 is 5
    there, 4 here)."""
    product = float(np.float32(beam) * np.float32(float(options.get("patience", 1))))
    return math.floor(product + 0.5)  # patience > 0: generate() refused the rest


def _finish(found: list[tuple[float, list[int]]], length_penalty: float, no_speech: float,
            keep_scores: bool) -> GenerationResult:  # fmt: skip
    """The best hypothesis, its score divided by its length to the penalty (finalize_result)."""
    scored = []
    for score, tokens in found:
        length = float(len(tokens))
        with np.errstate(divide="ignore"):
            scored.append((score / np.power(length, length_penalty) if length else
                           (-np.inf if length_penalty else score), tokens))  # fmt: skip
    best = max(scored, key=lambda pair: pair[0])  # the first of equals, as a stable sort
    return GenerationResult([best[1]], [float(best[0])] if keep_scores else [], float(no_speech))


def decoder_dtype(device: str, compute_type: str) -> torch.dtype:
    """The type the decoder runs in: the encoder's (``encoder_dtype``), which follows the
    type CTranslate2 computes activations in for ``compute_type``. An int8 compute type is
    refused: its weights would be held a second time, dequantized, and the search would not
    be the int8 one the user chose."""
    from transcriber_cli.engine.torch_encoder import encoder_dtype

    if "int8" in compute_type:
        raise ValueError(f"compute type {compute_type}: the torch search runs float types only")
    return getattr(torch, encoder_dtype(device, compute_type))


def build_on(model_dir: str | Path, *, device: str, device_index: int = 0,
             compute_type: str = "float32") -> WhisperTorchDecoder:  # fmt: skip
    """The decoder on ``device`` ("cuda": GPU ``device_index``); raises what stops it."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("torch cannot use CUDA")
    where = torch.device(f"cuda:{device_index}" if device == "cuda" else "cpu")
    return WhisperTorchDecoder.load(model_dir, device=where,
                                    dtype=decoder_dtype(device, compute_type))  # fmt: skip


class TorchSearch:
    """Stands in for a CTranslate2 ``Whisper`` model: ``generate`` runs the torch beam
    search, or CTranslate2's for a call it does not do; everything else is the model's."""

    def __init__(self, model: Any, decoder: WhisperTorchDecoder) -> None:
        self.model = model
        self.decoder = decoder
        self.calls = {"torch": 0, "ctranslate2": 0}  # which search ran each call
        self._counting = threading.Lock()

    def generate(self, features: Any, prompts: Any, **options: Any) -> list:
        try:
            results = self.decoder.generate(features, prompts, **options)
            ran = "torch"
        except Unsupported as exc:
            log.debug("beam search: CTranslate2's for this call (%s)", exc)
            results = self.model.generate(features, prompts, **options)
            ran = "ctranslate2"
        with self._counting:
            self.calls[ran] += 1
        return results

    def __getattr__(self, name: str) -> Any:  # only for what this class does not define
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.model, name)


def install_torch_decoder(ct2_model: Any, model_dir: str | Path, *, device: str,
                          device_index: int = 0, compute_type: str = "float32",
                          built: Callable[[], WhisperTorchDecoder | None] | None = None,
                          ) -> TorchSearch | None:  # fmt: skip
    """``ct2_model`` (CTranslate2's Whisper) with the torch beam search, once a two-step
    search on silence ran through it; None (CTranslate2's search stays, with a warning) for
    whatever stops it: no torch CUDA, a file this cannot read, kernels that do not run.
    ``built`` returns (or raises) a decoder built meanwhile; one of another dtype is built
    again."""
    search = None
    try:
        dtype = decoder_dtype(device, compute_type)
        decoder = built() if built is not None else None
        if decoder is not None and decoder.dtype != dtype:
            decoder = None  # its memory back before the next is built
        if decoder is None:
            decoder = build_on(model_dir, device=device, device_index=device_index,
                               compute_type=compute_type)  # fmt: skip
        tokens = decoder.tokens
        silence = torch.zeros((1, 1500, decoder.width), dtype=decoder.dtype, device=decoder.device)
        decoder.generate(silence, [[tokens.sot, tokens.no_timestamps]], beam_size=2,
                         max_length=4, return_scores=True,
                         return_no_speech_prob=True)  # fmt: skip
        search = TorchSearch(ct2_model, decoder)
        if decoder.device.type == "cuda":
            # cuDNN's attention builds a graph for each new shape, and every step of a search
            # has a new key length: 0.7 ms of CPU a call, 45 ms a step of a large-v3 call of
            # 64 windows on an H100 (bench/production.md). Flash attention has no such cost.
            # Process-wide (torch's sdpa_kernel() is not per thread either), for the rest of
            # the process: the torch encoder's attention runs flash attention too.
            torch.backends.cuda.enable_cudnn_sdp(False)
    except Exception as exc:  # whatever it is, CTranslate2's search still works
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("Whisper decoder: CTranslate2's (the torch decoder cannot run: %s)", reason)
    if search is None:
        # Outside the except block, whose traceback still holds a half-built decoder.
        decoder = None  # type: ignore[assignment]
        from transcriber_cli.engine.device import release_torch_cache

        release_torch_cache()
        return None
    where, kind = search.decoder.device, str(search.decoder.dtype).removeprefix("torch.")
    log.info("Whisper decoder: torch (%s, %s)", where, kind)
    return search
