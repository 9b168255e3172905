"""Running a new container from a spec: pulled from the fleet registry when the host
lacks the image, published on its port; a name in use or a port already allocated
fails the operation in plain words and leaves nothing behind."""

import random
import urllib.request

import pytest
from django.urls import reverse

from containers.models import Container
from containers.services import RUN_KEY_LABEL
from operations.models import Operation
from tests.fleet import wait_for
from tests.integration.container_support import (
    docker_state,
    finished,
    host_container,
    online_host,
    post,
    stream_items,
    unique,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port():
    return random.randint(20000, 39999)


def _host_without(fleet, image):
    """A fleet host that does not have ``image`` (removed when no container uses it)."""
    for fleet_host in fleet.hosts:
        fleet_host.docker("rmi", image, check=False)
        if fleet_host.docker("image", "inspect", image, check=False).returncode != 0:
            return fleet_host
    pytest.fail(f"every fleet host has {image} in use; cannot show a pull")


def _run(client, host, spec):
    response = post(client, reverse("host-containers", args=[host.pk]), spec)
    assert response.status_code == 202, response.content
    return finished(response.json()["operation"], timeout=180)


def _containers_with_run_key(fleet_host, operation):
    label = f"label={RUN_KEY_LABEL}={operation.params['run_key']}"
    return fleet_host.docker("ps", "-aq", "--filter", label).stdout.split()


def test_run_pulls_the_image_and_serves_the_page_on_the_published_port(
    admin_client, register, fleet
):
    image = f"{fleet.registry}/demo/web:v2"
    fleet_host = _host_without(fleet, image)
    host = online_host(register, fleet_host)
    name, port = unique("web"), _free_port()
    try:
        operation = _run(
            admin_client,
            host,
            {
                "image": image,
                "name": name,
                "ports": [f"{port}:80"],
                "env": {"GREETING": "hello"},
                "labels": {"team": "berth-tests"},
                "restart_policy": {"name": "unless-stopped"},
                "limits": {"memory": "64m"},
            },
        )

        assert operation.status == "succeeded", operation.error
        assert operation.result["pulled"] is True
        assert any(item.get("pull") == image for item in stream_items(operation.pk))
        assert docker_state(fleet_host, name) == "running"
        page = wait_for(
            lambda: _get(f"http://{fleet_host.address}:{port}/"), timeout=20, what="the page"
        )
        assert "demo web v2" in page
        row = Container.objects.get(host=host, name=name)
        assert row.pk == operation.result["container"]
        assert row.state == "running"
        assert row.labels["team"] == "berth-tests"
        assert {"private": 80, "public": port}.items() <= _port(row).items()
    finally:
        fleet_host.docker("rm", "-f", name, check=False)


def _port(row):
    return next(port for port in row.ports if port.get("public"))


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - test fleet
            return response.read().decode()
    except OSError:
        return None


def test_run_with_a_name_in_use_fails_and_adds_nothing(admin_client, register, fleet):
    fleet_host = fleet["h1"]
    host = online_host(register, fleet_host)
    with host_container(fleet_host, fleet.registry) as name:
        existing = fleet_host.docker("inspect", "-f", "{{.Id}}", name).stdout.strip()

        operation = _run(
            admin_client, host, {"image": f"{fleet.registry}/demo/sleeper:v1", "name": name}
        )

        assert operation.status == "failed"
        assert f"a container named {name} already exists" in operation.error
        assert "Conflict" in operation.error
        assert fleet_host.docker("inspect", "-f", "{{.Id}}", name).stdout.strip() == existing
        assert _containers_with_run_key(fleet_host, operation) == []


def test_run_with_a_port_already_allocated_fails_and_leaves_no_container(
    admin_client, register, fleet
):
    fleet_host = fleet["h1"]
    host = online_host(register, fleet_host)
    port = _free_port()
    with host_container(fleet_host, fleet.registry, "-p", f"{port}:80"):
        name = unique("clash")
        try:
            operation = _run(
                admin_client,
                host,
                {"image": f"{fleet.registry}/demo/web:v1", "name": name, "ports": [f"{port}:80"]},
            )

            assert operation.status == "failed"
            assert f"port {port} is already allocated" in operation.error
            assert docker_state(fleet_host, name) is None
            assert _containers_with_run_key(fleet_host, operation) == []
            assert not Container.objects.filter(host=host, name=name).exists()
        finally:
            fleet_host.docker("rm", "-f", name, check=False)


def test_run_with_an_invalid_image_reference_is_a_400_and_records_nothing(
    admin_client, register, fleet
):
    host = online_host(register, fleet["h1"])
    response = post(
        admin_client, reverse("host-containers", args=[host.pk]), {"image": "Demo/Web:LATEST!"}
    )
    assert response.status_code == 400
    assert "image" in response.json()["errors"]
    assert not Operation.objects.filter(action="container.run").exists()


def test_run_on_an_unknown_host_is_a_404(admin_client, register, fleet):
    online_host(register, fleet["h1"])
    response = post(admin_client, reverse("host-containers", args=[424242]), {"image": "x/y"})
    assert response.status_code == 404
    assert not Operation.objects.filter(action="container.run").exists()
