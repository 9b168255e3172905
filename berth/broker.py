"""The task queue (Celery's broker, Redis) as the processes that publish to it see it.

When the broker cannot be reached, publishing a task raises one of ``BROKER_ERRORS``
after a bounded wait (settings: ``CELERY_TASK_PUBLISH_RETRY_POLICY`` and the socket
timeouts in ``CELERY_BROKER_TRANSPORT_OPTIONS``). Whoever recorded work for that task
turns it into ``BrokerUnavailable``, which the API answers as a 503 and the pages
as a readable message (berth/api_errors.py, berth/middleware.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# kombu wraps socket errors in its OperationalError once its retries are spent; the
# redis ones reach callers that talk to Redis directly (log streams, probes).
BROKER_ERRORS: tuple[type[Exception], ...] = (
    KombuOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
)


class _RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        # Celery's consumer, on losing Redis, collects its connection (the transport
        # forgets it) and then closes it. Closing the task channel puts unacknowledged
        # messages back, which needs connection parameters the transport no longer
        # has: kombu raised AttributeError, which nothing catches, and the worker
        # stopped for good instead of waiting for Redis. It is a lost connection, so
        # say so: Celery ignores that, restarts its consumer and retries the broker.
        # The messages stay in Redis's unacked set and come back by visibility timeout.
        # (tests/unit/test_broker_transport.py)
        if self.connection.client is None:
            raise RedisConnectionError("the connection to the task queue is closed")
        params: dict = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        return params


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, with a lost connection always reported as one."""

    Channel = _RedisChannel


class BrokerUnavailable(Exception):
    """Work could not be queued because the task queue is unreachable.

    ``operations`` are the ids of the operations recorded for that work; they are
    already marked failed with the same reason, so nothing waits for a task that
    was never sent.
    """

    def __init__(self, cause: str, operations: Sequence[int] = ()) -> None:
        self.cause = cause
        self.operations = list(operations)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if not self.operations:
            what = "nothing was queued"
        else:
            ids = ", ".join(f"#{pk}" for pk in self.operations)
            noun = "operation" if len(self.operations) == 1 else "operations"
            what = f"{noun} {ids} could not be queued and are marked failed"
            if len(self.operations) == 1:
                what = f"{noun} {ids} could not be queued and is marked failed"
        return (
            f"The task queue (Redis) is unreachable, so {what}. "
            f"Try again once it is back. ({self.cause})"
        )


def is_broker_error(exc: BaseException) -> bool:
    return isinstance(exc, (BrokerUnavailable, *BROKER_ERRORS))


def as_broker_unavailable(exc: BaseException) -> BrokerUnavailable:
    """The error to show for ``exc``, a broker error raised by whoever published."""
    if isinstance(exc, BrokerUnavailable):
        return exc
    return BrokerUnavailable(str(exc) or type(exc).__name__)
