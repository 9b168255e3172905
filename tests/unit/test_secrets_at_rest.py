"""SSH private keys are stored encrypted and never come back out of the API."""

import subprocess

import pytest
from django.db import connection
from django.urls import reverse

from hosts.models import SSHKey
from hosts.services import create_ssh_key
from tests.examples import EXAMPLE_HOST_KEY


@pytest.fixture
def private_key(tmp_path):
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


@pytest.mark.django_db
def test_private_key_is_encrypted_in_the_database(private_key):
    key = create_ssh_key(name="deploy", private_key=private_key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM hosts_sshkey WHERE id = %s", [key.pk])
        (stored,) = cursor.fetchone()
    assert "PRIVATE KEY" not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert SSHKey.objects.get(pk=key.pk).private_key == private_key
    assert key.public_key.startswith("ssh-ed25519 ")
    assert key.fingerprint


@pytest.mark.django_db
def test_host_api_never_returns_the_private_key(admin_client, private_key):
    response = admin_client.post(
        reverse("host-list"),
        {
            "name": "web-1",
            "address": "198.18.99.2",
            "private_key": private_key,
            "host_key": EXAMPLE_HOST_KEY,
        },
        content_type="application/json",
        headers={},
    )
    assert response.status_code == 201, response.content
    for body in (response.content, admin_client.get(reverse("host-list")).content):
        assert b"PRIVATE KEY" not in body
        assert b"private_key" not in body
