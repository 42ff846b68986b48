"""``infra up|status|down`` against a moto server process, read back through describe calls."""

from __future__ import annotations

import json

import pytest

from tests.cloud.helpers import (
    ACCOUNT,
    BUCKET,
    DLQ,
    QUEUE,
    ROLE,
    STACK,
    boto,
    cli,
    cli_json,
    tagged_arns,
)


@pytest.fixture
def stack_up(aws: str) -> dict:
    return cli_json(
        "infra", "up", "--stack", STACK, "--alarm-email", "ops@example.com",
        "--admin-cidr", "203.0.113.0/24",
    )  # fmt: skip


def test_bucket_settings(stack_up: dict) -> None:
    s3 = boto("s3")
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert rule["BucketKeyEnabled"] is True
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert pab == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    tls = by_sid["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Action"] == "s3:*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(tls["Resource"]) == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}
    # Only a wrong SSE header is denied: UploadPart carries none, and a missing one gets the
    # default encryption above. Both conditions must hold (header present AND not AES256).
    assert set(by_sid) == {"DenyInsecureTransport", "DenyOtherEncryption"}
    sse = by_sid["DenyOtherEncryption"]
    assert sse["Effect"] == "Deny" and sse["Action"] == "s3:PutObject"
    assert sse["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"},
        "Null": {"s3:x-amz-server-side-encryption": "false"},
    }
    rules = {
        r["Filter"]["Prefix"]: r
        for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    }
    assert set(rules) == {"temp/", "uploads/", "boot/"}  # output/ is kept
    assert rules["temp/"]["Expiration"]["Days"] == 7
    assert rules["boot/"]["Expiration"]["Days"] == 7  # instances' boot reports
    assert rules["uploads/"]["Expiration"]["Days"] == 7
    assert all(r["Status"] == "Enabled" for r in rules.values())
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags["transcriber:stack"] == STACK


def test_queue_settings(stack_up: dict) -> None:
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    assert attrs["VisibilityTimeout"] == "900"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "20"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{DLQ}"
    assert int(redrive["maxReceiveCount"]) == 3
    dlq_url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert dlq["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    assert dlq["SqsManagedSseEnabled"] == "true"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"]["transcriber:stack"] == STACK


