"""Which GPU architectures a shared library carries code for, read from its CUDA fatbins.

CTranslate2's PyPI wheel carries machine code (SASS) for some architectures and PTX for the
newest of them; on any other GPU the driver compiles that PTX at each kernel's first launch
and keeps the result in its cache (``CUDA_CACHE_PATH``, ``~/.nv/ComputeCache``). With 4.8.5
that is every Hopper GPU (sm_90): about 20 s on a fresh machine (bench/production.md).
``transcriber doctor`` says so.

A fatbin (``.nv_fatbin``) is a header (magic 0xBA55ED50, version, header size, size) and
entries, each with its kind (1 PTX, 2 SASS), header size, payload size and architecture.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from transcriber_cli.fsutil import dir_size

MAGIC = struct.pack("<I", 0xBA55ED50)
PTX, SASS = 1, 2


@dataclass(frozen=True)
class GpuCode:
    sass: frozenset[int]  # compute capabilities as 86 for 8.6
    ptx: frozenset[int]


def gpu_code(library: Path) -> GpuCode:
    """The architectures of every fatbin entry in ``library``: empty sets if it has none or
    cannot be read (an empty or unreadable file)."""
    found: dict[int, set[int]] = {PTX: set(), SASS: set()}
    try:
        with library.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            at = data.find(MAGIC)
            while at >= 0:
                after = at + 4
                version, header = (
                    struct.unpack_from("<HH", data, at + 4) if at + 8 <= len(data) else (0, 0)
                )
                if version == 1 and header == 16 and at + 16 <= len(data):  # not a chance match
                    (size,) = struct.unpack_from("<Q", data, at + 8)
                    entry, end = at + header, min(at + header + size, len(data))
                    while entry + 32 <= end:
                        kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
                        (arch,) = struct.unpack_from("<I", data, entry + 28)
                        if kind in found:
                            found[kind].add(arch)
                        if entry_header == 0:
                            break
                        entry += entry_header + payload
                    after = max(after, end)  # the next fatbin, not a look inside this one's code
                at = data.find(MAGIC, after)
    except (OSError, ValueError):  # ValueError: mmap of an empty file
        return GpuCode(frozenset(), frozenset())
    return GpuCode(frozenset(found[SASS]), frozenset(found[PTX]))


def ctranslate2_library() -> Path | None:
    """The CTranslate2 library the Python package loads (its wheel's copy), if found."""
    try:
        import ctranslate2
    except Exception:
        return None
    package = Path(ctranslate2.__file__).parent
    for folder in (package.parent / "ctranslate2.libs", package):
        found = sorted(folder.glob("libctranslate2*.so*"))
        if found:
            return found[0]
    return None


def driver_cache(env: Mapping[str, str] | None = None) -> Path:
    """Where the driver keeps the code it compiled: ``CUDA_CACHE_PATH``, else its default."""
    env = os.environ if env is None else env
    return Path(env.get("CUDA_CACHE_PATH") or Path.home() / ".nv" / "ComputeCache")


def cached_bytes(cache: Path) -> int:
    """Bytes the driver's cache holds (0 where it is missing or cannot be read)."""
    try:
        return dir_size(cache)
    except OSError:  # another user's cache: its size is only a detail
        return 0
