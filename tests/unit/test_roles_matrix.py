"""Every mutating endpoint of the schema answers each role as it should: a viewer is
refused, an operator is refused only admin work, an admin is never refused.

The endpoints come from the OpenAPI schema, so a new endpoint is covered at once (and
an unknown path parameter fails the test until this file learns an id for it)."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from access.roles import Role
from accounts.models import ApiToken
from tests.unit.roles_support import logged_in, make_site, make_user, resource_ids

pytestmark = pytest.mark.django_db

MUTATING = {"post", "put", "patch", "delete"}

# Writes an operator may make; every other write is admin work.
OPERATOR_WRITES = [
    r"^/api/v1/containers/",
    r"^/api/v1/hosts/\{host_id\}/containers/$",
    r"^/api/v1/hosts/\{host_id\}/images/",
    r"^/api/v1/hosts/\{id\}/refresh/$",
    r"^/api/v1/hosts/\{id\}/disk/measure/$",
    r"^/api/v1/disk/measure/$",
    r"^/api/v1/images/",
    r"^/api/v1/host-images/",
    r"^/api/v1/hosts/\{host_id\}/networks/",
    r"^/api/v1/networks/",
    r"^/api/v1/hosts/\{host_id\}/volumes/",
    r"^/api/v1/volumes/",
    r"^/api/v1/services/",
    r"^/api/v1/rollouts/",
    r"^/api/v1/operations/",
]
# Writes anyone may make on their own things.
OWN_WRITES = [r"^/api/v1/tokens/\{id\}/revoke/$"]


def _needed(path: str) -> Role:
    if any(re.match(pattern, path) for pattern in OWN_WRITES):
        return Role.VIEWER
    if any(re.match(pattern, path) for pattern in OPERATOR_WRITES):
        return Role.OPERATOR
    return Role.ADMIN


def _endpoints() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = [
        (path, method)
        for path, methods in schema["paths"].items()
        for method in methods
        if method in MUTATING
    ]
    # Deletes last: they remove what later requests point at.
    return sorted(found, key=lambda item: (item[1] == "delete", item))


@pytest.fixture
def world():
    site = make_site("a")
    users = {role: make_user(role.label, role) for role in Role}
    victim = make_user("victim", Role.VIEWER)
    own_tokens = {
        role: ApiToken.objects.create(user=user, name="mine", role=role.label, key=role.label)
        for role, user in users.items()
    }
    ids = resource_ids(site, user=victim, secret_value="matrix-secret-Hc5")
    return site, users, own_tokens, ids


def _url(path: str, role: Role, site, own_tokens, ids) -> str:
    resource = path.split("/")[3]

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "host_id":
            return str(site.host.pk)
        if resource == "tokens":
            return str(own_tokens[role].pk)
        assert resource in ids, f"no id for {{{name}}} in {path}: teach test_roles_matrix one"
        return str(ids[resource])

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_mutating_endpoint_answers_each_role_as_it_should(world):
    site, users, own_tokens, ids = world
    endpoints = _endpoints()
    assert len(endpoints) > 20
    wrong = []
    for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN):
        client = logged_in(users[role])
        for path, method in endpoints:
            url = _url(path, role, site, own_tokens, ids)
            response = getattr(client, method)(url, {}, content_type="application/json")
            allowed = role >= _needed(path)
            if response.status_code >= 500 or (response.status_code == 403) == allowed:
                wrong.append(f"{role.label} {method.upper()} {path}: {response.status_code}")
            if response.status_code == 403:
                assert response.json()["message"], response.content
    assert not wrong, "\n".join(wrong)


def test_anonymous_requests_are_asked_to_authenticate(world, client):
    for path, method in _endpoints()[:5]:
        url = _url(path, Role.VIEWER, *world[:1], world[2], world[3])
        response = getattr(client, method)(url, {}, content_type="application/json")
        assert response.status_code == 401, (path, response.content)
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/hosts/").status_code == 401


def test_every_role_can_read(world):
    _, users, _, _ = world
    for user in users.values():
        response = logged_in(user).get("/api/v1/hosts/")
        assert response.status_code == 200
        assert response.json()["count"] == 1


def test_only_admins_see_users(world):
    _, users, _, _ = world
    assert logged_in(users[Role.OPERATOR]).get("/api/v1/users/").status_code == 403
    assert logged_in(users[Role.ADMIN]).get("/api/v1/users/").status_code == 200
