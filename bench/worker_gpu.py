"""A real `transcriber worker` process draining a backlog: its warm-up, then jobs at 1..N at once.

    device (after the production pack's setup and `prepare`):
        python3 bench/device.py exec -- python3 bench/worker_gpu.py --model large-v3 \
            --runs cold:hour:1,warm:folder:1,warm:folder:4,warm:folder:16 \
            --out $OUT/worker-gpu.jsonl
    here, a check of the script on the CPU (tiny.en, three short clips):
        python bench/worker_gpu.py --device cpu --model tiny.en --runs cold:clips:1,warm:clips:2

Each run (``cache:input:concurrency``): a fresh bucket, queue and database in one moto server
process and the Mongo wire server (tests/mongo_wire.py); every file of the input submitted
with ``RemoteClient.submit`` before the worker starts (a backlog, as a fleet scaled up for one
finds it); then ``transcriber worker --concurrency N`` as a process until every job ended.
``cold`` gives the worker an empty CUDA kernel cache (``CUDA_CACHE_PATH``), as on a fresh
machine; ``warm`` the cache the earlier runs filled. Inputs: ``hour`` and ``folder`` are
production.py's (random-weight models: cost figures, not accuracy); ``clips`` cuts three
clips of examples/conversation.mp4, ``example`` is that whole recording. ``first+then``
submits ``then`` once a job of ``first`` is claimed: short jobs joining a long one that
started alone (and so with two windows in flight). One JSON line per run (--out), written
as it ends.

Timings are the worker's own: spawn to its warm-up line, spawn to the first claim, and the
drain (first claim to last completion) over the audio it transcribed; each job's text tokens
and speakers are read back from its JSON output in the bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from common import EXAMPLE, emit, make_parser  # noqa: E402
from scale import dist, environment, make_stack, start_servers, stop_servers  # noqa: E402

from transcriber_cli.engine.fatbin import cached_bytes  # noqa: E402

ENDED = ("completed", "failed", "cancelled")
SIM_EOT = "50256"  # the simulated models' end-of-text (tiny.en's vocabulary), suppressed


def model_env(args: Any) -> dict[str, str]:
    """What the client's job options and the worker's own models are: production.py's
    models forced to a realistic length on a GPU, the named model as it is on a CPU."""
    if args.device == "cpu":
        return {"TRANSCRIBER_MODEL": args.model, "TRANSCRIBER_DEVICE": "cpu",
                "TRANSCRIBER_DIARIZE": "false"}  # fmt: skip
    import production

    return {
        "TRANSCRIBER_MODEL": str(production.work_dir() / "models" / args.model / "ct2"),
        "TRANSCRIBER_DEVICE": "cuda",
        "TRANSCRIBER_COMPUTE_TYPE": "float16",
        "TRANSCRIBER_BEAM_SIZE": "5",
        "TRANSCRIBER_MAX_NEW_TOKENS": "200",
        "TRANSCRIBER_SUPPRESS_TOKENS": f"-1,{SIM_EOT}",
        "TRANSCRIBER_DIARIZE": "true",
        "TRANSCRIBER_DIARIZATION_MODEL": "builtin",
    }


def inputs(name: str, tmp: Path) -> list[Path]:
    if name == "example":  # the whole example recording, as one job
        return [EXAMPLE]
    if name == "clips":
        out = []
        for i, (start, length) in enumerate(((0, 12), (10, 15), (20, 10))):
            dest = tmp / f"clip{i}.mp3"
            if not dest.exists():
                subprocess.run(
                    ["ffmpeg", "-v", "error", "-y", "-nostdin", "-ss", str(start), "-t",
                     str(length), "-i", str(EXAMPLE), "-vn", "-ac", "1", "-ar", "16000",
                     str(dest)], check=True,
                )  # fmt: skip
            out.append(dest)
        return out
    import production

    return production.inputs_of(type("A", (), {"input": name})())[1]


def submit(settings: Any, files: list[Path]) -> tuple[list[str], float]:
    from transcriber_cli import media
    from transcriber_cli.fsutil import sha256_file
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.remote.client import RemoteClient

    client = RemoteClient(settings)
    options, ids, audio = JobOptions.build(settings), [], 0.0
    for path in files:
        info = media.probe(path)
        audio += info.duration
        sub = client.submit(path, options, info=info, sha256=sha256_file(path),
                            formats=["json"], reuse=False)  # fmt: skip
        ids.append(sub.job_id)
    client.close()
    return ids, audio


def read_outputs(docs: list[dict], bucket: str) -> dict:
    """Text tokens (tiny.en's tokenizer where carried, else words) and speakers per job."""
    from transcriber_cli.aws.session import client

    s3 = client("s3", "us-east-1")
    try:
        import production

        count = production.Counter().tokens
        unit = "text_tokens"
    except Exception:  # no tokenizer here: words will do for a check
        count, unit = (lambda texts: sum(len(t.split()) for t in texts)), "words"
    total, speakers, empty = 0, set(), 0
    for d in docs:
        key = next((k for k in d.get("outputs", []) if k.endswith(".json")), None)
        if key is None:
            empty += 1
            continue
        data = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        segments = data.get("segments", [])
        n = count([s.get("text", "") for s in segments])
        total += n
        empty += n == 0
        speakers.update(s["speaker"] for s in segments if s.get("speaker"))
    return {unit: total, "jobs_without_text": empty, "speakers": len(speakers)}


def first_job(docs: list[dict], first: list[str], since_spawn: Any) -> list | None:
    """The first-submitted job's claim and end (spawn-relative) and how it ran, where later
    jobs joined it."""
    rows = [d for d in docs if d["_id"] in first and d.get("started")]
    if len(rows) != 1:
        return None
    d = rows[0]
    runtime = (d.get("result") or {}).get("runtime", {})
    how = {k: runtime.get(k) for k in ("windows_in_flight", "batch_size", "decoder_lanes")}
    ended = since_spawn(d["finished"]) if d.get("finished") else None
    return [since_spawn(d["started"]), ended, how]


def one_run(spec: str, args: Any, logs: Path, tmp: Path, cache: Path, servers: dict) -> dict:
    cold, what, concurrency = spec.split(":")
    name = spec.replace(":", "-")
    if cold == "cold":
        shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["TRANSCRIBER_MONGODB_DATABASE"] = f"bench_{name.replace('-', '_')}"
    stack = make_stack(args.visibility)
    from transcriber_cli.config import load_settings

    first, _, then = what.partition("+")
    files, late = inputs(first, tmp), inputs(then, tmp) if then else []
    t_submit = time.perf_counter()
    ids, audio = submit(load_settings(), files)
    submit_s = time.perf_counter() - t_submit
    late_ids: list[str] = []
    late_at: list[float] = []

    here = str(Path(sys.executable).parent)
    exe = shutil.which("transcriber") or shutil.which("transcriber", path=here)
    assert exe, "no transcriber on PATH"
    argv = [exe, "worker", "--concurrency", concurrency, "--idle-exit", str(args.idle_exit),
            "-v"]  # fmt: skip
    env = dict(os.environ, CUDA_CACHE_PATH=str(cache), TRANSCRIBER_WORKER_TELEMETRY="false")
    timeline: list[tuple[float, str]] = []
    log = (logs / f"{name}.log").open("w")
    from gpu_bench import GpuMemorySampler

    with GpuMemorySampler() as mem:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="replace")  # fmt: skip

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                timeline.append((round(time.perf_counter() - t0, 3), line.rstrip("\n")))
                log.write(f"{timeline[-1][0]:9.3f} {line}")

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        import pymongo

        db = pymongo.MongoClient(servers["mongo"])[os.environ["TRANSCRIBER_MONGODB_DATABASE"]]
        deadline, ended_at = t0 + args.timeout, None

        def submit_late() -> None:  # beside the jobs already running, as a busy queue has it
            late_at.append(round(time.perf_counter() - t0, 2))
            try:
                got, seconds = submit(load_settings(), late)
            except Exception as exc:  # the row says so; the run ends with the first jobs
                late_error.append(f"{type(exc).__name__}: {exc}")
                return
            late_ids.extend(got)
            late_at.append(round(time.perf_counter() - t0, 2))
            late_audio.append(seconds)

        late_audio: list[float] = []
        late_error: list[str] = []
        adding, claimed = None, 0.0
        while time.perf_counter() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if late and adding is None and not claimed:
                started = {"_id": {"$in": ids}, "started": {"$ne": None}}
                claimed = time.perf_counter() if db.jobs.count_documents(started) else 0.0
            if claimed and adding is None and time.perf_counter() - claimed >= args.late_after:
                adding = threading.Thread(target=submit_late, daemon=True)
                adding.start()
            if adding is not None and adding.is_alive():
                continue
            every = ids + late_ids
            n = db.jobs.count_documents({"_id": {"$in": every}, "status": {"$in": list(ENDED)}})
            if n >= len(every) and (not late or late_ids or late_error):
                ended_at = time.perf_counter() - t0
                break
        proc.terminate()  # the backlog is done: a SIGTERM ends an idle worker at once
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        reader.join(timeout=10)
    log.close()
    files, ids, audio = files + late, ids + late_ids, audio + sum(late_audio)
    docs = list(db.jobs.find({"_id": {"$in": ids}}))
    db.client.close()
    spawn = time.time() - (time.perf_counter() - t0)  # the epoch of the worker's spawn

    def since_spawn(stamp: Any) -> float:
        return round(stamp.replace(tzinfo=dt.UTC).timestamp() - spawn, 2)

    done = [d for d in docs if d["status"] == "completed"]
    first_claim = min((since_spawn(d["started"]) for d in docs if d.get("started")), default=None)
    last_end = max((since_spawn(d["finished"]) for d in done), default=None)
    drain = round(last_end - first_claim, 2) if done and first_claim is not None else None
    said = lambda pattern: next(  # noqa: E731
        ((t, m.groups()) for t, line in timeline if (m := re.search(pattern, line))), None
    )
    warm = said(r"loaded in ([\d.]+) s, warmed up in ([\d.]+) s")
    row: dict[str, Any] = {
        "run": spec, "model": args.model, "device": args.device, "input": what,
        "files": len(files), "audio_s": round(audio, 1), "concurrency": int(concurrency),
        "cuda_cache": cold, "rc": rc, "submit_s": round(submit_s, 2),
        "late_submitted_s": late_at or None,  # spawn to the start and end of the late submits
        "late_error": late_error[0] if late_error else None,
        "first_job_s": first_job(docs, ids[: len(ids) - len(late_ids)], since_spawn),
        "status": {s: sum(d["status"] == s for d in docs) for s in {d["status"] for d in docs}},
        "warm_up_line_s": warm[0] if warm else None,
        "load_s": float(warm[1][0]) if warm else None,
        "warm_up_s": float(warm[1][1]) if warm else None,
        "first_claim_s": first_claim, "last_end_s": last_end,
        "all_ended_s": round(ended_at, 2) if ended_at else None,
        "drain_s": drain,
        "drain_s_per_audio_hour": round(drain / (audio / 3600), 2) if drain else None,
        "x_rt_drain": round(audio / drain, 1) if drain else None,
        "x_rt_from_spawn": round(audio / last_end, 1) if last_end else None,
        # the device time the jobs were charged: about the drain when they shared the GPU
        "attempts": sum(d.get("attempts", 0) for d in docs),  # more than the jobs: retries
        "errors": sorted({d["error"][:200] for d in docs if d.get("error")}) or None,
        "gpu_seconds_sum": round(sum(d.get("cost", {}).get("gpu_seconds", 0) for d in docs), 1),
        "job_s": dist([(d["finished"] - d["started"]).total_seconds() for d in done], digits=2),
        "gpu_peak_mib": mem.delta if shutil.which("nvidia-smi") else None,
        "cache_bytes": cached_bytes(cache),
        "said": [line for _, line in timeline
                 if re.search(r"batch size|decoder lanes|jobs at once|warmed up", line)][:6],
    }  # fmt: skip
    row.update(read_outputs(done, stack["bucket"]))
    if rc not in (0, -15, 143) or len(done) < len(ids):
        row["tail"] = [line for _, line in timeline[-15:]]
    return row


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--model", default="large-v3", help="production.py's, or a name on cpu")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--runs", default="cold:hour:1,warm:folder:1,warm:folder:4")
    parser.add_argument("--visibility", type=int, default=300, help="SQS visibility timeout")
    parser.add_argument("--idle-exit", type=float, default=600)
    parser.add_argument("--timeout", type=float, default=400, help="per run")
    parser.add_argument("--cuda-cache", type=Path, help="kept after the runs (default: a temp dir)")
    parser.add_argument("--late-after", type=float, default=0,
                        help="seconds from the first claim to `then`'s submits")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp_name:
        tmp = Path(tmp_name)
        logs = args.out.parent / "worker-logs"
        logs.mkdir(parents=True, exist_ok=True)
        procs, endpoint, mongo_url = start_servers(logs)
        try:
            environment(endpoint, mongo_url, tmp)
            os.environ.update(model_env(args))
            for spec in args.runs.split(","):
                cache = args.cuda_cache or tmp / "cuda-cache"
                row = one_run(spec, args, logs, tmp, cache, {"mongo": mongo_url})
                row["commit"] = os.environ.get("BENCH_COMMIT")
                emit(args.out, row)
        finally:
            stop_servers(procs)


if __name__ == "__main__":
    main()
