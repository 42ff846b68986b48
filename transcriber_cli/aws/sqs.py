"""SQS for remote mode: one message ``{"job_id": ...}`` per job, a dead-letter queue behind it.

Delivery is at least once: a message can arrive twice, or again after a worker died. The job
document in MongoDB (``store/``) decides who works on what; this module only moves messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from transcriber_cli.aws.errors import (
    NO_SUCH_QUEUE,
    PermissionDenied,
    error_code,
    translate,
    unavailable_on_outage,
)
from transcriber_cli.aws.naming import queue_name
from transcriber_cli.config import Settings
from transcriber_cli.errors import SetupError, Unavailable


def queue_depth(sqs: Any, url: str) -> dict[str, int]:
    """Messages waiting and in flight (approximate, as SQS counts them)."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


@dataclass(frozen=True)
class Message:
    job_id: str | None  # None: a body we do not understand (acknowledged and dropped)
    receipt: str
    message_id: str
    receive_count: int
    body: str


def resolve_queue_url(settings: Settings, sqs: Any) -> str:
    """``settings.queue_url``, else the stack's queue looked up by name."""
    if settings.queue_url:
        return settings.queue_url
    try:
        with unavailable_on_outage("SQS"):  # a caller may wait it out (retry.patiently)
            return sqs.get_queue_url(QueueName=queue_name(settings.stack))["QueueUrl"]
    except Unavailable:
        raise
    except Exception as exc:
        if error_code(exc) in NO_SUCH_QUEUE:
            raise SetupError(
                f"queue {queue_name(settings.stack)} does not exist",
                hint="run 'transcriber infra up' or set TRANSCRIBER_QUEUE_URL",
            ) from None
        typed = translate(exc, "sqs")  # a denied lookup is one line, not a traceback
        if typed is None and error_code(exc) == "403":  # an error body botocore cannot read
            typed = PermissionDenied("AWS denied sqs:GetQueueUrl")
        if typed is not None:
            raise typed from None
        raise


class _Sqs:
    """The boto3 SQS client with transient failures raised as ``Unavailable``."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.raw, name)

        def call(**kwargs: Any) -> Any:
            with unavailable_on_outage("SQS"):
                return method(**kwargs)

        return call


class JobQueue:
    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs = _Sqs(sqs)
        self.url = url
        self._attributes: dict[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> JobQueue:
        from transcriber_cli.aws.session import client

        sqs = client("sqs", settings.region, settings.profile)
        return cls(sqs, resolve_queue_url(settings, sqs))

    # --- messages ---------------------------------------------------------------------------
    def send(self, job_id: str, url: str | None = None, reason: str | None = None) -> str:
        attributes = {}
        if reason:
            attributes["reason"] = {"DataType": "String", "StringValue": reason[:1000]}
        reply = self.sqs.send_message(
            QueueUrl=url or self.url,
            MessageBody=json.dumps({"job_id": job_id}),
            MessageAttributes=attributes,
        )
        return reply["MessageId"]

    def receive(
        self, max_messages: int = 1, wait_seconds: int = 20, url: str | None = None
    ) -> list[Message]:
        reply = self.sqs.receive_message(
            QueueUrl=url or self.url,
            MaxNumberOfMessages=max(1, min(max_messages, 10)),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return [self._parse(m) for m in reply.get("Messages", [])]

    @staticmethod
    def _parse(raw: dict) -> Message:
        try:
            job_id = json.loads(raw["Body"]).get("job_id")
            job_id = job_id if isinstance(job_id, str) and job_id else None
        except (ValueError, AttributeError, RecursionError):  # a body nested past the stack
            job_id = None
        return Message(
            job_id=job_id,
            receipt=raw["ReceiptHandle"],
            message_id=raw["MessageId"],
            receive_count=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            body=raw["Body"],
        )

    def extend(self, receipt: str, seconds: int, url: str | None = None) -> None:
        """Keep the message invisible for ``seconds`` more (0 = visible now)."""
        self.sqs.change_message_visibility(
            QueueUrl=url or self.url,
            ReceiptHandle=receipt,
            VisibilityTimeout=max(0, min(int(seconds), 43200)),
        )

    def release(self, receipt: str, delay: float = 0) -> None:
        self.extend(receipt, int(delay))

    def delete(self, receipt: str, url: str | None = None) -> None:
        self.sqs.delete_message(QueueUrl=url or self.url, ReceiptHandle=receipt)

    def move_to_dead_letter(self, message: Message, reason: str) -> None:
        """Send a copy to the DLQ, then delete the original (a poison input needs no retries)."""
        dlq = self.dlq_url()
        if dlq is None:
            self.delete(message.receipt)
            return
        self.send(message.job_id or "", url=dlq, reason=reason)
        self.delete(message.receipt)

    # --- attributes ---------------------------------------------------------------------------
    def attributes(self, refresh: bool = False) -> dict[str, str]:
        if self._attributes is None or refresh:
            self._attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["All"]
            )["Attributes"]
        return self._attributes

    def visibility_timeout(self) -> int:
        return int(self.attributes().get("VisibilityTimeout", 30))

    def _redrive(self) -> dict:
        raw = self.attributes().get("RedrivePolicy")
        return json.loads(raw) if raw else {}

    def max_receive_count(self) -> int | None:
        count = self._redrive().get("maxReceiveCount")
        return int(count) if count is not None else None

    def dlq_url(self) -> str | None:
        arn = self._redrive().get("deadLetterTargetArn")
        if not arn:
            return None
        name = arn.rsplit(":", 1)[-1]
        account = arn.split(":")[4]
        return self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]

    def dead_letters(self, max_messages: int = 10) -> list[Message]:
        """Peek at the DLQ; the messages stay there (for the alarm and for people)."""
        dlq = self.dlq_url()
        if dlq is None:
            return []
        found = self.receive(max_messages, wait_seconds=0, url=dlq)
        for message in found:  # put them back at once: we only read them
            self.extend(message.receipt, 0, url=dlq)
        return found