def test_role_profile_and_policy(stack_up: dict) -> None:
    iam = boto("iam")
    role = iam.get_role(RoleName=ROLE)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    profile = iam.get_instance_profile(InstanceProfileName=ROLE)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [ROLE]
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["transcriber-worker"]
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    doc = iam.get_role_policy(RoleName=ROLE, PolicyName="transcriber-worker")["PolicyDocument"]
    stmts = {s["Sid"]: s for s in doc["Statement"]}
    objects = f"arn:aws:s3:::{BUCKET}/"
    # Exactly what the worker calls: it reads its job's audio, writes (and on cancel
    # removes) outputs it never reads back, keeps checkpoints under temp/checkpoints/.
    assert stmts["ReadAudio"]["Action"] == "s3:GetObject"
    assert stmts["ReadAudio"]["Resource"] == f"{objects}uploads/*"
    assert stmts["WriteOutputs"]["Action"] == ["s3:PutObject", "s3:DeleteObject"]
    assert stmts["WriteOutputs"]["Resource"] == f"{objects}output/*"
    assert stmts["Checkpoints"]["Resource"] == f"{objects}temp/checkpoints/*"
    assert stmts["ListOutputs"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert stmts["ListOutputs"]["Condition"]["StringLike"]["s3:prefix"] == ["output/*"]
    granted = [
        (action, resource)
        for st in doc["Statement"]
        for action in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        for resource in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
    ]
    assert not [g for g in granted if g[0] == "s3:PutObject" and "/uploads/" in g[1]]
    assert not [g for g in granted if g[0] == "s3:GetObject" and "/output/" in g[1]]
    assert not [g for g in granted if g[1] in (f"{objects}temp/*", "*") and g[0].startswith("s3")]
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{QUEUE}"
    dlq = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{DLQ}"
    assert stmts["JobQueue"]["Resource"] == queue and stmts["DeadLetters"]["Resource"] == dlq
    assert "sqs:GetQueueUrl" not in stmts["JobQueue"]["Action"]  # the fleet passes its URL
    assert stmts["StackSecrets"] == {
        "Sid": "StackSecrets",
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/transcriber/{STACK}/*",
    }
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/transcriber/{STACK}/worker"
    assert stmts["OwnLogGroup"]["Resource"] == [group_arn, f"{group_arn}:log-stream:*"]
    # Exactly the calls worker/telemetry.py makes: no DescribeLogStreams (no sequence tokens).
    assert stmts["OwnLogGroup"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    # PutMetricData has no resource-level permissions: "*" held to our namespace.
    assert stmts["JobMetrics"] == {
        "Sid": "JobMetrics",
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "Transcriber"}},
    }
    for stmt in doc["Statement"]:
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        # DescribeSpotPriceHistory has none either; it reads public prices.
        assert "*" not in resources or stmt["Sid"] in ("JobMetrics", "SpotPrice")
        assert not any(a.endswith("*") for a in stmt["Action"] if isinstance(stmt["Action"], list))


def test_security_group_monitoring_and_ebs(stack_up: dict) -> None:
    ec2 = boto("ec2")
    group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"transcriber-{STACK}-worker"]}]
    )["SecurityGroups"][0]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert group["VpcId"] == default_vpc[0]["VpcId"]
    assert [
        (p["IpProtocol"], p["FromPort"], p["ToPort"], [r["CidrIp"] for r in p["IpRanges"]])
        for p in group["IpPermissions"]
    ] == [("tcp", 22, 22, ["203.0.113.0/24"])]
    assert any(r["CidrIp"] == "0.0.0.0/0" for p in group["IpPermissionsEgress"]
               for r in p["IpRanges"])  # fmt: skip

    logs = boto("logs").describe_log_groups(logGroupNamePrefix=f"/transcriber/{STACK}/")
    assert [(g["logGroupName"], g["retentionInDays"]) for g in logs["logGroups"]] == [
        (f"/transcriber/{STACK}/worker", 30)
    ]
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:transcriber-{STACK}-alarms"
    subs = boto("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "ops@example.com")]
    alarms = {
        a["AlarmName"]: a
        for a in boto("cloudwatch").describe_alarms(AlarmNamePrefix=f"transcriber-{STACK}-")[
            "MetricAlarms"
        ]
    }
    depth = alarms[f"transcriber-{STACK}-queue-depth"]
    assert (depth["MetricName"], depth["Threshold"], depth["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible", 20.0, "GreaterThanThreshold"
    )  # fmt: skip
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": QUEUE}]
    dlq = alarms[f"transcriber-{STACK}-dlq-not-empty"]
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": DLQ}]
    assert (dlq["Threshold"], dlq["AlarmActions"]) == (0.0, [topic])
    # moto stores the account setting; it does not encrypt anything because of it.
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True


def test_summary_prices_and_idle_cost(stack_up: dict) -> None:
    summary = stack_up["summary"]
    assert summary["idle_cost"]["compute_usd_per_hour"] == 0.0
    assert "usage" in summary["idle_cost"]["note"]
    prices = {p["instance_type"]: p for p in summary["gpu_hour"]}
    assert prices["g4dn.xlarge"]["on_demand_usd_per_hour"] == pytest.approx(0.526)
    assert prices["g4dn.xlarge"]["spot_estimate_usd_per_hour"] < 0.526
    assert "us-east-1 on-demand list price" in prices["g5.xlarge"]["basis"]


def test_dry_run_touches_nothing_then_second_up_has_no_changes(aws: str) -> None:
    plan = cli_json("infra", "up", "--stack", STACK, "--dry-run")
    assert plan["dry_run"] is True
    assert {a["action"] for a in plan["actions"] if a["resource"] != "ebs-encryption-default"} == {
        "create"
    }
    assert tagged_arns() == []
    assert boto("s3").list_buckets()["Buckets"] == []
    assert boto("iam").list_roles()["Roles"] == []
    assert boto("ec2").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False

    first = cli_json("infra", "up", "--stack", STACK)
    assert first["changed"] is True
    second = cli("infra", "up", "--stack", STACK)
    assert second.returncode == 0, second.stderr
    assert "no changes" in second.stdout
    again = cli_json("infra", "up", "--stack", STACK)
    assert again["changed"] is False
    assert {a["action"] for a in again["actions"]} == {"none"}


def test_changed_options_update_in_place(stack_up: dict) -> None:
    changed = cli_json(
        "infra", "up", "--stack", STACK, "--uploads-expiry-days", "30",
        "--alarm-email", "oncall@example.com",
    )  # fmt: skip
    actions = {(a["resource"], a["action"], tuple(a["changes"])) for a in changed["actions"]}
    assert ("s3-bucket", "update", ("lifecycle",)) in actions
    assert ("security-group", "update", ("ingress",)) in actions  # no --admin-cidr: SSH closed
    assert ("sns-topic", "update", ("emails",)) in actions
    assert ("sqs-queue", "none", ()) in actions
    rules = boto("s3").get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert {r["Filter"]["Prefix"]: r["Expiration"]["Days"] for r in rules} == {
        "temp/": 7, "uploads/": 30, "boot/": 7
    }  # fmt: skip
    group = boto("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"transcriber-{STACK}-worker"]}]
    )["SecurityGroups"][0]
    assert group["IpPermissions"] == []
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:transcriber-{STACK}-alarms"
    subs = boto("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == ["oncall@example.com"]


def test_status_reports_resources_and_drift(stack_up: dict) -> None:
    boto("logs").put_retention_policy(
        logGroupName=f"/transcriber/{STACK}/worker", retentionInDays=7
    )
    status = cli_json("infra", "status", "--stack", STACK)
    assert status["schema"] == "transcriber.infra/1"
    by_kind = {(r["resource"], r["name"]): r for r in status["resources"]}
    assert by_kind[("s3-bucket", BUCKET)]["exists"] is True
    log_group = by_kind[("log-group", f"/transcriber/{STACK}/worker")]
    assert log_group["settings"]["drift"] == ["retention_days"]
    assert status["complete"] is True
    text = cli("infra", "status", "--stack", STACK)
    assert "drift" in text.stdout and "retention_days=7" in text.stdout


def test_status_of_missing_stack(aws: str) -> None:
    status = cli_json("infra", "status", "--stack", "nothing")
    assert status["complete"] is False
    assert not any(
        r["exists"] for r in status["resources"] if r["resource"] != "ebs-encryption-default"
    )


def test_down_requires_yes_without_a_terminal(stack_up: dict) -> None:
    proc = cli("infra", "down", "--stack", STACK)
    assert proc.returncode == 2
    assert "without --yes" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert boto("s3").list_buckets()["Buckets"]  # nothing was deleted


def test_down_keep_data_keeps_the_bucket_only(stack_up: dict) -> None:
    result = cli_json("infra", "down", "--stack", STACK, "--yes", "--keep-data")
    assert {"s3-bucket": "keep"}.items() <= {
        a["resource"]: a["action"] for a in result["actions"]
    }.items()
    assert [b["Name"] for b in boto("s3").list_buckets()["Buckets"]] == [BUCKET]
    assert tagged_arns() == [f"arn:aws:s3:::{BUCKET}"]


def test_down_leaves_nothing_tagged(stack_up: dict) -> None:
    s3 = boto("s3")
    # moto applies a bucket policy's Deny while ignoring its Conditions, so under our policy it
    # refuses every object call, DeleteObjects included (real S3 allows them over TLS). To
    # exercise emptying the bucket, this test lifts the policy before seeding objects.
    s3.delete_bucket_policy(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for key in ("uploads/a.mp3", "output/a/a.json", "uploads/a.mp3"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x", ServerSideEncryption="AES256")
    s3.delete_object(Bucket=BUCKET, Key="output/a/a.json")  # leaves a delete marker
    proc = cli_stdin_secret()
    assert proc.returncode == 0, proc.stderr

    result = cli_json("infra", "down", "--stack", STACK, "--yes")
    assert result["deleted_objects"] == 4  # 3 versions + 1 delete marker
    deleted = {(a["resource"], a["name"]) for a in result["actions"] if a["action"] == "delete"}
    assert ("s3-bucket", BUCKET) in deleted
    assert ("ssm-parameter", f"/transcriber/{STACK}/hf_token") in deleted
    assert tagged_arns() == []
    assert s3.list_buckets()["Buckets"] == []
    assert boto("iam").list_roles()["Roles"] == []
    assert boto("iam").list_instance_profiles()["InstanceProfiles"] == []
    groups = boto("ec2").describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in groups if g["GroupName"] != "default"] == []
    assert boto("sqs").list_queues().get("QueueUrls", []) == []
    assert boto("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert boto("sns").list_topics()["Topics"] == []
    assert boto("logs").describe_log_groups()["logGroups"] == []
    # a second down finds nothing to do
    assert cli_json("infra", "down", "--stack", STACK, "--yes")["actions"][0]["action"] == "keep"


def cli_stdin_secret():
    from tests.cloud.helpers import cli_stdin

    return cli_stdin("infra", "secrets", "set", "hf_token", "--stack", STACK, stdin="hf_x\n")


def test_down_removes_the_bucket_an_interrupted_up_left_untagged(aws: str) -> None:
    """`infra up` cut short just after CreateBucket leaves a bucket without tags; `up` then
    adopts it (its name holds the stack, account and region), but `down` left it."""
    s3 = boto("s3")
    s3.create_bucket(Bucket=BUCKET)  # the create, then the process ended
    result = cli_json("infra", "down", "--stack", STACK, "--yes")
    assert ("s3-bucket", "delete") in {(a["resource"], a["action"]) for a in result["actions"]}
    assert s3.list_buckets()["Buckets"] == []
    # One with other tags was made by someone, not cut short: left alone, as before.
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "team", "Value": "x"}]})
    cli_json("infra", "down", "--stack", STACK, "--yes")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]


def test_down_leaves_resources_of_other_stacks(aws: str) -> None:
    cli_json("infra", "up", "--stack", "other")
    cli_json("infra", "up", "--stack", STACK)
    cli_json("infra", "down", "--stack", STACK, "--yes")
    assert tagged_arns() == []
    assert len(tagged_arns("other")) >= 7
    assert boto("iam").get_role(RoleName="transcriber-other-worker")
