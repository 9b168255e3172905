"""Celery tasks for hosts: thin wrappers that re-fetch by primary key and call services."""

from __future__ import annotations

from celery import group, shared_task
from django.conf import settings

from . import services
from .models import Host


@shared_task(soft_time_limit=120, time_limit=150)
def refresh_host(host_id: int) -> None:
    host = Host.objects.select_related("ssh_key", "jump_host__ssh_key").filter(pk=host_id).first()
    if host is not None:
        services.refresh_host(host)


@shared_task(soft_time_limit=30, time_limit=60)
def refresh_fleet() -> int:
    """Fan out one refresh per host, so a slow host holds up only its own task."""
    host_ids = list(Host.objects.values_list("pk", flat=True))
    if host_ids:
        expires = settings.BERTH_REFRESH_INTERVAL * 2
        group(refresh_host.s(pk).set(expires=expires) for pk in host_ids).apply_async()
    return len(host_ids)
