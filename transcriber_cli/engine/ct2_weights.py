"""The variables of a CTranslate2 Whisper model file (``model.bin``), read without loading
it: by the torch encoder and decoder for their weights, and by the window plan for the
decoder's depth before the model loads. Imports no torch: a local run reads it on the
main thread while the models load."""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

ENCODER = "encoder/"
# CTranslate2's DataType enum (include/ctranslate2/types.h); bfloat16 has no numpy type and
# is read as its 16 bits.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: np.uint16}
_INT8, _INT16, _BFLOAT16 = 1, 2, 5
# Binary versions 4 (dtype ids) to 6 (ctranslate2/specs/model_spec.py CURRENT_BINARY_VERSION)
# share the layout read here; every Whisper conversion is at least 4.
_VERSIONS = range(4, 7)


class _Reader:
    """Little-endian fields of ``model.bin`` (``ModelSpec._serialize``), bounds-checked."""

    def __init__(self, buf: mmap.mmap, path: Path) -> None:
        self.buf, self.path, self.at = buf, path, 0

    def take(self, size: int) -> int:
        start = self.at
        if start + size > len(self.buf):
            raise ValueError(f"{self.path} is truncated ({len(self.buf)} bytes; "
                             f"{start + size} needed)")  # fmt: skip
        self.at = start + size
        return start

    def unpack(self, fmt: str) -> int:
        return struct.unpack_from("<" + fmt, self.buf, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        size = self.unpack("H")  # with the trailing NUL
        start = self.take(size)
        raw = bytes(self.buf[start : start + size])
        if not raw or raw[-1] != 0:
            raise ValueError(f"{self.path} is not a CTranslate2 model file (bad name at {start})")
        return raw[:-1].decode("utf-8", errors="replace")


def read_encoder_weights(model_dir: str | Path) -> Mapping[str, np.ndarray]:
    """The ``encoder/...`` variables of a CTranslate2 Whisper model (``read_weights``)."""
    return read_weights(model_dir, ENCODER)


def read_weights(model_dir: str | Path, prefix: str) -> Mapping[str, np.ndarray]:
    """The variables of a CTranslate2 Whisper model whose names start with ``prefix``
    (``encoder/``, ``decoder/``), by name.

    Aliases are resolved; int8/int16 weights come back dequantized (``weight / scale``) in
    float32, bfloat16 ones in float32, the rest as stored (float16 or float32 views of the
    mapped file: nothing is read until used). The headers are read here, the data on each
    lookup: a converted weight is a new array every time, so a caller that takes the weights
    one by one holds one converted copy at a time, not all of them (large-v3's encoder in
    float32 is 2.5 GB). A file this cannot read raises ``ValueError``.
    """
    path = Path(model_dir) / "model.bin"
    with open(path, "rb") as handle:
        try:
            # Copy-on-write: writable views (torch.from_numpy warns on read-only ones) that
            # never write back.
            buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
        except ValueError:  # an empty file cannot be mapped
            raise ValueError(f"{path} is empty") from None
    reader = _Reader(buf, path)
    version = reader.unpack("I")
    if version not in _VERSIONS:
        raise ValueError(f"{path}: binary version {version} is not one this reader knows "
                         f"({_VERSIONS.start}-{_VERSIONS.stop - 1})")  # fmt: skip
    spec = reader.string()
    if spec != "WhisperSpec":
        raise ValueError(f"{path} holds a {spec!r} model, not Whisper")
    reader.unpack("I")  # spec revision
    # Every header is walked (the aliases come after the last variable); only the data of
    # those under the prefix is looked at.
    found: dict[str, _Variable] = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        shape = tuple(reader.unpack("I") for _ in range(reader.unpack("B")))
        type_id = reader.unpack("B")
        size = reader.unpack("I")
        if type_id not in _DTYPES:
            raise ValueError(f"{path}: unknown data type {type_id} for {name}")
        if size != math.prod(shape) * np.dtype(_DTYPES[type_id]).itemsize:
            raise ValueError(f"{path}: {name} has {size} bytes for shape {shape}")
        found[name] = _Variable(reader.take(size), type_id, shape)
    for _ in range(reader.unpack("I")):
        alias, target = reader.string(), reader.string()
        for suffix in ("", "_scale"):  # CTranslate2 aliases a weight's scale with it
            if target + suffix in found:
                found.setdefault(alias + suffix, found[target + suffix])
    names = [n for n in found if n.startswith(prefix) and not n.endswith(("_scale", "_zero"))]
    if not names:
        raise ValueError(f"{path} has no {prefix.rstrip('/')} variables")
    for name in names:
        if _quantized(name, found[name]):
            if name + "_zero" in found:  # AWQ-style zero points: not a Whisper conversion
                raise ValueError(f"{path}: {name} is quantized with zero points")
            if name + "_scale" not in found:
                raise ValueError(f"{path}: {name} is quantized but has no scale")
    return _EncoderWeights(buf, found, names)


class _Variable(NamedTuple):
    offset: int
    type_id: int
    shape: tuple[int, ...]


def _quantized(name: str, variable: _Variable) -> bool:
    return variable.type_id in (_INT8, _INT16) and name.endswith("weight")


class _EncoderWeights(Mapping[str, np.ndarray]):
    """``read_encoder_weights``' answer: each lookup reads (and converts) one variable."""

    def __init__(self, buf: mmap.mmap, found: dict[str, _Variable], names: list[str]) -> None:
        self._buf, self._found, self._names = buf, found, dict.fromkeys(names)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        value = self._array(name)
        if _quantized(name, self._found[name]):
            # One scale per output row (a scalar for int16): quantized = rint(w * scale).
            # Divided in place: one float32 copy of the weight, no second one.
            scale = self._array(name + "_scale").astype(np.float32)
            value = value.astype(np.float32)
            value /= scale.reshape(-1, *[1] * (value.ndim - 1))
        return value

    def __contains__(self, name: object) -> bool:  # Mapping's would read the data
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def _array(self, name: str) -> np.ndarray:
        offset, type_id, shape = self._found[name]
        data = np.frombuffer(self._buf, _DTYPES[type_id], math.prod(shape), offset)
        if type_id == _BFLOAT16:  # the high half of a float32
            bits = data.astype(np.uint32)
            bits <<= 16
            return bits.view(np.float32).reshape(shape)
        return data.reshape(shape)


def decoder_layers(model_dir: str | Path) -> int:
    """How many layers the model's decoder has (large-v3: 32; turbo: 4), from the file's
    headers alone (the data is not read); 0 for a file this cannot read."""
    try:
        names = read_weights(model_dir, "decoder/")
    except (OSError, ValueError):
        return 0
    return sum(1 for n in names if n.endswith("/self_attention/linear_0/weight"))
