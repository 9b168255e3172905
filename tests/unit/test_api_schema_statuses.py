"""The schema's status codes are the ones the API answers.

Every operation of the generated OpenAPI schema is requested for real, the cheap ways
to get an error: without credentials, with a viewer's token on a write, with an id that
names nothing, with a body field of the wrong type and with a query parameter that is
not a number or a choice. Each answer's status must be one the schema lists for that
operation, and each error body must have the ``Error`` component's shape. The
operations come from the schema, so a new endpoint is covered at once (an unknown path
parameter fails until ``_ids`` learns one)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from access.roles import Role
from deployments.models import Revision, Rollout, Service
from hosts.models import Host
from images.services import create_registry_credential
from operations.models import Operation
from operations.services import cancel_operation
from tests.registry_stub import StubRegistry, serve
from tests.unit.roles_support import make_site, make_user, resource_ids, token_for

pytestmark = pytest.mark.django_db

WRITES = {"post", "put", "patch", "delete"}
ERROR_REF = "#/components/schemas/Error"
UNKNOWN_ID = "987654"

SCHEMA: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (method, path)
    for path, methods in SCHEMA["paths"].items()
    for method in methods
    if method in WRITES | {"get"}
]
API_OPERATIONS = [(method, path) for method, path in OPERATIONS if path.startswith("/api/v1/")]


def _params(operations: list[tuple[str, str]]) -> Any:
    return pytest.mark.parametrize(
        ("method", "path"),
        operations,
        ids=[f"{method.upper()} {path}" for method, path in operations],
    )


def _declared(method: str, path: str) -> set[int]:
    return {int(code) for code in SCHEMA["paths"][path][method]["responses"]}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema:
            options = [_resolve(option) for option in schema[combined]]
            typed = [option for option in options if option.get("type") != "null"]
            return typed[0] if typed else {}
    return schema


# The repository and tag of the registry browser's paths, as the stub registry has them.
REGISTRY_PATH = {"repository": "demo/web", "tag": "v1"}


@pytest.fixture
def registry() -> Any:
    """A registry stub to browse (the browser's endpoints read a registry in the request)."""
    stub = StubRegistry()
    stub.add_image("demo/web", "v1", "2026-12-01T10:00:00Z", [100])
    with serve(stub):
        yield create_registry_credential(name="stub", registry=stub.address, insecure=True)


@pytest.fixture
def world(settings: Any, registry: Any) -> dict[str, Any]:
    # Hundreds of tests each make two users: a slow password hash would dominate.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    site = make_site("a")
    admin = make_user("ada", Role.ADMIN)
    viewer = make_user("vic", Role.VIEWER)
    admin_secret = token_for(admin, Role.ADMIN)
    ids = {
        **resource_ids(site, user=viewer, secret_value="schema-secret-Rt4"),
        "tokens": admin.api_tokens.get().pk,
        "registries": registry.pk,
    }
    return {
        "ids": ids,
        "host": site.host.pk,
        "admin": _client(admin_secret),
        "viewer": _client(token_for(viewer, Role.VIEWER)),
    }


def _client(secret: str | None = None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _url(path: str, ids: dict[str, int], host: int) -> str:
    resource = path.split("/")[3]

    def value(match: re.Match[str]) -> str:
        if match.group(1) == "host_id":
            return str(host)
        if match.group(1) in REGISTRY_PATH:  # names in the stub registry, not ids
            return REGISTRY_PATH[match.group(1)]
        if match.group(1) == "number":  # a revision's number within its service, not an id
            revision = Revision.objects.filter(service_id=ids["services"]).first()
            assert revision is not None, f"the service in {path} has no revision"
            return str(revision.number)
        assert resource in ids, f"no id for {match.group(0)} in {path}: teach _ids one"
        return str(ids[resource])

    return re.sub(r"\{(\w+)\}", value, path)


def _request(client: APIClient, method: str, url: str, body: Any = None, **query: str) -> Any:
    if method == "get":
        return client.get(url, query)
    return getattr(client, method)(url, body if body is not None else {}, format="json")


def _check(response: Any, method: str, path: str) -> dict[str, Any]:
    """The status is one the schema lists; an error's body has the Error shape."""
    status = response.status_code
    declared = _declared(method, path)
    assert status in declared, (
        f"{method.upper()} {path} answered {status}, the schema lists {sorted(declared)}: "
        f"{response.content[:300]!r}"
    )
    if status < 400:
        return {}
    body = response.json()
    assert set(body) == {"message", "errors", "detail"}, body
    assert isinstance(body["message"], str) and body["message"], body
    assert body["detail"] == body["message"], body
    assert isinstance(body["errors"], dict), body
    for field, messages in body["errors"].items():
        assert isinstance(field, str) and field, body
        assert isinstance(messages, list) and messages, body
        assert all(isinstance(message, str) and message for message in messages), body
    return body


def _names(errors: dict[str, list[str]], field: str) -> bool:
    return any(key == field or key.startswith(f"{field}.") for key in errors)


def test_the_schema_covers_the_api():
    assert len(API_OPERATIONS) > 60
    for method, path in OPERATIONS:
        declared = _declared(method, path)
        assert any(200 <= code < 300 for code in declared), (method, path)
        assert {401, 503} <= declared, (method, path, declared)


@_params(OPERATIONS)
def test_every_error_answer_has_the_error_body(method, path):
    for code, response in SCHEMA["paths"][path][method]["responses"].items():
        if int(code) >= 400:
            assert response["description"], (method, path, code)
            body = response["content"]["application/json"]["schema"]
            assert body == {"$ref": ERROR_REF}, (method, path, code)


@_params(OPERATIONS)
def test_without_credentials_the_answer_is_a_declared_401(world, method, path):
    url = _url(path, world["ids"], world["host"])
    response = _request(_client(), method, url)
    _check(response, method, path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


# A viewer may revoke their own tokens: another's is not theirs to see (404).
VIEWER_WRITES = {("post", "/api/v1/tokens/{id}/revoke/"): 404}


@_params([operation for operation in API_OPERATIONS if operation[0] in WRITES])
def test_a_viewer_writing_gets_a_declared_403(world, method, path):
    url = _url(path, world["ids"], world["host"])
    response = _request(world["viewer"], method, url)
    _check(response, method, path)
    assert response.status_code == VIEWER_WRITES.get((method, path), 403)


@_params([operation for operation in API_OPERATIONS if "{" in operation[1]])
def test_an_unknown_id_is_a_declared_404(world, method, path):
    url = re.sub(r"\{\w+\}", UNKNOWN_ID, path)
    response = _request(world["admin"], method, url)
    _check(response, method, path)
    assert response.status_code == 404


def _wrong_value(schema: dict[str, Any]) -> Any:
    """A value of the wrong JSON type for a field, or None when any value would do."""
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return "not a number"
    if kind == "boolean":
        return "not a boolean"
    if kind == "array":
        return "not a list"
    if kind == "object" or "properties" in schema:
        return "not an object"
    if kind == "string" or "enum" in schema:
        return {"not": "a string"}
    return None


def _wrong_body(method: str, path: str) -> tuple[str, Any]:
    content = SCHEMA["paths"][path][method]["requestBody"]["content"]
    body = _resolve(content["application/json"]["schema"])
    for name, field in body.get("properties", {}).items():
        field = _resolve(field)
        value = _wrong_value(field)
        if not field.get("readOnly") and value is not None:
            return name, value
    raise AssertionError(f"{method.upper()} {path}: no field to send a wrong type in")


@_params(
    [
        (method, path)
        for method, path in API_OPERATIONS
        if method in WRITES and "requestBody" in SCHEMA["paths"][path][method]
    ]
)
def test_a_wrong_typed_field_is_a_declared_400_naming_it(world, method, path):
    field, value = _wrong_body(method, path)
    url = _url(path, world["ids"], world["host"])
    response = _request(world["admin"], method, url, {field: value})
    body = _check(response, method, path)
    assert response.status_code == 400, response.content
    assert _names(body["errors"], field), (field, body)


def _checked_parameter(method: str, path: str) -> tuple[str, str] | None:
    """A query parameter whose bad value is refused, and such a value."""
    parameters = SCHEMA["paths"][path][method].get("parameters", [])
    # A list's sorting falls back to its default on a bad value (paging does not).
    paged = any(parameter["name"] == "limit" for parameter in parameters)
    lenient = {"ordering"} if paged else set()
    for parameter in parameters:
        if parameter["in"] != "query" or parameter["name"] in lenient | {"format"}:
            continue
        schema = parameter.get("schema", {})
        schema = schema.get("items", {}) if schema.get("type") == "array" else schema
        if schema.get("type") in ("integer", "number") or "enum" in schema:
            return parameter["name"], "not-a-value"
        if schema.get("format") in ("date", "date-time"):
            return parameter["name"], "not-a-date"
    return None


@_params([operation for operation in API_OPERATIONS if operation[0] == "get"])
def test_a_bad_query_parameter_is_a_declared_400_naming_it(world, method, path):
    checked = _checked_parameter(method, path)
    url = _url(path, world["ids"], world["host"])
    if checked is None:
        # Nothing to get wrong: then the schema promises no 400 either (but for a
        # repository or tag in the path, which can be malformed).
        if "{repository}" not in path:
            assert 400 not in _declared(method, path), f"{method.upper()} {path} lists a 400"
        assert _request(world["admin"], method, url).status_code == 200
        return
    name, value = checked
    response = _request(world["admin"], method, url, **{name: value})
    body = _check(response, method, path)
    assert response.status_code == 400, response.content
    assert _names(body["errors"], name), (name, body)


# A host key the host offers, waiting for approval.
OFFERED_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHGGHi8GuvjXgzQ9F1oNHQfwrqLxzwTq2D6mlRvpQdCE"


def _conflicts(world: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Each documented 409 the test database can provoke: (method, path, body)."""
    ids = world["ids"]
    service = Service.objects.get(pk=ids["services"])
    # Revision 1 has been deployed (so it can be rolled back to); 2 names the secret.
    service.revisions.filter(number=1).update(digest=f"demo/web@sha256:{'a' * 64}")
    Revision.objects.create(
        service=service, number=2, image="demo/web:v2", author_name="test",
        spec={"image": "demo/web:v2", "env_secrets": {"DB_PASSWORD": "db-password"}},
    )  # fmt: skip
    Host.objects.filter(pk=ids["hosts"]).update(host_key_offered=OFFERED_KEY)
    return [
        ("post", "/api/v1/services/{id}/deploy/", {}),  # the site's rollout is still pending
        ("post", "/api/v1/services/{id}/rollback/", {"revision": 1}),
        ("delete", "/api/v1/host-groups/{id}/", {}),  # the service targets it
        ("delete", "/api/v1/secrets/{id}/", {}),  # revision 2 names it
        ("post", "/api/v1/hosts/{id}/approve-host-key/", {"fingerprint": "SHA256:stale"}),
    ]


def test_documented_conflicts_are_declared_409s(world):
    for method, path, body in _conflicts(world):
        url = _url(path, world["ids"], world["host"])
        response = _request(world["admin"], method, url, body)
        _check(response, method, path)
        assert response.status_code == 409, (method, path, response.content)


def test_body_less_actions_on_ended_work_are_declared_400s(world):
    rollout = Rollout.objects.get(pk=world["ids"]["rollouts"])
    assert rollout.operation is not None
    cancel_operation(rollout.operation, actor=None)
    cancel_operation(Operation.objects.get(pk=world["ids"]["operations"]), actor=None)
    for path in ("/api/v1/operations/{id}/cancel/", "/api/v1/rollouts/{id}/cancel/"):
        url = _url(path, world["ids"], world["host"])
        response = _request(world["admin"], "post", url)
        body = _check(response, "post", path)
        assert response.status_code == 400, (path, response.content)
        assert _names(body["errors"], "status"), body
