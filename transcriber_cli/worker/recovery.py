"""What a worker does when things go wrong: duplicates, failures, shutdown, Spot notices.

Kept apart from the consumer loop (as skypilot keeps its recovery strategies apart) so the
policy reads in one place and is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from transcriber_cli.errors import InputError
from transcriber_cli.store.documents import JobDocument


class Delivery(Enum):
    PROCESS = "process"  # we claimed it
    ACK = "ack"  # nothing to do (finished, cancelled, unknown, or a second copy): delete it
    DEFER = "defer"  # the holder's own message, back early: let it reappear after the lease


def on_delivery(job: JobDocument | None, claimed: bool, message_id: str) -> Delivery:
    """A message we could not claim the job for. Another worker holds a live lease: a second
    copy of the message (SQS delivers at least once; a client may resend) is deleted, since
    the holder's own message carries the job; deferring it would use up its receives and
    send it to the dead-letter queue. The holder's own message (visible again because an
    extension failed) is deferred until the lease ends."""
    if claimed:
        return Delivery.PROCESS
    if job is None or job.status.ended:
        return Delivery.ACK
    if job.message_id is not None and job.message_id != message_id:
        return Delivery.ACK
    return Delivery.DEFER


@dataclass(frozen=True)
class FailureDecision:
    final: bool  # the task is marked failed now
    dead_letter_now: bool  # move the message to the DLQ ourselves (no retry can help)
    retry_after: float  # seconds before the message becomes visible again


def is_permanent(exc: BaseException) -> bool:
    """Errors of the input itself (undecodable audio, too long): retrying cannot help."""
    return isinstance(exc, InputError)


def on_failure(
    exc: BaseException,
    attempts: int,
    max_receive_count: int | None,
    retry_delay: float,
    receive_count: int | None = None,
) -> FailureDecision:
    """``attempts``: the job's claims that ended without a release, this one included;
    ``receive_count``: the message's receives (releases count there too)."""
    if is_permanent(exc):
        return FailureDecision(final=True, dead_letter_now=True, retry_after=0)
    if max_receive_count is not None and attempts >= max_receive_count:
        # SQS moves the message to the DLQ on its next receive; the task says why now. A
        # message the sweep sent again has receives to spare: moved here, or the next
        # worker, finding the job failed, deletes it and the DLQ's alarm never sounds.
        spare = receive_count is not None and receive_count < max_receive_count
        return FailureDecision(final=True, dead_letter_now=spare, retry_after=0)
    # Not final, though the message's receives may be spent (releases count there too): SQS
    # then moves it to the DLQ, and the sweep sends it back, the job's attempts being fewer.
    return FailureDecision(
        final=False, dead_letter_now=False, retry_after=retry_delay * max(attempts, 1)
    )


def should_release(
    *,
    stopping: bool,
    interrupted: bool,
    elapsed: float,
    done: float,
    total: float,
    grace: float,
) -> bool:
    """On SIGTERM finish a job that will end within ``grace`` seconds, else hand it back.

    A Spot notice always releases: two minutes are too short to count on (the finished
    windows are checkpointed, so a release costs at most the windows that were in flight)."""
    if interrupted:
        return True
    if not stopping:
        return False
    if done <= 0 or total <= 0:
        return True
    remaining = elapsed * (total - done) / done
    return remaining > grace
