"""AWS failures as one-line typed errors; a denied call names its IAM action (``s3:PutObject``).

Every message about credentials, regions and permissions is written here once, for the
commands that manage the stack and for the client and worker alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator
from typing import Any, TypeVar

from transcriber_cli.errors import SetupError, TranscriberError, Unavailable

ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "Forbidden",
}
BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
}
NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
NO_SUCH_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}

# Answers that say "not now" rather than "no": throttling and server-side trouble.
TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
}

_T = TypeVar("_T")


class PermissionDenied(SetupError):
    """The credentials lack an IAM permission; the message names the action."""


class CloudError(TranscriberError):
    """Any other AWS error, reported on one line with the call that failed."""


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def is_transient(exc: BaseException) -> bool:
    """A network failure or a "try again" answer, here or anywhere in the exception's chain
    (s3transfer wraps the botocore error it gave up on)."""
    import botocore.exceptions as bex

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (bex.ConnectionError, bex.HTTPClientError)):
            return True  # refused, reset, closed, timed out
        if isinstance(current, bex.ClientError):
            status = current.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return status >= 500 or error_code(current) in TRANSIENT
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def unavailable_on_outage(service: str) -> Iterator[None]:
    """Around AWS calls whose caller waits out an outage: transient failures become
    ``Unavailable`` (what ``retry.patiently`` retries); everything else passes unchanged."""
    try:
        yield
    except Exception as exc:
        if is_transient(exc):
            detail = error_code(exc) or type(exc).__name__
            raise Unavailable(f"{service} unreachable ({detail})") from None
        raise


def none_if_missing(missing: Collection[str], call: Callable[..., _T], **kwargs: Any) -> _T | None:
    """``call(**kwargs)``, or None when AWS answers with one of the ``missing`` error codes
    (for a describe/get call: the thing does not exist)."""
    try:
        return call(**kwargs)
    except Exception as exc:
        if error_code(exc) in missing:
            return None
        raise


def no_credentials() -> SetupError:
    return SetupError(
        "no AWS credentials found",
        hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run 'aws configure'",
    )


def bad_credentials(code: str) -> SetupError:
    return SetupError(
        f"AWS rejected the credentials ({code})",
        hint="check AWS_PROFILE / access keys, or refresh an expired session",
    )


def no_region() -> SetupError:
    return SetupError(
        "no AWS region configured",
        hint="pass --region, set AWS_REGION, or set region in the config file",
    )


def translate(exc: BaseException, service: str | None = None) -> TranscriberError | None:
    """The typed error for credential, endpoint and permission failures; None for others."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return no_credentials()
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return SetupError(
            f"cannot reach AWS endpoint {exc.kwargs.get('endpoint_url')}",
            hint="check --region and the network",
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc) or "Unknown"
        action = f"{service}:{exc.operation_name}" if service else exc.operation_name
        if code in ACCESS_DENIED:
            return PermissionDenied(
                f"AWS denied {action}", hint="grant this action to your IAM user or role"
            )
        if code in BAD_CREDENTIALS:
            return bad_credentials(code)
    return None


class Client:
    """A boto3 client whose calls raise ``PermissionDenied`` naming the IAM action."""

    def __init__(self, service: str, raw: Any) -> None:
        self.service = service
        self.raw = raw

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.raw, name)
        if not callable(method) or name in ("get_paginator", "get_waiter"):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                typed = translate(exc, self.service)
                if typed is not None:
                    raise typed from None
                raise

        return call

    def paginate(self, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
        """Items under ``key`` across every page of ``operation``."""
        try:
            for page in self.raw.get_paginator(operation).paginate(**kwargs):
                yield from page.get(key, [])
        except Exception as exc:
            typed = translate(exc, self.service)
            if typed is not None:
                raise typed from None
            raise


@contextlib.contextmanager
def aws_errors() -> Iterator[None]:
    """Around a whole command: whatever AWS error is left becomes one typed line."""
    import botocore.exceptions

    try:
        yield
    except TranscriberError:
        raise
    except botocore.exceptions.ClientError as exc:
        typed = translate(exc)
        if typed is not None:
            raise typed from None
        code = error_code(exc) or "error"
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        raise CloudError(f"AWS {exc.operation_name} failed: {code}: {message}") from None
    except botocore.exceptions.BotoCoreError as exc:
        typed = translate(exc)
        raise (typed or CloudError(f"AWS call failed: {exc}")) from None
