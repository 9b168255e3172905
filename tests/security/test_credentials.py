"""A stored password cannot be sent to another server, and a host key is pinned only as
the admin saw it."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.urls import reverse

from hosts.models import Host
from images.models import RegistryCredential
from images.services import create_registry_credential
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db

OTHER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP+BFLYVBQed7It0BfA22EMnU8TuV7aJYyyk4lmz3NJe"


def _fingerprint(key_line: str) -> str:
    blob = base64.b64decode(key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.fixture
def credential():
    return create_registry_credential(
        name="lab", registry="198.18.0.1:5000", username="ci", password="registry-secret-Zq9"
    )


def _patch(client, credential, body):
    return client.patch(
        f"/api/v1/registry-credentials/{credential.pk}/", body, content_type="application/json"
    )


# --- registry credentials ---------------------------------------------------------------


def test_moving_a_credential_to_another_registry_needs_the_password_again(admin_client, credential):
    response = _patch(admin_client, credential, {"registry": "attacker.example"})
    assert response.status_code == 400, response.content
    assert "password" in response.json()["errors"]
    credential.refresh_from_db()
    assert credential.registry == "198.18.0.1:5000"
    assert credential.password == "registry-secret-Zq9"
    moved = _patch(admin_client, credential, {"registry": "other.example", "password": "new-pw"})
    assert moved.status_code == 200, moved.content
    credential.refresh_from_db()
    assert (credential.registry, credential.password) == ("other.example", "new-pw")


def test_other_changes_keep_the_password(admin_client, credential):
    response = _patch(admin_client, credential, {"name": "lab2", "registry": "198.18.0.1:5000"})
    assert response.status_code == 200, response.content
    credential.refresh_from_db()
    assert (credential.name, credential.password) == ("lab2", "registry-secret-Zq9")


def test_the_admin_page_also_needs_the_password_for_a_new_registry(admin_client, credential):
    url = reverse("admin:images_registrycredential_change", args=[credential.pk])
    form = {"name": "lab", "registry": "attacker.example", "username": "ci", "new_password": ""}
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert b"password" in response.content
    assert RegistryCredential.objects.get(pk=credential.pk).registry == "198.18.0.1:5000"


# --- host key approval ---------------------------------------------------------------


@pytest.fixture
def offering_host():
    return Host.objects.create(
        name="new-box", address="198.18.0.7", host_key_offered=EXAMPLE_HOST_KEY
    )


def _approve(client, host, body):
    return client.post(
        f"/api/v1/hosts/{host.pk}/approve-host-key/", body, content_type="application/json"
    )


def test_approving_a_host_key_needs_the_fingerprint(admin_client, offering_host):
    response = _approve(admin_client, offering_host, {})
    assert response.status_code == 400, response.content
    assert "fingerprint" in response.json()["errors"]
    offering_host.refresh_from_db()
    assert offering_host.host_key == ""


def test_a_stale_fingerprint_is_refused_with_409(admin_client, offering_host):
    seen = _fingerprint(EXAMPLE_HOST_KEY)
    # Between the admin reading the page and pressing the button, the host offers another key.
    Host.objects.filter(pk=offering_host.pk).update(host_key_offered=OTHER_HOST_KEY)
    response = _approve(admin_client, offering_host, {"fingerprint": seen})
    assert response.status_code == 409, response.content
    assert _fingerprint(OTHER_HOST_KEY) in response.json()["message"]
    offering_host.refresh_from_db()
    assert offering_host.host_key == ""


def test_the_fingerprint_seen_pins_the_key(admin_client, offering_host):
    response = _approve(
        admin_client, offering_host, {"fingerprint": _fingerprint(EXAMPLE_HOST_KEY)}
    )
    assert response.status_code == 200, response.content
    offering_host.refresh_from_db()
    assert offering_host.host_key == EXAMPLE_HOST_KEY


def test_the_dashboard_button_sends_the_fingerprint_it_shows(admin_client, offering_host):
    page = admin_client.get(reverse("frontend:host", args=[offering_host.pk])).content.decode()
    seen = _fingerprint(EXAMPLE_HOST_KEY)
    assert seen in page
    assert f'name="fingerprint" value="{seen}"' in page
    Host.objects.filter(pk=offering_host.pk).update(host_key_offered=OTHER_HOST_KEY)
    url = reverse("frontend:host-approve-key", args=[offering_host.pk])
    refused = admin_client.post(url, {"fingerprint": seen}, follow=True)
    assert b"now offers" in refused.content
    offering_host.refresh_from_db()
    assert offering_host.host_key == ""
    admin_client.post(url, {"fingerprint": _fingerprint(OTHER_HOST_KEY)})
    offering_host.refresh_from_db()
    assert offering_host.host_key == OTHER_HOST_KEY
