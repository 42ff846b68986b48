"""The stack's S3 bucket: SSE-S3 + bucket key, no public access, TLS-only policy, lifecycle."""

from __future__ import annotations

import json
from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.aws.errors import error_code, none_if_missing
from transcriber_cli.cloud.plan import Resource
from transcriber_cli.cloud.stack import Stack, tag_map
from transcriber_cli.errors import SetupError

TEMP_EXPIRY_DAYS = 7
BOOT_EXPIRY_DAYS = 7
DEFAULT_UPLOADS_EXPIRY_DAYS = 7
ENCRYPTION = {"SSEAlgorithm": "AES256", "BucketKeyEnabled": True}
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def bucket_policy(stack: Stack) -> dict[str, Any]:
    bucket, objects = stack.bucket_arn, f"{stack.bucket_arn}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                # Only a request that names another encryption is refused. UploadPart requests
                # carry no SSE header at all (it goes on CreateMultipartUpload), so denying a
                # missing header failed every multipart upload on AWS; objects sent without
                # one get the bucket's default encryption (SSE-S3) anyway.
                "Sid": "DenyOtherEncryption",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {
                    "StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"},
                    "Null": {"s3:x-amz-server-side-encryption": "false"},
                },
            },
        ],
    }


def lifecycle_rules(uploads_days: int) -> list[dict[str, Any]]:
    # output/ has no rule: results are kept until the user deletes them.
    def expire(prefix: str, days: int) -> dict[str, Any]:
        return {
            "ID": f"expire-{prefix.rstrip('/')}",
            "Filter": {"Prefix": prefix},
            "Status": "Enabled",
            "Expiration": {"Days": days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }

    # boot/: each instance's boot report (`fleet status` shows the last hours' only).
    return [expire("temp/", TEMP_EXPIRY_DAYS), expire("uploads/", uploads_days),
            expire("boot/", BOOT_EXPIRY_DAYS)]  # fmt: skip


class Bucket(Resource):
    kind = "s3-bucket"

    def __init__(self, stack: Stack, uploads_days: int = DEFAULT_UPLOADS_EXPIRY_DAYS) -> None:
        super().__init__(stack)
        self.uploads_days = uploads_days
        self.s3 = stack.client("s3")

    @property
    def name(self) -> str:
        return self.stack.bucket

    def desired(self) -> dict[str, Any]:
        return {
            "encryption": ENCRYPTION,
            "public_access_block": PUBLIC_ACCESS_BLOCK,
            "policy": bucket_policy(self.stack),
            "lifecycle": lifecycle_rules(self.uploads_days),
            "tags": self.stack.tags,
        }

    def _exists(self) -> bool:
        try:
            self.s3.head_bucket(Bucket=self.name, ExpectedBucketOwner=self.stack.account)
            return True
        except Exception as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                return False
            if code in ("403", "AccessDenied", "Forbidden"):
                raise SetupError(
                    f"S3 bucket name {self.name} is taken by another account",
                    hint="use another --stack name",
                ) from None
            raise

    def _get(self, call: str, missing: tuple[str, ...], pick: Any) -> Any:
        found = none_if_missing(missing, getattr(self.s3, call), Bucket=self.name)
        return None if found is None else pick(found)

    def _check_ours(self, tags: dict[str, str] | None) -> None:
        """Refuse a bucket of this name that belongs to another stack or region: adopting it
        would point this stack's workers at someone else's data. An untagged bucket in our
        account and region is ours (a create cut short before its tags)."""
        found = self.s3.get_bucket_location(Bucket=self.name).get("LocationConstraint")
        region = found or "us-east-1"  # S3 reports us-east-1 as no constraint
        other = (tags or {}).get(naming.TAG_KEY)
        if region != self.stack.region or (other is not None and other != self.stack.name):
            owner = f"stack {other!r}" if other else "no stack"
            raise SetupError(
                f"S3 bucket {self.name} already exists in {region} for {owner}; "
                f"not adopting it for stack {self.stack.name!r} in {self.stack.region}",
                hint="use another --stack name",
            )

    def tagged(self, current: dict[str, Any]) -> bool:
        """Ours to delete: tagged for this stack, or with no tags at all. `up` adopts an
        untagged bucket of this name (one whose create was cut short before its tags:
        ``_check_ours``), so `down` removes it too; it was left behind. One with other
        tags (made by hand) is left alone."""
        tags = current.get("tags")
        return self.stack.owns(tags) or not tags

    def current(self) -> dict[str, Any] | None:
        if not self._exists():
            return None
        tags = self._get("get_bucket_tagging", ("NoSuchTagSet",), lambda r: tag_map(r["TagSet"]))
        self._check_ours(tags)

        def encryption(resp: dict[str, Any]) -> dict[str, Any]:
            rule = resp["ServerSideEncryptionConfiguration"]["Rules"][0]
            return {
                "SSEAlgorithm": rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
                "BucketKeyEnabled": rule.get("BucketKeyEnabled", False),
            }

        return {
            "encryption": self._get(
                "get_bucket_encryption",
                ("ServerSideEncryptionConfigurationNotFoundError",),
                encryption,
            ),
            "public_access_block": self._get(
                "get_public_access_block",
                ("NoSuchPublicAccessBlockConfiguration",),
                lambda r: r["PublicAccessBlockConfiguration"],
            ),
            "policy": self._get(
                "get_bucket_policy", ("NoSuchBucketPolicy",), lambda r: json.loads(r["Policy"])
            ),
            "lifecycle": self._get(
                "get_bucket_lifecycle_configuration",
                ("NoSuchLifecycleConfiguration",),
                lambda r: r["Rules"],
            ),
            "tags": tags,
        }

    def create(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.name}
        if self.stack.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.stack.region}
        try:
            self.s3.create_bucket(**kwargs)
        except Exception as exc:
            if error_code(exc) == "BucketAlreadyExists":
                raise SetupError(
                    f"S3 bucket name {self.name} is taken by another account",
                    hint="use another --stack name",
                ) from None
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise
        self.update(list(self.desired()))

    def update(self, changed: list[str]) -> None:
        want = self.desired()
        # Tags first: a bucket left by a create cut short is still known as this stack's.
        if "tags" in changed:
            self.s3.put_bucket_tagging(Bucket=self.name, Tagging={"TagSet": self.stack.tag_list()})
        # Public access block next: nothing is ever briefly public while the rest is set.
        if "public_access_block" in changed:
            self.s3.put_public_access_block(
                Bucket=self.name, PublicAccessBlockConfiguration=want["public_access_block"]
            )
        if "encryption" in changed:
            self.s3.put_bucket_encryption(
                Bucket=self.name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
            )
        if "policy" in changed:
            self.s3.put_bucket_policy(Bucket=self.name, Policy=json.dumps(want["policy"]))
        if "lifecycle" in changed:
            self.s3.put_bucket_lifecycle_configuration(
                Bucket=self.name, LifecycleConfiguration={"Rules": want["lifecycle"]}
            )

    def empty(self) -> int:
        """Delete every object version and delete marker; returns how many were deleted."""
        deleted = 0
        batch: list[dict[str, str]] = []

        def flush() -> None:
            nonlocal deleted
            if not batch:
                return
            resp = self.s3.delete_objects(
                Bucket=self.name, Delete={"Objects": list(batch), "Quiet": True}
            )
            errors = resp.get("Errors", [])
            if errors:
                first = errors[0]
                raise SetupError(
                    f"cannot delete s3://{self.name}/{first['Key']}: {first.get('Code')}",
                    hint="the bucket was not removed",
                )
            deleted += len(batch)
            batch.clear()

        for page in self.s3.raw.get_paginator("list_object_versions").paginate(Bucket=self.name):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                batch.append({"Key": item["Key"], "VersionId": item["VersionId"]})
                if len(batch) == 1000:  # DeleteObjects takes at most 1000 keys
                    flush()
        flush()
        return deleted

    def delete(self) -> None:
        self.empty()
        self.s3.delete_bucket(Bucket=self.name)
