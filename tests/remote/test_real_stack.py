"""The remote path on the stack ``infra up`` creates, with IAM enforced (moto).

A moto server of its own starts with ``INITIAL_NO_AUTH_ACTION_COUNT=3``: the first three
calls make an admin user and its key, every later call is signed and checked against IAM.
The admin runs ``transcriber infra up``; a real ``transcriber worker`` runs with the worker
ROLE's credentials (``sts:AssumeRole``) and a real ``transcribe --remote`` with a user that has
only the client policy docs/cloud.md prints. A job completes, then each thing the worker must
not do is denied.

What moto cannot enforce, and so is not claimed here (docs/cloud.md):
- bucket-policy Conditions: moto ignores them and a conditional Deny then denies every object
  call, so the test checks the bucket policy is ours and removes it;
- resources of SSM, CloudWatch Logs and CloudWatch calls: moto checks them against ``*``, so
  grants scoped to the stack deny everything there. The MongoDB URL reaches both processes
  through the environment (``aws/secrets.py`` falls back to it), and telemetry is off;
- ``DeleteObjects``: moto checks ``s3:DeleteObject`` on the bucket, not on each key (AWS
  checks each key), so the exports are removed one by one here;
- ``sqs:GetQueueUrl``: moto finds no queue in the request (it has a name, not a URL) and
  checks ``*``, so the client is given the queue URL as the fleet's workers are;
- trust policies naming a service: moto cannot evaluate ``Principal: {"Service": ...}`` for a
  user, so the one AssumeRole call runs before enforcement resumes (``/moto-api/reset-auth``).
S3 object and bucket calls and SQS calls are checked against their ARNs: those grants and
denies are real here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import convert, run_cli, start_moto_server
from tests.remote.conftest import Workers

pytestmark = pytest.mark.slow

STACK = "rs"
REGION = "us-east-1"
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@pytest.fixture
def iam_moto() -> Iterator[str]:
    """A moto server that enforces IAM after its first three calls."""
    proc, url = start_moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def creds_env(url: str, creds: dict) -> dict[str, str | None]:
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds.get("SessionToken"),
        "AWS_PROFILE": None,
    }


def client(service: str, url: str, creds: dict):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
    )


def user_with(url: str, admin: dict | None, name: str, policy: dict) -> dict:
    """An IAM user with one inline policy and its key (before enforcement: any key)."""
    iam = client("iam", url, admin or {"AccessKeyId": "bootstrap", "SecretAccessKey": "x"})
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return iam.create_access_key(UserName=name)["AccessKey"]


def denied(call, **kwargs) -> str:
    """The error code of a refused call. moto answers JSON-protocol services (SQS, SSM) with
    an XML error body that botocore reads as code "403": the body names the code then."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    code = caught.value.response["Error"]["Code"]
    if code == "403" and "<Code>AccessDenied</Code>" in str(caught.value):
        return "AccessDenied"
    return code


