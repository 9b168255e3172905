"""Layers, writable layers and disk usage on the real fleet, through the API and the
worker: a demo image's layers are listed and its base layer is marked shared with an
image committed from a container of it; a container's diff lists a file the test created
in it as added; a host's disk usage is what `docker system df` says on the host, the
volumes' sizes come along, and the fleet's usage sums its hosts'."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from images.models import Image
from operations.models import Operation
from tests import docker_df
from tests.integration.container_support import (
    act,
    finished,
    host_container,
    known_container,
    online_host,
    post,
)
from volumes.models import Volume

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def _succeeded(response, timeout: float = 120) -> Operation:
    assert response.status_code == 202, response.content
    operation = finished(response.json()["operation"], timeout=timeout)
    assert operation.status == "succeeded", operation.error
    return operation


def _refresh(client, host) -> None:
    _succeeded(post(client, reverse("host-refresh", args=[host.pk])))


def test_a_demo_images_layers_mark_the_layer_an_image_committed_from_it_shares(
    admin_client, register, fleet
):
    h2 = fleet["h2"]
    host = online_host(register, h2)
    sleeper = f"{fleet.registry}/demo/sleeper:v1"
    derived = f"berth-it/derived-{uuid.uuid4().hex[:8]}:v1"
    h2.docker("pull", sleeper)
    with host_container(h2, fleet.registry) as name:
        h2.docker("exec", name, "sh", "-c", "echo drift > /tmp/made-by-the-test")
        h2.docker("commit", name, derived)
        try:
            _refresh(admin_client, host)
            images = Image.objects.filter(host=host)
            [base] = [image for image in images if sleeper in image.tags]
            [built] = [image for image in images if derived in image.tags]

            url = reverse("host-image-layers", args=[built.pk])
            assert admin_client.get(url).json()["read_at"] is None
            read = _succeeded(post(admin_client, url))
            assert (read.action, read.result["layers"], read.result["shared"]) == (
                "image.layers",
                2,
                1,
            )
            body = admin_client.get(url).json()
            assert body["read_at"] is not None and body["mapped"] is True
            bottom, top = body["history"]  # the demo image's one layer, then the commit
            assert bottom["comment"] == "Imported from -" and bottom["size"] > 0
            assert top["created_by"] == "/bin/start" and top["digest"] != bottom["digest"]
            assert base.pk in [s["image"] for s in bottom["shared_with"]]
            assert top["shared_with"] == []
            assert [layer["digest"] for layer in body["layers"]] == [
                bottom["digest"],
                top["digest"],
            ]

            # The demo image's own page: its one layer, shared with the derived image.
            _succeeded(post(admin_client, reverse("host-image-layers", args=[base.pk])))
            [only] = admin_client.get(reverse("host-image-layers", args=[base.pk])).json()[
                "history"
            ]
            assert built.pk in [s["image"] for s in only["shared_with"]]
            page = admin_client.get(reverse("frontend:image", args=[base.pk])).text
            assert f'data-layer="{only["digest"]}"' in page
            assert reverse("frontend:image", args=[built.pk]) in page
        finally:
            h2.docker("rmi", "-f", derived, check=False)


def test_a_containers_diff_lists_a_file_the_test_created_in_it(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    made = f"/tmp/made-by-the-test-{uuid.uuid4().hex[:8]}"
    with host_container(h1, fleet.registry) as name:
        h1.docker("exec", name, "sh", "-c", f"echo drift > {made} && rm /etc/group")
        container = known_container(host, name)

        operation = act(admin_client, container, "diff")

        assert operation.status == "succeeded", operation.error
        result = operation.result
        kinds = {change["path"]: change["kind"] for change in result["changes"]}
        assert kinds[made] == "added"
        assert kinds["/etc/group"] == "deleted"
        assert kinds["/tmp"] == "changed"
        assert result["counts"]["added"] >= 1 and result["counts"]["deleted"] >= 1
        assert result["size_rw"] >= len("drift\n") and result["truncated"] is False

        capped = act(admin_client, container, "diff", {"limit": 1})
        assert capped.result["truncated"] is True and len(capped.result["changes"]) == 1


def test_disk_usage_is_what_docker_system_df_says_on_the_host(admin_client, register, fleet):
    h3 = fleet["h3"]
    host = online_host(register, h3)
    volume = f"berth-it-disk-{uuid.uuid4().hex[:8]}"
    h3.docker("volume", "create", volume)
    try:
        with host_container(
            h3, fleet.registry, "-v", f"{volume}:/data", "--",
            "sh", "-c", "head -c 120000 /dev/zero > /data/blob; exec /bin/start",
        ):  # fmt: skip
            _refresh(admin_client, host)
            measure = reverse("host-measure-disk", args=[host.pk])

            def measured() -> dict:
                _succeeded(post(admin_client, measure), timeout=300)
                return admin_client.get(reverse("host-disk", args=[host.pk])).json()

            printed, docker, usage = docker_df.agrees(
                measured, lambda: h3.docker("system", "df", "--format", "{{json .}}").stdout
            )
            assert printed == docker
            assert usage["measured_at"] is not None
            assert usage["volumes"]["active"] >= 1
            assert usage["size"] == sum(usage[kind]["size"] for kind in docker)
            # The same measure stored the volume's size for the Volumes page.
            row = Volume.objects.get(host=host, name=volume)
            assert row.size is not None and row.size >= 120000

            fleet_usage = admin_client.get(reverse("fleet-disk")).json()
            assert fleet_usage["measured"] >= 1
            assert fleet_usage["size"] >= usage["size"]
            host_page = admin_client.get(reverse("frontend:host", args=[host.pk])).text
            assert 'data-testid="disk-usage"' in host_page
    finally:
        h3.docker("volume", "rm", "-f", volume, check=False)
