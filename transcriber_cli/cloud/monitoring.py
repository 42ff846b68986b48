"""Worker log group, alarm topic (+ email), alarms, and account-wide EBS encryption by default."""

from __future__ import annotations

from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.aws.errors import none_if_missing
from transcriber_cli.cloud.plan import PutResource, Resource
from transcriber_cli.cloud.stack import Stack, tag_map
from transcriber_cli.errors import UsageError

LOG_RETENTION_DAYS = 30
QUEUE_DEPTH_THRESHOLD = 20


class LogGroup(Resource):
    kind = "log-group"

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack)
        self.logs = stack.client("logs")

    @property
    def name(self) -> str:
        return naming.log_group(self.stack.name)

    def desired(self) -> dict[str, Any]:
        return {"retention_days": LOG_RETENTION_DAYS, "tags": self.stack.tags}

    def current(self) -> dict[str, Any] | None:
        groups = self.logs.describe_log_groups(logGroupNamePrefix=self.name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == self.name), None)
        if group is None:
            return None
        tags = self.logs.list_tags_log_group(logGroupName=self.name).get("tags", {})
        return {"retention_days": group.get("retentionInDays"), "tags": tags}

    def create(self) -> None:
        self.logs.create_log_group(logGroupName=self.name, tags=self.stack.tags)
        self.update(["retention_days"])

    def update(self, changed: list[str]) -> None:
        if "retention_days" in changed:
            self.logs.put_retention_policy(
                logGroupName=self.name, retentionInDays=LOG_RETENTION_DAYS
            )
        if "tags" in changed:
            self.logs.tag_log_group(logGroupName=self.name, tags=self.stack.tags)

    def delete(self) -> None:
        self.logs.delete_log_group(logGroupName=self.name)


def check_email(email: str | None) -> str | None:
    if email is not None and ("@" not in email or " " in email or email.startswith("@")):
        raise UsageError(f"invalid --alarm-email {email!r}")
    return email


class AlarmTopic(Resource):
    """SNS topic for alarms; ``--alarm-email`` subscribes one address (AWS mails a confirmation)."""

    kind = "sns-topic"

    def __init__(self, stack: Stack, email: str | None = None) -> None:
        super().__init__(stack)
        self.email = check_email(email)
        self.sns = stack.client("sns")

    @property
    def name(self) -> str:
        return naming.alarm_topic_name(self.stack.name)

    @property
    def arn(self) -> str:
        return (
            f"arn:{self.stack.partition}:sns:{self.stack.region}:{self.stack.account}:{self.name}"
        )

    def desired(self) -> dict[str, Any]:
        return {"emails": [self.email] if self.email else [], "tags": self.stack.tags}

    def _subscriptions(self) -> list[dict[str, Any]]:
        return [
            s
            for s in self.sns.paginate(
                "list_subscriptions_by_topic", "Subscriptions", TopicArn=self.arn
            )
            if s.get("Protocol") == "email"
        ]

    def current(self) -> dict[str, Any] | None:
        topic = none_if_missing(
            ("NotFound", "NotFoundException"), self.sns.get_topic_attributes, TopicArn=self.arn
        )
        if topic is None:
            return None
        tags = self.sns.list_tags_for_resource(ResourceArn=self.arn).get("Tags", [])
        return {
            "emails": sorted({s["Endpoint"] for s in self._subscriptions()}),
            "tags": tag_map(tags),
        }

    def create(self) -> None:
        self.sns.create_topic(Name=self.name, Tags=self.stack.tag_list())
        self.update(["emails"])

    def update(self, changed: list[str]) -> None:
        if "emails" in changed:
            wanted = set(self.desired()["emails"])
            subs = self._subscriptions()
            for sub in subs:
                # A subscription still pending confirmation has no ARN and cannot be removed.
                if sub["Endpoint"] not in wanted and sub["SubscriptionArn"].startswith("arn:"):
                    self.sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
            for email in wanted - {s["Endpoint"] for s in subs}:
                self.sns.subscribe(TopicArn=self.arn, Protocol="email", Endpoint=email)
        if "tags" in changed:
            self.sns.tag_resource(ResourceArn=self.arn, Tags=self.stack.tag_list())

    def delete(self) -> None:
        self.sns.delete_topic(TopicArn=self.arn)  # also removes its subscriptions


