"""The one task that runs every operation, the reaper, and the operation log's pruning."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from celery import shared_task
from celery.signals import task_postrun, task_prerun

from berth.logging import enter_log_context, leave_log_context

from . import retention, services


@shared_task(
    name=services.EXECUTE_OPERATION,
    bind=True,
    acks_late=True,
    max_retries=None,
    soft_time_limit=600,
    time_limit=630,
)
def execute_operation(  # type: ignore[no-untyped-def]
    self, operation_id: int, host_id: int | None = None, reclaim_from: str | None = None
) -> None:
    """Run one operation. ``host_id`` (the operation's host) only routes the task to
    the host's shard queue (berth/routing.py); the operation row is what counts.
    ``reclaim_from`` names a worker process that gave the run up (it lost the
    database), so that this run may take its claim over."""
    outcome = services.execute(operation_id, reclaim_from=reclaim_from)
    if outcome.retry_in is not None:
        # Transport failures (bounded by the operation's own attempt count, not
        # Celery's) and a lost database (until the reaper's deadline) come back here.
        kwargs = {**(self.request.kwargs or {}), "reclaim_from": outcome.reclaim_from}
        raise self.retry(countdown=outcome.retry_in, kwargs=kwargs)


@shared_task(soft_time_limit=60, time_limit=90)
def reap_stuck_operations() -> int:
    return services.reap_stuck_operations()


@shared_task(soft_time_limit=3600, time_limit=3660)
def prune_operations() -> int:
    """The retention BERTH_OPERATION_RETENTION_DAYS / _ROWS ask for; rows deleted.

    A failed export is recorded and logged, and raised, so the task shows as failed."""
    result = retention.prune_by_settings()
    return result.deleted if result is not None else 0


# Celery's own lines about a run ("Task … succeeded in 0.4 s", a retry, a failure) are
# logged outside the task body: name the operation for them too, from the task's
# arguments, between the prerun and postrun signals.
_log_tokens: dict[str, contextvars.Token[Mapping[str, Any]]] = {}


@task_prerun.connect
def _name_operation_in_logs(task_id: str, task: Any, args: Any, **kwargs: Any) -> None:
    if task.name == execute_operation.name and args:
        _log_tokens[task_id] = enter_log_context(operation_id=args[0])


@task_postrun.connect
def _forget_operation_in_logs(task_id: str, **kwargs: Any) -> None:
    token = _log_tokens.pop(task_id, None)
    if token is not None:
        leave_log_context(token)
