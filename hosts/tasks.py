"""Celery tasks for hosts: thin wrappers that re-fetch by primary key and call services."""

from __future__ import annotations

from celery import group, shared_task
from django.conf import settings

from berth.routing import host_queue

from . import services
from .models import Host


@shared_task(name=services.REFRESH_HOST, soft_time_limit=120, time_limit=150)
def refresh_host(host_id: int) -> None:
    host = Host.objects.select_related("ssh_key", "jump_host__ssh_key").filter(pk=host_id).first()
    if host is not None:
        services.refresh_host(host)


@shared_task(soft_time_limit=300, time_limit=330)
def refresh_hosts(host_ids: list[int]) -> int:
    """Refresh a batch of hosts concurrently (threads) in this worker process."""
    batch = list(
        Host.objects.select_related("ssh_key", "jump_host__ssh_key").filter(pk__in=host_ids)
    )
    return services.refresh_hosts(batch, threads=settings.BERTH_REFRESH_THREADS)


@shared_task(soft_time_limit=30, time_limit=60)
def refresh_fleet() -> int:
    """Fan the fleet out in batches: one task per shard queue when hosts are sharded
    (each host keeps its sessions in its shard's workers), else batches of
    BERTH_REFRESH_BATCH hosts spread over whichever worker processes are free."""
    host_ids = list(Host.objects.order_by("pk").values_list("pk", flat=True))
    expires = settings.BERTH_REFRESH_INTERVAL * 2
    signatures = []
    for queue, batch in refresh_batches(host_ids):
        signature = refresh_hosts.s(batch).set(expires=expires)
        if queue is not None:
            signature = signature.set(queue=queue)
        signatures.append(signature)
    if signatures:
        group(signatures).apply_async()
    return len(host_ids)


def refresh_batches(host_ids: list[int]) -> list[tuple[str | None, list[int]]]:
    """(queue, host ids) per refresh task."""
    size = settings.BERTH_REFRESH_BATCH
    if settings.BERTH_HOST_SHARDS > 0:
        shards: dict[str, list[int]] = {}
        for pk in host_ids:
            shards.setdefault(host_queue(pk) or "", []).append(pk)
        return [
            (queue, ids[start : start + size])
            for queue, ids in sorted(shards.items())
            for start in range(0, len(ids), size)
        ]
    return [(None, host_ids[start : start + size]) for start in range(0, len(host_ids), size)]
