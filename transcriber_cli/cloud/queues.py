"""The job queue and its dead-letter queue (SSE, long polling, redrive after 3 receives)."""

from __future__ import annotations

import json
from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.aws.errors import NO_SUCH_QUEUE, none_if_missing
from transcriber_cli.aws.sqs import queue_depth
from transcriber_cli.cloud.plan import Resource
from transcriber_cli.cloud.stack import Stack

# The worker extends visibility while it works (heartbeat), so 15 minutes only bounds how long
# a crashed worker's job stays invisible before another worker picks it up.
VISIBILITY_TIMEOUT_S = 15 * 60
MAX_RECEIVE_COUNT = 3
JOB_RETENTION_S = 4 * 24 * 3600
DLQ_RETENTION_S = 14 * 24 * 3600  # the maximum SQS allows: time to inspect failures


class Queue(Resource):
    kind = "sqs-queue"

    def __init__(self, stack: Stack, dead_letter: bool = False) -> None:
        super().__init__(stack)
        self.dead_letter = dead_letter
        self.sqs = stack.client("sqs")

    @property
    def name(self) -> str:
        return (
            naming.dlq_name(self.stack.name)
            if self.dead_letter
            else naming.queue_name(self.stack.name)
        )

    def desired(self) -> dict[str, Any]:
        attrs: dict[str, str] = {
            "SqsManagedSseEnabled": "true",
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_S),
            "ReceiveMessageWaitTimeSeconds": "20",
            "MessageRetentionPeriod": str(DLQ_RETENTION_S if self.dead_letter else JOB_RETENTION_S),
        }
        if not self.dead_letter:
            attrs["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": self.stack.queue_arn(naming.dlq_name(self.stack.name)),
                    "maxReceiveCount": MAX_RECEIVE_COUNT,
                },
                sort_keys=True,
            )
        return {"attributes": attrs, "tags": self.stack.tags}

    def url(self) -> str | None:
        found = none_if_missing(NO_SUCH_QUEUE, self.sqs.get_queue_url, QueueName=self.name)
        return found["QueueUrl"] if found else None

    def current(self) -> dict[str, Any] | None:
        url = self.url()
        if url is None:
            return None
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        wanted = self.desired()["attributes"]
        got = {k: attrs.get(k) for k in wanted}
        if got.get("RedrivePolicy"):
            redrive = json.loads(got["RedrivePolicy"])
            redrive["maxReceiveCount"] = int(redrive["maxReceiveCount"])
            got["RedrivePolicy"] = json.dumps(redrive, sort_keys=True)
        tags = self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        return {"attributes": got, "tags": tags, "url": url, "arn": attrs.get("QueueArn")}

    def create(self) -> None:
        want = self.desired()
        self.sqs.create_queue(QueueName=self.name, Attributes=want["attributes"], tags=want["tags"])

    def update(self, changed: list[str]) -> None:
        url = self.url()
        want = self.desired()
        if "attributes" in changed:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes=want["attributes"])
        if "tags" in changed:
            self.sqs.tag_queue(QueueUrl=url, Tags=want["tags"])

    def delete(self) -> None:
        url = self.url()
        if url:
            self.sqs.delete_queue(QueueUrl=url)

    def depth(self) -> dict[str, int] | None:
        """Messages waiting and in flight, or None when the queue does not exist."""
        url = self.url()
        return None if url is None else queue_depth(self.sqs, url)
