"""The admin pages for hosts and keys render, and never show a private key back."""

import html
import subprocess

import pytest
from django.urls import reverse

from hosts.models import Host, JumpHost
from hosts.services import authorized_keys_line, create_ssh_key
from tests.examples import EXAMPLE_HOST_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def ssh_key(tmp_path):
    path = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return create_ssh_key(name="deploy", private_key=path.read_text())


def test_host_admin_shows_the_forced_command_line(admin_client, ssh_key):
    host = Host.objects.create(
        name="web-1", address="198.18.99.2", ssh_key=ssh_key, host_key=EXAMPLE_HOST_KEY
    )
    page = admin_client.get(reverse("admin:hosts_host_change", args=[host.pk]))
    assert page.status_code == 200
    assert html.escape(authorized_keys_line(host)) in page.text
    assert "exec python3 .berth/berth-agent.pyz serve;;" in html.unescape(page.text)
    assert ssh_key.public_key in page.text


def test_ssh_key_admin_shows_only_the_public_half(admin_client, ssh_key):
    page = admin_client.get(reverse("admin:hosts_sshkey_change", args=[ssh_key.pk]))
    assert page.status_code == 200
    assert ssh_key.public_key in page.text
    assert "PRIVATE KEY" not in page.text


def test_admin_lists_render(admin_client, ssh_key):
    JumpHost.objects.create(name="bastion", address="198.18.99.3", ssh_key=ssh_key)
    for name in ("hosts_host", "hosts_jumphost", "hosts_sshkey", "operations_operation"):
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:hosts_sshkey_add")).status_code == 200
