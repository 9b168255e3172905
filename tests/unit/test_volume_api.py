"""Volumes through the API: a bad request is a 400 naming the field with nothing recorded
or queued; removing a volume a container uses is refused naming the containers; a good
request records the operation the worker runs; callers see only the volumes of the hosts
in their scope; a refresh stores what hosts report and keeps the last measured sizes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.roles import Role
from hosts.inventory import inventories
from operations.models import Operation
from tests.unit.roles_support import logged_in, make_site, make_user
from volumes.models import Volume
from volumes.services import reconcile_volumes

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return make_site("a")


def _post(client, url, body):
    return client.post(url, body, content_type="application/json")


def _create(client, host, body):
    return _post(client, reverse("host-volumes", args=[host.pk]), body)


def _in_use(site) -> Volume:
    return Volume.objects.create(
        host=site.host,
        name="pgdata",
        driver="local",
        containers=[
            {"id": site.container.container_id, "name": site.container.name},
            {"id": "e" * 64, "name": "backup"},
        ],
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "bad name"}, "name"),
        ({"name": "-dash"}, "name"),
        ({"name": 5}, "name"),
        ({"name": "data-a"}, "name"),  # the host has one already
        ({"name": "v1", "driver": "nfs"}, "driver"),
        ({"name": "v1", "labels": {"a": 1}}, "labels"),
        ({"name": "v1", "labels": {"berth.operation": "7"}}, "labels"),
        ({"name": "v1", "driver_opts": {"o": "bind", "device": "/etc"}}, "driver_opts"),
    ],
)
def test_a_bad_create_is_a_400_naming_the_field_and_nothing_is_queued(
    admin_client, site, body, field
):
    response = _create(admin_client, site.host, body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(name.split(".")[0] == field for name in errors), errors
    assert not Operation.objects.filter(action="volume.create").exists()


def test_create_records_the_checked_spec_for_the_worker(admin_client, site):
    response = _create(admin_client, site.host, {"name": "pgdata", "labels": {"team": "ops"}})
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert (operation.action, operation.host) == ("volume.create", site.host)
    assert operation.params == {"name": "pgdata", "driver": "local", "labels": {"team": "ops"}}


def test_removing_a_volume_in_use_is_a_400_naming_its_containers(admin_client, site):
    used = _in_use(site)
    response = admin_client.delete(reverse("volume-detail", args=[used.pk]))
    assert response.status_code == 400
    message = response.json()["errors"]["volume"]
    assert "web-a" in str(message) and "backup" in str(message)
    assert not Operation.objects.filter(action="volume.remove").exists()


def test_remove_of_an_unused_volume_is_a_202_with_the_operation(admin_client, site):
    response = admin_client.delete(reverse("volume-detail", args=[site.volume.pk]))
    assert response.status_code == 202
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert (operation.action, operation.params) == ("volume.remove", {"name": "data-a"})


def test_prune_takes_dry_run_and_all_and_refuses_anything_else(admin_client, site):
    url = reverse("host-volume-prune", args=[site.host.pk])
    for body, field in [({"dry_run": "maybe"}, "dry_run"), ({"force": True}, "force")]:
        response = _post(admin_client, url, body)
        assert response.status_code == 400 and field in response.json()["errors"]
    assert not Operation.objects.filter(action="volume.prune").exists()
    response = _post(admin_client, url, {"dry_run": True})
    assert response.status_code == 202
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.params == {"dry_run": True, "all": False}


def test_measure_records_an_operation_on_the_host(admin_client, site):
    response = _post(admin_client, reverse("host-volume-measure", args=[site.host.pk]), {})
    assert response.status_code == 202
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert (operation.action, operation.host) == ("volume.measure", site.host)


def test_the_list_filters_by_host_driver_name_and_use(admin_client, site):
    other = make_site("b")
    _in_use(site)
    Volume.objects.create(host=other.host, name="nfs-share", driver="nfsplugin")

    def names(**query):
        response = admin_client.get(reverse("volume-list"), query)
        assert response.status_code == 200, response.content
        return sorted(row["name"] for row in response.json()["results"])

    assert names() == ["data-a", "data-b", "nfs-share", "pgdata"]
    assert names(host=other.host.pk) == ["data-b", "nfs-share"]
    assert names(driver="nfsplugin") == ["nfs-share"]
    assert names(name="DATA-") == ["data-a", "data-b"]
    assert names(in_use="true") == ["pgdata"]
    assert names(in_use="false") == ["data-a", "data-b", "nfs-share"]
    row = admin_client.get(reverse("volume-detail", args=[site.volume.pk])).json()
    assert row["host_name"] == site.host.name
    assert (row["in_use"], row["containers"], row["size"], row["size_measured_at"]) == (
        False,
        [],
        None,
        None,
    )


def test_a_scoped_user_sees_and_acts_on_only_their_hosts_volumes(site):
    other = make_site("b")
    client = logged_in(make_user("scoped", Role.OPERATOR, groups=[site.group]))
    listed = client.get(reverse("volume-list")).json()["results"]
    assert [row["name"] for row in listed] == ["data-a"]
    assert client.get(reverse("volume-detail", args=[other.volume.pk])).status_code == 404
    assert client.delete(reverse("volume-detail", args=[other.volume.pk])).status_code == 404
    assert client.get(reverse("host-volumes", args=[other.host.pk])).status_code == 404
    assert _create(client, other.host, {"name": "x1"}).status_code == 404
    for name in ("host-volume-prune", "host-volume-measure"):
        assert _post(client, reverse(name, args=[other.host.pk]), {}).status_code == 404
    assert not Operation.objects.filter(action__startswith="volume.").exists()


def test_viewers_read_volumes_and_cannot_change_them(viewer_client, site):
    assert viewer_client.get(reverse("volume-list")).status_code == 200
    assert viewer_client.delete(reverse("volume-detail", args=[site.volume.pk])).status_code == 403
    assert _create(viewer_client, site.host, {"name": "x1"}).status_code == 403
    prune = _post(viewer_client, reverse("host-volume-prune", args=[site.host.pk]), {})
    assert prune.status_code == 403
    assert not Operation.objects.filter(action__startswith="volume.").exists()


def test_a_refresh_reads_volumes_without_sizes_and_keeps_the_last_measure(site):
    [inventory] = [i for i in inventories() if i.op == "volume.list"]
    assert inventory.args == {}  # no `system df` on a refresh
    users = [{"id": "c" * 64, "name": "web"}]
    reconcile_volumes(
        site.host,
        [{"name": "pgdata", "driver": "local", "containers": users, "size": 4096}],
    )
    [measured] = Volume.objects.filter(host=site.host)  # data-a was not reported: gone
    assert (measured.size, measured.containers) == (4096, users)
    assert measured.size_measured_at is not None

    reconcile_volumes(site.host, [{"name": "pgdata", "driver": "local", "containers": []}])
    measured.refresh_from_db()
    assert (measured.size, measured.containers) == (4096, [])


def test_viewers_see_the_page_without_the_forms_and_their_posts_are_403(viewer_client, site):
    _in_use(site)
    page = viewer_client.get(reverse("frontend:volumes")).content.decode()
    assert "data-a" in page and "pgdata" in page and "backup" in page
    assert "not measured" in page
    assert "Create a volume" not in page and "Remove" not in page and "Prune" not in page
    for url, body in [
        (reverse("frontend:volume-create"), {"host": site.host.pk, "name": "x"}),
        (reverse("frontend:volume-remove", args=[site.volume.pk]), {}),
        (reverse("frontend:volume-prune"), {"prune-host": site.host.pk}),
        (reverse("frontend:volume-measure"), {"measure-host": site.host.pk}),
    ]:
        assert viewer_client.post(url, body).status_code == 403
    assert not Operation.objects.filter(action__startswith="volume.").exists()


def test_operators_create_prune_measure_and_remove_from_the_page(operator_client, site):
    used = _in_use(site)
    page = operator_client.get(reverse("frontend:volumes")).content.decode()
    assert "Create a volume" in page and "Measure sizes" in page
    operator_client.post(
        reverse("frontend:volume-create"),
        {"host": site.host.pk, "name": "cache", "driver": "local"},
    )
    operator_client.post(
        reverse("frontend:volume-prune"), {"prune-host": site.host.pk, "prune-dry_run": "on"}
    )
    operator_client.post(reverse("frontend:volume-measure"), {"measure-host": site.host.pk})
    operator_client.post(reverse("frontend:volume-remove", args=[site.volume.pk]))
    refused = operator_client.post(
        reverse("frontend:volume-remove", args=[used.pk]), HTTP_HX_REQUEST="true"
    )
    assert "web-a" in refused.content.decode() and "backup" in refused.content.decode()
    recorded = {
        action: params for action, params in Operation.objects.values_list("action", "params")
    }
    assert recorded["volume.create"]["name"] == "cache"
    assert recorded["volume.prune"] == {"dry_run": True, "all": False}
    assert "volume.measure" in recorded
    assert recorded["volume.remove"] == {"name": "data-a"}
    assert Operation.objects.filter(action="volume.remove").count() == 1
