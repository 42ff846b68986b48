"""Peak memory of a local run by input length: this tree against another checkout, side by side.

Each case is a real ``transcribe`` process (tiny.en on the CPU, one file: the example
conversation tiled to the length with ffmpeg). Its peak RSS is the largest sum, over the
process and every descendant (ffprobe, ffmpeg), of the resident set sizes sampled every 50 ms
with psutil. Both trees transcribe the same file; the words they write are compared.

    git worktree add /tmp/before main
    python bench/memory.py --before /tmp/before                       # 10 min, 1 h, 4 h
    python bench/memory.py --before /tmp/before --lengths 600,3600,7200
    python bench/memory.py --before /tmp/before --lengths 600 --diarize tiny  # + pyannote
    python bench/memory.py --before /tmp/before --stage diarize --diarize realseg  # speakers only

``--stage diarize`` runs the speaker step alone, as a run does it (the file decoded to a
memory-mapped scratch file, the pipeline loaded by the package's loader on the CPU): the
transcription step's memory is the first mode's, and a full run with speakers on 4 h of audio
takes an hour on 2 cores. Besides RSS it records the peak of anonymous memory (RssAnon): the
mapped audio's pages count in RSS but are page cache the kernel can drop.

TRANSCRIBER_WINDOW_SECONDS (default 600) sets the window both trees run with, and
TRANSCRIBER_DIARIZATION_SPAN_MINUTES (default 60; recorded in each row) the speaker step's
span: with ``--before .`` and the span set to 0 and then left alone, one tree shows what
diarizing in spans saves.
Writes bench/results/memory.json (--out): one JSON line per run, appended as it ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from common import DATA, EXAMPLE, REPO, RESULTS, emit, make_parser, random_pipeline

BIN = Path(sys.executable).parent


def tiled(seconds: int, source: Path = EXAMPLE) -> Path:
    """``source`` (the example conversation) looped to ``seconds`` (stream copy: made in
    seconds). The GPU machine's audio-only ffmpeg tiles an mp3 there (``--source``)."""
    dest = DATA / "memory" / f"tiled-{seconds}s{source.suffix}"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source),
             "-t", str(seconds), "-c", "copy", str(dest)],
            check=True,
        )  # fmt: skip
    return dest


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):  # ended meanwhile
            total += p.memory_info().rss
    return total


def anon_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(OSError):  # ended meanwhile
            for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1]) * 1024
    return total


def diarize_child(media: str, pipeline: str, device: str = "cpu") -> None:
    """The speaker step of a run, in this process (``--stage diarize``)."""
    from transcriber_cli.config import Settings
    from transcriber_cli.diarize.loader import load_diarizer
    from transcriber_cli.media import decode, whole

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("transcriber_cli.diarize").setLevel(logging.DEBUG)  # "clustering N of M"
    settings = Settings(diarize=True, diarization_model=pipeline, device=device)
    diarizer, _ = load_diarizer(settings, device=device)
    audio = decode(Path(media))
    try:
        turns = diarizer(whole(audio))
    finally:
        audio.close()
    # A digest, not the turns: 4 h of turns overfill the pipe the parent reads only at the end.
    listing = " ".join(f"{t.speaker}:{t.start:.1f}-{t.end:.1f}" for t in turns).encode()
    speakers = len({t.speaker for t in turns})
    print(len(turns), speakers, hashlib.sha256(listing).hexdigest()[:16])


