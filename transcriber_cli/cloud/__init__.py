"""AWS resources for remote mode: ``infra`` (bucket, queues, IAM, SSM, SG, alarms) and ``fleet``."""
