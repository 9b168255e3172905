"""The web side of Berth: the server's own engine is not handed out silently."""

from __future__ import annotations

import socket
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from hosts.models import Host

# --- the Berth server's own engine ------------------------------------------------------


@pytest.fixture
def docker_socket(tmp_path):
    """A Unix socket that answers, standing in for the local dockerd."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    yield f"unix://{path}"
    server.close()


def _register(docker_host, *args):
    out, err = StringIO(), StringIO()
    call_command("register_local_host", "--docker-host", docker_host, *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.mark.django_db
def test_the_local_engine_is_registered_only_on_request(docker_socket, monkeypatch):
    monkeypatch.delenv("BERTH_REGISTER_LOCAL", raising=False)
    output = _register(docker_socket)
    assert not Host.objects.filter(transport="local").exists()
    assert "BERTH_REGISTER_LOCAL=1" in output
    output = _register(docker_socket, "--register")
    assert Host.objects.filter(name="local", transport="local").exists()
    assert "this host is the Berth server itself" in output
    assert "can read Berth's secrets" in output


@pytest.mark.django_db
def test_the_env_var_registers_it_too(docker_socket, monkeypatch):
    monkeypatch.setenv("BERTH_REGISTER_LOCAL", "1")
    assert "Berth's secrets" in _register(docker_socket)
    assert Host.objects.filter(transport="local").exists()


@pytest.mark.django_db
def test_the_local_host_page_warns(admin_client):
    host = Host.objects.create(name="local", transport="local")
    page = admin_client.get(reverse("frontend:host", args=[host.pk])).content.decode()
    assert "This host is the Berth server itself" in page
    other = Host.objects.create(name="remote", address="198.18.0.2")
    page = admin_client.get(reverse("frontend:host", args=[other.pk])).content.decode()
    assert "Berth server itself" not in page
