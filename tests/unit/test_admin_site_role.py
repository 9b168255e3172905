"""The Django admin is for Berth admins: a staff account whose Berth role is operator
or viewer is turned away from every admin page, whatever Django permissions it holds
(it could otherwise issue an admin token or edit a host's key there). The one-time
token secret the admin shows never travels in a cookie."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from access.roles import Role
from accounts.models import ApiToken
from tests.unit.roles_support import make_user

pytestmark = pytest.mark.django_db

PAGES = ["admin:index", "admin:accounts_apitoken_add", "admin:hosts_host_changelist",
         "admin:auth_user_changelist"]  # fmt: skip


def _staff(role: Role) -> Client:
    user = make_user(f"staff-{role.label}", role)
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_staff_below_the_admin_role_is_turned_away(role):
    client = _staff(role)
    for page in PAGES:
        response = client.get(reverse(page))
        assert response.status_code == 302, page
        assert "/admin/login/" in response["Location"], page


def test_a_berth_admin_gets_in():
    client = _staff(Role.ADMIN)
    for page in PAGES:
        assert client.get(reverse(page)).status_code == 200, page


def test_the_new_tokens_secret_is_not_put_in_a_cookie(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:accounts_apitoken_add"),
        {"user": admin_user.pk, "name": "ci", "role": "viewer", "unrestricted": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    token = ApiToken.objects.get(name="ci")
    # Django's default keeps messages in a signed, readable (compressed) cookie.
    assert not response.cookies.get("messages", None) or not response.cookies["messages"].value
    page = admin_client.get(response["Location"])
    assert f"berth_{token.key}_" in page.text  # shown once, on the page
