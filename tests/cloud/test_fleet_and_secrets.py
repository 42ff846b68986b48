"""``fleet`` and ``infra secrets`` against moto; IAM policies linted with parliament."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import boto3
import pytest

from tests.cloud.helpers import (
    ACCOUNT,
    AMI,
    BUCKET,
    QUEUE,
    REGION,
    ROLE,
    STACK,
    boto,
    cli,
    cli_json,
    cli_stdin,
)

ASG = f"transcriber-{STACK}-workers"
LT = f"transcriber-{STACK}-worker"
SECRET = "mongodb://worker:s3cr3t-pass@db.example.com/transcriber"


@pytest.fixture
def infra(aws: str) -> None:
    cli_json("infra", "up", "--stack", STACK)
    # moto ignores the Conditions of the TLS/SSE bucket policy and then denies every object
    # call (docs/cloud.md): drop it so `fleet up` can ship the worker release to the bucket.
    boto("s3").delete_bucket_policy(Bucket=BUCKET)


def latest_template_data() -> dict:
    return boto("ec2").describe_launch_template_versions(
        LaunchTemplateName=LT, Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]


def group() -> dict:
    return boto("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])[
        "AutoScalingGroups"
    ][0]


def test_secret_from_stdin_is_a_securestring_and_never_echoed(infra: None) -> None:
    proc = cli_stdin("infra", "secrets", "set", "mongodb_url", "--stack", STACK, stdin=SECRET)
    assert proc.returncode == 0, proc.stderr
    assert "s3cr3t" not in proc.stdout + proc.stderr
    assert f"/transcriber/{STACK}/mongodb_url" in proc.stderr
    param = boto("ssm").get_parameter(Name=f"/transcriber/{STACK}/mongodb_url", WithDecryption=True)
    assert param["Parameter"]["Type"] == "SecureString"
    assert param["Parameter"]["Value"] == SECRET
    tags = boto("ssm").list_tags_for_resource(
        ResourceType="Parameter", ResourceId=f"/transcriber/{STACK}/mongodb_url"
    )["TagList"]
    assert {"Key": "transcriber:stack", "Value": STACK} in tags
    status = cli_json("infra", "status", "--stack", STACK)
    assert status["secrets"] == [
        {"parameter": f"/transcriber/{STACK}/mongodb_url", "type": "SecureString", "version": 1}
    ]
    assert "s3cr3t" not in json.dumps(status)


def test_a_secret_a_plugin_reads_on_workers_is_stored_from_stdin(
    infra: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary plugin's API key (read by workers from the stack's SSM parameters) could
    only be written with `aws ssm put-parameter --value KEY`: a process argument. The plugin
    declares its secrets, and `infra secrets set` takes them from stdin, as ours."""
    monkeypatch.setenv("TRANSCRIBER_LOAD_PLUGINS", "markdown,summary")
    key = "sk-plugin-s3cr3t"
    proc = cli_stdin("infra", "secrets", "set", "summary_api_key", "--stack", STACK, stdin=key)
    assert proc.returncode == 0, proc.stderr
    assert key not in proc.stdout + proc.stderr
    name = f"/transcriber/{STACK}/summary_api_key"
    param = boto("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert param["Type"] == "SecureString" and param["Value"] == key
    monkeypatch.setenv("TRANSCRIBER_LOAD_PLUGINS", "markdown")  # without the plugin: unknown
    refused = cli_stdin("infra", "secrets", "set", "summary_api_key", "--stack", STACK, stdin=key)
    assert refused.returncode == 2 and "unknown secret 'summary_api_key'" in refused.stderr


def test_fleet_status_finds_a_failed_boot_among_a_thousand_reports(infra: None) -> None:
    """Every instance leaves ``boot/{instance}.json``. `fleet status` read one page of the
    listing (1000 keys): past it, a new failed boot was never shown."""
    from concurrent.futures import ThreadPoolExecutor

    s3 = boto("s3")

    def report(key: str, status: str) -> None:
        body = {"instance_id": key, "status": status, "steps": []}
        if status == "failed":
            body |= {"step": "release", "error": "the wheel does not match its SHA-256"}
        s3.put_object(Bucket=BUCKET, Key=f"boot/{key}.json", Body=json.dumps(body).encode(),
                      ServerSideEncryption="AES256")  # fmt: skip

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: report(f"i-0{i:016x}", "ready"), range(1000)))
    time.sleep(1.1)  # newer to the second: S3 times objects to the second
    report("i-fffffffffffffffff", "failed")  # its key sorts past the first page
    boots = cli_json("fleet", "status", "--stack", STACK)["boots"]
    assert boots[0]["instance_id"] == "i-fffffffffffffffff" and boots[0]["status"] == "failed"
    assert "SHA-256" in boots[0]["error"]


