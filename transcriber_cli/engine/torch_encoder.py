"""Whisper's encoder in torch, its output handed to CTranslate2's decoder.

On a GPU CTranslate2's encoder is the slow half of a batch: on an H200 with large-v3 shapes
it took 3.06-3.31 s for 120-128 windows where the same weights in torch (float16, SDPA
attention) took 0.74-0.82 s (bench/production.md). faster-whisper sends every encoder call
(batched and sequential decoding, language detection) through ``WhisperModel.encode``, and
CTranslate2's ``generate``, ``detect_language`` and ``align`` take features that are already
encoded (``[batch, 1500, d_model]``), so replacing ``encode`` on the model instance is enough.

The weights come from the model's own ``model.bin`` (memory-mapped: only the encoder's pages
are read), so no second download and no other format; the GPU then holds the encoder twice
(CTranslate2 keeps its copy: large-v3's is 1.3 GB in float16). The CPU keeps CTranslate2's
encoder by default: its int8 encoder is what CPU users run. This module imports torch: the
engine imports it only when the torch encoder is chosen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from transcriber_cli.engine.ct2_weights import ENCODER, read_encoder_weights
from transcriber_cli.engine.device import release_torch_cache

log = logging.getLogger(__name__)

LAYER_NORM_EPS = 1e-5
# Windows encoded at once. A batch of 64 (large-v3 on an H200) encoded in one go raised the
# run's peak GPU memory by 4.5-4.9 GiB over CTranslate2's encoder (the FFN's activations: 64 x
# 1500 x 5120 in float16 is 0.9 GiB each, and torch's allocator keeps them reserved), memory
# the automatic batch size, chosen from free memory before any encoding, does not count.
# Chunks of 16 brought that to 2.9-3.2 GiB (1.2 of it the weights' second copy) at the same
# speed; the output is still one tensor for the whole batch.
CHUNK = 16


def encoder_dtype(device: str, compute_type: str) -> str:
    """The torch dtype (its name) the encoder runs in for CTranslate2's ``compute_type``.

    It follows the type CTranslate2 computes activations in, so the decoder gets what its
    own encoder would have given: float16 for ``float16`` and ``int8_float16`` (the int8
    weights dequantized: the encoder's matrices are small next to its activations),
    bfloat16 for ``bfloat16`` and ``int8_bfloat16``, float32 for the rest. On a CPU always
    float32: torch's half-precision CPU kernels are slow, and CTranslate2 converts what it
    gets to the type it wants."""
    if device != "cuda":
        return "float32"
    if compute_type.endswith("bfloat16"):
        return "bfloat16"
    if compute_type.endswith("float16"):
        return "float16"
    return "float32"


def build_encoder(model_dir: str | Path, *, device: Any = "cpu", dtype: Any = "float32"):
    """A ``WhisperTorchEncoder`` from a CTranslate2 model directory, on ``device``."""
    return WhisperTorchEncoder(read_encoder_weights(model_dir), device=device,
                               dtype=_torch_dtype(dtype))  # fmt: skip


def _torch_dtype(dtype: Any) -> torch.dtype:
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


class WhisperTorchEncoder(torch.nn.Module):
    """CTranslate2's ``layers::WhisperEncoder`` in torch: conv1 (kernel 3) and GELU, conv2
    (kernel 3, stride 2) and GELU, the stored sinusoids, pre-norm blocks (LayerNorm, fused
    q/k/v, SDPA, out projection; LayerNorm, linear, GELU, linear), a final LayerNorm."""

    def __init__(self, weights: Mapping[str, np.ndarray], *, device: Any = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:  # fmt: skip
        super().__init__()
        self.dtype = dtype
        self._stream: torch.cuda.Stream | None = None
        self.layers = sum(1 for n in weights if n.endswith("/self_attention/linear_0/weight"))
        names = ["conv1/weight", "conv1/bias", "conv2/weight", "conv2/bias",
                 "position_encodings/encodings", "layer_norm/gamma", "layer_norm/beta"]  # fmt: skip
        for i in range(self.layers):
            for part in ("self_attention", "ffn"):
                names += [f"layer_{i}/{part}/layer_norm/{p}" for p in ("gamma", "beta")]
                names += [f"layer_{i}/{part}/linear_{j}/{p}" for j in (0, 1)
                          for p in ("weight", "bias")]  # fmt: skip
        missing = [n for n in names if ENCODER + n not in weights]
        if missing or not self.layers:
            raise ValueError(
                f"encoder layout not understood: no {', '.join(missing[:3]) or 'layers'}"
            )
        for name in names:
            # One weight at a time, on its way to the device before the next is read: with
            # read_encoder_weights' lazy answer, an int8 model's float32 copies are made (and
            # dropped) one by one.
            tensor = torch.from_numpy(weights[ENCODER + name]).to(device=device, dtype=dtype)
            self.register_buffer(name.replace("/", "__"), tensor, persistent=False)
        self.width = int(self._w("conv2/weight").shape[0])
        self.n_mels = int(self._w("conv1/weight").shape[1])
        # CTranslate2 stores the head count (a scalar; every Whisper conversion has it).
        heads = weights.get(ENCODER + "num_heads")
        if heads is None:
            raise ValueError("no encoder/num_heads in the model file")
        self.heads = int(heads.reshape(-1)[0])
        self.positions = int(self._w("position_encodings/encodings").shape[0])
        if self.heads < 1 or self.width % self.heads:
            raise ValueError(f"{self.width} channels do not split into {self.heads} heads")

    @property
    def device(self) -> torch.device:
        return self._w("conv1/weight").device

    def stream(self) -> torch.cuda.Stream:
        """The CUDA stream it runs on, made at first use. Its warm-up and its calls share
        it: torch's allocator caches freed blocks per stream, so a warm-up on another would
        keep its activations and workspaces reserved apart."""
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        return self._stream

    def _w(self, name: str) -> torch.Tensor:
        return getattr(self, name.replace("/", "__"))

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.width,), self._w(name + "/gamma"), self._w(name + "/beta"),
                            LAYER_NORM_EPS)  # fmt: skip

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self._w(name + "/weight"), self._w(name + "/bias"))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """[batch, n_mels, 3000] log-Mel features -> [batch, 1500, width]."""
        x = F.gelu(F.conv1d(mel, self._w("conv1/weight"), self._w("conv1/bias"), padding=1))
        x = F.gelu(F.conv1d(x, self._w("conv2/weight"), self._w("conv2/bias"), stride=2,
                            padding=1))  # fmt: skip
        x = x.transpose(1, 2) + self._w("position_encodings/encodings")[: x.shape[2]]
        batch, time, width = x.shape
        for i in range(self.layers):
            at = f"layer_{i}/self_attention"
            qkv = self._linear(self._norm(x, at + "/layer_norm"), at + "/linear_0")
            # [batch, time, 3 * width] -> q, k, v of [batch, heads, time, head_dim]
            q, k, v = qkv.view(batch, time, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v)  # scaled by 1/sqrt(head_dim)
            a = a.transpose(1, 2).reshape(batch, time, width)
            x = x + self._linear(a, at + "/linear_1")
            ffn = f"layer_{i}/ffn"
            h = F.gelu(self._linear(self._norm(x, ffn + "/layer_norm"), ffn + "/linear_0"))
            x = x + self._linear(h, ffn + "/linear_1")
        return self._norm(x, "layer_norm")


def build_on(model_dir: str | Path, *, device: str, device_index: int = 0,
             dtype: Any = "float32") -> WhisperTorchEncoder:  # fmt: skip
    """The encoder on ``device`` ("cuda": GPU ``device_index``); raises what stops it."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("torch cannot use CUDA")
    where = torch.device(f"cuda:{device_index}" if device == "cuda" else "cpu")
    return build_encoder(model_dir, device=where, dtype=dtype)


def warm_up(encoder: WhisperTorchEncoder) -> None:
    """One window of silence through ``encoder`` on a GPU, on the calling thread: a first
    call loads cuBLAS and cuDNN and the kernels it runs (0.5-0.7 s in the hour's start-up
    profile, bench/production.md). The engine calls it on the thread that builds the
    encoder while CTranslate2 loads, so ``install_torch_encoder``'s check window, after the
    load, no longer pays that on the start-up's longest path. On a CPU it does nothing:
    there the check window is the same work, and beside CTranslate2's load it would only
    take its cores. It raises what the window raises (waiting for it to end)."""
    if encoder.device.type != "cuda":
        return
    stream = encoder.stream()
    stream.wait_stream(torch.cuda.current_stream(encoder.device))  # the weights' copies
    with torch.inference_mode(), torch.cuda.stream(stream):
        mel = torch.zeros((1, encoder.n_mels, 2 * encoder.positions), device=encoder.device,
                          dtype=encoder.dtype)  # fmt: skip
        encoder(mel)
    stream.synchronize()


def install_torch_encoder(whisper_model: Any, model_dir: str | Path, *, device: str,
                          device_index: int = 0, dtype: Any = "float32",
                          asked: bool = False,
                          built: Callable[[], WhisperTorchEncoder] | None = None,
                          ) -> bool:  # fmt: skip
    """Replace ``whisper_model.encode`` (a faster-whisper ``WhisperModel``) on the instance
    with the torch encoder, after one window of silence went through it. Anything that stops
    it (no torch CUDA, a file or layout this cannot read, a GPU torch's kernels do not run on)
    keeps CTranslate2's encoder and returns False, with a warning when the torch encoder was
    ``asked`` for by name (``auto`` says it at info level).

    ``built`` returns (or raises) an encoder built meanwhile (``build_on``), e.g. while
    CTranslate2 loaded; one in another dtype than ``dtype`` is built again."""
    installed = None
    try:
        encoder = built() if built is not None else None
        if encoder is not None and encoder.dtype != _torch_dtype(dtype):
            encoder = None  # its memory back before the next is built
        if encoder is None:
            encoder = build_on(model_dir, device=device, device_index=device_index, dtype=dtype)
        where = encoder.device
        n_mels = whisper_model.model.n_mels
        if encoder.n_mels != n_mels:
            raise ValueError(f"{encoder.n_mels} mel bins, the model takes {n_mels}")
        encode = _encode_with(encoder, whisper_model.model, where)
        encode(np.zeros((n_mels, 2 * encoder.positions), dtype=np.float32))
        installed = encode, encoder
    except Exception as exc:  # whatever it is, CTranslate2's encoder still works
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        level = logging.WARNING if asked else logging.INFO
        log.log(level, "Whisper encoder: CTranslate2's (the torch encoder cannot run: %s)", reason)
    if installed is None:
        # Outside the except block, whose traceback still holds a half-built encoder: what
        # it took goes back to the GPU, where CTranslate2 and the batch size rule can use it.
        encoder = encode = None  # type: ignore[assignment]
        release_torch_cache()
        return False
    whisper_model.encode, whisper_model.torch_encoder = installed  # the latter for benchmarks
    kind = str(installed[1].dtype).removeprefix("torch.")
    log.info("Whisper encoder: torch (%s, %s)", where, kind)
    return True


def _encode_with(encoder: WhisperTorchEncoder, ct2_model: Any, where: torch.device):
    import ctranslate2

    # bfloat16 has no array-interface type: hand float32 over, CTranslate2 converts it back.
    out_dtype = torch.float32 if encoder.dtype == torch.bfloat16 else encoder.dtype
    # Several GPUs in one CTranslate2 model: faster-whisper asks for the output on the CPU.
    to_cpu = ct2_model.device == "cuda" and len(ct2_model.device_index) > 1
    stream = None
    if where.type == "cuda":
        # A stream of its own: waiting for the encoder then does not also wait for what
        # diarization queued on the device's default stream from its thread meanwhile.
        torch.cuda.synchronize(where)  # the weights' copies, made on the default stream
        stream = encoder.stream()

    def run(features: np.ndarray) -> torch.Tensor:
        mel = torch.from_numpy(features).to(where, encoder.dtype)
        out = torch.empty((len(mel), (mel.shape[2] + 1) // 2, encoder.width),
                          dtype=out_dtype, device=where)  # fmt: skip
        for start in range(0, len(mel), CHUNK):
            out[start : start + CHUNK] = encoder(mel[start : start + CHUNK])
        return out

    # Files in flight call this from their threads. Their chunks would run one after another
    # on the one stream anyway; one call at a time also keeps one chunk's activations alive
    # (1.7-2.0 GiB for large-v3), not one per file.
    one_at_a_time = threading.Lock()

    def encode(features: np.ndarray) -> ctranslate2.StorageView:
        if features.ndim == 2:
            features = np.expand_dims(features, 0)
        if not features.flags.writeable:  # torch.from_numpy warns on read-only arrays
            features = features.copy()
        with one_at_a_time, torch.inference_mode():
            if stream is None:
                # .numpy() shares the tensor's memory and keeps it; from_array keeps the array.
                return ctranslate2.StorageView.from_array(run(features).float().numpy())
            with torch.cuda.stream(stream):
                out = run(features)
                if to_cpu:
                    out = out.float().cpu()
            # CTranslate2 reads the output on its own stream and ignores the interface's
            # stream: the work must be done before it is handed over.
            stream.synchronize()
            if to_cpu:
                return ctranslate2.StorageView.from_array(out.numpy())
            # CTranslate2 takes the device from cudaGetDevice() (its issue #1467);
            # from_array keeps `out` alive as long as the StorageView lives (keep_alive).
            with torch.cuda.device(where):
                return ctranslate2.StorageView.from_array(out)

    return encode
