"""Free text a user writes is bounded: an oversized host-group description, host label,
secret value or registry password is a 400 naming the field, and nothing is stored
(a 1 MB value would otherwise sit in every page and answer that shows it)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from containers.models import Secret
from hosts.models import Host, HostGroup
from images.models import RegistryCredential

pytestmark = pytest.mark.django_db


def _post(client, name: str, body: dict):
    return client.post(reverse(name), body, content_type="application/json")


def test_a_long_group_description_is_refused(admin_client):
    response = _post(admin_client, "hostgroup-list", {"name": "edge", "description": "x" * 1001})
    assert response.status_code == 400
    assert "description" in response.json()["errors"]
    assert not HostGroup.objects.exists()
    ok = _post(admin_client, "hostgroup-list", {"name": "edge", "description": "x" * 1000})
    assert ok.status_code == 201


@pytest.mark.parametrize(
    "labels",
    [{"env": "x" * 256}, {"k" * 101: "v"}, {f"k{n}": "v" for n in range(65)}],
    ids=["long value", "long key", "too many"],
)
def test_oversized_host_labels_are_refused(admin_client, labels):
    response = _post(
        admin_client, "host-list", {"name": "h1", "transport": "local", "labels": labels}
    )
    assert response.status_code == 400, response.content
    assert "labels" in response.json()["errors"]
    assert not Host.objects.exists()


def test_a_host_with_ordinary_labels_is_accepted(admin_client):
    labels = {f"k{n}": "v" * 255 for n in range(64)}
    response = _post(
        admin_client, "host-list", {"name": "h1", "transport": "local", "labels": labels}
    )
    assert response.status_code == 201, response.content


def test_an_oversized_secret_value_is_refused(admin_client):
    response = _post(admin_client, "secret-list", {"name": "big", "value": "x" * 65537})
    assert response.status_code == 400
    assert "value" in response.json()["errors"]
    assert not Secret.objects.exists()


def test_an_oversized_registry_password_is_refused(admin_client):
    response = _post(
        admin_client,
        "registrycredential-list",
        {
            "name": "ci",
            "registry": "registry.example.com",
            "username": "ci",
            "password": "x" * 4097,
        },
    )
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert not RegistryCredential.objects.exists()