def test_secret_names_and_empty_values_are_refused(aws: str) -> None:
    bad = cli_stdin("infra", "secrets", "set", "aws_key", "--stack", STACK, stdin="x")
    assert bad.returncode == 2 and "unknown secret 'aws_key'" in bad.stderr
    empty = cli_stdin("infra", "secrets", "set", "hf_token", "--stack", STACK, stdin="\n")
    assert empty.returncode == 2 and "empty value" in empty.stderr
    # there is no way to pass the value on the command line
    argv = cli("infra", "secrets", "set", "hf_token", "hf_abc", "--stack", STACK)
    assert argv.returncode == 2


def test_fleet_needs_infra_first(aws: str) -> None:
    proc = cli("fleet", "up", "--stack", STACK, "--ami", AMI)
    assert proc.returncode == 3
    assert "run 'transcriber infra up' first" in proc.stderr


def test_ami_from_public_ssm_parameter(infra: None) -> None:
    from transcriber_cli.cloud.fleet import FleetOptions, find_ami
    from transcriber_cli.cloud.stack import Stack

    st = Stack.connect(STACK, "us-east-1", None)
    # moto has no Deep Learning AMI parameter: the default fails with a clear hint ...
    proc = cli("fleet", "up", "--stack", STACK)
    assert proc.returncode == 3
    assert "cannot find the GPU AMI parameter /aws/service/deeplearning/" in proc.stderr
    assert "--ami" in proc.stderr
    # ... and the same lookup resolves a public parameter moto does publish.
    param = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    expected = boto("ssm").get_parameter(Name=param)["Parameter"]["Value"]
    ami = find_ami(st, FleetOptions(ami_parameter=param))
    assert ami["id"] == expected
    assert ami["root_gib"] >= 100