class MetricAlarm(PutResource):
    """One CloudWatch alarm described by the ``put_metric_alarm`` arguments it needs."""

    kind = "cloudwatch-alarm"
    # Keys compared with what describe_alarms returns.
    COMPARED = (
        "Namespace", "MetricName", "Dimensions", "Statistic", "Period", "EvaluationPeriods",
        "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
        "AlarmActions", "Metrics",
    )  # fmt: skip

    def __init__(self, stack: Stack, alarm_name: str, spec: dict[str, Any]) -> None:
        super().__init__(stack, alarm_name, spec)
        self.cw = stack.client("cloudwatch")

    def desired(self) -> dict[str, Any]:
        return {**self.compared(self.spec), "tags": self.stack.tags}

    def current(self) -> dict[str, Any] | None:
        alarms = self.cw.describe_alarms(AlarmNames=[self.name])["MetricAlarms"]
        if not alarms:
            return None
        alarm = alarms[0]
        got = self.compared(alarm)
        if "Threshold" in got:
            got["Threshold"] = float(got["Threshold"])
        tags = self.cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
        got["tags"] = tag_map(tags)
        got["arn"] = alarm["AlarmArn"]
        return got

    def create(self) -> None:
        self.cw.put_metric_alarm(AlarmName=self.name, Tags=self.stack.tag_list(), **self.spec)

    def delete(self) -> None:
        self.cw.delete_alarms(AlarmNames=[self.name])


def queue_metric(queue: str, metric: str, stat: str = "Maximum") -> dict[str, Any]:
    return {
        "Namespace": "AWS/SQS",
        "MetricName": metric,
        "Dimensions": [{"Name": "QueueName", "Value": queue}],
        "Statistic": stat,
        "Period": 300,
    }


def ops_alarms(stack: Stack, topic_arn: str) -> list[MetricAlarm]:
    """Alarms that page a human: a growing backlog and anything in the dead-letter queue."""
    base = naming.prefix(stack.name)
    depth = {
        **queue_metric(naming.queue_name(stack.name), "ApproximateNumberOfMessagesVisible"),
        "EvaluationPeriods": 1,
        "Threshold": float(QUEUE_DEPTH_THRESHOLD),
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic_arn],
        "AlarmDescription": f"more than {QUEUE_DEPTH_THRESHOLD} jobs waiting",
    }
    dlq = {
        **queue_metric(naming.dlq_name(stack.name), "ApproximateNumberOfMessagesVisible"),
        "EvaluationPeriods": 1,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic_arn],
        "AlarmDescription": "jobs failed three times and are in the dead-letter queue",
    }
    return [
        MetricAlarm(stack, f"{base}-queue-depth", depth),
        MetricAlarm(stack, f"{base}-dlq-not-empty", dlq),
    ]


class EbsEncryptionDefault(Resource):
    """Account- and region-wide setting: new EBS volumes are encrypted. Never turned off by down."""

    kind = "ebs-encryption-default"

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack)
        self.ec2 = stack.client("ec2")

    @property
    def name(self) -> str:
        return f"account {self.stack.account} {self.stack.region}"

    def desired(self) -> dict[str, Any]:
        return {"enabled": True}

    def current(self) -> dict[str, Any] | None:
        return {"enabled": self.ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]}

    def create(self) -> None:
        self.update(["enabled"])

    def update(self, changed: list[str]) -> None:
        self.ec2.enable_ebs_encryption_by_default()

    def delete(self) -> None:  # other workloads in the account may rely on it
        pass
