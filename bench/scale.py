"""Scale run: many short jobs through the real queue and job store, many worker processes.

    python bench/scale.py --jobs 50 --workers 4 --out bench/results/scale-small.json
    python bench/scale.py                         # 1000 jobs, 20 workers

What runs: a moto server process (S3 + SQS) and the Mongo wire server (tests/mongo_wire.py)
as processes; bucket, queue and DLQ made as tests/remote/conftest.py ``create_stack`` makes
them (plus S3 versioning on the bucket, so a job whose outputs were written twice shows a
second version); every job submitted with ``RemoteClient.submit`` (reuse off) from one 3 s
mp3 cut from examples/conversation.mp4; then ``--workers`` processes of
bench/standin_worker.py: the product's ``Worker`` loop with an engine stand-in that sleeps
``--engine-ms`` (no model). The bench waits until every job ended, reads the job documents,
worker logs and S3 versions, then measures with serverStatus how many MongoDB operations one
tailing poll costs (``JobStore.get_many``, as ``RemoteClient.wait`` polls) for 1-1000 jobs
and 1 or 5 clients. Needs ffmpeg, moto[server], mockupdb, mongomock (the test extras).

Writes --out (default bench/results/scale.json), rewritten after every phase; worker logs
stay in bench/.data/scale/RUN/. Not part of the test suite.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from common import (  # noqa: E402
    DATA,
    EXAMPLE,
    RESULTS,
    free_port,
    make_parser,
    wait_for_moto,
    write_json,
)

ENDED = ("completed", "failed", "cancelled")
MONITOR_COMMANDS = ("hello", "isMaster", "ismaster", "serverStatus")  # not the app's load


# --- processes ----------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reap(proc: subprocess.Popen, timeout: float) -> float:
    """Wait for ``proc`` (SIGTERM after ``timeout``) with wait4, not Popen.wait, to get its
    CPU seconds, the children it reaped (ffmpeg) included."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.terminate()
            deadline = float("inf")
        time.sleep(0.2)


def start_servers(logs: Path) -> tuple[list[subprocess.Popen], str, str]:
    """moto and the wire server, run with this interpreter (no console script needed: the
    GPU machine's carried wheels have none, bench/worker_gpu.py)."""
    moto_port, mongo_port = free_port(), free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wire = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "mongo_wire.py"), "--port", str(mongo_port)],
        stdout=subprocess.PIPE,
        stderr=(logs / "mongo_wire.log").open("w"),
        text=True,
    )
    assert wire.stdout and wire.stdout.readline().startswith("ready"), "wire server failed"
    endpoint = f"http://127.0.0.1:{moto_port}"
    wait_for_moto(endpoint)
    return [moto, wire], endpoint, f"mongodb://127.0.0.1:{mongo_port}/"


def stop_servers(servers: list[subprocess.Popen]) -> None:
    for p in servers:
        p.terminate()
        p.wait(timeout=10)


def environment(endpoint: str, mongo_url: str, tmp: Path) -> None:
    """The env tests/conftest.py and tests/remote/conftest.py give workers, in os.environ."""
    for name in [n for n in os.environ if n.startswith("TRANSCRIBER_")]:
        del os.environ[name]
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "HF_HUB_OFFLINE": "1",
            "TRANSCRIBER_CONFIG": str(tmp / "config.toml"),  # absent: no developer config
            "TRANSCRIBER_STATE_DIR": str(tmp / "state"),
            "TRANSCRIBER_LOAD_PLUGINS": "markdown",
            "TRANSCRIBER_MONGODB_URL": mongo_url,
            "TRANSCRIBER_MONGODB_DATABASE": "scale",
            "TRANSCRIBER_MODEL": "tiny.en",
            "TRANSCRIBER_DEVICE": "cpu",
            "TRANSCRIBER_DIARIZE": "false",
            "TRANSCRIBER_IMDS_URL": "",
            "TRANSCRIBER_WORKER_WAIT_SECONDS": "1",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


def make_stack(visibility: int) -> dict[str, str]:
    from tests.remote.conftest import create_stack
    from transcriber_cli.aws.session import client

    stack = create_stack(visibility_timeout=visibility)
    client("s3", "us-east-1").put_bucket_versioning(
        Bucket=stack["bucket"], VersioningConfiguration={"Status": "Enabled"}
    )
    os.environ["TRANSCRIBER_BUCKET"] = stack["bucket"]
    os.environ["TRANSCRIBER_QUEUE_URL"] = stack["queue_url"]
    return stack