def test_fleet_up_launch_template_group_and_scaling(infra: None, release_wheel: str) -> None:
    cli_stdin("infra", "secrets", "set", "mongodb_url", "--stack", STACK, stdin=SECRET)
    result = cli_json(
        "fleet", "up", "--stack", STACK, "--ami", AMI, "--instance-types",
        "g4dn.xlarge,g5.xlarge", "--max", "3", "--version", "0.1.0",
    )  # fmt: skip
    assert result["schema"] == "transcriber.fleet/1"
    assert {a["action"] for a in result["actions"]} == {"create"}
    assert [p["instance_type"] for p in result["summary"]["gpu_hour"]] == [
        "g4dn.xlarge",
        "g5.xlarge",
    ]

    data = latest_template_data()
    assert data["ImageId"] == AMI
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["IamInstanceProfile"] == {"Name": ROLE}
    sg = boto("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"transcriber-{STACK}-worker"]}]
    )["SecurityGroups"][0]["GroupId"]
    # The group is on the interface, with no public address unless --public-ip asks.
    assert data["NetworkInterfaces"] == [
        {"DeviceIndex": 0, "Groups": [sg], "AssociatePublicIpAddress": False,
         "DeleteOnTermination": True}
    ]  # fmt: skip
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    (root,) = data["BlockDeviceMappings"]
    assert root["Ebs"]["VolumeType"] == "gp3" and root["Ebs"]["Encrypted"] is True
    assert root["Ebs"]["DeleteOnTermination"] is True
    # Spot comes from the group's distribution: AWS rejects a mixed-instances group whose
    # launch template sets InstanceMarketOptions.
    assert "InstanceMarketOptions" not in data
    script = base64.b64decode(data["UserData"]).decode()
    # One consumer per GPU of the instance, the worker's default: no --gpus flag, which a
    # rollback to 0.1.0 (fleet up --version) would refuse at every start.
    assert "ExecStart=/opt/transcriber/bin/transcriber worker\n" in script
    assert SECRET not in script  # the workers read their secrets from SSM at start
    # Our code comes from the stack's bucket, hash-checked; never by name from an index
    # (tests/cloud/test_cold_start.py runs the boot itself).
    release = result["release"]
    wheel_key = release["wheel"]["key"]
    assert wheel_key == "artifacts/0.1.0/transcriber_toolkit-0.1.0-py3-none-any.whl"
    boot = json.loads(script.split("<<'BOOT'\n", 1)[1].split("\nBOOT\n", 1)[0])
    assert boot["bucket"] == BUCKET and boot["release"] == release and boot["models"] is None
    wheel = boto("s3").get_object(Bucket=BUCKET, Key=wheel_key)["Body"].read()
    assert hashlib.sha256(wheel).hexdigest() == release["wheel"]["sha256"]
    assert "transcriber==" not in script and "pip install -q transcriber" not in script
    assert f"TRANSCRIBER_BUCKET={BUCKET}" in script
    assert "TRANSCRIBER_QUEUE_URL=" in script and QUEUE in script
    assert f"TRANSCRIBER_STACK={STACK}" in script
    assert "s3cr3t" not in script and "mongodb://" not in script

    g = group()
    assert (g["MinSize"], g["DesiredCapacity"], g["MaxSize"]) == (0, 0, 3)
    assert g["CapacityRebalance"] is True
    mixed = g["MixedInstancesPolicy"]
    assert mixed["LaunchTemplate"]["Overrides"] == [
        {"InstanceType": "g4dn.xlarge", "WeightedCapacity": "1"},
        {"InstanceType": "g5.xlarge", "WeightedCapacity": "1"},
    ]
    assert mixed["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateName"] == LT
    dist = mixed["InstancesDistribution"]
    assert dist["SpotAllocationStrategy"] == "price-capacity-optimized"
    assert (dist["OnDemandBaseCapacity"], dist["OnDemandPercentageAboveBaseCapacity"]) == (0, 0)
    assert {t["Key"]: t["Value"] for t in g["Tags"]}["transcriber:stack"] == STACK

    policies = {
        p["PolicyName"]: p
        for p in boto("autoscaling").describe_policies(AutoScalingGroupName=ASG)["ScalingPolicies"]
    }
    out = policies[f"transcriber-{STACK}-scale-out"]
    assert out["PolicyType"] == "StepScaling" and out["AdjustmentType"] == "ChangeInCapacity"
    zero = policies[f"transcriber-{STACK}-scale-to-zero"]
    assert zero["AdjustmentType"] == "ExactCapacity"
    assert zero["StepAdjustments"][0]["ScalingAdjustment"] == 0
    alarms = {
        a["AlarmName"]: a
        for a in boto("cloudwatch").describe_alarms(AlarmNamePrefix=f"transcriber-{STACK}-")[
            "MetricAlarms"
        ]
    }
    backlog = alarms[f"transcriber-{STACK}-backlog"]
    assert backlog["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert backlog["AlarmActions"] == [out["PolicyARN"]]
    idle = alarms[f"transcriber-{STACK}-idle"]
    assert idle["AlarmActions"] == [zero["PolicyARN"]]
    assert (idle["EvaluationPeriods"], idle["DatapointsToAlarm"]) == (10, 10)
    metrics = {m["Id"]: m for m in idle["Metrics"]}
    assert metrics["jobs"]["Expression"] == "visible + inflight"
    assert metrics["inflight"]["MetricStat"]["Metric"]["MetricName"] == (
        "ApproximateNumberOfMessagesNotVisible"
    )

    # The same options and the same code change nothing: the wheel built above has the
    # bytes of the one built at the start of the session (the build is reproducible).
    again = cli_json("fleet", "up", "--stack", STACK, "--ami", AMI, "--instance-types",
                     "g4dn.xlarge,g5.xlarge", "--max", "3", "--version", "0.1.0",
                     "--wheel", release_wheel)  # fmt: skip
    assert again["changed"] is False


def test_scale_status_and_down(infra: None, release_wheel: str) -> None:
    cli_json("fleet", "up", "--stack", STACK, "--ami", AMI, "--max", "2", "--wheel", release_wheel)
    assert cli_json("fleet", "scale", "2", "--stack", STACK)["actions"][0]["changes"] == [
        "desired 0 -> 2 GPU(s)"
    ]
    assert group()["DesiredCapacity"] == 2
    too_many = cli("fleet", "scale", "3", "--stack", STACK)
    assert too_many.returncode == 2 and "3 GPUs is outside 0..2 GPUs" in too_many.stderr

    boto("sqs").send_message(
        QueueUrl=boto("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"], MessageBody="{}"
    )
    status = cli_json("fleet", "status", "--stack", STACK)
    assert status["group"]["desired"] == 2 and status["group"]["max"] == 2
    assert len(status["instances"]) == 2
    assert {i["az"] for i in status["instances"]} <= {f"us-east-1{c}" for c in "abcdef"}
    assert {i["state"] for i in status["instances"]} == {"InService"}
    assert status["queue"] == {"visible": 1, "in_flight": 0}
    assert status["dlq"] == {"visible": 0, "in_flight": 0}
    assert status["workers"] is None and status["heartbeats_note"] == "MongoDB not configured"
    text = cli("fleet", "status", "--stack", STACK)
    assert "heartbeats: MongoDB not configured" in text.stdout
    assert "1 waiting" in text.stdout

    down = cli_json("fleet", "down", "--stack", STACK)
    assert down["actions"][0]["changes"] == ["desired 2 -> 0 GPU(s)"]
    assert group()["DesiredCapacity"] == 0

    destroyed = cli_json("fleet", "down", "--stack", STACK, "--destroy")
    assert {a["resource"] for a in destroyed["actions"]} >= {
        "autoscaling-group", "launch-template", "cloudwatch-alarm"
    }  # fmt: skip
    assert (
        boto("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])[
            "AutoScalingGroups"
        ]
        == []
    )
    assert boto("ec2").describe_launch_templates()["LaunchTemplates"] == []
    names = [a["AlarmName"] for a in boto("cloudwatch").describe_alarms()["MetricAlarms"]]
    assert f"transcriber-{STACK}-backlog" not in names
    assert f"transcriber-{STACK}-queue-depth" in names  # infra's own alarms stay


def test_capacity_is_counted_in_gpus(infra: None, release_wheel: str) -> None:
    """Each type weighs its GPUs: --max, `fleet scale N` and the steps are GPUs; a 4-GPU
    instance counts 4 (moto launches by the first type's weight, as AWS would for it)."""
    types = "g5.12xlarge,g4dn.12xlarge,g6.xlarge"
    args = ("fleet", "up", "--stack", STACK, "--ami", AMI, "--instance-types", types,
            "--wheel", release_wheel)  # fmt: skip
    result = cli_json(*args, "--max", "8")
    assert result["gpus_per_instance"] == {"g5.12xlarge": 4, "g4dn.12xlarge": 4, "g6.xlarge": 1}
    assert group()["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"] == [
        {"InstanceType": "g5.12xlarge", "WeightedCapacity": "4"},
        {"InstanceType": "g4dn.12xlarge", "WeightedCapacity": "4"},
        {"InstanceType": "g6.xlarge", "WeightedCapacity": "1"},
    ]
    prices = {p["instance_type"]: p for p in result["summary"]["gpu_hour"]}
    g5 = prices["g5.12xlarge"]
    assert g5["gpus"] == 4 and g5["on_demand_usd_per_hour"] == pytest.approx(5.672)
    assert g5["spot_estimate_usd_per_gpu_hour"] == pytest.approx(
        g5["spot_estimate_usd_per_hour"] / 4, abs=1e-4
    )
    # The scale-out steps add GPUs (1, 2, 4 by backlog); AWS rounds up to whole instances.
    (out,) = boto("autoscaling").describe_policies(
        AutoScalingGroupName=ASG, PolicyNames=[f"transcriber-{STACK}-scale-out"]
    )["ScalingPolicies"]
    assert out["AdjustmentType"] == "ChangeInCapacity"
    assert [s["ScalingAdjustment"] for s in out["StepAdjustments"]] == [1, 2, 4]
    assert cli_json(*args, "--max", "8")["changed"] is False  # idempotent with the weights

    scaled = cli_json("fleet", "scale", "8", "--stack", STACK)
    assert scaled["actions"][0]["changes"] == ["desired 0 -> 8 GPU(s)"]
    assert group()["DesiredCapacity"] == 8 and len(group()["Instances"]) == 2
    status = cli_json("fleet", "status", "--stack", STACK)
    assert status["group"]["desired"] == 8 and len(status["instances"]) == 2
    assert status["group"]["gpus_per_instance"] == result["gpus_per_instance"]
    # moto launches instances without a type or weight, so it cannot say their GPUs (AWS
    # reports each member's WeightedCapacity): each counts 1 here.
    assert status["group"]["gpus_in_service"] == 2
    text = cli("fleet", "status", "--stack", STACK).stdout
    assert "desired 8 GPU(s) (min 0, max 8)" in text
    assert "g5.12xlarge (4 GPUs), g4dn.12xlarge (4 GPUs), g6.xlarge (1 GPUs)" in text
    help_text = cli("fleet", "scale", "--help").stdout
    assert "GPUs" in help_text

    # A group made before the weights (each instance counted 1) gets them in place.
    unweighted = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateName": LT, "Version": "$Latest"},
            "Overrides": [{"InstanceType": t} for t in types.split(",")],
        },
        "InstancesDistribution": group()["MixedInstancesPolicy"]["InstancesDistribution"],
    }
    boto("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=ASG, MixedInstancesPolicy=unweighted, DesiredCapacity=0
    )
    updated = cli_json(*args, "--max", "8")
    changed = {(a["resource"], a["action"]) for a in updated["actions"]}
    assert ("autoscaling-group", "update") in changed
    overrides = group()["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    assert [o.get("WeightedCapacity") for o in overrides] == ["4", "4", "1"]
    assert cli_json(*args, "--max", "8")["changed"] is False
    # Commands that know no instance type's GPUs (they only read the group) still work.
    cli_json("fleet", "scale", "4", "--stack", STACK)
    destroyed = cli_json("fleet", "down", "--stack", STACK, "--destroy")
    assert "autoscaling-group" in {a["resource"] for a in destroyed["actions"]}


@pytest.mark.parametrize(
    ("types", "max_gpus", "message"),
    [
        ("g5.xlarge,g7.2xlarge,x9.huge", "4", "unknown instance type x9.huge: EC2 has no such"),
        ("g5.xlarge,m5.large", "4", "instance type m5.large has no NVIDIA GPU"),
        ("g5.xlarge,p4d.24xlarge", "4", "--max 4 GPUs is less than one p4d.24xlarge (8 GPUs)"),
    ],
)
def test_instance_types_without_gpus_or_too_big_are_refused(
    infra: None, types: str, max_gpus: str, message: str
) -> None:
    proc = cli("fleet", "up", "--stack", STACK, "--ami", AMI, "--instance-types", types,
               "--max", max_gpus)  # fmt: skip
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # one line and its hint
    assert boto("ec2").describe_launch_templates()["LaunchTemplates"] == []


def test_a_type_outside_the_table_is_described_by_ec2(infra: None, release_wheel: str) -> None:
    """Its GPUs come from DescribeInstanceTypes; a fractional GPU or an Arm type is refused."""
    from transcriber_cli.aws.instances import GPUS_PER_INSTANCE

    assert not {"g7.12xlarge", "g6f.xlarge", "g5g.xlarge"} & set(GPUS_PER_INSTANCE)
    result = cli_json("fleet", "up", "--stack", STACK, "--ami", AMI, "--instance-types",
                      "g5.xlarge,g7.12xlarge", "--max", "4", "--wheel", release_wheel)  # fmt: skip
    assert result["gpus_per_instance"] == {"g5.xlarge": 1, "g7.12xlarge": 2}
    for itype, message in (("g6f.xlarge", "g6f.xlarge has no NVIDIA GPU"),
                           ("g5g.xlarge", "g5g.xlarge is arm64")):  # fmt: skip
        proc = cli("fleet", "up", "--stack", STACK, "--ami", AMI, "--instance-types", itype)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_status_shows_heartbeats_with_the_mongo_url_only_in_ssm(
    infra: None, mongo_wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's way: the URL is an SSM secret of the stack, in no env var or config."""
    import uuid

    from transcriber_cli.config import load_settings
    from transcriber_cli.store.mongo import JobStore

    database = f"fs{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("TRANSCRIBER_MONGODB_DATABASE", database)
    cli_stdin("infra", "secrets", "set", "mongodb_url", "--stack", STACK, stdin=mongo_wire)
    store = JobStore.from_settings(load_settings(mongodb_url=mongo_wire))
    gpus = {"cuda:0": ["j1"], "cuda:1": [], "cuda:2": ["j2"], "cuda:3": []}
    store.heartbeat("w-1", instance_id="i-0abc", instance_type="g5.12xlarge", jobs=["j1", "j2"],
                    gpus=gpus)  # fmt: skip
    store.close()
    status = cli_json("fleet", "status", "--stack", STACK)
    assert status["heartbeats_note"] == ""
    assert [(w["worker"], w["instance_id"], w["jobs"]) for w in status["workers"]] == [
        ("w-1", "i-0abc", ["j1", "j2"])
    ]
    assert status["workers"][0]["gpus_busy"] == 2
    text = cli("fleet", "status", "--stack", STACK).stdout
    assert "heartbeats: 1 worker(s); GPUs busy 2/4" in text
    assert "GPUs busy 2/4 (cuda:0=j1 cuda:1=- cuda:2=j2 cuda:3=-)" in text


def publish_fake_release(version: str) -> None:
    """What `fleet up` run from an install of ``version`` would have left in the bucket."""
    import hashlib

    s3 = boto("s3")
    files = {
        f"transcriber_toolkit-{version}-py3-none-any.whl": b"wheel " + version.encode(),
        "constraints.txt": b"pymongo==4.6.0\n",
    }
    for name, data in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"artifacts/{version}/{name}", Body=data,
                      ServerSideEncryption="AES256")  # fmt: skip
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items())
    s3.put_object(Bucket=BUCKET, Key=f"artifacts/{version}/SHA256SUMS", Body=sums.encode(),
                  ServerSideEncryption="AES256")  # fmt: skip


