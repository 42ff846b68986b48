"""Queue-depth scaling: out while jobs wait, back to zero after 10 idle minutes.

Step scaling driven by two alarms on the job queue:
- backlog: ApproximateNumberOfMessagesVisible > 0 adds 1/2/4 GPUs by backlog size (the
  group's capacity is in GPUs, ``fleet.py``; AWS rounds up to whole instances);
- idle: visible + in-flight (ApproximateNumberOfMessagesNotVisible, i.e. jobs a worker holds)
  == 0 for 10 consecutive minutes sets the capacity to 0. A job in progress keeps its message
  in flight (the worker extends its visibility), so no worker is removed mid-job by this alarm.
"""

from __future__ import annotations

from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.cloud.monitoring import MetricAlarm
from transcriber_cli.cloud.plan import PutResource
from transcriber_cli.cloud.stack import Stack

IDLE_MINUTES = 10
WARMUP_S = 600  # boot + package install + model download before a worker takes jobs
PENDING_ARN = "(policy ARN, known once created)"


def _sqs(queue: str, metric: str) -> dict[str, Any]:
    return {
        "Metric": {
            "Namespace": "AWS/SQS",
            "MetricName": metric,
            "Dimensions": [{"Name": "QueueName", "Value": queue}],
        },
        "Period": 60,
        "Stat": "Maximum",
    }


class ScalingPolicy(PutResource):
    kind = "scaling-policy"
    COMPARED = ("PolicyType", "AdjustmentType", "StepAdjustments", "MetricAggregationType",
                "EstimatedInstanceWarmup")  # fmt: skip

    def __init__(self, stack: Stack, policy_name: str, spec: dict[str, Any]) -> None:
        super().__init__(stack, policy_name, spec)
        self.asg = stack.client("autoscaling")

    def desired(self) -> dict[str, Any]:
        return self.compared(self.spec)

    def current(self) -> dict[str, Any] | None:
        policies = self.asg.describe_policies(
            AutoScalingGroupName=naming.asg_name(self.stack.name), PolicyNames=[self.name]
        )["ScalingPolicies"]
        if not policies:
            return None
        got = self.compared(policies[0])
        got["StepAdjustments"] = [
            {k: (float(v) if k.startswith("MetricInterval") else v) for k, v in step.items()}
            for step in got.get("StepAdjustments") or []
        ]
        got["arn"] = policies[0]["PolicyARN"]
        return got

    def create(self) -> None:
        self.asg.put_scaling_policy(
            AutoScalingGroupName=naming.asg_name(self.stack.name), PolicyName=self.name, **self.spec
        )

    def delete(self) -> None:
        self.asg.delete_policy(
            AutoScalingGroupName=naming.asg_name(self.stack.name), PolicyName=self.name
        )

    def arn(self) -> str:
        current = self.current()
        return current["arn"] if current else PENDING_ARN


def _step(lower: float, upper: float | None, add: int) -> dict[str, Any]:
    step: dict[str, Any] = {"MetricIntervalLowerBound": lower, "ScalingAdjustment": add}
    if upper is not None:
        step["MetricIntervalUpperBound"] = upper
    return step


def policies(stack: Stack) -> list[ScalingPolicy]:
    base = naming.prefix(stack.name)
    out = {
        "PolicyType": "StepScaling",
        "AdjustmentType": "ChangeInCapacity",
        "MetricAggregationType": "Maximum",
        "EstimatedInstanceWarmup": WARMUP_S,
        # Bounds are relative to the alarm threshold (0 messages).
        "StepAdjustments": [
            _step(0.0, 10.0, 1),  # 1-10 jobs waiting: one more GPU
            _step(10.0, 50.0, 2),
            _step(50.0, None, 4),
        ],
    }  # fmt: skip
    to_zero = {
        "PolicyType": "StepScaling",
        "AdjustmentType": "ExactCapacity",
        "MetricAggregationType": "Maximum",
        "StepAdjustments": [{"MetricIntervalUpperBound": 0.0, "ScalingAdjustment": 0}],
    }
    return [
        ScalingPolicy(stack, f"{base}-scale-out", out),
        ScalingPolicy(stack, f"{base}-scale-to-zero", to_zero),
    ]


def alarms(stack: Stack, out_arn: str, zero_arn: str) -> list[MetricAlarm]:
    base, queue = naming.prefix(stack.name), naming.queue_name(stack.name)
    backlog = {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": queue}],
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [out_arn],
        "AlarmDescription": "jobs are waiting: add workers",
    }
    idle = {
        "Metrics": [
            {"Id": "visible", "MetricStat": _sqs(queue, "ApproximateNumberOfMessagesVisible"),
             "ReturnData": False},
            {"Id": "inflight", "MetricStat": _sqs(queue, "ApproximateNumberOfMessagesNotVisible"),
             "ReturnData": False},
            {"Id": "jobs", "Expression": "visible + inflight", "Label": "jobs waiting or running",
             "ReturnData": True},
        ],
        "EvaluationPeriods": IDLE_MINUTES,
        "DatapointsToAlarm": IDLE_MINUTES,
        "Threshold": 0.0,
        "ComparisonOperator": "LessThanOrEqualToThreshold",
        # SQS stops publishing metrics for a queue idle for hours: no data means idle.
        "TreatMissingData": "breaching",
        "AlarmActions": [zero_arn],
        "AlarmDescription": f"no job waiting or running for {IDLE_MINUTES} minutes: scale to zero",
    }  # fmt: skip
    return [
        MetricAlarm(stack, f"{base}-backlog", backlog),
        MetricAlarm(stack, f"{base}-idle", idle),
    ]
