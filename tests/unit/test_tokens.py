"""API tokens: shown once, stored hashed, capped by their user's role, refused once
expired or revoked, and their last use recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from access.roles import Role
from accounts.models import ApiToken, hash_token
from tests.unit.roles_support import bearer, logged_in, make_site, make_user, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_failure_counts():
    cache.clear()
    yield
    cache.clear()


def _create(client, **body):
    return client.post("/api/v1/tokens/", body, content_type="application/json")


def test_the_secret_is_shown_once_and_stored_only_as_a_hash(admin_client):
    response = _create(admin_client, name="ci", role="operator")
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["token"]
    assert secret.startswith(body["prefix"])
    token = ApiToken.objects.get(pk=body["id"])
    assert token.token_hash == hash_token(secret)
    assert secret not in str(list(ApiToken.objects.values()))
    for url in ("/api/v1/tokens/", f"/api/v1/tokens/{token.pk}/"):
        listed = admin_client.get(url)
        assert secret.encode() not in listed.content
        assert b'"token"' not in listed.content
    assert bearer(secret).get("/api/v1/hosts/").status_code == 200


def test_a_token_acts_with_its_role(admin_user):
    site = make_site("a")
    viewer_token = bearer(token_for(admin_user, Role.VIEWER))
    assert viewer_token.get("/api/v1/containers/").status_code == 200
    response = viewer_token.post(f"/api/v1/containers/{site.container.pk}/restart/")
    assert response.status_code == 403
    assert "viewer" in response.json()["message"]
    operator_token = bearer(token_for(admin_user, Role.OPERATOR))
    assert (
        operator_token.post(f"/api/v1/containers/{site.container.pk}/restart/").status_code == 202
    )
    assert operator_token.post(f"/api/v1/hosts/{site.host.pk}/approve-host-key/").status_code == 403
    me = operator_token.get("/api/v1/me/").json()
    assert (me["username"], me["role"], me["host_groups"]) == ("root-admin", "operator", None)


def test_a_tokens_role_cannot_exceed_its_users(admin_client):
    operator = make_user("ops", Role.OPERATOR)
    response = _create(admin_client, name="too much", user=operator.pk, role="admin")
    assert response.status_code == 400
    assert "operator" in response.json()["errors"]["role"][0]
    response = _create(admin_client, name="ok", user=operator.pk)
    assert response.status_code == 201
    assert response.json()["role"] == "operator"


def test_a_demoted_user_drags_their_tokens_down():
    user = make_user("was-admin", Role.ADMIN)
    client = bearer(token_for(user, Role.ADMIN))
    assert client.get("/api/v1/users/").status_code == 200
    from accounts.services import set_profile

    set_profile(user, role=Role.VIEWER)
    assert client.get("/api/v1/users/").status_code == 403


def test_an_expired_token_is_refused(admin_user):
    secret = token_for(admin_user, Role.ADMIN, expires_at=timezone.now() + timedelta(hours=1))
    assert bearer(secret).get("/api/v1/hosts/").status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(secret).get("/api/v1/hosts/")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_a_revoked_token_is_refused(admin_client, admin_user):
    secret = token_for(admin_user, Role.ADMIN)
    token = ApiToken.objects.get()
    response = admin_client.post(f"/api/v1/tokens/{token.pk}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"]
    assert bearer(secret).get("/api/v1/hosts/").status_code == 401


def test_a_token_of_a_deactivated_user_is_refused(admin_client):
    user = make_user("leaver", Role.OPERATOR)
    secret = token_for(user, Role.OPERATOR)
    assert admin_client.delete(f"/api/v1/users/{user.pk}/").status_code == 204
    assert bearer(secret).get("/api/v1/hosts/").status_code == 401


def test_a_wrong_or_malformed_token_is_refused():
    for header in ("Bearer berth_nope_nope", "Bearer", "Bearer a b", "Bearer \u00e9"):
        client = bearer("")
        client.defaults["HTTP_AUTHORIZATION"] = header
        assert client.get("/api/v1/hosts/").status_code == 401, header


def test_last_use_is_recorded(admin_user):
    secret = token_for(admin_user, Role.VIEWER)
    assert ApiToken.objects.get().last_used_at is None
    bearer(secret).get("/api/v1/hosts/")
    assert ApiToken.objects.get().last_used_at is not None


def test_users_list_and_revoke_their_own_tokens_only(admin_user):
    viewer = make_user("watcher", Role.VIEWER)
    token_for(viewer, Role.VIEWER)
    token_for(admin_user, Role.ADMIN)
    mine, theirs = (ApiToken.objects.get(user=user) for user in (viewer, admin_user))
    client = logged_in(viewer)
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert [row["id"] for row in listed] == [mine.pk]
    assert client.post(f"/api/v1/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/api/v1/tokens/{mine.pk}/revoke/").status_code == 200
    assert _create(client, name="self-service").status_code == 403


def test_a_scoped_token_cannot_mint_an_unscoped_one(admin_user):
    site = make_site("a")
    make_site("b")
    client = bearer(token_for(admin_user, Role.ADMIN, [site.group]))
    response = _create(client, name="wider")
    assert response.status_code == 201, response.content
    assert response.json()["host_groups"] == [site.group.name]
    wider = bearer(response.json()["token"])
    assert [row["id"] for row in wider.get("/api/v1/hosts/").json()["results"]] == [site.host.pk]
    other = make_user("someone", Role.VIEWER)
    assert _create(client, name="for another", user=other.pk).status_code == 400


def test_repeated_token_failures_are_throttled(admin_user, settings):
    settings.BERTH_LOGIN_MAX_FAILURES = 3
    secret = token_for(admin_user, Role.VIEWER)
    for _ in range(3):
        assert bearer("berth_dead_beef").get("/api/v1/hosts/").status_code == 401
    assert bearer("berth_dead_beef").get("/api/v1/hosts/").status_code == 429
    # the address is blocked, even with a good token, until the window passes
    assert bearer(secret).get("/api/v1/hosts/").status_code == 429
    cache.clear()
    assert bearer(secret).get("/api/v1/hosts/").status_code == 200


def test_the_first_token_comes_from_the_command_line(admin_user, client):
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command(
        "create_api_token", admin_user.username, "--expires-days", "1", stdout=out, stderr=err
    )
    secret = out.getvalue().strip()
    assert secret.startswith("berth_")
    response = client.get("/api/v1/hosts/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert secret not in err.getvalue()
