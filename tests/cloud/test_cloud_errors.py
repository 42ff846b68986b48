"""One-line errors for missing credentials, unknown regions, denied actions, taken names."""

from __future__ import annotations

import os

import botocore.exceptions
import pytest

from tests.cloud.helpers import STACK, cli


def test_missing_credentials_is_one_line(aws: str, tmp_path) -> None:
    drop = {k: None for k in os.environ if k.startswith(("AWS_ACCESS", "AWS_SECRET"))}
    none = str(tmp_path / "none")
    proc = cli(
        "infra", "status", "--stack", STACK,
        env={**drop, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_CONFIG_FILE": none,
             "AWS_EC2_METADATA_DISABLED": "true"},
    )  # fmt: skip
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [
        "error: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY, or run 'aws configure')"
    ]


def test_unknown_region_and_bad_stack_name(aws: str) -> None:
    proc = cli("infra", "up", "--stack", STACK, "--region", "us-east1")
    assert proc.returncode == 3 and "unknown AWS region 'us-east1'" in proc.stderr
    bad = cli("infra", "up", "--stack", "Bad_Name")
    assert bad.returncode == 2 and "invalid stack name" in bad.stderr
    cidr = cli("infra", "up", "--stack", STACK, "--admin-cidr", "0.0.0.0/0", "--dry-run")
    assert cidr.returncode == 2 and "refused" in cidr.stderr


def _client_error(code: str, operation: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "no"}}, operation)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AccessDenied", "AWS denied s3:CreateBucket"),
        ("UnauthorizedOperation", "AWS denied s3:CreateBucket"),
        ("InvalidClientTokenId", "AWS rejected the credentials (InvalidClientTokenId)"),
    ],
)
def test_denied_actions_are_named(code: str, expected: str) -> None:
    """moto does not enforce IAM by default, so the botocore error is built here."""
    from transcriber_cli.aws.errors import Client
    from transcriber_cli.errors import SetupError

    class Raw:
        def create_bucket(self, **kwargs: object) -> None:
            raise _client_error(code, "CreateBucket")

    with pytest.raises(SetupError) as err:
        Client("s3", Raw()).create_bucket(Bucket="b")
    assert str(err.value).startswith(expected)


def test_bucket_taken_by_another_account() -> None:
    from transcriber_cli.aws.errors import Client
    from transcriber_cli.cloud.stack import Stack
    from transcriber_cli.cloud.storage import Bucket
    from transcriber_cli.errors import SetupError

    class Raw:
        def head_bucket(self, **kwargs: object) -> None:
            raise _client_error("403", "HeadBucket")

    stack = Stack(name=STACK, region="us-east-1", account="123456789012")
    stack._clients["s3"] = Client("s3", Raw())
    with pytest.raises(SetupError, match="is taken by another account"):
        Bucket(stack).current()


def test_a_group_still_being_deleted_is_waited_out_and_planned_anew() -> None:
    """`fleet up` just after `fleet down`: AWS lists the group, "Delete in progress", for
    minutes. Taken for the group, nothing was planned for it (then it was gone, the backlog
    alarm scaling nothing) or its update failed; now it is waited out and created again."""
    import datetime as dt

    import boto3
    from botocore.stub import Stubber

    from transcriber_cli.aws.errors import Client
    from transcriber_cli.aws.naming import asg_name
    from transcriber_cli.cloud.fleet import AutoScalingGroup, FleetOptions
    from transcriber_cli.cloud.stack import Stack

    raw = boto3.client("autoscaling", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")  # fmt: skip
    name = asg_name(STACK)
    dying = {
        "AutoScalingGroupName": name, "MinSize": 0, "MaxSize": 4, "DesiredCapacity": 0,
        "DefaultCooldown": 300, "AvailabilityZones": ["us-east-1a"], "HealthCheckType": "EC2",
        "CreatedTime": dt.datetime(2026, 12, 6, tzinfo=dt.UTC), "Status": "Delete in progress",
    }  # fmt: skip
    asked = {"AutoScalingGroupNames": [name]}
    stub = Stubber(raw)
    stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": [dying]}, asked)
    stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": [dying]}, asked)
    stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": []}, asked)
    stack = Stack(name=STACK, region="us-east-1", account="123456789012")
    stack._clients["autoscaling"] = Client("autoscaling", raw)
    with stub:
        assert AutoScalingGroup(stack, FleetOptions(), []).current() is None
    stub.assert_no_pending_responses()  # asked until it was gone
