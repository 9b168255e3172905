"""Removing an image through the API takes it off the host and out of the database;
an image a running container uses stays, and the operation says why."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from images.models import Image
from tests.fleet import FleetHost, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _online(host: Host) -> Host:
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
        what=f"{host.name} to come online",
    )


def _own_image(fleet, fleet_host: FleetHost) -> tuple[str, str]:
    """A fresh image (its own id) on the host, so no one else's work depends on it."""
    base = f"{fleet.registry}/demo/web:v1"
    fleet_host.docker("pull", base)
    suffix = uuid.uuid4().hex[:8]
    tag = f"berth-it/remove-{suffix}:1"
    container = f"it-rm-{suffix}"
    fleet_host.docker("create", "--name", container, base)
    try:
        fleet_host.docker("commit", "--change", f"LABEL berth.test={suffix}", container, tag)
    finally:
        fleet_host.docker("rm", "-f", container)
    image_id = fleet_host.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
    return tag, image_id


def _stored(client, host: Host, image_id: str) -> Image:
    """Refresh the host through the API until Berth has the image row."""

    def stored():
        client.post(reverse("host-refresh", args=[host.pk]))
        return Image.objects.filter(host=host, image_id=image_id).first()

    return wait_for(stored, timeout=30, interval=1, what=f"{image_id} to be recorded")


def _remove(client, image: Image) -> dict:
    response = client.post(
        reverse("host-image-remove", args=[image.pk]), {}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    url = response.json()["operation_url"]

    def finished():
        body = client.get(url).json()
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_for(finished, timeout=60, interval=0.3, what="the removal to finish")


def test_removed_image_is_gone_from_the_host_and_the_database(register, admin_client, fleet):
    h2 = fleet["h2"]
    host = _online(register(h2))
    tag, image_id = _own_image(fleet, h2)
    try:
        image = _stored(admin_client, host, image_id)

        operation = _remove(admin_client, image)

        assert operation["status"] == "succeeded", operation["error"]
        assert operation["result"]["removed"] is True
        assert image_id in operation["result"]["deleted"]
        assert not Image.objects.filter(host=host, image_id=image_id).exists()
        assert not h2.docker("images", "-q", "--no-trunc", tag).stdout.strip()

        again = _remove_row_again(admin_client, host, image)
        assert again["status"] == "succeeded", again["error"]
        assert again["result"]["removed"] is False
        assert "already gone" in again["result"]["message"]
    finally:
        h2.docker("rmi", "-f", tag, check=False)


def _remove_row_again(client, host: Host, image: Image) -> dict:
    # The row went with the reconcile; put it back as a stale row to remove once more.
    image.pk = None
    image.save()
    return _remove(client, image)


def test_image_used_by_a_running_container_is_kept_with_the_reason(register, admin_client, fleet):
    h2 = fleet["h2"]
    host = _online(register(h2))
    tag, image_id = _own_image(fleet, h2)
    container = f"it-rm-running-{uuid.uuid4().hex[:8]}"
    h2.docker("run", "-d", "--name", container, tag)
    try:
        image = _stored(admin_client, host, image_id)

        operation = _remove(admin_client, image)

        assert operation["status"] == "failed"
        assert "being used by running container" in operation["error"]
        assert Image.objects.filter(host=host, image_id=image_id).exists()
        assert h2.docker("images", "-q", "--no-trunc", tag).stdout.strip() == image_id
    finally:
        h2.docker("rm", "-f", container, check=False)
        h2.docker("rmi", "-f", tag, check=False)