def make_mp3(dest: Path, seconds: float) -> Path:
    """The conversation's first seconds as the 16 kHz mono mp3 remote mode uploads."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-nostdin", "-i", str(EXAMPLE), "-t", str(seconds),
         "-vn", "-ac", "1", "-ar", "16000", "-c:a", "libmp3lame", "-b:a", "128k", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


# --- figures ------------------------------------------------------------------------------------
def dist(values: list[float], scale: float = 1.0, digits: int = 1) -> dict[str, Any]:
    """n, mean, p50, p95, max (times ``scale``)."""
    if not values:
        return {"n": 0}
    v = sorted(x * scale for x in values)
    pick = lambda q: round(v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))], digits)  # noqa: E731
    return {
        "n": len(v),
        "mean": round(statistics.fmean(v), digits),
        "p50": pick(0.5),
        "p95": pick(0.95),
        "max": round(v[-1], digits),
    }


class ServerStatus:
    """serverStatus snapshots and their differences, less what the measuring itself costs."""

    def __init__(self, mongo_url: str) -> None:
        import pymongo

        self.client: Any = pymongo.MongoClient(mongo_url)

    def snap(self) -> dict:
        s = self.client.admin.command("serverStatus")
        cmds = {k: v["total"] for k, v in s["metrics"]["commands"].items()}
        return {"ops": s["opcounters"], "cmds": cmds, "conns": s["connections"]["current"]}

    @staticmethod
    def delta(before: dict, after: dict, own: Counter | None = None) -> dict:
        """Operations between two snapshots: opcounters and per command, with pymongo's
        monitoring (hello), the snapshots themselves and ``own`` (the bench's commands) out."""
        cmds = Counter({k: v - before["cmds"].get(k, 0) for k, v in after["cmds"].items()})
        cmds -= own or Counter()
        hidden = {k: cmds.pop(k) for k in MONITOR_COMMANDS if k in cmds}
        ops = {k: v - before["ops"][k] for k, v in after["ops"].items()}
        ops["command"] -= sum(hidden.values()) + sum((own or Counter()).values())
        return {
            "opcounters": ops,
            "commands": {k: v for k, v in cmds.items() if v},
            "monitoring": hidden,
        }

    @staticmethod
    def per(delta: dict, n: float, digits: int = 2) -> dict:
        return {
            part: {k: round(v / n, digits) for k, v in delta[part].items() if v}
            for part in ("opcounters", "commands")
        }

    def close(self) -> None:
        self.client.close()


# --- phases -------------------------------------------------------------------------------------
def submit_all(settings: Any, mp3: Path, jobs: int, threads: int, status: ServerStatus) -> dict:
    from transcriber_cli import media
    from transcriber_cli.fsutil import sha256_file
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.remote.client import RemoteClient

    client = RemoteClient(settings)
    _ = client.storage, client.queue, client.jobs  # made once, before the threads share them
    info, sha = media.probe(mp3), sha256_file(mp3)
    options = JobOptions.build(settings)
    before = status.snap()
    t0 = time.perf_counter()

    def one(_: int) -> tuple[str, dict]:
        sub = client.submit(mp3, options, info=info, sha256=sha, formats=["txt"], reuse=False)
        return sub.job_id, sub.timings

    with ThreadPoolExecutor(threads) as pool:
        done = list(pool.map(one, range(jobs)))
    seconds = time.perf_counter() - t0
    ops = ServerStatus.delta(before, status.snap())
    client.close()
    steps = {k: dist([t[k] for _, t in done], 1000) for k in done[0][1]}
    return {
        "ids": [job_id for job_id, _ in done],
        "jobs": jobs,
        "threads": threads,
        "seconds": round(seconds, 2),
        "per_s": round(jobs / seconds, 1),
        "step_ms": steps,
        "mongo_ops_per_job": ServerStatus.per(ops, jobs),
    }


def start_workers(
    n: int, logs: Path, engine_ms: float, idle_exit: float, name: str = "worker", profile: int = 0
) -> list[subprocess.Popen]:
    """``n`` stand-in workers; the first ``profile`` of them under cProfile."""
    argv = [sys.executable, str(HERE / "standin_worker.py"), "--engine-ms", str(engine_ms)]
    argv += ["--idle-exit", str(idle_exit)]
    procs = []
    for i in range(n):
        log = (logs / f"{name}{i:02d}.log").open("w")
        extra = ["--profile", str(logs / f"{name}{i:02d}.pstats")] if i < profile else []
        procs.append(
            subprocess.Popen(
                argv + extra,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
            )
        )
    return procs


def profile_summary(logs: Path, jobs: int, top: int = 30) -> list[dict]:
    """Where the profiled workers' time went: our functions and the calls out of them,
    by cumulative seconds per job (cProfile's own overhead included)."""
    import pstats

    files = [str(p) for p in sorted(logs.glob("worker*.pstats"))]
    if not files or not jobs:
        return []
    stats: Any = pstats.Stats(*files)
    rows = []
    for (path, line, func), (_, calls, _, cum, _) in stats.stats.items():
        ours = "transcriber_cli" in path or "standin_worker" in path
        # boto3's one entry point, and subprocess for ffmpeg; thread waits are idle time.
        if ours or func in ("_make_api_call", "communicate"):
            where = path.split("transcriber_cli/")[-1] if ours else Path(path).name
            rows.append(
                {"function": f"{where}:{line}({func})", "calls_per_job": round(calls / jobs, 2),
                 "cum_ms_per_job": round(1000 * cum / jobs, 1)}
            )  # fmt: skip
    return sorted(rows, key=lambda r: -r["cum_ms_per_job"])[:top]


def wait_until_ended(db: Any, jobs: int, timeout: float, on_tick: Any) -> tuple[dict, int]:
    """Poll the status counts once a second; returns them and how many queries that took."""
    deadline, ticks, counts = time.monotonic() + timeout, 0, {}
    while time.monotonic() < deadline:
        time.sleep(1)
        ticks += 1
        counts = {
            d["_id"]: d["n"]
            for d in db.jobs.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        }
        on_tick(counts)
        if sum(counts.get(s, 0) for s in ENDED) >= jobs:
            break
    return counts, ticks


def analyse(db: Any, ids: list[str], logs: Path, summaries: dict, bucket: str) -> dict:
    """Completed, lost, duplicated; worker time per job and its overhead over the engine."""
    from transcriber_cli.aws.session import client

    docs = {d["_id"]: d for d in db.jobs.find({"_id": {"$in": ids}})}
    status = Counter(d["status"] for d in docs.values())
    completed_lines: Counter[str] = Counter()
    for log in sorted(logs.glob("worker*.log")):
        completed_lines.update(re.findall(r"completed job ([0-9a-f]+) in", log.read_text()))
    versions: Counter[str] = Counter()
    for page in (
        client("s3", "us-east-1")
        .get_paginator("list_object_versions")
        .paginate(Bucket=bucket, Prefix="output/")
    ):
        versions.update(v["Key"] for v in page.get("Versions", []))
    keys_per_job = Counter(k.split("/")[1] for k in versions)
    twice = {k.split("/")[1] for k, n in versions.items() if n > 1}

    engine = {w: statistics.fmean(s["engine_calls_s"] or [0]) for w, s in summaries.items()}
    in_job, cycle, engine_calls = [], [], []
    by_worker: dict[str, list] = {}
    for d in docs.values():
        if d["status"] == "completed":
            by_worker.setdefault(d["worker"], []).append(d)
    for worker, ds in by_worker.items():
        ds.sort(key=lambda d: d["started"])
        sleep = engine.get(worker, 0.0)
        for a, b in zip(ds, [*ds[1:], None]):
            in_job.append((a["finished"] - a["started"]).total_seconds() - sleep)
            if b is not None:
                cycle.append((b["started"] - a["started"]).total_seconds() - sleep)
    for s in summaries.values():
        engine_calls += s["engine_calls_s"]
    done = [d for d in docs.values() if d.get("finished") and d.get("started")]
    span = (
        (max(d["finished"] for d in done) - min(d["started"] for d in done)).total_seconds()
        if done
        else 0.0
    )
    return {
        "status": dict(status),
        "completed": status.get("completed", 0),
        "failed": status.get("failed", 0),
        "lost": len(ids) - status.get("completed", 0),
        "duplicated_by_log": sum(1 for n in completed_lines.values() if n > 1),
        "completed_log_lines": sum(completed_lines.values()),
        "duplicated_by_s3_versions": len(twice),
        "s3_objects_per_job": dict(Counter(keys_per_job.values())),
        "attempts": dict(Counter(d.get("attempts", 0) for d in docs.values())),
        "processing_span_s": round(span, 2),
        "throughput_jobs_per_s": round(status.get("completed", 0) / span, 2) if span else None,
        "jobs_per_worker": dist([len(v) for v in by_worker.values()], digits=0),
        "engine_call_ms": dist(engine_calls, 1000),
        "overhead_ms": {
            # claim stamp -> completion stamp: download, decode, progress writes, exports.
            "in_job": dist(in_job, 1000),
            # one job's claim to the same worker's next claim: adds complete, SQS delete,
            # heartbeat, receive. The full per-job cost while a backlog waits.
            "cycle": dist(cycle, 1000),
        },
    }


def tail(store: Any, ids: list[str], polls: int, latency: list[float]) -> None:
    """One tailing client: ``polls`` polls of the jobs, as ``RemoteClient.wait`` makes them."""
    for _ in range(polls):
        t0 = time.perf_counter()
        store.get_many(ids)
        latency.append(time.perf_counter() - t0)


def poll_load(settings: Any, ids: list[str], status: ServerStatus, polls: int) -> list[dict]:
    """MongoDB operations and latency of one tailing poll, as ``RemoteClient.wait`` polls."""
    import bson

    from transcriber_cli.remote.client import RemoteClient
    from transcriber_cli.store.documents import JobDocument
    from transcriber_cli.store.mongo import JobStore

    rows = []
    for tailed in [n for n in (1, 10, 100, 1000) if n <= len(ids)]:
        some = ids[:tailed]
        found = list(status.client.scale.jobs.find({"_id": {"$in": some}}))
        size = sum(len(bson.encode(d)) for d in found)
        t0 = time.perf_counter()
        for raw in found:  # the client's share of a poll: every document is validated
            JobDocument.model_validate(raw)
        validate_ms = 1000 * (time.perf_counter() - t0)
        for clients in (1, 5):
            stores = [JobStore.from_settings(settings) for _ in range(clients)]
            for s in stores:
                s.get_many(some[:1])  # connect first: handshakes are not the poll's cost
            latency: list[float] = []
            before = status.snap()
            threads = [
                threading.Thread(target=tail, args=(s, some, polls, latency)) for s in stores
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            ops = ServerStatus.delta(before, status.snap())
            row = {
                "tailed": tailed,
                "clients": clients,
                "polls": polls * clients,
                "ops_per_poll": ServerStatus.per(ops, polls * clients),
                "reply_kb": round(size / 1024, 1),
                "latency_ms": dist(latency, 1000),
                "validate_ms": round(validate_ms, 1),
            }
            if clients == 1:  # the real client path: wait() on ended jobs is one poll
                client = RemoteClient(settings, jobs=stores[0])
                before = status.snap()
                for _ in range(polls):
                    client.wait(some)
                row["wait_ops_per_call"] = ServerStatus.per(
                    ServerStatus.delta(before, status.snap()), polls
                )
            for s in stores:
                s.close()
            rows.append(row)
            print(f"poll: {json.dumps(row)}", file=sys.stderr, flush=True)
    return rows


def unit_costs(mp3: Path, reps: int = 10) -> dict:
    """What a worker does per job besides I/O, alone in this process: decode and exports."""
    from standin_worker import StandinEngine

    from transcriber_cli import media
    from transcriber_cli.formats.registry import available_formats
    from transcriber_cli.jobs.outputs import render

    decode, exports = [], []
    formats = list(available_formats().values())
    for _ in range(reps):
        t0 = time.perf_counter()
        audio = media.decode_audio(mp3)
        decode.append(time.perf_counter() - t0)
        transcript = StandinEngine(0).transcribe(audio, None)
        t0 = time.perf_counter()
        render(transcript, formats)
        exports.append(time.perf_counter() - t0)
    return {
        "decode_audio_ms": dist(decode, 1000),
        "render_ms": dist(exports, 1000),
        "formats": [f.name for f in formats],
    }


def machine() -> dict:
    model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "transcriber_cli"],
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.strip()
    # The code measured, when it differs from the commit: a digest of every module's text.
    digest = hashlib.sha256()
    for path in sorted((REPO / "transcriber_cli").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "commit": commit,
        "transcriber_cli_uncommitted_changes": bool(dirty),
        "transcriber_cli_sha256": digest.hexdigest()[:16],
        "loadavg_start": os.getloadavg(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


# --- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--engine-ms", type=float, default=50, help="stand-in engine sleep")
    parser.add_argument("--clip-seconds", type=float, default=3, help="length of the mp3")
    parser.add_argument("--submit-threads", type=int, default=4)
    parser.add_argument("--visibility", type=int, default=120, help="SQS visibility timeout")
    parser.add_argument("--idle-exit", type=float, default=10, help="workers exit when idle")
    parser.add_argument("--timeout", type=float, default=3600, help="for the processing phase")
    parser.add_argument("--polls", type=int, default=10, help="polls per client per row")
    parser.add_argument("--profile", type=int, default=0, help="cProfile the first N workers")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args()
    assert shutil.which("ffmpeg"), "needs ffmpeg"

    run_dir = DATA / "scale" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    result: dict[str, Any] = {
        "command": " ".join(["python", "bench/scale.py", *sys.argv[1:]]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine(),
        "logs": str(run_dir.relative_to(REPO)),
    }
    save = lambda: write_json(args.out, result)  # noqa: E731

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        servers, endpoint, mongo_url = start_servers(run_dir)
        server_cpu0 = [cpu_seconds(p.pid) for p in servers]
        try:
            environment(endpoint, mongo_url, Path(tmp))
            stack = make_stack(args.visibility)
            from transcriber_cli.config import load_settings

            settings = load_settings()
            mp3 = make_mp3(Path(tmp) / "clip.mp3", args.clip_seconds)
            status = ServerStatus(mongo_url)
            db = status.client.scale

            log(f"submitting {args.jobs} jobs")
            sub = submit_all(settings, mp3, args.jobs, args.submit_threads, status)
            ids = sub.pop("ids")
            result["submit"] = sub
            save()
            log(f"submitted in {sub['seconds']} s; starting {args.workers} workers")

            cpu_before = [cpu_seconds(p.pid) for p in servers]
            before = status.snap()
            t0 = time.perf_counter()
            procs = start_workers(
                args.workers, run_dir, args.engine_ms, args.idle_exit, profile=args.profile
            )

            def tick(counts: dict) -> None:
                elapsed = time.perf_counter() - t0
                result["progress"] = {"elapsed_s": round(elapsed, 1), **counts}
                if int(elapsed) % 10 == 0:
                    log(f"{elapsed:.0f} s: {counts}")
                    save()

            counts, ticks = wait_until_ended(db, args.jobs, args.timeout, tick)
            wall = time.perf_counter() - t0
            ops = ServerStatus.delta(before, status.snap(), own=Counter(aggregate=ticks))
            cpu_after = [cpu_seconds(p.pid) for p in servers]
            loadavg_end = os.getloadavg()
            log(f"ended after {wall:.1f} s: {counts}; waiting for workers to idle out")
            worker_cpu = [reap(p, args.idle_exit + 60) for p in procs]
            summaries = {}
            for path in sorted(run_dir.glob("worker*.log")):
                lines = [ln for ln in path.read_text().splitlines() if ln.startswith("{")]
                if lines:
                    summary = json.loads(lines[-1])
                    summaries[summary["worker_id"]] = summary

            run = analyse(db, ids, run_dir, summaries, stack["bucket"])
            if args.profile:
                profiled = [s for s in summaries.values() if s.get("profiled")]
                jobs_profiled = sum(s["outcomes"].get("completed", 0) for s in profiled)
                result["profile"] = {
                    "jobs": jobs_profiled,
                    "top": profile_summary(run_dir, jobs_profiled),
                }
            done = max(run["completed"], 1)
            run.update(
                {
                    "wall_s_from_worker_start": round(wall, 2),
                    "throughput_from_worker_start": round(run["completed"] / wall, 2),
                    "worker_exit": dict(Counter(s["reason"] for s in summaries.values())),
                    "worker_outcomes": dict(
                        sum((Counter(s["outcomes"]) for s in summaries.values()), Counter())
                    ),
                    "worker_cpu_ms_per_job": round(1000 * sum(worker_cpu) / done, 1),
                    "server_cpu_ms_per_job": {
                        name: round(1000 * (b - a) / done, 1)
                        for name, a, b in zip(("moto", "mongo_wire"), cpu_before, cpu_after)
                    },
                    "loadavg_end": loadavg_end,
                }
            )
            result["run"] = run
            result["worker_mongo_ops_per_job"] = ServerStatus.per(ops, done)
            result["worker_mongo_ops_total"] = ops
            hellos = sum(ops["monitoring"].get(k, 0) for k in ("hello", "isMaster", "ismaster"))
            result["mongo_hello_per_s"] = round(hellos / wall, 2)  # pymongo's server monitors
            save()
            log(f"run: {json.dumps(run)}")

            # A worker that starts, finds nothing and exits: the start-up share of worker CPU.
            idle = start_workers(1, run_dir, args.engine_ms, 0.5, name="idle-worker")
            run["idle_worker_cpu_s"] = round(reap(idle[0], 60), 2)
            result["unit_costs"] = unit_costs(mp3)
            save()
            log("measuring poll load")
            ended = [d["_id"] for d in db.jobs.find({"status": {"$in": ENDED}}, {"_id": 1})]
            result["poll_load"] = poll_load(settings, ended, status, args.polls)
            result["server_cpu_s_total"] = {
                name: round(cpu_seconds(p.pid) - c0, 1)
                for name, p, c0 in zip(("moto", "mongo_wire"), servers, server_cpu0)
            }
            status.close()
            save()
            log(f"wrote {args.out}")
        finally:
            stop_servers(servers)


if __name__ == "__main__":
    main()
