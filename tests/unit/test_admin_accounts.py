"""Host groups, API tokens and a user's role and scope are managed in the Django admin
too, each change audited as the API's, and only by admins not limited to host groups."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from access.roles import Role
from accounts.models import ApiToken
from hosts.models import Host, HostGroup
from operations.models import Operation
from tests.unit.roles_support import bearer, logged_in, make_user, token_for

pytestmark = pytest.mark.django_db

SECRET_PATTERN = re.compile(r"berth_[0-9a-f]+_[A-Za-z0-9_-]+")


def _recorded(action: str) -> Operation:
    operations = list(Operation.objects.filter(action=action))
    assert len(operations) == 1, f"{action}: {[op.action for op in Operation.objects.all()]}"
    return operations[0]


def _trail() -> str:
    return json.dumps(
        [[op.params, op.result, op.error, op.target_name] for op in Operation.objects.all()]
    )


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _scoped_staff_admin(username: str, group: HostGroup, *codename_suffixes: str) -> User:
    """Staff with every Django permission on the given models, limited to ``group``."""
    user = make_user(username, Role.ADMIN, [group])
    user.is_staff = True
    user.save()
    for suffix in codename_suffixes:
        user.user_permissions.add(*Permission.objects.filter(codename__endswith=suffix))
    return user


# --- API tokens ------------------------------------------------------------------------


def test_admin_token_is_shown_once_works_and_is_refused_once_revoked(admin_client, admin_user):
    Host.objects.create(name="web-1", transport="local")
    dev = make_user("dev", Role.OPERATOR)
    page = admin_client.get(reverse("admin:accounts_apitoken_add"))
    assert page.status_code == 200
    assert 'name="host_groups"' in page.text and 'name="expires_at_0"' in page.text
    form = {"user": dev.pk, "name": "ci deploys", "role": "viewer", "unrestricted": "on",
            "expires_at_0": "", "expires_at_1": ""}  # fmt: skip
    response = admin_client.post(reverse("admin:accounts_apitoken_add"), form)
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    token = ApiToken.objects.get(name="ci deploys")
    assert (token.user, token.role, token.unrestricted) == (dev, "viewer", True)
    created = _recorded("token.create")
    assert (created.actor, created.params["prefix"]) == (admin_user, f"berth_{token.key}_")

    shown = admin_client.get(response["Location"])
    secrets = SECRET_PATTERN.findall(shown.text)
    assert len(secrets) == 1, shown.text
    secret = secrets[0]
    assert secret.startswith(f"berth_{token.key}_")
    again = admin_client.get(reverse("admin:accounts_apitoken_changelist"))
    assert secret not in again.text  # shown once only
    assert f"berth_{token.key}_" in again.text  # the list names it by its prefix
    assert "ci deploys" in again.text
    assert secret not in admin_client.get(response["Location"]).text

    hosts = bearer(secret).get("/api/v1/hosts/")
    assert hosts.status_code == 200
    assert [host["name"] for host in hosts.json()["results"]] == ["web-1"]

    response = admin_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    revoked = _recorded("token.revoke")
    assert (revoked.actor, revoked.params["prefix"]) == (admin_user, f"berth_{token.key}_")
    assert bearer(secret).get("/api/v1/hosts/").status_code == 401

    # Neither the operation log nor the admin's own history holds the secret.
    history = list(LogEntry.objects.values_list("object_repr", "change_message"))
    trail = _trail() + json.dumps(history)
    assert secret not in trail
    assert secret.split("_", 2)[2] not in trail
    listing = admin_client.get(reverse("admin:accounts_apitoken_changelist")).text
    assert token.token_hash not in listing


def test_admin_token_change_page_edits_nothing(admin_client, admin_user):
    secret = token_for(admin_user, Role.ADMIN)
    token = ApiToken.objects.get()
    url = reverse("admin:accounts_apitoken_change", args=[token.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert secret not in page.text and token.token_hash not in page.text
    admin_client.post(url, {"name": "renamed", "role": "admin", "user": admin_user.pk})
    assert ApiToken.objects.get(pk=token.pk).name == token.name
    # Deleting would drop the record of a token; it is revoked instead.
    delete = admin_client.get(reverse("admin:accounts_apitoken_delete", args=[token.pk]))
    assert delete.status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_admin_refuses_a_token_above_its_users_role(admin_client):
    viewer = make_user("vic", Role.VIEWER)
    form = {"user": viewer.pk, "name": "too much", "role": "admin", "unrestricted": "on"}
    response = admin_client.post(reverse("admin:accounts_apitoken_add"), form)
    assert response.status_code == 200
    assert "at most its user" in response.text
    assert not ApiToken.objects.exists()
    assert not Operation.objects.filter(action="token.create").exists()


def test_admin_token_limited_to_host_groups(admin_client):
    edge, core = HostGroup.objects.create(name="edge"), HostGroup.objects.create(name="core")
    inside = Host.objects.create(name="in-edge", transport="local")
    inside.groups.add(edge)
    Host.objects.create(name="in-core", transport="local").groups.add(core)
    dev = make_user("dev", Role.OPERATOR)
    form = {"user": dev.pk, "name": "edge only", "role": "operator", "host_groups": [edge.pk]}
    response = admin_client.post(reverse("admin:accounts_apitoken_add"), form)
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    token = ApiToken.objects.get()
    assert not token.unrestricted
    assert _recorded("token.create").params["host_groups"] == ["edge"]
    secret = SECRET_PATTERN.findall(admin_client.get(response["Location"]).text)[0]
    hosts = bearer(secret).get("/api/v1/hosts/").json()["results"]
    assert [host["name"] for host in hosts] == ["in-edge"]


# --- a user's role and scope -------------------------------------------------------------


def _user_change_form(user: User, **berth: object) -> dict[str, object]:
    """The user admin's change form as the page fills it in, plus ``berth``."""
    joined = timezone.localtime(user.date_joined)
    last = timezone.localtime(user.last_login) if user.last_login else None
    return {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        # The page posts back a field with a callable default as it was shown.
        "initial-date_joined_0": joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": joined.strftime("%H:%M:%S"),
        "last_login_0": last.strftime("%Y-%m-%d") if last else "",
        "last_login_1": last.strftime("%H:%M:%S") if last else "",
        **berth,
    }


