"""Registry passwords are stored encrypted, never come back out of the API or the
admin, and never reach an operation's record."""

import json

import pytest
from django.db import connection
from django.urls import reverse

from hosts.models import Host
from images.models import RegistryCredential
from images.services import create_registry_credential
from operations.models import Operation
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db

SECRET = "s3cret-Registry-P4ss"


def _stored_password(credential_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password FROM images_registrycredential WHERE id = %s", [credential_id]
        )
        (stored,) = cursor.fetchone()
    return stored


def _create(client, **fields):
    body = {"name": "lab", "registry": "198.18.0.1:5000", "username": "ci", "password": SECRET}
    body.update(fields)
    return client.post(reverse("registrycredential-list"), body, content_type="application/json")


def test_password_is_ciphertext_in_the_database():
    credential = create_registry_credential(
        name="lab", registry="198.18.0.1:5000", username="ci", password=SECRET
    )
    stored = _stored_password(credential.pk)
    assert SECRET not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert RegistryCredential.objects.get(pk=credential.pk).password == SECRET


def test_api_never_returns_the_password(admin_client):
    created = _create(admin_client)
    assert created.status_code == 201, created.content
    credential_id = created.json()["id"]
    url = reverse("registrycredential-detail", args=[credential_id])
    responses = [
        created,
        admin_client.get(reverse("registrycredential-list")),
        admin_client.get(url),
        admin_client.patch(url, {"username": "ci2"}, content_type="application/json"),
        admin_client.put(
            url,
            {"name": "lab", "registry": "198.18.0.1:5000", "username": "ci3"},
            content_type="application/json",
        ),
        admin_client.options(reverse("registrycredential-list")),
    ]
    for response in responses:
        assert response.status_code < 300, response.content
        assert SECRET.encode() not in response.content
    bodies = [
        responses[0].json(),
        *responses[1].json()["results"],
        *(r.json() for r in responses[2:5]),
    ]
    assert all("password" not in body for body in bodies)
    assert SECRET not in _stored_password(credential_id)


def test_update_without_a_password_keeps_the_stored_one(admin_client):
    credential_id = _create(admin_client).json()["id"]
    url = reverse("registrycredential-detail", args=[credential_id])
    response = admin_client.patch(url, {"username": "robot"}, content_type="application/json")
    assert response.status_code == 200, response.content
    credential = RegistryCredential.objects.get(pk=credential_id)
    assert (credential.username, credential.password) == ("robot", SECRET)

    response = admin_client.patch(url, {"password": "rotated"}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert RegistryCredential.objects.get(pk=credential_id).password == "rotated"


def test_credential_needs_a_password_and_a_registry_address(admin_client):
    response = _create(admin_client, password="")
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    response = _create(admin_client, name="other", registry="not a host")
    assert response.status_code == 400
    assert "host:port" in response.json()["errors"]["registry"][0]
    response = _create(admin_client, name="hub", registry="https://index.docker.io/v1/")
    assert response.status_code == 201, response.content
    assert response.json()["registry"] == "docker.io"
    assert RegistryCredential.objects.count() == 1


def test_pull_with_a_credential_records_only_its_name(admin_client):
    credential_id = _create(admin_client).json()["id"]
    host = Host.objects.create(name="web-1", address="198.18.99.2", host_key=EXAMPLE_HOST_KEY)
    response = admin_client.post(
        reverse("host-image-pull", args=[host.pk]),
        {"ref": "198.18.0.1:5000/demo/web:v2"},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.params == {
        "ref": "198.18.0.1:5000/demo/web:v2",
        "credential": credential_id,
        "credential_name": "lab",
    }
    detail = admin_client.get(response.json()["operation_url"])
    assert SECRET not in detail.content.decode()
    assert SECRET not in json.dumps(operation.params)


def test_admin_never_shows_the_password(admin_client):
    credential = create_registry_credential(
        name="lab", registry="ghcr.io", username="ci", password=SECRET
    )
    page = admin_client.get(reverse("admin:images_registrycredential_change", args=[credential.pk]))
    assert page.status_code == 200
    assert SECRET not in page.text
    assert "Leave blank to keep the stored password" in page.text
    assert admin_client.get(reverse("admin:images_registrycredential_add")).status_code == 200
    assert (
        admin_client.get(reverse("admin:images_registrycredential_changelist")).status_code == 200
    )

    response = admin_client.post(
        reverse("admin:images_registrycredential_change", args=[credential.pk]),
        {"name": "lab", "registry": "https://ghcr.io/", "username": "robot", "new_password": ""},
    )
    assert response.status_code == 302, response.content
    credential.refresh_from_db()
    assert (credential.registry, credential.username, credential.password) == (
        "ghcr.io",
        "robot",
        SECRET,
    )


def test_admin_stores_a_new_credential_encrypted(admin_client):
    response = admin_client.post(
        reverse("admin:images_registrycredential_add"),
        {"name": "lab", "registry": "198.18.0.1:5000", "username": "ci", "password": SECRET},
    )
    assert response.status_code == 302, response.content
    credential = RegistryCredential.objects.get(name="lab")
    assert credential.password == SECRET
    assert SECRET not in _stored_password(credential.pk)


def test_admin_stores_a_registry_without_a_login_and_refuses_half_a_login(admin_client):
    url = reverse("admin:images_registrycredential_add")
    response = admin_client.post(
        url, {"name": "lab", "registry": "198.18.0.1:5000", "insecure": "on"}
    )
    assert response.status_code == 302, response.content
    credential = RegistryCredential.objects.get(name="lab")
    assert (credential.username, credential.password, credential.insecure) == ("", "", True)
    half = admin_client.post(url, {"name": "half", "registry": "ghcr.io", "username": "ci"})
    assert half.status_code == 200
    assert "Give both a username and a password, or neither." in half.content.decode()
    assert not RegistryCredential.objects.filter(name="half").exists()
