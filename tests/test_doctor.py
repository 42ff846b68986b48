"""``transcriber doctor``: real checks on this machine (CPU CI or the lent GPU one), and the
cuBLAS advice logic on folders laid out like NVIDIA's pip packages and the CUDA toolkit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli
from transcriber_cli.doctor import (
    CUBLAS12,
    CUBLAS13,
    FAIL,
    INFO,
    OK,
    WARN,
    CublasFinding,
    can_load,
    check_gpu_code,
    compat_commands,
    cublas_advice,
    cublas_search_dirs,
    find_cublas,
)
from transcriber_cli.engine.device import cuda_device_count
from transcriber_cli.engine.fatbin import GpuCode, ctranslate2_library, gpu_code


def fake_lib(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"\x7fELF not really")
    return folder / name


def test_find_cublas_takes_the_first_of_each_version(tmp_path: Path) -> None:
    cu13 = fake_lib(tmp_path / "site" / "nvidia" / "cu13" / "lib", CUBLAS13)
    fake_lib(tmp_path / "cuda" / "lib64", CUBLAS13)
    cu12 = fake_lib(tmp_path / "other" / "nvidia" / "cublas" / "lib", CUBLAS12)
    dirs = [tmp_path / "missing", cu13.parent, tmp_path / "cuda" / "lib64", cu12.parent]
    assert find_cublas(dirs) == CublasFinding(v12=cu12, v13=cu13)
    assert find_cublas([tmp_path / "missing"]) == CublasFinding(None, None)


def test_search_dirs_cover_pip_packages_toolkit_and_ld_library_path(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(sys, "path", [str(tmp_path / "site")])
    env = {"CUDA_HOME": str(tmp_path / "cuda"), "LD_LIBRARY_PATH": f"/opt/a:{tmp_path}/b"}
    dirs = cublas_search_dirs(env)
    site = tmp_path / "site" / "nvidia"
    for expected in (
        site / "cu13" / "lib",
        site / "cublas" / "lib",
        tmp_path / "cuda" / "lib64",
        Path("/opt/a"),
        tmp_path / "b",
    ):
        assert expected in dirs
    assert len(dirs) == len(set(dirs))
    # A library put where the search looks is found through it.
    lib = fake_lib(site / "cu13" / "lib", CUBLAS13)
    assert find_cublas(dirs).v13 == lib


def test_only_cublas13_gives_the_compat_link_commands(tmp_path: Path) -> None:
    lib13 = fake_lib(tmp_path / "nvidia" / "cu13" / "lib", CUBLAS13)
    compat = tmp_path / "compat"
    check = cublas_advice(
        gpus=1, loadable=False, finding=CublasFinding(None, lib13), compat_dir=compat
    )
    assert check.status == FAIL and str(lib13) in check.detail
    assert check.fix == compat_commands(lib13, compat)
    assert check.fix[1] == f"ln -sf {lib13} {compat}/{CUBLAS12}"
    assert check.fix[2].startswith(f"export LD_LIBRARY_PATH={compat}:{lib13.parent}")
    # The commands do what they say: run them and the link points at the cuBLAS 13 file.
    script = "\n".join([*check.fix, 'echo "$LD_LIBRARY_PATH"'])
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert (compat / CUBLAS12).resolve() == lib13.resolve()
    assert out.stdout.split(":")[0] == str(compat)


def test_cublas12_on_disk_but_not_on_the_loader_path(tmp_path: Path) -> None:
    lib12 = fake_lib(tmp_path / "nvidia" / "cublas" / "lib", CUBLAS12)
    check = cublas_advice(
        gpus=2, loadable=False, finding=CublasFinding(lib12, None), compat_dir=tmp_path
    )
    assert check.status == FAIL
    assert check.fix == [
        f"export LD_LIBRARY_PATH={lib12.parent}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
    ]


def test_nothing_found_with_a_gpu_suggests_the_pip_package(tmp_path: Path) -> None:
    check = cublas_advice(
        gpus=1, loadable=False, finding=CublasFinding(None, None), compat_dir=tmp_path
    )
    assert check.status == FAIL and check.fix[0] == "pip install nvidia-cublas-cu12"


def test_no_gpu_or_loadable_needs_nothing(tmp_path: Path) -> None:
    lib13 = fake_lib(tmp_path, CUBLAS13)
    assert (
        cublas_advice(
            gpus=0, loadable=False, finding=CublasFinding(None, lib13), compat_dir=tmp_path
        ).status
        == INFO
    )
    ok = cublas_advice(
        gpus=1, loadable=True, finding=CublasFinding(None, None), compat_dir=tmp_path
    )
    assert ok.status == OK and not ok.fix


def test_can_load_uses_the_real_loader() -> None:
    assert can_load("libc.so.6")
    assert not can_load("libdefinitely-not-here.so.99")


def test_doctor_command_on_this_machine(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_never_printed")
    monkeypatch.setenv("TRANSCRIBER_BUCKET", "my-bucket")
    proc = run_cli("doctor", "--json", program="transcriber")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "transcriber.doctor/1" and data["ok"] is True
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["ffmpeg"]["status"] == OK and "ffmpeg version" in checks["ffmpeg"]["detail"]
    assert checks["ffprobe"]["status"] == OK
    assert checks["model tiny.en (bundled)"]["status"] == OK
    assert Path(checks["model tiny.en (bundled)"]["detail"], "model.bin").is_file()
    # The GPUs CTranslate2 sees here, as doctor counts them: none on CPU CI (information, not
    # a failure), one or more on the lent GPU machine (with the cuBLAS 12 compat link, which
    # must then load: "ok" is true above, so nothing failed).
    gpus = cuda_device_count()
    assert checks["CTranslate2"]["status"] == (OK if gpus else INFO)
    assert f", {gpus} CUDA device(s)" in checks["CTranslate2"]["detail"]
    cublas = checks["cuBLAS 12 (CTranslate2 GPU)"]["status"]
    assert cublas in ((OK,) if gpus else (INFO, OK))
    assert checks["Hugging Face token"] == {
        "name": "Hugging Face token",
        "status": OK,
        "detail": "set",
        "fix": [],
    }
    assert checks["remote settings"]["status"] == "warn"
    assert "bucket" in checks["remote settings"]["detail"]
    assert "hf_secret_value_never_printed" not in proc.stdout + proc.stderr


def test_doctor_human_output_and_missing_ffmpeg_fails(tmp_path: Path) -> None:
    # A PATH without ffmpeg: the run fails with exit 3 and says how to install it.
    proc = run_cli("doctor", program="transcriber", env={"PATH": str(tmp_path)})
    assert proc.returncode == 3
    assert "fail ffmpeg: not found on PATH" in proc.stderr
    assert "apt-get install ffmpeg" in proc.stderr


def _fatbin(entries: list[tuple[int, int, bytes]]) -> bytes:
    """A fatbin as nvcc lays it out: its header, then (kind, arch, payload) entries."""
    import struct

    body = b""
    for kind, arch, payload in entries:
        header = struct.pack("<HHIQ", kind, 0x0101, 64, len(payload)) + bytes(12)
        header += struct.pack("<I", arch) + bytes(64 - 32)
        body += header + payload
    return struct.pack("<IHHQ", 0xBA55ED50, 1, 16, len(body)) + body


def test_the_gpu_code_of_a_library_is_read_from_its_fatbins(tmp_path: Path) -> None:
    lib = tmp_path / "libfake.so"
    sass90 = _fatbin([(2, 90, b"\x7fELF" + bytes(100)), (1, 90, b".target sm_90\0")])
    sass80 = _fatbin([(2, 80, bytes(33))])
    lib.write_bytes(b"\0" * 1000 + sass90 + b"\0" * 7 + sass80 + b"\0" * 50)
    assert gpu_code(lib) == GpuCode(sass=frozenset({80, 90}), ptx=frozenset({90}))
    empty = tmp_path / "libempty.so"
    empty.write_bytes(b"")
    assert gpu_code(empty) == gpu_code(tmp_path / "missing.so") == GpuCode(frozenset(), frozenset())
    # CTranslate2's own wheel: with 4.8.5 (the pin) machine code up to Ampere, PTX for 8.6
    import ctranslate2

    real = ctranslate2_library()
    assert real is not None
    code = gpu_code(real)
    assert 80 in code.sass and code.ptx
    if ctranslate2.__version__ == "4.8.5":
        assert code.sass == {53, 60, 61, 70, 75, 80, 86} and code.ptx == {86}


def test_doctor_says_whether_the_drivers_cache_keeps_what_it_compiles(tmp_path: Path) -> None:
    wheel = GpuCode(sass=frozenset({53, 60, 61, 70, 75, 80, 86}), ptx=frozenset({86}))
    cache = tmp_path / "cache"
    (cache / "sub").mkdir(parents=True)
    (cache / "sub" / "entry").write_bytes(bytes(1_500_000))
    env = {"CUDA_CACHE_PATH": str(cache)}
    assert check_gpu_code((8, 6), wheel, env).status == OK  # its own machine code
    assert check_gpu_code((8, 9), wheel, env).status == OK  # sm_86 code runs on 8.9 (L4)
    hopper = check_gpu_code((9, 0), wheel, env)
    assert hopper.status == INFO and "once" in hopper.detail and "1.5 MB" in hopper.detail
    off = check_gpu_code((9, 0), wheel, {**env, "CUDA_CACHE_DISABLE": "1"})
    assert off.status == WARN and "every run" in off.detail and off.fix
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    no_cache = check_gpu_code((9, 0), wheel, {"CUDA_CACHE_PATH": str(blocked / "cache")})
    assert no_cache.status == WARN and "cannot be written" in no_cache.detail
    small = check_gpu_code((9, 0), wheel, {**env, "CUDA_CACHE_MAXSIZE": "1048576"})
    assert small.status == WARN and "CUDA_CACHE_MAXSIZE" in small.detail
    assert check_gpu_code((5, 2), wheel, env).status == FAIL  # nothing it can run
    no_jit = check_gpu_code((9, 0), wheel, {**env, "CUDA_DISABLE_PTX_JIT": "1"})
    assert no_jit.status == FAIL and no_jit.fix == ["unset CUDA_DISABLE_PTX_JIT"]
    assert check_gpu_code(None, wheel, env) is None  # no CUDA torch: nothing to say
