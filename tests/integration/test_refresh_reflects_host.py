"""A container started on a host outside Berth shows up after a refresh, and goes
when it is removed: host → agent → SSH → worker → database → dashboard page."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from containers.models import Container
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _refresh_through_api(client, host: Host) -> dict:
    response = client.post(reverse("host-refresh", args=[host.pk]))
    assert response.status_code == 202, response.content
    operation_url = response.json()["operation_url"]
    assert response["Location"] == operation_url

    def finished():
        body = client.get(operation_url).json()
        return body if body["status"] in {"succeeded", "failed"} else None

    return wait_for(finished, timeout=30, what="the refresh operation to finish")


def test_container_started_on_host_appears_after_refresh_and_goes_after_removal(
    admin_client, fleet, celery_worker
):
    h1 = fleet["h1"]
    response = admin_client.post(
        reverse("host-list"),
        {
            "name": "h1",
            "address": h1.address,
            "port": h1.port,
            "username": h1.user,
            "private_key": Path(h1.private_key).read_text(),
            "docker_host": h1.docker_host,
            "host_key": h1.host_key,
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "private_key" not in body and "BEGIN OPENSSH" not in response.content.decode()
    host = Host.objects.get(pk=body["id"])

    name = f"it-{uuid.uuid4().hex[:8]}"
    h1.docker("run", "-d", "--name", name, f"{fleet.registry}/demo/web:v1")
    try:
        operation = _refresh_through_api(admin_client, host)
        assert operation["status"] == "succeeded", operation["error"]
        container = Container.objects.get(host=host, name=name)
        assert container.state == "running"
        assert container.image == f"{fleet.registry}/demo/web:v1"
        host.refresh_from_db()
        assert host.status == HostStatus.ONLINE
        assert host.last_seen_at is not None
        assert host.docker_version
        assert host.facts["containers"]["running"] >= 1
        page = admin_client.get(reverse("frontend:dashboard")).content.decode()
        assert f'data-container="{name}"' in page
        assert "Online" in page
    finally:
        h1.docker("rm", "-f", name)

    operation = _refresh_through_api(admin_client, host)
    assert operation["status"] == "succeeded", operation["error"]
    assert not Container.objects.filter(host=host, name=name).exists()
    page = admin_client.get(reverse("frontend:dashboard")).content.decode()
    assert f'data-container="{name}"' not in page
