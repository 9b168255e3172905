"""A caller limited to host groups cannot get out of them: "every host" is an explicit
flag, not an empty group set; the groups that scope someone cannot be deleted; and a
scoped admin cannot reach machines through Berth's stored keys, jump hosts or the
server's own engine."""

from __future__ import annotations

import subprocess
from importlib import import_module

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import User
from django.urls import reverse

from access.roles import Role, scope_of
from accounts.models import ApiToken, Profile
from hosts.models import Host, HostGroup, JumpHost
from hosts.services import create_ssh_key
from tests.unit.roles_support import bearer, logged_in, make_site, make_user, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_key(tmp_path):
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


def _hosts(client) -> list[int]:
    response = client.get("/api/v1/hosts/")
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def _post(client, url, body):
    return client.post(url, body, content_type="application/json")


# --- an empty group set is no hosts, not every host -----------------------------------


def test_a_user_whose_groups_are_all_gone_sees_no_host():
    a, b = make_site("a"), make_site("b")
    user = make_user("ops-a", Role.OPERATOR, [a.group])
    user.berth_profile.host_groups.clear()
    assert not user.berth_profile.unrestricted
    fresh = User.objects.get(pk=user.pk)
    assert scope_of(fresh) == frozenset()
    assert _hosts(logged_in(fresh)) == []
    assert b.host.pk not in _hosts(logged_in(fresh))


def test_an_unrestricted_user_sees_every_host():
    a, b = make_site("a"), make_site("b")
    user = make_user("ops-all", Role.OPERATOR)
    assert user.berth_profile.unrestricted
    assert _hosts(logged_in(user)) == sorted([a.host.pk, b.host.pk])


def test_a_token_without_groups_that_is_not_unrestricted_sees_no_host(admin_user):
    make_site("a")
    secret = token_for(admin_user, Role.VIEWER)
    token = ApiToken.objects.get(user=admin_user)
    assert token.unrestricted  # no groups given: acts in its user's scope
    token.unrestricted = False
    token.save(update_fields=["unrestricted"])
    assert _hosts(bearer(secret)) == []


def test_the_api_shows_and_sets_the_flag(admin_client):
    a = make_site("a")
    created = _post(
        admin_client,
        "/api/v1/users/",
        {"username": "nobody", "role": "viewer", "unrestricted": False},
    )
    assert created.status_code == 201, created.content
    assert created.json()["unrestricted"] is False
    assert scope_of(User.objects.get(username="nobody")) == frozenset()
    default = _post(admin_client, "/api/v1/users/", {"username": "all", "role": "viewer"})
    assert default.json()["unrestricted"] is True
    scoped = _post(
        admin_client, "/api/v1/users/", {"username": "a-only", "host_groups": [a.group.name]}
    )
    assert scoped.json()["unrestricted"] is False
    token = _post(admin_client, "/api/v1/tokens/", {"name": "ci", "unrestricted": False})
    assert token.status_code == 201, token.content
    assert token.json()["unrestricted"] is False
    assert _hosts(bearer(token.json()["token"])) == []
    me = bearer(token.json()["token"]).get("/api/v1/me/").json()
    assert me["host_groups"] == []


def test_existing_users_and_tokens_without_groups_keep_every_host():
    """The data migration: nothing changes for who had no groups before the flag."""
    group = HostGroup.objects.create(name="g")
    everywhere = User.objects.create_user("everywhere")
    limited = User.objects.create_user("limited")
    Profile.objects.create(user=everywhere, role="viewer", unrestricted=False)
    Profile.objects.create(user=limited, role="viewer", unrestricted=False).host_groups.add(group)
    open_token = ApiToken.objects.create(user=everywhere, name="t1", key="k1", token_hash="x")
    group_token = ApiToken.objects.create(user=everywhere, name="t2", key="k2", token_hash="y")
    group_token.host_groups.add(group)
    migration = import_module("accounts.migrations.0002_unrestricted_flag")
    migration.mark_unrestricted(global_apps, None)
    assert Profile.objects.get(user=everywhere).unrestricted
    assert not Profile.objects.get(user=limited).unrestricted
    assert ApiToken.objects.get(pk=open_token.pk).unrestricted
    assert not ApiToken.objects.get(pk=group_token.pk).unrestricted


# --- host groups that scope someone stay ------------------------------------------------


def test_a_scoped_admin_deleting_their_group_gets_409_naming_who_it_limits():
    """The issue's "scoped admin deletes their group → 409": the group is in use (it
    limits the admin themselves), and that is said before anything about their role."""
    a, _ = make_site("a"), make_site("b")
    make_user("ops-a", Role.OPERATOR, [a.group])
    client = logged_in(make_user("admin-a", Role.ADMIN, [a.group]))
    response = client.delete(f"/api/v1/host-groups/{a.group.pk}/")
    assert response.status_code == 409, response.content
    message = response.json()["message"]
    assert "user admin-a" in message and "user ops-a" in message
    assert HostGroup.objects.filter(pk=a.group.pk).exists()
    assert _hosts(client) == [a.host.pk]


