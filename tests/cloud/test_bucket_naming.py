"""Bucket names: unique per stack, region and account, valid for S3, never adopted across."""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.cloud.helpers import ACCOUNT, cli, cli_json

LONG = "a-very-long-stack-name-for-test"  # 31 characters, the most a stack name takes
S3_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def bucket_of(region: str, stack: str = LONG) -> str:
    from transcriber_cli.aws.naming import bucket_name

    return bucket_name(stack, ACCOUNT, region)


def test_every_stack_length_in_every_region_is_a_valid_distinct_name() -> None:
    regions = boto3.session.Session().get_available_regions("s3")
    assert "us-west-1" in regions and "ap-southeast-2" in regions
    for length in range(1, 32):
        stack = ("s-" * 16)[:length].lstrip("-") or "s"
        names = [bucket_of(region, stack) for region in regions]
        assert len(set(names)) == len(regions), stack
        bad = [n for n in names if not S3_NAME.match(n) or "--" in n[-12:]]
        assert bad == [], bad


def test_long_stack_names_in_two_regions_get_two_valid_buckets(aws: str) -> None:
    west1, west2 = bucket_of("us-west-1"), bucket_of("us-west-2")
    assert west1 != west2
    for name in (west1, west2, bucket_of("ap-southeast-2"), bucket_of("us-east-1", "t1")):
        assert S3_NAME.match(name), name
    assert bucket_of("us-east-1", "t1") == f"transcriber-t1-{ACCOUNT}-us-east-1"  # short: as before
    for region in ("us-west-1", "us-west-2"):
        result = cli_json("infra", "up", "--stack", LONG, "--region", region)
        assert result["actions"][0]["action"] == "create"
    s3 = boto3.client("s3", region_name="us-west-1")
    for region, name in (("us-west-1", west1), ("us-west-2", west2)):
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == region
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
        assert tags["transcriber:stack"] == LONG


def test_a_bucket_of_another_region_or_stack_is_not_adopted(aws: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    name = bucket_of("us-west-2", "t2")
    # Our account already has this name, but in another region: not this stack's bucket.
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    proc = cli("infra", "up", "--stack", "t2", "--region", "us-west-2")
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: S3 bucket {name} already exists in eu-west-1 for no stack; "
        "not adopting it for stack 't2' in us-west-2 (use another --stack name)"
    ]
    assert "Traceback" not in proc.stderr
    # Right region, another stack's tag: refused too, and the bucket is left as it was.
    name = bucket_of("us-east-1", "t3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(
        Bucket=name, Tagging={"TagSet": [{"Key": "transcriber:stack", "Value": "other"}]}
    )
    proc = cli("infra", "up", "--stack", "t3")
    assert proc.returncode == 3
    assert "already exists in us-east-1 for stack 'other'" in proc.stderr
    # Left as it was: no policy, no encryption settings, its own tag.
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=name)
    tags = s3.get_bucket_tagging(Bucket=name)["TagSet"]
    assert tags == [{"Key": "transcriber:stack", "Value": "other"}]
