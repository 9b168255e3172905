"""The OpenAPI schema is generated without a warning: each warning is a place where the
schema a script is generated from may not say what the API does."""

from __future__ import annotations

from django.core.management import call_command


def test_the_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/services/{id}/revisions/" in (tmp_path / "schema.yml").read_text()
