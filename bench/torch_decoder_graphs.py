"""A prototype, not the package's: the torch beam search (transcriber_cli/engine/torch_decoder.py)
with each step replayed from a CUDA graph, to see what it costs once PyTorch's per-call CPU work
is gone (bench/production.md, 2026-12-06, fourth: 17-24 ms a step of 32 layers on the CPU).

A graph needs the same shapes and addresses every replay, so here, unlike the package's search:
every window keeps its rows to the end of the call (a finished window's rows go on being
computed and are ignored); the self-attention cache holds the call's whole length from the
start, ``[layers, 2, rows, heads, steps, dim]``, attended under a mask of the steps so far;
and the beams' reorder goes from one such buffer into a second, so two graphs are captured per
call, one for each direction, after the first step ran eagerly (its own suppressed tokens).
The prompt's pass runs eagerly too, through the package's ``_forward``; the bookkeeping of
each step's candidates is the package's (``_Hypotheses``). On a CPU (the dry run) the same
step runs eagerly, so its tokens can be checked against CTranslate2's there.

    python bench/torch_decoder.py --device cpu --windows 4 --batches 4 --graphs ...
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from transcriber_cli.engine.torch_decoder import (
    GenerationResult,
    WhisperTorchDecoder,
    _Call,
    _Hypotheses,
)
from transcriber_cli.engine.torch_encoder import LAYER_NORM_EPS

_CAPTURE = threading.Lock()


class GraphedTorchDecoder(WhisperTorchDecoder):
    graphs = True  # False: the same static step, run eagerly (a CPU always)
    capture_error = ""

    def _step(self, ids: torch.Tensor, position: torch.Tensor, cache: torch.Tensor,
              memory: list[tuple[torch.Tensor, torch.Tensor]],
              mask: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """One token a row at ``position`` (a one-element tensor): its keys and values go into
        ``cache`` there, attention sees the steps ``mask`` leaves; the last hidden states."""
        rows = ids.shape[0]
        windows = memory[0][0].shape[0]
        beams = rows // windows
        heads, dim, width = self.heads, self.head_dim, self.width
        x = F.embedding(ids, self._w["embeddings/weight"])  # [rows, 1, width]
        x = x + self._w["position_encodings/encodings"].index_select(0, position)
        for i, w in enumerate(self._by_layer):
            h = F.layer_norm(x, (width,), w[0], w[1], LAYER_NORM_EPS)
            qkv = F.linear(h, w[2], w[3]).view(rows, 1, 3, heads, dim).permute(2, 0, 3, 1, 4)
            keys, values = cache[i, 0], cache[i, 1]  # [rows, heads, steps, dim]
            keys.index_copy_(2, position, qkv[1])
            values.index_copy_(2, position, qkv[2])
            a = F.scaled_dot_product_attention(qkv[0], keys, values, attn_mask=mask)
            x = x + F.linear(a.transpose(1, 2).reshape(rows, 1, width), w[4], w[5])
            h = F.layer_norm(x, (width,), w[6], w[7], LAYER_NORM_EPS)
            q = F.linear(h, w[8], w[9]).view(windows, beams, heads, dim).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, *memory[i])
            x = x + F.linear(a.transpose(1, 2).reshape(rows, 1, width), w[10], w[11])
            h = F.layer_norm(x, (width,), w[12], w[13], LAYER_NORM_EPS)
            x = x + F.linear(F.gelu(F.linear(h, w[14], w[15])), w[16], w[17])
        return self._norm(x, "layer_norm")

    def _search(self, features: Any, prompts: Sequence[Sequence[int]], sot_index: int,
                prompt_length: int, beam: int,
                options: dict[str, Any]) -> list[GenerationResult]:  # fmt: skip
        call = _Call.of(self, beam, options)
        device, dtype = self.device, self.dtype
        windows = len(prompts)
        memory = self._memory(self._audio(features))
        rows = windows * beam
        start_step = prompt_length - 1
        max_length = call.steps(start_step)
        steps = math.ceil((start_step + max_length) / 8) * 8  # the mask's rows aligned
        shape = (self.layers, 2, rows, self.heads, steps, self.head_dim)
        buffers = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(2)]

        # The prompt's pass, eagerly, on every row (a window's beams start alike).
        prompt = torch.tensor([list(p[:start_step]) for p in prompts], device=device)
        hidden = self._forward(prompt.repeat_interleave(beam, 0), 0, _Whole(buffers[0]), memory)
        search = _Hypotheses(call, windows, self.no_speech(hidden[::beam, sot_index], call), beam)

        # The graphs' inputs: their addresses are what a replay reads.
        ids = torch.tensor([p[start_step] for p in prompts], device=device)
        ids = ids.repeat_interleave(beam).view(rows, 1)
        position = torch.tensor([start_step], device=device)
        reorder = torch.arange(rows, device=device)
        first = torch.full((windows, beam), call.lowest, dtype=dtype, device=device)
        first[:, 0] = 0
        scores = first.view(-1).clone()
        arange = torch.arange(steps, device=device)

        def step(source: torch.Tensor, target: torch.Tensor, ban: torch.Tensor):
            torch.index_select(source, 2, reorder, out=target)
            mask = torch.zeros(steps, dtype=dtype, device=device)
            mask = mask.masked_fill(arange > position, float("-inf")).view(1, 1, 1, steps)
            hidden = self._step(ids, position, target, memory, mask)
            logits = self._logits(hidden[:, -1])
            logits.index_fill_(1, ban, call.lowest)
            log_probs = torch.log_softmax(logits, -1) + scores.unsqueeze(1)
            return log_probs.view(windows, -1).topk(call.candidates, dim=1)

        graphs: dict[int, tuple[Any, tuple[torch.Tensor, torch.Tensor]]] = {}

        def run(k: int) -> tuple[torch.Tensor, torch.Tensor]:
            source, target = buffers[k % 2], buffers[(k + 1) % 2]
            if k == 0 or not (self.graphs and device.type == "cuda"):
                return step(source, target, call.begin_ids if k == 0 else call.suppress_ids)
            parity = k % 2
            if parity not in graphs:
                graph = torch.cuda.CUDAGraph()
                try:
                    # On this call's own stream, one capture at a time: torch.cuda.graph()
                    # captures every thread on one shared stream and first synchronizes the
                    # device and empties the allocator's cache, which breaks a capture
                    # another thread has begun (two at a time failed so, 2026-12-06).
                    with _CAPTURE:
                        graph.capture_begin(capture_error_mode="thread_local")
                        try:
                            out = step(source, target, call.suppress_ids)
                        finally:
                            graph.capture_end()
                except Exception as exc:  # the prototype's answer: said, then eager
                    self.capture_error = f"{type(exc).__name__}: {exc}"[:300]
                    print(f"graph capture failed, eager: {self.capture_error}", flush=True)
                    self.graphs = False
                    return step(source, target, call.suppress_ids)
                graphs[parity] = (graph, out)
            graph, out = graphs[parity]
            graph.replay()
            return out

        every = np.arange(windows)
        finished = np.zeros(windows, dtype=bool)
        for k in range(max_length):
            top_scores, top_ids = run(k)
            origin, word, active, now = search.take(
                k, k + 1 == max_length, top_scores, top_ids, every, skip=finished
            )
            finished |= now
            if finished.all():
                break
            # Every window keeps its rows: a finished one's go on, ignored.
            chosen = every[:, None] * call.candidates + active
            chosen_rows = torch.from_numpy(chosen.reshape(-1)).to(device)
            scores.copy_(top_scores.reshape(-1).index_select(0, chosen_rows))
            pick = np.take_along_axis(origin, active, 1)
            reorder.copy_(torch.from_numpy((every[:, None] * beam + pick).reshape(-1)).to(device))
            search.keep(every, active)
            ids.copy_(torch.from_numpy(np.take_along_axis(word, active, 1).reshape(-1, 1)))
            position.fill_(start_step + k + 1)
        return search.results()


class _Whole:
    """The prompt's pass into a whole-length buffer ``[layers, 2, rows, heads, steps, dim]``,
    through the package's ``_forward`` (its cache's ``reserve`` and ``write``)."""

    def __init__(self, buffer: torch.Tensor) -> None:
        self.buffer = buffer

    def reserve(self, steps: int) -> None:
        if steps > self.buffer.shape[4]:
            raise ValueError(f"{steps} steps for a buffer of {self.buffer.shape[4]}")

    def write(self, layer: int, position: int, k: torch.Tensor,
              v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        end = position + k.shape[1]
        keys, values = self.buffer[layer, 0], self.buffer[layer, 1]  # [rows, heads, steps, dim]
        keys[:, :, position:end] = k.transpose(1, 2)
        values[:, :, position:end] = v.transpose(1, 2)
        return keys[:, :, :end], values[:, :, :end]