def test_changed_fleet_options_update_in_place(infra: None, release_wheel: str) -> None:
    cli_json("fleet", "up", "--stack", STACK, "--ami", AMI, "--wheel", release_wheel)
    missing = cli("fleet", "up", "--stack", STACK, "--ami", AMI, "--version", "9.9.9")
    assert missing.returncode == 2 and "no worker artifacts for version 9.9.9" in missing.stderr
    publish_fake_release("9.9.9")  # a rollback to a version shipped before
    changed = cli_json("fleet", "up", "--stack", STACK, "--ami", AMI, "--on-demand",
                       "--version", "9.9.9", "--max", "6")  # fmt: skip
    actions = {(a["resource"], a["action"]) for a in changed["actions"]}
    assert ("launch-template", "update") in actions and ("autoscaling-group", "update") in actions
    dist = group()["MixedInstancesPolicy"]["InstancesDistribution"]
    assert dist["OnDemandPercentageAboveBaseCapacity"] == 100
    assert group()["MaxSize"] == 6
    versions = boto("ec2").describe_launch_template_versions(LaunchTemplateName=LT)
    assert len(versions["LaunchTemplateVersions"]) == 2
    script = base64.b64decode(latest_template_data()["UserData"]).decode()
    assert "artifacts/9.9.9/transcriber_toolkit-9.9.9-py3-none-any.whl" in script


