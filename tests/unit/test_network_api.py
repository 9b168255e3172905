"""Networks through the API and the pages: a bad request is a 400 naming the field with
nothing recorded or queued; a good one records the operation the worker runs; callers
see only the networks of the hosts in their scope; a refresh stores what hosts report."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.roles import Role
from containers.models import Container
from hosts.inventory import inventories
from networks.models import Network
from networks.services import reconcile_networks
from operations.models import Operation
from tests.unit.roles_support import logged_in, make_site, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return make_site("a")


def _post(client, url, body):
    return client.post(url, body, content_type="application/json")


def _create(client, host, body):
    return _post(client, reverse("host-networks", args=[host.pk]), body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"name": "-dash"}, "name"),
        ({"name": "bridge"}, "name"),
        ({"name": "backend-a"}, "name"),  # the host has one already
        ({"name": "n1", "driver": "weave"}, "driver"),
        ({"name": "n1", "subnet": "10.0.0.1/24"}, "subnet"),
        ({"name": "n1", "subnet": "10.0.0.0/33"}, "subnet"),
        ({"name": "n1", "gateway": "10.0.0.1"}, "subnet"),
        ({"name": "n1", "subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}, "gateway"),
        ({"name": "n1", "subnet": "10.0.0.0/24", "gateway": "10.0.0.0"}, "gateway"),
        ({"name": "n1", "subnet": "10.0.0.0/24", "gateway": "nope"}, "gateway"),
        ({"name": "n1", "subnet": "10.0.0.0/24", "ip_range": "10.0.0.0/16"}, "ip_range"),
        ({"name": "n1", "subnet": "10.0.0.0/24", "ip_range": "fd00::/64"}, "ip_range"),
        ({"name": "n1", "driver": "macvlan"}, "options"),
        ({"name": "n1", "driver": "macvlan", "options": {"parent": "eth0;reboot"}}, "options"),
        ({"name": "n1", "options": {"com.docker.network.bridge.name": "br9"}}, "options"),
        ({"name": "n1", "internal": "yes"}, "internal"),
        ({"name": "n1", "labels": {"a": 1}}, "labels"),
        ({"name": "n1", "labels": {"berth.operation": "7"}}, "labels"),
        ({"name": "n1", "scope": "swarm"}, "scope"),
    ],
)
def test_a_bad_create_is_a_400_naming_the_field_and_nothing_is_queued(
    admin_client, site, body, field
):
    response = _create(admin_client, site.host, body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(name.split(".")[0] == field for name in errors), errors
    assert not Operation.objects.filter(action="network.create").exists()


def test_create_records_the_checked_spec_for_the_worker(admin_client, site):
    response = _create(
        admin_client,
        site.host,
        {
            "name": "macs",
            "driver": "macvlan",
            "subnet": "192.168.50.0/24",
            "gateway": "192.168.50.1",
            "ip_range": "192.168.50.128/25",
            "options": {"parent": "eth0.50"},
            "labels": {"team": "ops"},
        },
    )
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.action == "network.create"
    assert operation.host == site.host
    assert operation.params == {
        "name": "macs",
        "driver": "macvlan",
        "subnet": "192.168.50.0/24",
        "gateway": "192.168.50.1",
        "ip_range": "192.168.50.128/25",
        "internal": False,
        "attachable": False,
        "labels": {"team": "ops"},
        "options": {"parent": "eth0.50"},
    }


def test_docker_own_networks_cannot_be_removed(admin_client, site):
    bridge = Network.objects.create(host=site.host, network_id="b" * 64, name="bridge")
    response = admin_client.delete(reverse("network-detail", args=[bridge.pk]))
    assert response.status_code == 400
    assert "network" in response.json()["errors"]
    assert not Operation.objects.filter(action="network.remove").exists()


def test_remove_is_a_202_with_the_operation(admin_client, site):
    response = admin_client.delete(reverse("network-detail", args=[site.network.pk]))
    assert response.status_code == 202
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert (operation.action, operation.params["name"]) == ("network.remove", "backend-a")


@pytest.mark.parametrize("verb", ["connect", "disconnect"])
def test_connecting_a_container_not_on_the_host_is_a_400_naming_container(admin_client, site, verb):
    other = make_site("b")
    for ref in ["no-such-container", other.container.name, "bad name!"]:
        response = _post(
            admin_client, reverse(f"network-{verb}", args=[site.network.pk]), {"container": ref}
        )
        assert response.status_code == 400, response.content
        assert list(response.json()["errors"]) == ["container"]
    assert not Operation.objects.filter(action__startswith="network.").exists()


def test_connect_takes_a_name_or_an_id_and_aliases(admin_client, site):
    url = reverse("network-connect", args=[site.network.pk])
    by_id = _post(admin_client, url, {"container": site.container.container_id[:12]})
    assert by_id.status_code == 202, by_id.content
    response = _post(admin_client, url, {"container": site.container.name, "aliases": ["db"]})
    assert response.status_code == 202
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.params["container_id"] == site.container.container_id
    assert operation.params["aliases"] == ["db"]
    bad = _post(admin_client, url, {"container": site.container.name, "aliases": ["a b"]})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["aliases"]


def test_the_list_filters_by_host_driver_and_name(admin_client, site):
    other = make_site("b")
    Network.objects.create(host=other.host, network_id="m" * 64, name="macs", driver="macvlan")

    def names(**query):
        response = admin_client.get(reverse("network-list"), query)
        assert response.status_code == 200
        return sorted(row["name"] for row in response.json()["results"])

    assert names() == ["backend-a", "backend-b", "macs"]
    assert names(host=other.host.pk) == ["backend-b", "macs"]
    assert names(driver="macvlan") == ["macs"]
    assert names(name="BACKEND") == ["backend-a", "backend-b"]
    row = admin_client.get(reverse("network-detail", args=[site.network.pk])).json()
    assert row["host_name"] == site.host.name
    assert row["containers"] == [{"id": site.container.container_id, "name": "web-a"}]


def test_a_scoped_user_sees_and_acts_on_only_their_hosts_networks(site):
    other = make_site("b")
    user = make_user("scoped", Role.OPERATOR, groups=[site.group])
    client = logged_in(user)
    listed = client.get(reverse("network-list")).json()["results"]
    assert [row["name"] for row in listed] == ["backend-a"]
    assert client.get(reverse("network-detail", args=[other.network.pk])).status_code == 404
    assert client.delete(reverse("network-detail", args=[other.network.pk])).status_code == 404
    assert _create(client, other.host, {"name": "x1"}).status_code == 404
    prune = _post(client, reverse("host-network-prune", args=[other.host.pk]), {})
    assert prune.status_code == 404
    assert not Operation.objects.filter(action__startswith="network.").exists()
    page = client.get(reverse("frontend:networks")).content.decode()
    assert "backend-a" in page and "backend-b" not in page


def test_a_refresh_reads_the_networks_and_stores_them(site):
    assert "network.list" in {inventory.op for inventory in inventories()}
    reported = [
        {
            "id": "f" * 64,
            "name": "front",
            "driver": "bridge",
            "scope": "local",
            "internal": True,
            "subnets": [{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1", "ip_range": ""}],
            "containers": [{"id": "c" * 64, "name": "web"}],
            "created": 1700000000,
        }
    ]
    reconcile_networks(site.host, reported)
    [network] = Network.objects.filter(host=site.host)  # backend-a was not reported: gone
    assert (network.name, network.internal, network.subnets[0]["subnet"]) == (
        "front",
        True,
        "10.9.0.0/24",
    )
    assert network.containers == [{"id": "c" * 64, "name": "web"}]


def test_viewers_see_the_page_without_the_forms(viewer_client, site):
    page = viewer_client.get(reverse("frontend:networks")).content.decode()
    assert "backend-a" in page and "web-a" in page
    assert "Create a network" not in page and "Remove" not in page
    response = viewer_client.post(reverse("frontend:network-create"), {"name": "x"})
    assert response.status_code == 403
    response = viewer_client.post(reverse("frontend:network-remove", args=[site.network.pk]))
    assert response.status_code == 403


def test_operators_create_connect_and_disconnect_from_the_page(operator_client, site):
    Container.objects.create(
        host=site.host, container_id="d" * 64, name="db-a", image="demo/web:v1", state="running"
    )
    page = operator_client.get(reverse("frontend:networks")).content.decode()
    assert "Create a network" in page and "db-a" in page  # db-a can be connected
    operator_client.post(
        reverse("frontend:network-create"),
        {"host": site.host.pk, "name": "front", "driver": "bridge", "subnet": "10.8.0.0/24"},
    )
    operator_client.post(reverse("frontend:network-connect", args=[site.network.pk]), {
        "container": "db-a"
    })  # fmt: skip
    operator_client.post(
        reverse("frontend:network-disconnect", args=[site.network.pk]),
        {"container": site.container.container_id},
    )
    recorded = dict(Operation.objects.values_list("action", "params__name"))
    assert recorded["network.create"] == "front"
    assert recorded["network.connect"] == "backend-a"
    assert recorded["network.disconnect"] == "backend-a"
    bad = operator_client.post(
        reverse("frontend:network-create"),
        {"host": site.host.pk, "name": "n2", "subnet": "10.8.0.0/24", "gateway": "10.9.0.1"},
    )
    assert bad.status_code == 302
    assert Operation.objects.filter(action="network.create").count() == 1
