"""The worker's boot, as the user data runs it on a fresh instance (and a test runs it here).

Standalone on purpose: it runs before our package is installed, with only the standard
library and boto3 (pinned by the user data). It fetches the stack's worker release and
models from the bucket, checks every file against the SHA-256 the user data carries (the
models through the hash of their manifest), installs the wheel with the pinned
constraints, and reports each step with its duration to ``boot/{instance}.json`` in the
bucket, which ``fleet status`` shows. A failed check stops the boot with one line there.

Usage: python boot_script.py BOOT.json   (written by the user data)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

BOOT_PREFIX = "boot/"  # aws/s3.py BOOT_PREFIX (this script cannot import our package)


def _now() -> str:
    # timezone.utc, not 3.11's dt.UTC: this runs on the AMI's own python3, before our install
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")  # noqa: UP017


def instance_id(imds: str) -> str:
    """The instance id from IMDSv2; the host name off EC2 (tests)."""
    import socket

    try:
        token_req = urllib.request.Request(
            f"{imds}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        token = urllib.request.urlopen(token_req, timeout=1).read().decode()
        req = urllib.request.Request(
            f"{imds}/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token}
        )
        return urllib.request.urlopen(req, timeout=1).read().decode()
    except Exception:
        return socket.gethostname()


class BootFailed(Exception):
    pass


class Boot:
    def __init__(self, config: dict[str, Any], s3: Any) -> None:
        self.config, self.s3 = config, s3
        self.bucket = config["bucket"]
        self.root = Path(config["root"])
        self.instance = instance_id(config.get("imds_url", "http://169.254.169.254"))
        self.report: dict[str, Any] = {
            "instance_id": self.instance,
            "version": config["release"]["version"],
            "status": "booting",
            "step": None,
            "steps": [],
            "error": None,
            "started": _now(),
            "updated": _now(),
        }

    # --- reporting ----------------------------------------------------------------------------
    def _write(self) -> None:
        self.report["updated"] = _now()
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=f"{BOOT_PREFIX}{self.instance}.json",
                Body=json.dumps(self.report).encode(),
                ServerSideEncryption="AES256",
            )
        except Exception as exc:  # reporting must never stop a boot
            print(f"boot report not written: {exc}", file=sys.stderr)

    def step(self, name: str, action: Any) -> Any:
        self.report["step"] = name
        self._write()
        started = time.monotonic()
        result = action()
        self.report["steps"].append({"name": name, "seconds": round(time.monotonic() - started, 1)})
        return result

    # --- files ----------------------------------------------------------------------------------
    @staticmethod
    def _digest(path: Path) -> str:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def fetch(self, key: str, dest: Path, sha256: str) -> Path:
        """``key`` at ``dest``, checked. A file already there with the right hash (an image
        baked from a booted worker) is kept: only what changed is downloaded."""
        if dest.is_file() and self._digest(dest) == sha256:
            self.report["reused"] = self.report.get("reused", 0) + 1
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(self.bucket, key, str(dest))
        if self._digest(dest) != sha256:
            dest.unlink()
            raise BootFailed(f"s3://{self.bucket}/{key} does not match its SHA-256; refused")
        return dest

    def release(self) -> None:
        release = self.config["release"]
        dist = self.root / "release"
        wheel = self.fetch(release["wheel"]["key"], dist / release["wheel"]["name"],
                           release["wheel"]["sha256"])  # fmt: skip
        constraints = self.fetch(release["constraints"]["key"], dist / "constraints.txt",
                                 release["constraints"]["sha256"])  # fmt: skip
        self.wheel, self.constraints = wheel, constraints

    def install(self) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--constraint", str(self.constraints),
             str(self.wheel)],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise BootFailed(f"installing {self.wheel.name} failed: {last}")

    def models(self) -> None:
        """Every file the manifest lists, checked; then the settings that point at them."""
        models = self.config["models"]
        base = self.root / "models"
        manifest = self.fetch(models["manifest"], base / "SHA256SUMS", models["sha256"])
        prefix = models["manifest"].rsplit("/", 1)[0] + "/"
        for line in manifest.read_text().splitlines():
            digest, _, name = line.partition("  ")
            if not name or name.startswith("/") or ".." in Path(name).parts:
                raise BootFailed(f"bad entry in the models manifest: {line[:80]!r}")
            self.fetch(prefix + name, base / name, digest)
        bundle = json.loads((base / "bundle.json").read_text())
        env = {
            "TRANSCRIBER_MODEL": str(base / bundle["whisper"]["path"]),
            "TRANSCRIBER_DIARIZATION_MODEL": str(base / bundle["diarization"]["path"]),
            "TRANSCRIBER_OFFLINE": "true",
        }
        (self.root / "models.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))

    def shell_steps(self) -> None:
        """The steps the user data ran before Python could report (apt, the venv)."""
        try:
            times = json.loads((self.root / "boot-times.json").read_text())
        except (OSError, ValueError):
            return
        for name in ("packages", "python"):
            if isinstance(times.get(name), int | float):
                self.report["steps"].append({"name": name, "seconds": float(times[name])})

    def run(self) -> int:
        self.shell_steps()
        try:
            self.step("release", self.release)
            self.step("install", self.install)
            if self.config.get("models"):
                self.step("models", self.models)
        except Exception as exc:
            line = str(exc) if isinstance(exc, BootFailed) else f"{type(exc).__name__}: {exc}"
            self.report.update(status="failed", error=line.splitlines()[0][:500])
            self._write()
            if not isinstance(exc, BootFailed):
                traceback.print_exc()
            print(f"boot failed: {self.report['error']}", file=sys.stderr)
            return 1
        self.report.update(status="installed", step=None)
        self._write()
        return 0


def main(argv: list[str] | None = None) -> int:
    import boto3

    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    s3 = boto3.client("s3", region_name=config["region"])
    return Boot(config, s3).run()


if __name__ == "__main__":
    sys.exit(main())