def test_a_job_on_the_real_stack_with_iam_enforced(
    iam_moto: str, mongo_wire: str, tiny_model: str, conversation: dict, tmp_path: Path
) -> None:
    url = iam_moto
    admin = user_with(url, None, "admin", ADMIN_POLICY)  # the three unauthenticated calls
    anonymous = client("s3", url, {"AccessKeyId": "nobody", "SecretAccessKey": "x"})
    assert denied(anonymous.list_buckets) == "InvalidAccessKeyId"  # enforcement is on

    up = run_cli("infra", "up", "--stack", STACK, "--json", program="transcriber",
                 env=creds_env(url, admin), timeout=120)  # fmt: skip
    assert up.returncode == 0, up.stderr
    from transcriber_cli.aws.naming import bucket_name, dlq_name, queue_name, role_name
    from transcriber_cli.cloud import iam
    from transcriber_cli.cloud.stack import Stack
    from transcriber_cli.cloud.userdata import worker_env

    account = client("sts", url, admin).get_caller_identity()["Account"]
    stack = Stack(STACK, REGION, account)
    bucket = bucket_name(STACK, account, REGION)
    s3, sqs = client("s3", url, admin), client("sqs", url, admin)
    # moto cannot evaluate the bucket policy's Conditions (module docstring): ours, removed.
    sids = {
        s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    }
    assert sids == {"DenyInsecureTransport", "DenyOtherEncryption"}
    s3.delete_bucket_policy(Bucket=bucket)
    queue_url = sqs.get_queue_url(QueueName=queue_name(STACK))["QueueUrl"]
    # Another stack's queue and secret, for the denies.
    other_queue = sqs.create_queue(QueueName=queue_name("other"))["QueueUrl"]
    client("ssm", url, admin).put_parameter(
        Name="/transcriber/other/mongodb_url", Value="mongodb://x:pw@h/", Type="SecureString"
    )

    # The client: a user with only the policy the docs give to people who submit jobs.
    client_user = user_with(url, admin, "submitter", iam.client_policy(stack))
    # The worker: the role's own credentials, as the instance profile hands them out.
    role_arn = client("iam", url, admin).get_role(RoleName=role_name(STACK))["Role"]["Arn"]
    httpx.post(url + "/moto-api/reset-auth", content=b"1")  # the AssumeRole call only
    role = client("sts", url, admin).assume_role(RoleArn=role_arn, RoleSessionName="worker-i-1")[
        "Credentials"
    ]
    assert denied(client("s3", url, role).list_buckets) == "AccessDenied"  # enforced again

    database = f"t{uuid.uuid4().hex[:12]}"
    common = {
        "TRANSCRIBER_MONGODB_URL": mongo_wire,
        "TRANSCRIBER_MONGODB_DATABASE": database,
        "TRANSCRIBER_STACK": STACK,
        "TRANSCRIBER_REMOTE_POLL_SECONDS": "0.3",
    }
    # The environment `fleet up` writes for the workers (cloud/userdata.py), plus this machine.
    fleet = worker_env(STACK, REGION, bucket, queue_url)
    fleet.pop("HF_HOME")
    workers = Workers(tmp_path)
    try:
        worker = workers.start("--idle-exit", "60", env={
            **fleet, **common, **{k: v for k, v in creds_env(url, role).items() if v},
            "TRANSCRIBER_MODEL": tiny_model, "TRANSCRIBER_DEVICE": "cpu",
            "TRANSCRIBER_DIARIZE": "false", "TRANSCRIBER_IMDS_URL": "",
            "TRANSCRIBER_WORKER_TELEMETRY": "false", "TRANSCRIBER_WORKER_WAIT_SECONDS": "1",
            "TRANSCRIBER_WORKER_HEARTBEAT_SECONDS": "1", "TRANSCRIBER_WORKER_RETRY_DELAY": "0",
        })  # fmt: skip
        clip = convert(conversation["path"], tmp_path / "clip.mp3", "-t", "10.7")
        proc = run_cli(str(clip), "--remote", "-o", str(tmp_path / "out"), "--json",
                       env={**common, **creds_env(url, client_user),
                            "TRANSCRIBER_QUEUE_URL": queue_url}, timeout=240)  # fmt: skip
        assert proc.returncode == 0, proc.stderr + workers.log(worker)
        line = json.loads(proc.stdout.strip().splitlines()[-1])
        assert line["status"] == "done", line
        job_id = line["job_id"]
        text = (tmp_path / "out" / "clip.txt").read_text().lower()
        for word in ("morning", "planning", "meeting", "budget", "project"):
            assert word in text, text
        assert "AccessDenied" not in workers.log(worker)
    finally:
        workers.stop_all()

    # A client whose policy lacks the queue: one line naming the action, no traceback.
    no_queue = iam.client_policy(stack)
    no_queue["Statement"] = [s for s in no_queue["Statement"] if s["Sid"] != "QueueJobs"]
    uploader = user_with(url, admin, "uploader", no_queue)
    other_clip = convert(conversation["path"], tmp_path / "other.mp3", "-t", "5")
    refused = run_cli(str(other_clip), "--remote", "-o", str(tmp_path / "no"),
                      env={**common, **creds_env(url, uploader)})  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "AWS denied sqs:GetQueueUrl" in refused.stderr.strip().splitlines()[-1]

    c_s3 = client("s3", url, client_user)  # the client reads results, as `jobs fetch` does
    assert c_s3.get_object(Bucket=bucket, Key=f"output/{job_id}/clip.txt")["Body"].read()

    # The worker role, each thing the worker never does.
    w_s3, w_sqs = client("s3", url, role), client("sqs", url, role)
    body = {"Bucket": bucket, "Body": b"x", "ServerSideEncryption": "AES256"}
    assert denied(w_s3.put_object, Key=f"uploads/{job_id}.mp3", **body) == "AccessDenied"
    assert denied(w_s3.get_object, Bucket=bucket, Key=f"output/{job_id}/clip.txt") == (
        "AccessDenied"
    )
    assert denied(w_s3.put_object, Key="temp/other.json", **body) == "AccessDenied"
    assert denied(w_s3.put_object, Key="artifacts/0.1.0/evil.whl", **body) == "AccessDenied"
    assert denied(w_s3.delete_object, Bucket=bucket, Key=f"uploads/{job_id}.mp3") == (
        "AccessDenied"
    )
    assert denied(w_sqs.send_message, QueueUrl=other_queue, MessageBody="{}") == "AccessDenied"
    assert denied(w_sqs.purge_queue, QueueUrl=queue_url) == "AccessDenied"
    w_ssm = client("ssm", url, role)
    assert denied(w_ssm.get_parameter, Name="/transcriber/other/mongodb_url") == "AccessDenied"
    w_ec2 = client("ec2", url, role)  # a job's price: the Spot price history, nothing else
    assert "SpotPriceHistory" in w_ec2.describe_spot_price_history(
        InstanceTypes=["g5.xlarge"], AvailabilityZone=f"{REGION}a", MaxResults=1
    )
    assert denied(w_ec2.describe_instances) in ("AccessDenied", "UnauthorizedOperation")
    # ... and, by hand, the grants the job above did not need: a cancelled job's exports
    # listed and removed, a checkpoint written, read and removed, a poison message sent to
    # the DLQ and settled, a job put back on the queue by the dead-letter sweep.
    assert w_s3.get_object(Bucket=bucket, Key=f"uploads/{job_id}.mp3")["ContentLength"] > 0
    listed = w_s3.list_objects_v2(Bucket=bucket, Prefix=f"output/{job_id}/")["Contents"]
    assert f"output/{job_id}/clip.txt" in {o["Key"] for o in listed}
    for obj in listed:  # one by one: moto checks DeleteObjects against the bucket, not each key
        w_s3.delete_object(Bucket=bucket, Key=obj["Key"])
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"output/{job_id}/")
    checkpoint = f"temp/checkpoints/{job_id}.json"
    w_s3.put_object(Key=checkpoint, **body)
    assert w_s3.get_object(Bucket=bucket, Key=checkpoint)["Body"].read() == b"x"
    w_s3.delete_object(Bucket=bucket, Key=checkpoint)
    dlq = sqs.get_queue_url(QueueName=dlq_name(STACK))["QueueUrl"]
    w_sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"job_id": job_id}))
    (poison,) = w_sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1)["Messages"]
    w_sqs.delete_message(QueueUrl=dlq, ReceiptHandle=poison["ReceiptHandle"])
    w_sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"job_id": job_id}))
    # The client user: uploads and results only; never the worker's release or the DLQ.
    assert denied(c_s3.put_object, Key="artifacts/0.1.0/evil.whl", **body) == "AccessDenied"
    assert denied(c_s3.get_object, Bucket=bucket, Key=f"uploads/{job_id}.mp3") == "AccessDenied"
    c_sqs = client("sqs", url, client_user)
    assert denied(c_sqs.receive_message, QueueUrl=dlq) == "AccessDenied"
    assert denied(c_sqs.receive_message, QueueUrl=queue_url) == "AccessDenied"
