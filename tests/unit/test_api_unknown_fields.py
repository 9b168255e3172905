"""A write body the API does not fully understand is refused, never half-read.

Every operation of the generated OpenAPI schema with a JSON body is sent the minimal
valid body of ``test_audit_every_mutation`` (which proves those bodies succeed) with
one thing wrong: a field the endpoint does not know, a field it only reports (read-only)
or a value of another JSON type (a number for text, text for a number or a boolean).
Each must be a 400 naming that field, and nothing may have been created, changed or
queued: every row of Berth's own models (and the operation log) reads the same
afterwards. The operations come from the schema, so a new endpoint is covered at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator

from tests.unit import test_audit_every_mutation as audit
from tests.unit.roles_support import logged_in

pytestmark = pytest.mark.django_db

# The audit test's world: an unscoped admin and one of everything to act on.
world = audit.world

SCHEMA: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
UNKNOWN = "bogus_field"
BERTH_APPS = {
    "accounts",
    "containers",
    "deployments",
    "hosts",
    "images",
    "networks",
    "operations",
    "policies",
    "volumes",
}

ALL_JSON_WRITES = sorted(
    (method, path)
    for path, methods in SCHEMA["paths"].items()
    for method, operation in methods.items()
    if method in {"post", "put", "patch"}
    and "application/json" in operation.get("requestBody", {}).get("content", {})
)
# Those the audit test has a valid body for (test_every_json_write_is_walked: all of them).
JSON_WRITES = [operation for operation in ALL_JSON_WRITES if operation in audit.CASES]


def _params(operations: list[tuple[str, str]]) -> Any:
    return pytest.mark.parametrize(
        ("method", "path"),
        operations,
        ids=[f"{method.upper()} {path}" for method, path in operations],
    )


def _properties(method: str, path: str) -> dict[str, dict[str, Any]]:
    """The request body's fields, each with its schema ($refs and nullability resolved)."""
    schema = SCHEMA["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    body = _resolve(schema)
    return {name: _resolve(field) for name, field in body.get("properties", {}).items()}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return {**_resolve(schema["allOf"][0]), **{k: v for k, v in schema.items() if k != "allOf"}}
    return schema


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of Berth's models and of the users, to compare before and after."""
    models = [model for model in apps.get_models() if model._meta.app_label in BERTH_APPS]
    return {
        model._meta.label: sorted(model.objects.values(), key=lambda row: row["id"])
        for model in [*models, User]
    }


def _send(world: audit.World, method: str, path: str, extra: dict[str, Any]) -> Any:
    """The audit test's valid body for this operation with ``extra`` merged in, sent as
    the unscoped admin; asserts that nothing in the database moved."""
    case = audit.CASES[(method, path)]
    if path.startswith("/api/v1/services/{id}/") and path.endswith(("deploy/", "rollback/")):
        audit._finish_rollout(world)
    url = audit._url(path, case, world)  # may create what the path names: before the snapshot
    body = case.body(world) if callable(case.body) else dict(case.body)
    client = logged_in(world.admin)
    before = _snapshot()
    response = getattr(client, method)(url, {**body, **extra}, content_type="application/json")
    assert _snapshot() == before, f"{method.upper()} {path} changed the database"
    return response


def _errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    errors = response.json()["errors"]
    assert isinstance(errors, dict), errors
    return errors


def test_every_json_write_is_walked():
    assert len(JSON_WRITES) > 30
    assert JSON_WRITES == ALL_JSON_WRITES, "teach test_audit_every_mutation a body"


@_params(JSON_WRITES)
def test_an_unknown_field_is_a_400_naming_it(world, method, path):
    errors = _errors(_send(world, method, path, {UNKNOWN: 1}))
    assert UNKNOWN in errors, errors
    assert "Unknown field" in errors[UNKNOWN][0], errors


def _sample(schema: dict[str, Any]) -> Any:
    """A value of a field's own type, such as a client might send back from a GET."""
    return {"integer": 1, "number": 1.0, "boolean": False, "array": [], "object": {}}.get(
        schema.get("type", "string"), "2026-01-01T00:00:00Z"
    )


READ_ONLY = [
    (method, path, name)
    for method, path in JSON_WRITES
    for name, field in _properties(method, path).items()
    if field.get("readOnly")
]


@pytest.mark.parametrize(
    ("method", "path", "name"),
    READ_ONLY,
    ids=[f"{method.upper()} {path} {name}" for method, path, name in READ_ONLY],
)
def test_a_read_only_field_in_a_body_is_a_400_naming_it(world, method, path, name):
    field = _properties(method, path)[name]
    errors = _errors(_send(world, method, path, {name: _sample(field)}))
    assert name in errors, errors
    assert "read-only" in errors[name][0], errors


def _convertible(schema: dict[str, Any]) -> Any:
    """A value of another JSON type than the field's that DRF would quietly convert, or
    None for a field without a plain type."""
    kind = schema.get("type")
    if kind == "array":
        items = _resolve(schema.get("items", {}))
        return [12345] if items.get("type") == "string" else None
    return {"string": 12345, "integer": "1", "number": "1.5", "boolean": "true"}.get(kind or "")


WRONG_TYPES = [
    (method, path, name, _convertible(field))
    for method, path in JSON_WRITES
    for name, field in _properties(method, path).items()
    if not field.get("readOnly") and _convertible(field) is not None
]


@pytest.mark.parametrize(
    ("method", "path", "name", "value"),
    WRONG_TYPES,
    ids=[f"{method.upper()} {path} {name}" for method, path, name, _ in WRONG_TYPES],
)
def test_a_value_of_the_wrong_json_type_is_a_400_naming_it(world, method, path, name, value):
    """12345 is not the text "12345", nor "1" the number 1, nor "true" true."""
    errors = _errors(_send(world, method, path, {name: value}))
    assert any(key == name or key.startswith(f"{name}.") for key in errors), errors


SPEC_STRINGS = [
    ({"image": 5}, "image"),
    ({"image": "demo/web:v2", "env": {"MODE": 5}}, "env.MODE"),
    ({"image": "demo/web:v2", "env_secrets": {"DB_PASSWORD": 5}}, "env_secrets.DB_PASSWORD"),
    ({"image": "demo/web:v2", "labels": {"tier": 5}}, "labels.tier"),
    ({"image": "demo/web:v2", "network_mode": 5}, "network_mode"),
    ({"image": "demo/web:v2", "volumes": [{"source": 5, "target": "/data"}]}, "volumes.0.source"),
]


@pytest.mark.parametrize(("spec", "field"), SPEC_STRINGS, ids=[field for _, field in SPEC_STRINGS])
def test_a_spec_string_field_refuses_a_number(world, spec, field):
    """A revision's spec and a run's body: 5 is not the image "5"."""
    revision = _send(world, "post", "/api/v1/services/{id}/revisions/", {"spec": spec})
    assert f"spec.{field}" in _errors(revision), revision.json()
    run = _send(world, "post", "/api/v1/hosts/{host_id}/containers/", spec)
    assert field in _errors(run), run.json()


def test_list_and_object_items_of_another_type_are_refused(world):
    """Items are checked too: a bulk filter's 5 is not "5", nor its ids' "12" 12."""
    bulk = "/api/v1/containers/bulk/"
    response = _send(world, "post", bulk, {"filter": {"name": 5}})
    assert "filter.name" in _errors(response), response.json()
    response = _send(world, "post", bulk, {"ids": [str(world.site.container.pk)]})
    assert "ids.0" in _errors(response), response.json()
