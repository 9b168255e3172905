"""Bad host input is answered with a 400 that says what to fix, and stores nothing."""

import pytest
from django.urls import reverse

from hosts.models import Host, SSHKey
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db


def _create(client, **fields):
    body = {"name": "web-1", "address": "198.18.99.2", "host_key": EXAMPLE_HOST_KEY, **fields}
    return client.post(reverse("host-list"), body, content_type="application/json")


def test_ssh_host_without_a_key_is_rejected(admin_client):
    response = _create(admin_client)
    assert response.status_code == 400
    assert "private key" in response.json()["errors"]["private_key"][0]
    assert not Host.objects.exists()


def test_garbage_private_key_is_rejected_with_a_readable_message(admin_client):
    response = _create(admin_client, private_key="not a key")
    assert response.status_code == 400
    assert "not a private key" in response.json()["errors"]["private_key"][0]
    assert not Host.objects.exists()
    assert not SSHKey.objects.exists()


def test_docker_host_with_shell_characters_is_rejected(admin_client, tmp_path):
    response = _create(
        admin_client, transport="local", docker_host="unix:///run/docker.sock; rm -rf /"
    )
    assert response.status_code == 400
    assert "unix:///" in response.json()["errors"]["docker_host"][0]
    assert not Host.objects.exists()


def test_malformed_host_key_is_rejected(admin_client):
    response = _create(admin_client, transport="local", host_key="ssh-ed25519 not-base64!")
    assert response.status_code == 400
    assert "ssh-ed25519 AAAA" in response.json()["errors"]["host_key"][0]


def test_known_hosts_line_is_accepted_and_normalised(admin_client):
    response = _create(
        admin_client, transport="local", host_key=f"198.18.99.2 {EXAMPLE_HOST_KEY} root@web-1"
    )
    assert response.status_code == 201, response.content
    assert response.json()["host_key"] == EXAMPLE_HOST_KEY


def test_anonymous_requests_are_refused(client):
    assert client.get(reverse("host-list")).status_code in {401, 403}
    assert client.get(reverse("frontend:dashboard")).status_code == 302


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_a_port_outside_1_to_65535_is_refused(admin_client, port):
    response = _create(admin_client, transport="local", port=port)
    assert response.status_code == 400
    assert "port" in response.json()["errors"]
    assert not Host.objects.exists()


@pytest.mark.parametrize("name", ["\N{ROCKET}web", "web 1", "-web", "a/b", "x" * 101, ""])
def test_a_host_name_outside_the_documented_pattern_is_refused(admin_client, name):
    response = _create(admin_client, transport="local", name=name)
    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    assert not Host.objects.exists()


@pytest.mark.parametrize("name", ["web-1", "h1", "Edge_7.eu-west"])
def test_ordinary_host_names_are_accepted(admin_client, name):
    response = _create(admin_client, transport="local", name=name)
    assert response.status_code == 201, response.content