def test_iam_policies_pass_parliament() -> None:
    import parliament

    from transcriber_cli.cloud.iam import client_policy, trust_policy, worker_policy
    from transcriber_cli.cloud.stack import Stack

    st = Stack(name=STACK, region="us-east-1", account=ACCOUNT)
    for policy in (worker_policy(st), client_policy(st)):
        findings = parliament.analyze_policy_string(json.dumps(policy)).findings
        assert [(f.issue, f.detail) for f in findings] == []
    # The linter does catch what we avoid (so the assertion above can fail).
    wide = {"Effect": "Allow", "Action": ["s3:GetObject", "iam:PassRole"], "Resource": "*"}
    star = {"Version": "2012-10-17", "Statement": [wide]}
    assert "RESOURCE_STAR" in {f.issue for f in parliament.analyze_policy_string(
        json.dumps(star)).findings}  # fmt: skip
    # A trust policy has no Resource by design; that is its only finding.
    trust = parliament.analyze_policy_string(json.dumps(trust_policy())).findings
    assert [(f.issue, f.detail) for f in trust] == [
        ("MALFORMED", "Statement contains neither Resource nor NotResource")
    ]


def modified_wheel(release_wheel: str, tmp_path) -> str:
    """The installed version's wheel with one more file: what a code change without a
    version bump gives (a different hash, the same version)."""
    import shutil
    import zipfile

    wheel = tmp_path / Path(release_wheel).name
    shutil.copyfile(release_wheel, wheel)
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("transcriber_cli/CHANGED", "a change without a version bump\n")
    return str(wheel)


