"""Sessions and clients: the one place boto3 is imported (lazily), as skypilot's
``adaptors/aws.py`` does.

Sessions honour settings (region, profile) and the standard environment, including
``AWS_ENDPOINT_URL`` which botocore applies to every client: that is how tests point the
very same code at a local moto server.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from transcriber_cli.aws.errors import (
    BAD_CREDENTIALS,
    bad_credentials,
    error_code,
    no_credentials,
    no_region,
)
from transcriber_cli.errors import SetupError

if TYPE_CHECKING:
    import boto3

# Retries with backoff for throttling and transient errors, handled by botocore itself.
_RETRIES = {"max_attempts": 8, "mode": "adaptive"}


@functools.lru_cache(maxsize=8)
def session(region: str | None = None, profile: str | None = None) -> boto3.session.Session:
    import boto3
    import botocore.exceptions

    try:
        return boto3.session.Session(region_name=region, profile_name=profile)
    except botocore.exceptions.ProfileNotFound:
        raise SetupError(
            f"AWS profile {profile!r} not found", hint="see 'aws configure list-profiles'"
        ) from None


def client(service: str, region: str | None = None, profile: str | None = None) -> Any:
    from botocore.config import Config

    sess = session(region, profile)
    if sess.region_name is None:
        raise no_region()
    if sess.get_credentials() is None:
        raise no_credentials()
    # One client serves every thread: a worker's jobs at once (16 a GPU), each with its lease
    # and uploads, would churn botocore's default pool of 10 connections.
    config = Config(retries=_RETRIES, user_agent_extra="transcriber", max_pool_connections=64)
    return sess.client(service, config=config)


def account_id(region: str | None = None, profile: str | None = None) -> str:
    """The account the credentials belong to (STS GetCallerIdentity needs no permission)."""
    import botocore.exceptions

    try:
        return client("sts", region, profile).get_caller_identity()["Account"]
    except botocore.exceptions.NoCredentialsError:
        raise no_credentials() from None
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in BAD_CREDENTIALS:
            raise bad_credentials(code or "") from None
        raise


def region_name(region: str | None = None, profile: str | None = None) -> str:
    name = session(region, profile).region_name
    if name is None:
        raise no_region()
    return name


def check_region(region: str | None = None, profile: str | None = None) -> str:
    """The session's region, refused early when AWS does not know it (typos like 'us-east1')."""
    sess = session(region, profile)
    name = region_name(region, profile)
    known = (
        set(sess.get_available_regions("ec2"))
        | set(sess.get_available_regions("ec2", partition_name="aws-us-gov"))
        | set(sess.get_available_regions("ec2", partition_name="aws-cn"))
    )
    if name not in known:
        raise SetupError(f"unknown AWS region {name!r}", hint="e.g. us-east-1, eu-west-1")
    return name
