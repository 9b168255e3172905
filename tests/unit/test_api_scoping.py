"""A caller limited to host group A sees only A's hosts and what is on them, and cannot
touch group B's: B's things answer 404, and a write aimed at B is refused."""

from __future__ import annotations

import subprocess

import pytest

from access.roles import Role
from deployments.models import Service
from hosts.models import Host
from operations.models import Operation
from tests.unit.roles_support import bearer, logged_in, make_site, make_user, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sites():
    return make_site("a"), make_site("b")


@pytest.fixture
def scoped_token(sites):
    """An unscoped admin's operator token limited to group A."""
    a, _ = sites
    admin = make_user("boss", Role.ADMIN)
    return bearer(token_for(admin, Role.OPERATOR, [a.group]))


def _ids(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def test_a_token_scoped_to_a_lists_only_a(sites, scoped_token):
    a, _ = sites
    assert _ids(scoped_token, "/api/v1/hosts/") == [a.host.pk]
    assert _ids(scoped_token, "/api/v1/host-groups/") == [a.group.pk]
    assert _ids(scoped_token, "/api/v1/containers/") == [a.container.pk]
    assert _ids(scoped_token, "/api/v1/host-images/") == [a.image.pk]
    assert _ids(scoped_token, "/api/v1/services/") == [a.service.pk]
    assert _ids(scoped_token, "/api/v1/rollouts/") == [a.rollout.pk]
    operations = _ids(scoped_token, "/api/v1/operations/")
    assert a.operation.pk in operations
    assert a.rollout.operation_id in operations
    assert len(operations) == 2
    fleet = scoped_token.get("/api/v1/images/").json()["results"]
    assert [[presence["host"] for presence in row["hosts"]] for row in fleet] == [[a.host.pk]]


def test_a_token_scoped_to_a_gets_404_for_b(sites, scoped_token):
    _, b = sites
    for url in [
        f"/api/v1/hosts/{b.host.pk}/",
        f"/api/v1/hosts/{b.host.pk}/containers/",
        f"/api/v1/containers/{b.container.pk}/",
        f"/api/v1/host-images/{b.image.pk}/",
        f"/api/v1/services/{b.service.pk}/",
        f"/api/v1/rollouts/{b.rollout.pk}/",
        f"/api/v1/operations/{b.operation.pk}/",
        f"/api/v1/host-groups/{b.group.pk}/",
    ]:
        assert scoped_token.get(url).status_code == 404, url


def test_a_token_scoped_to_a_cannot_act_on_b(sites, scoped_token):
    _, b = sites
    before = Operation.objects.count()
    for url, body in [
        (f"/api/v1/hosts/{b.host.pk}/refresh/", {}),
        (f"/api/v1/hosts/{b.host.pk}/containers/", {"image": "demo/web:v1"}),
        (f"/api/v1/hosts/{b.host.pk}/images/pull/", {"ref": "demo/web:v1"}),
        (f"/api/v1/hosts/{b.host.pk}/images/prune/", {}),
        (f"/api/v1/containers/{b.container.pk}/restart/", {}),
        (f"/api/v1/host-images/{b.image.pk}/remove/", {}),
        (f"/api/v1/services/{b.service.pk}/deploy/", {}),
        (f"/api/v1/operations/{b.operation.pk}/cancel/", {}),
    ]:
        response = scoped_token.post(url, body, content_type="application/json")
        assert response.status_code == 404, (url, response.content)
    response = scoped_token.post(
        "/api/v1/images/pull/",
        {"ref": "demo/web:v1", "hosts": [b.host.pk]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert Operation.objects.count() == before


def test_a_token_scoped_to_a_can_act_on_a(sites, scoped_token):
    a, _ = sites
    response = scoped_token.post(f"/api/v1/containers/{a.container.pk}/restart/", {})
    assert response.status_code == 202, response.content


def test_a_service_aimed_outside_the_scope_is_refused_and_not_saved(sites, scoped_token):
    a, b = sites
    response = scoped_token.post(
        "/api/v1/services/",
        {"name": "sneaky", "hosts": [a.host.pk, b.host.pk]},
        content_type="application/json",
    )
    assert response.status_code == 403, response.content
    assert "host groups" in response.json()["message"]
    assert not Service.objects.filter(name="sneaky").exists()
    response = scoped_token.post(
        "/api/v1/services/", {"name": "fine", "hosts": [a.host.pk]}, content_type="application/json"
    )
    assert response.status_code == 201, response.content


def test_a_user_scoped_by_profile_is_limited_the_same_way(sites):
    a, b = sites
    client = logged_in(make_user("ops-a", Role.OPERATOR, [a.group]))
    assert _ids(client, "/api/v1/hosts/") == [a.host.pk]
    assert client.get(f"/api/v1/hosts/{b.host.pk}/").status_code == 404


def test_a_token_cannot_widen_its_users_scope(sites):
    a, b = sites
    user = make_user("ops-a2", Role.OPERATOR, [a.group])
    both = bearer(token_for(user, Role.OPERATOR, [a.group, b.group]))
    assert _ids(both, "/api/v1/hosts/") == [a.host.pk]
    only_b = bearer(token_for(user, Role.OPERATOR, [b.group]))
    assert _ids(only_b, "/api/v1/hosts/") == []


def test_a_scoped_admin_cannot_register_a_host_outside_their_groups(sites, tmp_path):
    a, _ = sites
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    client = logged_in(make_user("admin-a", Role.ADMIN, [a.group]))
    ssh = {"address": "198.18.0.9", "private_key": key.read_text()}
    body = {"name": "loose", **ssh}
    response = client.post("/api/v1/hosts/", body, content_type="application/json")
    assert response.status_code == 403, response.content
    assert not Host.objects.filter(name="loose").exists()
    body = {"name": "inside", **ssh, "groups": [a.group.name]}
    response = client.post("/api/v1/hosts/", body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_a_scoped_admin_cannot_manage_users(sites):
    a, _ = sites
    client = logged_in(make_user("admin-a3", Role.ADMIN, [a.group]))
    assert client.get("/api/v1/users/").status_code == 403


def test_the_operation_log_filters_by_actor_target_action_and_time(admin_client):
    make_site("a")
    ops = make_user("ops-log", Role.OPERATOR)
    container = make_site("c").container
    response = logged_in(ops).post(f"/api/v1/containers/{container.pk}/restart/", {})
    assert response.status_code == 202

    def actions(**query):
        rows = admin_client.get("/api/v1/operations/", query).json()["results"]
        return sorted(row["action"] for row in rows)

    assert actions(actor="ops-log") == ["container.restart"]
    assert actions(target_type="container", target_id=str(container.pk)) == ["container.restart"]
    assert actions(action="host.refresh") == ["host.refresh", "host.refresh"]
    assert actions(created_after="2000-01-01T00:00:00Z", actor="ops-log") == ["container.restart"]
    assert actions(created_before="2000-01-01T00:00:00Z") == []
    assert (
        admin_client.post(f"/api/v1/operations/{response.json()['operation']}/").status_code == 405
    )


def test_an_operation_on_a_container_names_its_host_not_its_id(admin_client):
    """The operation log reads "web-t on host-t", never "web-t on 1"."""
    container = make_site("t").container
    response = admin_client.post(f"/api/v1/containers/{container.pk}/restart/", {})
    assert response.status_code == 202
    operation = Operation.objects.get(action="container.restart")
    assert operation.target_name == "web-t on host-t"
    listed = admin_client.get("/api/v1/operations/", {"action": "container.restart"}).json()
    assert listed["results"][0]["target_name"] == "web-t on host-t"
