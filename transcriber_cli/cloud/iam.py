"""The worker's IAM role, instance profile and least-privilege inline policy.

The policy grants exactly the calls the worker makes. Only ``cloudwatch:PutMetricData`` and
``ec2:DescribeSpotPriceHistory`` have a ``*`` resource, because they support no resource-level
permissions; a condition holds the first to the worker's namespace, and the second only reads
public prices. Every other action is scoped to the stack's resources.
No KMS statement either: SecureStrings use the AWS-managed ``aws/ssm`` key, whose key policy
already lets principals of this account decrypt through SSM (kms:ViaService), so an IAM grant
would add nothing. A customer-managed key would need ``kms:Decrypt`` scoped to that key.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from transcriber_cli.aws import naming
from transcriber_cli.aws.errors import none_if_missing
from transcriber_cli.aws.s3 import BOOT_PREFIX
from transcriber_cli.cloud import artifacts
from transcriber_cli.cloud.plan import Resource
from transcriber_cli.cloud.stack import Stack, tag_map

POLICY_NAME = "transcriber-worker"
NO_SUCH_ENTITY = ("NoSuchEntity",)
CHECKPOINTS = "temp/checkpoints/"  # aws/s3.py checkpoint_key
# The namespace worker/telemetry.py publishes in (cloud/ may not import worker/; a test
# checks that the two agree).
METRICS_NAMESPACE = "Transcriber"


def trust_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def worker_policy(stack: Stack) -> dict[str, Any]:
    """Each statement is one group of calls the worker makes (docs/cloud.md lists them, with
    the code that makes each); tests/remote/test_real_stack.py runs a worker under it."""
    objects = f"{stack.bucket_arn}/"
    queue = stack.queue_arn(naming.queue_name(stack.name))
    dlq = stack.queue_arn(naming.dlq_name(stack.name))
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # The job's audio, read once (download_file: HeadObject + GetObject).
                "Sid": "ReadAudio",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{objects}uploads/*",
            },
            {
                # The exports, written once per format; removed when a job is cancelled
                # (listed by prefix, then DeleteObjects). Never read back by the worker.
                "Sid": "WriteOutputs",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{objects}output/*",
            },
            {
                "Sid": "ListOutputs",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": stack.bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": ["output/*"]}},
            },
            {
                # A long job's finished windows: written, read on resume, removed at the end.
                "Sid": "Checkpoints",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{objects}{CHECKPOINTS}*",
            },
            {
                # The worker release and models the boot installs: read only.
                "Sid": "WorkerRelease",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"{objects}{artifacts.PREFIX}*", f"{objects}{artifacts.MODELS}*"],
            },
            {
                # Each boot step, for `fleet status` (the worker closes its machine's report).
                "Sid": "BootReports",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"{objects}{BOOT_PREFIX}*",
            },
            {
                # Jobs: receive, hold (visibility), finish; the redrive policy and timeout
                # from the attributes. SendMessage: the dead-letter sweep puts a job whose
                # message reached the DLQ without a worker's fault back on the queue.
                "Sid": "JobQueue",
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:SendMessage",
                ],
                "Resource": queue,
            },
            {
                # Poison messages go to the DLQ (send), which the sweep reads and settles;
                # its URL comes from the redrive policy's ARN (GetQueueUrl).
                "Sid": "DeadLetters",
                "Effect": "Allow",
                "Action": [
                    "sqs:GetQueueUrl",
                    "sqs:SendMessage",
                    "sqs:ReceiveMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                ],
                "Resource": dlq,
            },
            {
                # aws/secrets.py reads each secret by name (GetParameter, decrypted).
                "Sid": "StackSecrets",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": f"{stack.ssm_arn_prefix}/*",
            },
            {
                # One stream per worker process: created once, then written. No
                # DescribeLogStreams: PutLogEvents needs no sequence token any more.
                "Sid": "OwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [stack.log_group_arn, f"{stack.log_group_arn}:log-stream:*"],
            },
            {
                "Sid": "JobMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            },
            {
                # The Spot price of the worker's own type and zone, for each job's cost
                # (aws/pricing.py hourly_rate).
                "Sid": "SpotPrice",
                "Effect": "Allow",
                "Action": "ec2:DescribeSpotPriceHistory",
                "Resource": "*",
            },
        ],
    }


def client_policy(stack: Stack) -> dict[str, Any]:
    """What ``transcribe --remote`` and ``jobs`` need, for the people who submit jobs
    (docs/cloud.md prints it): upload audio, read results, queue a job, read the MongoDB URL.
    MongoDB itself is reached with that URL, outside IAM."""
    objects = f"{stack.bucket_arn}/"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # upload_file: PutObject, or the multipart calls (authorized as PutObject).
                "Sid": "UploadAudio",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"{objects}uploads/*",
            },
            {
                "Sid": "ReadResults",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{objects}output/*",
            },
            {
                "Sid": "QueueJobs",
                "Effect": "Allow",
                "Action": ["sqs:GetQueueUrl", "sqs:SendMessage"],
                "Resource": stack.queue_arn(naming.queue_name(stack.name)),
            },
            {
                "Sid": "MongoUrl",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": f"{stack.ssm_arn_prefix}/mongodb_url",
            },
        ],
    }


def _doc(value: Any) -> Any:
    # IAM returns policy documents URL-encoded; boto3 usually decodes them already.
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


class WorkerRole(Resource):
    kind = "iam-role"

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack)
        self.iam = stack.client("iam")

    @property
    def name(self) -> str:
        return naming.role_name(self.stack.name)

    def desired(self) -> dict[str, Any]:
        return {
            "trust": trust_policy(),
            "policy": worker_policy(self.stack),
            "instance_profile_roles": [self.name],
            "tags": self.stack.tags,
        }

    def _profile(self) -> dict[str, Any] | None:
        found = none_if_missing(
            NO_SUCH_ENTITY, self.iam.get_instance_profile, InstanceProfileName=self.name
        )
        return found["InstanceProfile"] if found else None

    def current(self) -> dict[str, Any] | None:
        found = none_if_missing(NO_SUCH_ENTITY, self.iam.get_role, RoleName=self.name)
        if found is None:
            return None
        role = found["Role"]
        policy = none_if_missing(
            NO_SUCH_ENTITY, self.iam.get_role_policy, RoleName=self.name, PolicyName=POLICY_NAME
        )
        profile = self._profile()
        tags = self.iam.list_role_tags(RoleName=self.name).get("Tags", [])
        return {
            "trust": _doc(role["AssumeRolePolicyDocument"]),
            "policy": _doc(policy["PolicyDocument"]) if policy else None,
            "instance_profile_roles": [r["RoleName"] for r in (profile or {}).get("Roles", [])]
            if profile
            else None,
            "tags": tag_map(tags),
            "arn": role["Arn"],
            "instance_profile_arn": profile["Arn"] if profile else None,
        }

    def create(self) -> None:
        self.iam.create_role(
            RoleName=self.name,
            AssumeRolePolicyDocument=json.dumps(trust_policy()),
            Description=f"transcriber workers of stack {self.stack.name}",
            Tags=self.stack.tag_list(),
        )
        self.update(["policy", "instance_profile_roles"])

    def update(self, changed: list[str]) -> None:
        if "trust" in changed:
            self.iam.update_assume_role_policy(
                RoleName=self.name, PolicyDocument=json.dumps(trust_policy())
            )
        if "policy" in changed:
            self.iam.put_role_policy(
                RoleName=self.name,
                PolicyName=POLICY_NAME,
                PolicyDocument=json.dumps(worker_policy(self.stack)),
            )
        if "instance_profile_roles" in changed:
            profile = self._profile()
            if profile is None:
                self.iam.create_instance_profile(
                    InstanceProfileName=self.name, Tags=self.stack.tag_list()
                )
                profile = {"Roles": []}
            for role in profile.get("Roles", []):
                if role["RoleName"] != self.name:
                    self.iam.remove_role_from_instance_profile(
                        InstanceProfileName=self.name, RoleName=role["RoleName"]
                    )
            if not any(r["RoleName"] == self.name for r in profile.get("Roles", [])):
                self.iam.add_role_to_instance_profile(
                    InstanceProfileName=self.name, RoleName=self.name
                )
        if "tags" in changed:
            self.iam.tag_role(RoleName=self.name, Tags=self.stack.tag_list())

    def delete(self) -> None:
        profile = self._profile()
        if profile is not None:
            for role in profile.get("Roles", []):
                self.iam.remove_role_from_instance_profile(
                    InstanceProfileName=self.name, RoleName=role["RoleName"]
                )
            self.iam.delete_instance_profile(InstanceProfileName=self.name)
        for policy in self.iam.paginate("list_role_policies", "PolicyNames", RoleName=self.name):
            self.iam.delete_role_policy(RoleName=self.name, PolicyName=policy)
        for attached in self.iam.paginate(
            "list_attached_role_policies", "AttachedPolicies", RoleName=self.name
        ):
            self.iam.detach_role_policy(RoleName=self.name, PolicyArn=attached["PolicyArn"])
        self.iam.delete_role(RoleName=self.name)