def test_fleet_update_ships_the_release_and_leaves_an_empty_fleet_alone(
    infra, release_wheel, tmp_path
) -> None:
    first = cli_json("fleet", "up", "--stack", STACK, "--ami", AMI, "--wheel", release_wheel)
    # `fleet update` builds the wheel of the same code: the same bytes, so nothing changes.
    same = cli_json("fleet", "update", "--stack", STACK)
    assert same["changed"] is False and same["release"] == first["release"]
    assert same["refresh"]["status"] == "not started"

    wheel = modified_wheel(release_wheel, tmp_path)
    updated = cli_json("fleet", "update", "--stack", STACK, "--wheel", wheel)
    assert updated["release"]["wheel"]["sha256"] != first["release"]["wheel"]["sha256"]
    actions = {(a["resource"], a["action"]) for a in updated["actions"]}
    assert ("launch-template", "update") in actions
    assert updated["refresh"]["reason"] == "no running instance to replace"
    script = base64.b64decode(latest_template_data()["UserData"]).decode()
    assert updated["release"]["wheel"]["sha256"] in script
    assert latest_template_data()["ImageId"] == AMI  # the fleet keeps its options
    assert group()["MaxSize"] == 4
    human = cli("fleet", "update", "--stack", STACK, "--wheel", wheel)
    assert human.returncode == 0 and "instance refresh not started" in human.stdout