def run_diarize(
    tree: Path, media: Path, diarize: str, pipelines: Path, device: str, limit: float = 0
) -> dict:
    # The tree first; what else is on the path (the GPU machine's installed wheels) after it.
    path = os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    pipeline = random_pipeline(pipelines, diarize)
    args = [sys.executable, __file__, "--child", str(media), str(pipeline), device]
    started = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc, peak, peak_anon = psutil.Process(child.pid), 0, 0
    timed_out = False
    while child.poll() is None:
        try:
            peak = max(peak, tree_rss(proc))
            peak_anon = max(peak_anon, anon_rss(proc))
        except psutil.NoSuchProcess:
            break
        if limit and time.perf_counter() - started > limit:  # record the peak so far
            child.kill()
            timed_out = True
        time.sleep(0.05)
    out, err = child.communicate()
    turns, speakers, digest = [*out.decode().split(), "", "", ""][:3]
    return {
        "stage": "diarize",
        "device": device,
        "timed_out": timed_out,
        "rc": child.returncode,
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak / 2**20),
        "peak_anon_mb": round(peak_anon / 2**20),
        "turns": int(turns or 0),
        "speakers": int(speakers or 0),
        "turns_sha256": digest,
        "clustered": " ".join(
            line.split("diarization: ")[-1]
            for line in err.decode(errors="replace").splitlines()
            if "clustering" in line
        ),
        "stderr_tail": err.decode(errors="replace")[-300:],
    }


def run(tree: Path, media: Path, diarize: str | None, pipelines: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "HF_HUB_OFFLINE": "1",
            "TRANSCRIBER_STATE_DIR": str(Path(tmp) / "state"),
            "TRANSCRIBER_CONFIG": str(Path(tmp) / "none.toml"),
        }
        args = [str(BIN / "transcribe"), str(media), "-o", tmp, "-f", "txt", "-q",
                "-m", "tiny.en", "--device", "cpu"]  # fmt: skip
        if diarize:
            args += ["--diarize", "--diarization-model", str(random_pipeline(pipelines, diarize))]
        else:
            args += ["--no-diarize"]
        started = time.perf_counter()
        child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            try:
                peak = max(peak, tree_rss(proc))
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        _, err = child.communicate()
        written = Path(tmp) / media.with_suffix(".txt").name
        text = written.read_text() if child.returncode == 0 else ""
        return {
            "window_s": float(os.environ.get("TRANSCRIBER_WINDOW_SECONDS", 600)),
            "rc": child.returncode,
            "wall_s": round(time.perf_counter() - started, 1),
            "peak_rss_mb": round(peak / 2**20),
            "words": len(text.split()),
            "text_sha256": hashlib.sha256(text.encode()).hexdigest()[:16],
            "stderr_tail": err.decode(errors="replace")[-300:],
        }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return diarize_child(*sys.argv[2:5])
    parser = make_parser(__doc__)
    parser.add_argument("--before", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--lengths", default="600,3600,14400", help="input seconds, comma list")
    parser.add_argument("--diarize", choices=["tiny", "realseg", "community"],
                        help="random-weight pipeline; realseg: real segmentation")  # fmt: skip
    parser.add_argument("--stage", choices=["run", "diarize"], default="run",
                        help="a whole transcribe run, or the speaker step alone")  # fmt: skip
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the speaker models run (--stage diarize)")  # fmt: skip
    parser.add_argument("--limit", type=float, default=0, help="stop a run after N seconds")
    parser.add_argument("--trees", default="before,after", help="which trees to run")
    parser.add_argument("--source", type=Path, default=EXAMPLE, help="media to loop")
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    a = parser.parse_args()
    if a.stage == "diarize" and not a.diarize:
        parser.error("--stage diarize needs --diarize")
    pipelines = DATA / "pipelines" / (a.diarize or "none")
    for seconds in (int(s) for s in a.lengths.split(",")):
        media = tiled(seconds, a.source)
        for label, tree in (("before", a.before.resolve()), ("after", REPO)):
            if label not in a.trees.split(","):
                continue
            if a.stage == "diarize":
                row = run_diarize(tree, media, a.diarize, pipelines, a.device, a.limit)
            else:
                row = run(tree, media, a.diarize, pipelines)
            span = os.environ.get("TRANSCRIBER_DIARIZATION_SPAN_MINUTES", "default")
            emit(a.out, {"tree": label, "commit": _commit(tree), "seconds": seconds,
                         "diarize": a.diarize, "diarization_span_minutes": span,
                         **row})  # fmt: skip


def _commit(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


if __name__ == "__main__":
    main()