def test_admin_changes_a_users_role_and_scope_and_the_api_follows(admin_client, admin_user):
    edge = HostGroup.objects.create(name="edge")
    Host.objects.create(name="in-edge", transport="local").groups.add(edge)
    Host.objects.create(name="elsewhere", transport="local")
    olga = make_user("olga", Role.VIEWER)
    olga.berth_profile.unrestricted = True
    olga.berth_profile.save()
    api = logged_in(olga)
    assert api.get("/api/v1/me/").json()["role"] == "viewer"

    url = reverse("admin:auth_user_change", args=[olga.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'name="role"' in page.text and 'name="host_groups"' in page.text

    response = admin_client.post(url, _user_change_form(olga, role="operator", unrestricted="on"))
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    updated = _recorded("user.update")
    assert updated.actor == admin_user
    assert updated.params == {"role": "operator"}
    me = api.get("/api/v1/me/").json()
    assert (me["role"], me["host_groups"]) == ("operator", None)
    assert len(api.get("/api/v1/hosts/").json()["results"]) == 2

    response = admin_client.post(
        url, _user_change_form(olga, role="operator", host_groups=[edge.pk])
    )
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    scoped = Operation.objects.filter(action="user.update").order_by("-id")[0]
    assert scoped.params == {"unrestricted": False, "host_groups": ["edge"]}
    me = api.get("/api/v1/me/").json()
    assert me["host_groups"] == ["edge"]
    assert [host["name"] for host in api.get("/api/v1/hosts/").json()["results"]] == ["in-edge"]


def test_admin_adds_a_user_with_a_role(admin_client):
    page = admin_client.get(reverse("admin:auth_user_add"))
    assert page.status_code == 200
    assert 'name="role"' in page.text and 'name="host_groups"' in page.text
    form = {"username": "newbie", "password1": "a-long-passphrase-Vx81",
            "password2": "a-long-passphrase-Vx81", "usable_password": "true", "role": "operator",
            "unrestricted": "on"}  # fmt: skip
    response = admin_client.post(reverse("admin:auth_user_add"), form)
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    user = User.objects.get(username="newbie")
    assert logged_in(user).get("/api/v1/me/").json()["role"] == "operator"
    created = _recorded("user.create")
    assert (created.params["role"], created.params["unrestricted"]) == ("operator", True)


# --- admins limited to host groups --------------------------------------------------------


def test_a_scoped_admin_manages_no_groups_tokens_or_users_in_the_admin(admin_user):
    mine = HostGroup.objects.create(name="mine")
    other = HostGroup.objects.create(name="other")
    scoped = _scoped_staff_admin("sam", mine, "_hostgroup", "_apitoken", "_user")
    client = logged_in(scoped)
    token_for(admin_user, Role.ADMIN)
    token = ApiToken.objects.get()

    assert client.get(reverse("admin:hosts_hostgroup_add")).status_code == 403
    client.post(reverse("admin:hosts_hostgroup_add"), {"name": "sneaky"})
    client.post(
        reverse("admin:hosts_hostgroup_change", args=[mine.pk]),
        {"name": "mine", "description": "taken over"},
    )
    assert client.get(reverse("admin:hosts_hostgroup_delete", args=[other.pk])).status_code in {
        403,
        404,
    }
    client.post(reverse("admin:hosts_hostgroup_delete", args=[other.pk]), {"post": "yes"})
    assert sorted(HostGroup.objects.values_list("name", "description")) == [
        ("mine", ""),
        ("other", ""),
    ]
    # They see only their own groups.
    listing = client.get(reverse("admin:hosts_hostgroup_changelist"))
    assert listing.status_code == 200
    assert "mine" in listing.text and "other" not in listing.text

    assert client.get(reverse("admin:accounts_apitoken_changelist")).status_code == 403
    assert client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    client.post(
        reverse("admin:accounts_apitoken_add"),
        {"user": scoped.pk, "name": "wide", "role": "admin", "unrestricted": "on"},
    )
    client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [(token.name, None)]

    # Nor may they lift their own scope in the user admin.
    url = reverse("admin:auth_user_change", args=[scoped.pk])
    client.post(url, _user_change_form(scoped, role="admin", unrestricted="on", is_staff="on"))
    assert client.get(reverse("admin:auth_user_add")).status_code == 403
    scoped.refresh_from_db()
    assert not scoped.berth_profile.unrestricted
    refused = ["hostgroup.create", "hostgroup.update", "hostgroup.delete", "token.create",
               "token.revoke", "user.update", "user.create"]  # fmt: skip
    assert not Operation.objects.filter(action__in=refused, actor=scoped).exists()
