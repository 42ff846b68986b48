"""Cold start, timed: a worker booted from the stack's bucket the way the user data boots it.

    python bench/boot.py [--model-mb 300] [--out bench/results/boot.json]

What runs: a moto server process; ``transcriber infra up``; ``transcriber models push`` of
tiny.en and a small random-weight pipeline, padded with ``--model-mb`` of random bytes in
the bundle (a stand-in for a large model's size, so the models step moves real bytes);
``transcriber fleet up`` (which builds and uploads the wheel); then the boot script from the
user data in a clean virtual environment (``tests/cloud/test_cold_start.py`` does the same
and checks it), with the steps timed from its own boot report, three times. On this machine
the dependencies come through a ``.pth`` line, not the index: the install step here is
pip resolving and installing our wheel only. bench/README.md turns these figures into an
estimate for a g4dn/g5 from a DLAMI, with and without a baked AMI. Not part of the tests.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from common import RESULTS, free_port, make_parser, wait_for_moto, write_json  # noqa: E402

BIN = Path(sys.executable).parent
STACK = "bench"


def cli(*args: str) -> dict:
    proc = subprocess.run([str(BIN / "transcriber"), *args, "--json"], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"transcriber {' '.join(args)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--model-mb", type=int, default=300, help="padding in the bundle")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "boot.json")
    args = parser.parse_args()

    from tests.cloud.test_cold_start import boot, clean_venv
    from tests.diarize.random_pipeline import build_random_pipeline

    raw: dict = {"args": {k: str(v) for k, v in vars(args).items()},
                 "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                 "runs": []}  # fmt: skip
    port = free_port()
    moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for_moto(endpoint)
        with tempfile.TemporaryDirectory(prefix="boot-bench-") as tmp_dir:
            tmp = Path(tmp_dir)
            os.environ.update({
                "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "HF_HUB_OFFLINE": "1",
                "TRANSCRIBER_CONFIG": str(tmp / "config.toml"),
                "TRANSCRIBER_STATE_DIR": str(tmp / "state"),
            })  # fmt: skip
            import boto3

            t0 = time.perf_counter()
            cli("infra", "up", "--stack", STACK)
            raw["infra_up_s"] = round(time.perf_counter() - t0, 2)
            bucket = f"transcriber-{STACK}-123456789012-us-east-1"
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.delete_bucket_policy(Bucket=bucket)  # moto ignores its Conditions (docs/cloud.md)
            bundle = tmp / "bundle"
            pipeline = build_random_pipeline(tmp / "pipeline", size="tiny")
            subprocess.run([str(BIN / "transcriber"), "models", "pull", "--bundle", str(bundle),
                            "-m", "tiny.en", "--diarization-model", str(pipeline)],
                           check=True, capture_output=True)  # fmt: skip
            (bundle / "whisper" / "tiny.en" / "padding.bin").write_bytes(
                os.urandom(args.model_mb * 1024 * 1024)
            )
            t0 = time.perf_counter()
            pushed = cli("models", "push", "--stack", STACK, "--bundle", str(bundle))
            raw["models_push_s"] = round(time.perf_counter() - t0, 2)
            raw["models_mb"] = round(sum(p.stat().st_size for p in bundle.rglob("*")
                                         if p.is_file()) / 2**20, 1)  # fmt: skip
            t0 = time.perf_counter()
            up = cli("fleet", "up", "--stack", STACK, "--ami", "ami-12c6146b")
            raw["fleet_up_s"] = round(time.perf_counter() - t0, 2)
            raw["release"] = up["release"]
            raw["models"] = pushed
            lt = boto3.client("ec2", region_name="us-east-1").describe_launch_template_versions(
                LaunchTemplateName=f"transcriber-{STACK}-worker", Versions=["$Latest"]
            )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
            script = base64.b64decode(lt["UserData"]).decode()
            raw["user_data_bytes"] = len(script.encode())
            for run in range(args.runs):
                python = clean_venv(tmp / f"venv{run}")
                t0 = time.perf_counter()
                booted = boot(python, script, tmp / f"opt{run}")
                total = time.perf_counter() - t0
                if booted.returncode != 0:
                    raise SystemExit(booted.stderr)
                key = f"boot/{os.uname().nodename}.json"
                report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                raw["runs"].append({"total_s": round(total, 2), "steps": report["steps"]})
                print(json.dumps(raw["runs"][-1]))
                write_json(args.out, raw)
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    write_json(args.out, raw)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
