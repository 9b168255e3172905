"""Pulling an image onto a host through the API: per-layer progress in the
operation's stream, the image recorded with its digest and present on the host;
a missing tag fails readably and a malformed ref is refused before anything runs."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from images.models import Image
from operations.models import Operation
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _online(host: Host) -> Host:
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
        what=f"{host.name} to come online",
    )


def _pull(client, host: Host, ref: str) -> dict:
    response = client.post(
        reverse("host-image-pull", args=[host.pk]), {"ref": ref}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    assert response["Location"] == response.json()["operation_url"]
    url = response.json()["operation_url"]

    def finished():
        body = client.get(url).json()
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_for(finished, timeout=120, interval=0.3, what=f"the pull of {ref} to finish")


def _stream(client, operation_id: int) -> list[dict]:
    url = reverse("operation-stream", args=[operation_id])
    return client.get(url, {"offset": 0}).json()["items"]


def _host_without(fleet, ref: str) -> str:
    """h2, or h3 when an engineer's running container keeps ``ref`` on h2.

    A pull only reports its layers when the image is not there yet, and other
    engineers' tests run containers from the demo images on h1 and h2.
    """
    for name in ("h2", "h3"):
        fleet[name].docker("rmi", ref, check=False)
        if not fleet[name].docker("images", "-q", ref).stdout.strip():
            return name
    raise AssertionError(f"{ref} is in use on h2 and h3; cannot test a pull that downloads")


def test_pull_streams_layer_progress_and_records_the_image_with_its_digest(
    register, admin_client, fleet
):
    ref = f"{fleet.registry}/demo/web:v2"
    fleet_host = fleet[_host_without(fleet, ref)]
    host = _online(register(fleet_host))

    operation = _pull(admin_client, host, ref)

    assert operation["status"] == "succeeded", operation["error"]
    result = operation["result"]
    assert ref in result["tags"]
    assert result["id"].startswith("sha256:")
    layer_lines = [item for item in _stream(admin_client, operation["id"]) if item.get("layer")]
    assert layer_lines, "the operation's stream holds no per-layer progress"
    assert {"Pull complete", "Already exists"} & {item["status"] for item in layer_lines}
    progress = operation["progress"]
    assert progress["layers_total"] >= 1
    assert progress["layers_done"] == progress["layers_total"]
    image = Image.objects.get(host=host, image_id=result["id"])
    assert ref in image.tags
    assert image.digests and all("@sha256:" in digest for digest in image.digests)
    assert image.digests == result["digests"]
    listed = fleet_host.docker(
        "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"
    )
    assert f"{ref} {result['id']}" in listed.stdout.splitlines()


def test_pull_of_a_missing_tag_fails_saying_it_was_not_found(register, admin_client, fleet):
    host = _online(register(fleet["h2"]))
    ref = f"{fleet.registry}/demo/web:no-such-tag-{uuid.uuid4().hex[:8]}"

    operation = _pull(admin_client, host, ref)

    assert operation["status"] == "failed"
    assert "not found" in operation["error"]
    assert ref in operation["error"]


def test_pull_of_a_malformed_ref_is_refused_and_nothing_is_recorded(register, admin_client, fleet):
    host = _online(register(fleet["h2"]))

    response = admin_client.post(
        reverse("host-image-pull", args=[host.pk]),
        {"ref": f"{fleet.registry}/Demo/Web:v2"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "repository name" in response.json()["errors"]["ref"][0]
    assert not Operation.objects.filter(action="image.pull").exists()
