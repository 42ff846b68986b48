"""S3 for remote mode: the audio under ``uploads/`` and exports under ``output/{job}/``.

Every object is written with SSE-S3 (AES256) explicitly, so a bucket policy that denies
unencrypted PutObject accepts it. Large uploads go multipart through boto3's TransferConfig.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from transcriber_cli.aws.errors import (
    ACCESS_DENIED,
    NOT_FOUND,
    PermissionDenied,
    error_code,
    is_transient,
    translate,
)
from transcriber_cli.config import Settings
from transcriber_cli.errors import SetupError, Unavailable

ENCRYPTION = {"ServerSideEncryption": "AES256"}
MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024


def audio_key(job_id: str) -> str:
    return f"uploads/{job_id}.mp3"


def output_prefix(job_id: str) -> str:
    return f"output/{job_id}/"


BOOT_PREFIX = "boot/"  # boot/{instance}.json: the boot script's report (it keeps its own copy)


def checkpoint_key(job_id: str) -> str:
    """The finished windows' segments of a running job (``temp/`` expires on its own)."""
    return f"temp/checkpoints/{job_id}.json"


def resolve_bucket(settings: Settings) -> str:
    """``settings.bucket``, else the stack's bucket name (account id + region)."""
    if settings.bucket:
        return settings.bucket
    from transcriber_cli.aws.naming import bucket_name
    from transcriber_cli.aws.session import account_id, region_name

    account = account_id(settings.region, settings.profile)
    return bucket_name(settings.stack, account, region_name(settings.region, settings.profile))


class StorageError(SetupError):
    pass


class StorageNotFound(StorageError):
    pass


class StorageDenied(PermissionDenied):
    """A read AWS refused. To a caller that may not list the bucket (the worker and the
    client roles) AWS answers a missing object so too, rather than with a 404."""


class Storage:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        from transcriber_cli.aws.session import client

        return cls(client("s3", settings.region, settings.profile), resolve_bucket(settings))

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK
        )

    def upload_file(
        self, path: Path, key: str, progress: Callable[[int], None] | None = None
    ) -> None:
        try:
            self.s3.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs=dict(ENCRYPTION),
                Config=self._transfer_config(),
                Callback=progress,
            )
        except Exception as exc:
            raise self._error("upload", key, exc) from None

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **ENCRYPTION)
        except Exception as exc:
            raise self._error("upload", key, exc) from None

    def put_text(self, key: str, text: str, content_type: str = "text/plain") -> None:
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=text.encode("utf-8"),
                ContentType=f"{content_type}; charset=utf-8",
                **ENCRYPTION,
            )
        except Exception as exc:
            raise self._error("upload", key, exc) from None

    def download_file(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.s3.download_file(self.bucket, key, str(dest), Config=self._transfer_config())
        except Exception as exc:
            raise self._error("download", key, exc) from None
        return dest

    def size(self, key: str) -> int:
        """The object's size in bytes (a HEAD: nothing is downloaded)."""
        try:
            return int(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except Exception as exc:
            raise self._error("read", key, exc) from None

    def get_text(self, key: str) -> str:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode("utf-8")
        except Exception as exc:
            raise self._error("download", key, exc) from None

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys += [obj["Key"] for obj in page.get("Contents", [])]
        except Exception as exc:
            raise self._error("list", prefix, exc) from None
        return keys

    def delete(self, key: str) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._error("delete", key, exc) from None

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as exc:
                raise self._error("delete", prefix, exc) from None
        return len(keys)

    def _error(self, action: str, key: str, exc: BaseException) -> Exception:
        code = error_code(exc)
        if is_transient(exc):  # the caller may wait it out (retry.patiently)
            detail = code or type(exc).__name__
            return Unavailable(f"S3 unreachable: cannot {action} {key} ({detail})")
        if code == "NoSuchBucket":
            return SetupError(
                f"bucket {self.bucket} does not exist",
                hint="run 'transcriber infra up' or set TRANSCRIBER_BUCKET",
            )
        if code in NOT_FOUND:
            return StorageNotFound(f"s3://{self.bucket}/{key} not found")
        # HEAD requests carry no error code, only the status; over an ``errors.Client`` (the
        # stack commands') a GetObject's AccessDenied arrives as PermissionDenied already.
        denied = code == "403" or code in ACCESS_DENIED or isinstance(exc, PermissionDenied)
        if action in ("read", "download") and denied:
            return StorageDenied(
                f"AWS denied access to s3://{self.bucket}/{key} ({action}): the object is "
                "missing or these credentials may not read it (to a caller without "
                "s3:ListBucket AWS answers a missing object so)"
            )
        if code == "403":
            return PermissionDenied(f"AWS denied access to s3://{self.bucket}/{key} ({action})")
        typed = translate(exc, "s3")
        if typed is not None:
            return typed
        return StorageError(f"cannot {action} s3://{self.bucket}/{key}: {code or exc}")
