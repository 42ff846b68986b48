"""One stack in one account and region: names, ARNs and (error-translating) AWS clients."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.aws.errors import Client


@dataclass
class Stack:
    name: str
    region: str
    account: str
    profile: str | None = None
    _clients: dict[str, Client] = field(default_factory=dict, repr=False)

    @classmethod
    def connect(cls, name: str, region: str | None, profile: str | None) -> Stack:
        """Check the stack name, the region and the credentials, then describe the stack."""
        from transcriber_cli.aws import session as aws
        from transcriber_cli.aws.errors import aws_errors

        naming.check_stack(name)
        with aws_errors():
            real_region = aws.check_region(region, profile)
            account = aws.account_id(real_region, profile)
        return cls(name=name, region=real_region, account=account, profile=profile)

    @classmethod
    def from_settings(cls, settings: Any) -> Stack:
        return cls.connect(settings.stack, settings.region, settings.profile)

    def client(self, service: str) -> Client:
        if service not in self._clients:
            from transcriber_cli.aws import session as aws

            self._clients[service] = Client(service, aws.client(service, self.region, self.profile))
        return self._clients[service]

    # --- names and ARNs -------------------------------------------------------------------
    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @functools.cached_property
    def bucket(self) -> str:
        return naming.bucket_name(self.name, self.account, self.region)

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def queue_arn(self, queue: str) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{queue}"

    def queue_url(self, queue: str) -> str:
        # Only used before the queue exists (dry runs, policies); real calls use GetQueueUrl.
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{queue}"

    @property
    def ssm_arn_prefix(self) -> str:
        path = naming.ssm_prefix(self.name).rstrip("/")
        return f"arn:{self.partition}:ssm:{self.region}:{self.account}:parameter{path}"

    @property
    def log_group_arn(self) -> str:
        return (
            f"arn:{self.partition}:logs:{self.region}:{self.account}:"
            f"log-group:{naming.log_group(self.name)}"
        )

    @property
    def tags(self) -> dict[str, str]:
        return naming.tags(self.name)

    def tag_list(self, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
        return [{key: k, value: v} for k, v in self.tags.items()]

    def tag_specs(self, *resource_types: str) -> list[dict[str, Any]]:
        """``TagSpecifications`` that tag each of ``resource_types`` as EC2 creates it."""
        return [{"ResourceType": r, "Tags": self.tag_list()} for r in resource_types]

    def owns(self, tags: dict[str, str] | None) -> bool:
        return bool(tags) and (tags or {}).get(naming.TAG_KEY) == self.name


def tag_map(tags: Iterable[dict[str, str]]) -> dict[str, str]:
    """AWS's ``[{"Key": k, "Value": v}, ...]`` as ``{k: v}``: the inverse of ``tag_list``."""
    return {t["Key"]: t["Value"] for t in tags}
