"""Celery beat keeps the fleet fresh with no one pressing Refresh."""

from __future__ import annotations

import uuid

import pytest

from containers.models import Container
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_container_started_on_a_host_appears_without_a_manual_refresh(register, fleet, beat):
    h1 = fleet["h1"]
    host = register(h1)
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 to come online",
    )
    name = f"it-beat-{uuid.uuid4().hex[:8]}"
    h1.docker("run", "-d", "--name", name, f"{fleet.registry}/demo/web:v1")
    try:
        wait_for(
            lambda: Container.objects.filter(host=host, name=name).exists(),
            timeout=20,
            what=f"{name} to appear through the periodic refresh",
        )
    finally:
        h1.docker("rm", "-f", name)
    wait_for(
        lambda: not Container.objects.filter(host=host, name=name).exists(),
        timeout=20,
        what=f"{name} to disappear through the periodic refresh",
    )
