"""The one task that runs every operation, and the reaper."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(bind=True, acks_late=True, max_retries=None, soft_time_limit=600, time_limit=630)
def execute_operation(  # type: ignore[no-untyped-def]
    self, operation_id: int, host_id: int | None = None
) -> None:
    """Run one operation. ``host_id`` (the operation's host) only routes the task to
    the host's shard queue (berth/routing.py); the operation row is what counts."""
    outcome = services.execute(operation_id)
    if outcome.retry_in is not None:
        # Only transport failures come back here; the operation's own attempt
        # count (not Celery's) bounds how often.
        raise self.retry(countdown=outcome.retry_in)


@shared_task(soft_time_limit=60, time_limit=90)
def reap_stuck_operations() -> int:
    return services.reap_stuck_operations()