def test_instance_refresh_is_rolling_and_a_failure_is_one_line() -> None:
    """moto has no instance refresh: the requests are checked against botocore's model with
    a Stubber, and the waiting against its answers."""
    from botocore.stub import Stubber

    from transcriber_cli.cloud import rollout
    from transcriber_cli.errors import TranscriberError

    asg = boto3.client("autoscaling", region_name=REGION)
    name = f"transcriber-{STACK}-workers"
    with Stubber(asg) as stub:
        stub.add_response(
            "start_instance_refresh",
            {"InstanceRefreshId": "r-1"},
            {"AutoScalingGroupName": name, "Strategy": "Rolling",
             "Preferences": {"MinHealthyPercentage": 90, "InstanceWarmup": 300,
                             "SkipMatching": True}},
        )  # fmt: skip
        for status, percent in (("InProgress", 50), ("Successful", 100)):
            stub.add_response(
                "describe_instance_refreshes",
                {"InstanceRefreshes": [{"InstanceRefreshId": "r-1", "Status": status,
                                        "PercentageComplete": percent, "InstancesToUpdate": 1}]},
                {"AutoScalingGroupName": name, "InstanceRefreshIds": ["r-1"]},
            )  # fmt: skip
        stub.add_response(
            "describe_instance_refreshes",
            {"InstanceRefreshes": [{"InstanceRefreshId": "r-2", "Status": "Failed",
                                    "StatusReason": "instances failed health checks"}]},
            {"AutoScalingGroupName": name, "InstanceRefreshIds": ["r-2"]},
        )  # fmt: skip
        assert rollout.start_refresh(asg, name) == "r-1"
        seen: list[int] = []
        done = rollout.wait_refresh(asg, name, "r-1", lambda s: seen.append(s["percent"]), poll=0)
        assert done["status"] == "Successful" and seen == [50, 100]
        with pytest.raises(TranscriberError, match="failed: instances failed health checks"):
            rollout.wait_refresh(asg, name, "r-2", lambda s: None, poll=0)
        stub.assert_no_pending_responses()
