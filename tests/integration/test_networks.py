"""A network made through Berth on h1: two containers run on it reach each other by
name; a container disconnected from it no longer can; removing it is refused while a
container is attached (the error names it) and works once none is; prune removes an
unused one and says so."""

from __future__ import annotations

import random
import uuid

import pytest
from django.urls import reverse

from networks import services
from networks.models import Network
from operations.context import OperationContext
from operations.models import Operation
from tests.integration.container_support import finished, known_container, online_host, post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def _done(client, response, timeout: float = 120) -> Operation:
    assert response.status_code == 202, response.content
    return finished(response.json()["operation"], timeout=timeout)


def _succeeded(client, response, timeout: float = 120) -> Operation:
    operation = _done(client, response, timeout)
    assert operation.status == "succeeded", operation.error
    return operation


def _again(handler, operation: Operation) -> dict:
    """Run a finished operation's handler once more, as a worker would after losing the
    first run: it must succeed on what the first run did."""
    return handler(operation, OperationContext(operation))


def _fetch(client, host, fleet_host, registry, network, target, made) -> tuple[int, str]:
    """Run a container on ``network`` that asks http://<target>/ for its page (its name added to
    ``made``); its exit code and output once it has ended."""
    name = f"berth-it-fetch-{uuid.uuid4().hex[:8]}"
    made.append(name)
    spec = {
        "image": f"{registry}/demo/sleeper:v1",
        "name": name,
        "network_mode": network,
        # busybox nc, not wget: the demo images' static wget cannot resolve names.
        "command": ["sh", "-c", f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 {target} 80'],
    }
    _succeeded(client, post(client, reverse("host-containers", args=[host.pk]), spec), 180)
    code = fleet_host.docker("wait", name).stdout.strip()
    logs = fleet_host.docker("logs", name)
    return int(code), logs.stdout + logs.stderr


def test_containers_on_a_berth_network_reach_each_other_by_name(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    suffix = uuid.uuid4().hex[:8]
    net, spare, web = f"berth-it-net-{suffix}", f"berth-it-spare-{suffix}", f"berth-it-web-{suffix}"
    subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"
    made = [web]
    try:
        created = _succeeded(
            admin_client,
            post(admin_client, reverse("host-networks", args=[host.pk]), {
                "name": net, "subnet": subnet, "labels": {"team": "berth-tests"}
            }),
        )  # fmt: skip
        row = Network.objects.get(host=host, name=net)
        assert row.network_id == created.result["id"]
        assert row.subnets[0]["subnet"] == subnet
        assert row.labels == {"team": "berth-tests", "berth.operation": str(created.pk)}
        # Run again (as when its worker was lost), the operation finds its own network.
        assert _again(services._create, created)["id"] == row.network_id
        listed = admin_client.get(reverse("network-list"), {"host": host.pk, "name": net}).json()
        assert [item["name"] for item in listed["results"]] == [net]

        spec = {"image": f"{fleet.registry}/demo/web:v1", "name": web, "network_mode": net}
        _succeeded(
            admin_client, post(admin_client, reverse("host-containers", args=[host.pk]), spec), 180
        )
        # A refresh (the event watcher's, or this one) shows who is attached.
        _succeeded(admin_client, post(admin_client, reverse("host-refresh", args=[host.pk])))
        row = Network.objects.get(host=host, name=net)
        assert [attached["name"] for attached in row.containers] == [web]

        code, output = _fetch(admin_client, host, h1, fleet.registry, net, web, made)
        assert code == 0, output
        assert "demo web v1" in output

        container = known_container(host, web)
        disconnected = _succeeded(
            admin_client,
            post(admin_client, reverse("network-disconnect", args=[row.pk]), {"container": web}),
        )
        assert _again(services._disconnect, disconnected)["containers"] == []
        assert Network.objects.get(pk=row.pk).containers == []
        code, output = _fetch(admin_client, host, h1, fleet.registry, net, web, made)
        assert code != 0, output

        connected = _succeeded(
            admin_client,
            post(admin_client, reverse("network-connect", args=[row.pk]), {
                "container": container.container_id, "aliases": ["shop"]
            }),
        )  # fmt: skip
        assert _again(services._connect, connected)["containers"] == [web]
        code, output = _fetch(admin_client, host, h1, fleet.registry, net, "shop", made)
        assert code == 0, output

        refused = _done(admin_client, admin_client.delete(reverse("network-detail", args=[row.pk])))
        assert refused.status == "failed"
        assert web in refused.error
        assert h1.docker("network", "inspect", net, check=False).returncode == 0

        h1.docker("rm", "-f", web)
        removed = _succeeded(
            admin_client, admin_client.delete(reverse("network-detail", args=[row.pk]))
        )
        assert removed.result["removed"] is True
        assert not Network.objects.filter(host=host, name=net).exists()
        assert h1.docker("network", "inspect", net, check=False).returncode != 0

        _succeeded(
            admin_client,
            post(admin_client, reverse("host-networks", args=[host.pk]), {"name": spare}),
        )
        pruned = _succeeded(
            admin_client, post(admin_client, reverse("host-network-prune", args=[host.pk]))
        )
        assert spare in pruned.result["deleted"]
        assert not Network.objects.filter(host=host, name=spare).exists()
        assert Network.objects.filter(host=host, name="bridge").exists()
    finally:
        for name in made:
            h1.docker("rm", "-f", name, check=False)
        h1.docker("network", "rm", net, check=False)
        h1.docker("network", "rm", spare, check=False)
