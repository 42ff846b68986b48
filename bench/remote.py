"""Remote-mode benchmark: submission overhead for a 500 MB, 30-minute mp4, and progress latency.

    python bench/remote.py > bench/remote.md

Needs ffmpeg, moto[server], mockupdb, mongomock (``pip install -e '.[test]'``). It makes the
mp4 in a temp dir (deleted afterwards), starts moto_server and the test Mongo wire server as
processes, prints a Markdown report (bench/remote.md is that output plus hand-written notes)
and writes the raw numbers to bench/results/remote.json (--out).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import RESULTS, free_port, make_parser, wait_for_moto, write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "examples" / "conversation.mp4"
BIN = Path(sys.executable).parent


def sh(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", *args], check=True)
    return time.perf_counter() - t0


def make_video(dest: Path, minutes: int = 30, target_mb: int = 500) -> float:
    """A noisy 720p video at the bitrate that makes ``target_mb`` plus the conversation looped."""
    kbps = int(target_mb * 8 * 1024 / (minutes * 60)) - 130
    clip = dest.with_name("clip.mp4")
    t = sh(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=25,noise=alls=40:allf=t",
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-b:v",
        f"{kbps}k",
        "-maxrate",
        f"{kbps}k",
        "-bufsize",
        f"{kbps * 2}k",
        str(clip),
    )
    t += sh(
        "-stream_loop",
        "-1",
        "-i",
        str(clip),
        "-stream_loop",
        "-1",
        "-i",
        str(EXAMPLE),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c",
        "copy",
        "-t",
        str(minutes * 60),
        str(dest),
    )
    clip.unlink()
    return t


def start(cmd: list[str], ready: str | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if ready:
        assert proc.stdout and proc.stdout.readline().startswith(ready)
    return proc


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS / "remote.json", help="raw numbers")
    args = parser.parse_args()

    from transcriber_cli.config import load_settings
    from transcriber_cli.fsutil import sha256_file
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.remote.client import RemoteClient

    lines = ["# Remote mode benchmark", ""]
    raw: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        tmpd = Path(tmp)
        video = tmpd / "meeting.mp4"
        gen = make_video(video)
        size_mb = video.stat().st_size / 1e6
        from transcriber_cli import media

        info = media.probe(video)
        lines += [
            f"Input: {size_mb:.0f} MB, {info.duration / 60:.1f} min mp4 "
            f"(720p noise video, AAC conversation audio); made in {gen:.1f} s.",
            "",
        ]

        t_copy = sh("-i", str(video), "-vn", "-acodec", "copy", str(tmpd / "copy.m4a"))
        t_mp3 = sh("-i", str(video), "-vn", str(tmpd / "plain.mp3"))
        t0 = time.perf_counter()
        ours = media.extract_mp3(video, tmpd / "ours.mp3")
        t_ours = time.perf_counter() - t0
        raw["input"] = {"mb": size_mb, "minutes": info.duration / 60, "made_s": gen}
        raw["extraction_s"] = {"copy": t_copy, "mp3_defaults": t_mp3, "extract_mp3": t_ours}
        lines += [
            "## Audio extraction",
            "",
            "| command | seconds | output MB |",
            "|---|---:|---:|",
            f"| `ffmpeg -vn -acodec copy` (AAC, no re-encode) | {t_copy:.1f} | "
            f"{(tmpd / 'copy.m4a').stat().st_size / 1e6:.1f} |",
            f"| `ffmpeg -vn out.mp3` (defaults: 44.1/48 kHz stereo) | {t_mp3:.1f} | "
            f"{(tmpd / 'plain.mp3').stat().st_size / 1e6:.1f} |",
            f"| `media.extract_mp3` (16 kHz mono 128k, what we upload) | {t_ours:.1f} | "
            f"{ours.stat().st_size / 1e6:.1f} |",
            "",
        ]

        moto_port, mongo_port = free_port(), free_port()
        moto = start([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)])
        wire = start(
            [sys.executable, str(ROOT / "tests" / "mongo_wire.py"), "--port", str(mongo_port)],
            ready="ready",
        )
        try:
            endpoint = f"http://127.0.0.1:{moto_port}"
            wait_for_moto(endpoint)
            os.environ.update(
                {
                    "AWS_ENDPOINT_URL": endpoint,
                    "AWS_ACCESS_KEY_ID": "x",
                    "AWS_SECRET_ACCESS_KEY": "x",
                    "AWS_REGION": "us-east-1",
                    "TRANSCRIBER_BUCKET": "bench",
                    "TRANSCRIBER_MONGODB_URL": f"mongodb://127.0.0.1:{mongo_port}/",
                    "TRANSCRIBER_MODEL": "tiny.en",
                }
            )
            from transcriber_cli.aws.session import client as aws_client

            aws_client("s3", "us-east-1").create_bucket(Bucket="bench")
            os.environ["TRANSCRIBER_QUEUE_URL"] = aws_client("sqs", "us-east-1").create_queue(
                QueueName="bench"
            )["QueueUrl"]
            settings = load_settings()
            client = RemoteClient(settings)
            t0 = time.perf_counter()
            sha = sha256_file(video)  # the batch hashes each input before submitting it
            hashed = time.perf_counter() - t0
            sub = client.submit(
                video, JobOptions.build(settings), info=info, sha256=sha, formats=["txt"]
            )
            total = time.perf_counter() - t0
            tm = {"hash": hashed, **sub.timings}
            raw["submission_s"] = {**tm, "total": total}
            raw["uploaded_mb"] = ours.stat().st_size / 1e6
            lines += [
                "## Submission (`RemoteClient.submit`, moto S3 + SQS, wire-server Mongo)",
                "",
                "| step | seconds |",
                "|---|---:|",
                *[f"| {k} | {v:.2f} |" for k, v in tm.items()],
                f"| **total** | **{total:.2f}** |",
                "",
                f"Uploaded {ours.stat().st_size / 1e6:.1f} MB instead of {size_mb:.0f} MB "
                f"({100 * ours.stat().st_size / video.stat().st_size:.1f} %).",
                "",
            ]
            progress, raw["progress_latency_s"] = progress_latency(client, sub.job_id)
            lines += progress
            client.close()
        finally:
            for proc in (moto, wire):
                proc.terminate()
                proc.wait(timeout=10)
    print("\n".join(lines))
    write_json(args.out, raw)


def progress_latency(client, job_id: str, updates: int = 30) -> tuple[list[str], dict]:
    """A writer updates progress once a second (as a worker does); the client's tail loop
    (default poll, ``remote_poll_seconds`` = 1.0) records when each update reaches it."""
    from transcriber_cli.jobs.results import ResultSummary
    from transcriber_cli.store.mongo import JobStore

    writer = JobStore.from_settings(client.settings)
    writer.claim(job_id, "bench-worker", lease_seconds=600)
    written: dict[float, float] = {}
    seen: list[float] = []

    def work() -> None:
        for i in range(1, updates + 1):
            written[float(i)] = time.time()
            writer.progress(
                job_id, "bench-worker", stage="transcribe", percent=float(i), message=f"update {i}"
            )
            time.sleep(1.0)
        writer.complete(job_id, "bench-worker", outputs=[], result=ResultSummary(), seconds=1)

    def on_update(doc) -> None:
        if doc.progress in written and doc.status.value == "processing":
            seen.append(time.time() - written[doc.progress])

    thread = threading.Thread(target=work)
    thread.start()
    client.wait([job_id], on_update=on_update)
    thread.join()
    writer.close()
    seen.sort()
    p95 = seen[int(0.95 * (len(seen) - 1))]
    stats = {"updates": updates, "seen": len(seen), "mean": statistics.mean(seen), "p95": p95}
    return [
        "## Progress latency (worker's Mongo update -> client callback)",
        "",
        f"{len(seen)} of {updates} updates displayed (the rest were overwritten within one "
        "poll); poll interval 1.0 s.",
        "",
        "| mean | p95 | max |",
        "|---:|---:|---:|",
        f"| {statistics.mean(seen):.2f} s | {p95:.2f} s | {max(seen):.2f} s |",
        "",
        f"Target <= 1.5 s: {'met' if max(seen) <= 1.5 else 'NOT met'}.",
    ], {**stats, "max": max(seen)}


if __name__ == "__main__":
    main()