def test_a_token_limited_to_a_group_cannot_delete_it(admin_user):
    """An unrestricted admin's token limited to a group is scoped too: 409, the token named."""
    a = make_site("a")
    secret = token_for(admin_user, Role.ADMIN, [a.group])
    response = bearer(secret).delete(f"/api/v1/host-groups/{a.group.pk}/")
    assert response.status_code == 409, response.content
    assert (
        f"token {admin_user.username} admin ({admin_user.username})" in (response.json()["message"])
    )
    assert HostGroup.objects.filter(pk=a.group.pk).exists()


def test_a_scoped_admin_cannot_delete_a_group_outside_their_scope():
    a, b = make_site("a"), make_site("b")
    client = logged_in(make_user("admin-a", Role.ADMIN, [a.group]))
    assert client.delete(f"/api/v1/host-groups/{b.group.pk}/").status_code == 404
    assert HostGroup.objects.filter(pk=b.group.pk).exists()


def test_a_group_that_scopes_a_user_or_token_cannot_be_deleted(admin_client, admin_user):
    a = make_site("a")
    lonely = HostGroup.objects.create(name="lonely")
    make_user("ops-a", Role.OPERATOR, [a.group])
    response = admin_client.delete(f"/api/v1/host-groups/{a.group.pk}/")
    assert response.status_code == 409, response.content
    assert "ops-a" in response.json()["message"]
    token_for(admin_user, Role.VIEWER, [lonely])
    response = admin_client.delete(f"/api/v1/host-groups/{lonely.pk}/")
    assert response.status_code == 409, response.content
    assert "token" in response.json()["message"]
    assert HostGroup.objects.filter(pk__in=[a.group.pk, lonely.pk]).count() == 2
    spare = HostGroup.objects.create(name="spare")
    assert admin_client.delete(f"/api/v1/host-groups/{spare.pk}/").status_code == 204


# --- no way around the scope through shared credentials or the server ----------------


def test_a_scoped_admin_cannot_register_a_local_transport_host():
    a = make_site("a")
    client = logged_in(make_user("admin-a", Role.ADMIN, [a.group]))
    body = {"name": "server", "transport": "local", "groups": [a.group.name]}
    response = _post(client, "/api/v1/hosts/", body)
    assert response.status_code == 403, response.content
    assert "local" in response.json()["message"]
    assert not Host.objects.filter(name="server").exists()


def test_a_scoped_admin_cannot_enrol_with_a_stored_key_or_jump_host(private_key):
    a = make_site("a")
    client = logged_in(make_user("admin-a", Role.ADMIN, [a.group]))
    stored = create_ssh_key(name="fleet-key", private_key=private_key)
    body = {"name": "other", "address": "198.18.0.9", "groups": [a.group.name]}
    response = _post(client, "/api/v1/hosts/", {**body, "ssh_key": stored.pk})
    assert response.status_code == 403, response.content
    assert "ssh_key" in response.json()["message"]
    jump = JumpHost.objects.create(name="bastion", address="198.18.0.1", ssh_key=stored)
    response = _post(client, "/api/v1/hosts/", {**body, "private_key": private_key,
                                                 "jump_host": jump.pk})  # fmt: skip
    assert response.status_code == 403, response.content
    assert "jump_host" in response.json()["message"]
    assert not Host.objects.filter(name="other").exists()
    # With a key of their own, in their group: allowed.
    response = _post(client, "/api/v1/hosts/", {**body, "private_key": private_key})
    assert response.status_code == 201, response.content


def test_the_page_refuses_a_scoped_admin_a_stored_key(private_key):
    a = make_site("a")
    client = logged_in(make_user("admin-a", Role.ADMIN, [a.group]))
    stored = create_ssh_key(name="fleet-key", private_key=private_key)
    form = {"name": "other", "address": "198.18.0.9", "port": 22, "username": "root",
            "existing_key": stored.pk, "groups": [a.group.pk]}  # fmt: skip
    response = client.post(reverse("frontend:host-add"), form)
    assert response.status_code == 200
    assert b"not limited to host groups" in response.content
    assert not Host.objects.filter(name="other").exists()


def test_an_unrestricted_admin_may_do_all_of_it(admin_client, private_key):
    stored = create_ssh_key(name="fleet-key", private_key=private_key)
    body = {"name": "other", "address": "198.18.0.9", "ssh_key": stored.pk}
    assert _post(admin_client, "/api/v1/hosts/", body).status_code == 201
    local = {"name": "server", "transport": "local"}
    assert _post(admin_client, "/api/v1/hosts/", local).status_code == 201
