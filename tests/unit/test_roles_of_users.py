"""A user's role and scope come from their profile; superusers are admins; a token
caps both; the users API sets them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client

from access.roles import BERTH_TOKEN_ATTR, Role, has_role, role_of, scope_of
from accounts.models import ApiToken
from accounts.services import set_profile
from hosts.models import HostGroup
from tests.unit.roles_support import bearer, logged_in, make_user

pytestmark = pytest.mark.django_db


def test_the_role_comes_from_the_profile():
    user = make_user("ops", Role.OPERATOR)
    assert role_of(user) == Role.OPERATOR
    assert has_role(user, Role.VIEWER) and not has_role(user, Role.ADMIN)
    set_profile(user, role=Role.ADMIN)
    assert role_of(User.objects.get(pk=user.pk)) == Role.ADMIN


def test_superusers_are_admins_and_anonymous_or_inactive_users_have_no_role(admin_user):
    assert role_of(admin_user) == Role.ADMIN
    assert scope_of(admin_user) is None
    assert role_of(AnonymousUser()) is None
    inactive = make_user("gone", Role.ADMIN)
    inactive.is_active = False
    assert role_of(inactive) is None


def test_a_user_without_a_profile_keeps_the_old_rule():
    staff = User.objects.create_user("staff", is_staff=True)
    plain = User.objects.create_user("plain")
    assert (role_of(staff), role_of(plain)) == (Role.OPERATOR, Role.VIEWER)


def test_a_token_caps_the_role_and_narrows_the_scope():
    a, b = HostGroup.objects.create(name="a"), HostGroup.objects.create(name="b")
    user = make_user("ops", Role.OPERATOR, [a, b])
    token = ApiToken.objects.create(user=user, name="t", role="viewer", key="k1")
    token.host_groups.set([b])
    setattr(user, BERTH_TOKEN_ATTR, token)
    assert role_of(user) == Role.VIEWER
    assert scope_of(user) == frozenset({b.pk})


def test_admins_create_users_with_a_role_and_scope(admin_client):
    HostGroup.objects.create(name="edge")
    response = admin_client.post(
        "/api/v1/users/",
        {"username": "alice", "password": "a-long-enough-passphrase", "role": "operator",
         "host_groups": ["edge"]},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["role"], body["host_groups"]) == ("operator", ["edge"])
    assert "password" not in body
    alice = User.objects.get(username="alice")
    assert alice.check_password("a-long-enough-passphrase")
    assert role_of(alice) == Role.OPERATOR
    response = admin_client.patch(
        f"/api/v1/users/{alice.pk}/", {"role": "viewer"}, content_type="application/json"
    )
    assert response.json()["role"] == "viewer"
    assert response.json()["host_groups"] == ["edge"]
    me = logged_in(alice).get("/api/v1/me/").json()
    assert (me["role"], me["host_groups"]) == ("viewer", ["edge"])


def test_a_weak_password_is_a_400_naming_the_field(admin_client):
    response = admin_client.post(
        "/api/v1/users/", {"username": "bob", "password": "password"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_every_error_has_the_same_shape(admin_client):
    bad = admin_client.post("/api/v1/users/", {}, content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["errors"]["username"] and bad.json()["message"].startswith("username: ")
    for response in (
        Client().get("/api/v1/hosts/"),
        admin_client.get("/api/v1/hosts/999999/"),
        bearer("berth_x_y").get("/api/v1/hosts/"),
        logged_in(make_user("v", Role.VIEWER)).post("/api/v1/host-groups/", {}),
    ):
        body = response.json()
        assert set(body) == {"message", "errors", "detail"}, body
        assert body["message"] == body["detail"] and body["errors"] == {}
