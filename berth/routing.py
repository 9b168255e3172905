"""Host sharding: every task that acts on one host goes to that host's queue.

With ``BERTH_HOST_SHARDS`` = N > 0, a task for host ``pk`` is sent to the queue
``hosts.<pk % N>`` instead of the default one. Workers consume the shard queues
they are given (``celery -A berth worker -Q hosts.0,celery``), so a host only
ever gets SSH connections and agent sessions from the workers of its shard.
Tasks that target no single host (the fleet fan-out, the reaper, rollouts) stay
on the default queue. With N = 0 nothing is routed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

# Task name -> position of its host id among the positional arguments, or None when
# the host id only ever comes as the keyword ``host_id``.
HOST_TASKS: dict[str, int | None] = {
    "hosts.tasks.refresh_host": 0,
    "operations.tasks.execute_operation": None,
}


def host_queue(host_id: int) -> str | None:
    """The queue of the host's shard, or None when sharding is off."""
    shards: int = settings.BERTH_HOST_SHARDS
    if shards <= 0:
        return None
    return f"hosts.{host_id % shards}"


def shard_queues() -> list[str]:
    """Every shard queue, in order (empty when sharding is off)."""
    return [f"hosts.{index}" for index in range(max(settings.BERTH_HOST_SHARDS, 0))]


def route_task(
    name: str,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    options: Mapping[str, Any] | None,
    task: Any = None,
    **extra: Any,
) -> dict[str, str] | None:
    """Celery router (``task_routes``): a host's tasks to its shard queue, others untouched."""
    if name not in HOST_TASKS:
        return None
    host_id = (kwargs or {}).get("host_id")
    position = HOST_TASKS[name]
    if host_id is None and position is not None and args is not None and len(args) > position:
        host_id = args[position]
    if host_id is None:
        return None
    queue = host_queue(int(host_id))
    return {"queue": queue} if queue is not None else None
