"""The authorized_keys line a host's page shows (a forced command, with ``restrict``) on
a real host: Berth's key still installs the agent, upgrades it and writes the policy
file (without SFTP, which the line refuses), refreshes the host — and runs nothing
else: not ``id``, not SFTP, not a file whose SHA-256 is not the one Berth announced."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import paramiko
import pytest

from agent_link.bundle import agent_bundle
from agent_link.launch import POLICY_PATH, REMOTE_PATH
from agent_link.pool import pool
from hosts import services
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import AUTHORIZED_KEYS, wait_for
from tests.integration.container_support import plant_old_agent, until_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


@pytest.fixture
def restricted(fleet, tmp_path):
    """A fresh key pair, authorized on the test hosts with exactly the line Berth shows
    for h1; the authorized_keys file is put back as it was afterwards."""
    before = AUTHORIZED_KEYS.read_text()
    key_path = tmp_path / "restricted"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_path)], check=True)
    key = services.create_ssh_key(name="restricted", private_key=key_path.read_text())
    model = Host(name="h1", docker_host=fleet["h1"].docker_host, ssh_key=key)
    line = services.authorized_keys_line(model)
    AUTHORIZED_KEYS.write_text(before + line + "\n")
    try:
        yield key_path, key
    finally:
        AUTHORIZED_KEYS.write_text(before)


def _ssh(fleet, key_path: Path, *command: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    h1 = fleet["h1"]
    known_hosts = key_path.parent / "known_hosts"
    known_hosts.write_text(f"{h1.address} {h1.host_key}\n")
    return subprocess.run(
        ["ssh", "-i", str(key_path), "-o", f"UserKnownHostsFile={known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{h1.address}",
         *command],
        input=stdin, capture_output=True, timeout=30,
    )  # fmt: skip


def test_the_line_installs_the_agent_and_writes_the_policy_without_sftp(
    register, fleet, restricted, set_aside_berth_dir
):
    _, key = restricted
    berth_dir = set_aside_berth_dir("h1")
    host = register(fleet["h1"], ssh_key=key)
    try:
        until_status(host, HostStatus.ONLINE)
        installed = berth_dir.parent / REMOTE_PATH
        assert hashlib.sha256(installed.read_bytes()).hexdigest() == agent_bundle().sha256
        assert berth_dir.stat().st_mode & 0o777 == 0o700
        policy = wait_for(
            lambda: (p := berth_dir.parent / POLICY_PATH).exists() and p, what="the policy file"
        )
        assert policy.stat().st_mode & 0o777 == 0o600
        assert json.loads(policy.read_text())["version"] >= 1
        assert not list(berth_dir.glob("*.tmp"))
    finally:
        pool.discard(host.pk)


def test_the_line_upgrades_an_outdated_agent(register, fleet, restricted, set_aside_berth_dir):
    _, key = restricted
    berth_dir = set_aside_berth_dir("h1")
    berth_dir.mkdir(mode=0o700)
    installed = berth_dir.parent / REMOTE_PATH
    plant_old_agent(installed)
    host = register(fleet["h1"], ssh_key=key)
    try:
        host = until_status(host, HostStatus.ONLINE)
        assert hashlib.sha256(installed.read_bytes()).hexdigest() == agent_bundle().sha256
        assert host.agent_version != "0.0.1"
        assert services.refresh_host(host), host.status_reason
    finally:
        pool.discard(host.pk)


def test_the_line_refuses_anything_else(fleet, restricted):
    key_path, _ = restricted
    result = _ssh(fleet, key_path, "id")
    assert result.returncode != 0
    assert b"uid=" not in result.stdout
    assert b"this key only runs and installs the Berth agent" in result.stderr

    h1 = fleet["h1"]
    client = paramiko.SSHClient()
    client.load_host_keys(str(key_path.parent / "known_hosts"))  # written by _ssh above
    client.connect(h1.address, username="root", key_filename=str(key_path),
                   allow_agent=False, look_for_keys=False, timeout=10)  # fmt: skip
    try:
        with pytest.raises(paramiko.SSHException):
            client.open_sftp()
    finally:
        client.close()

    # A write whose bytes do not have the SHA-256 it announced lands nowhere.
    home = Path(fleet.raw_host("h1")["home"])
    before = (home / POLICY_PATH).read_bytes() if (home / POLICY_PATH).exists() else None
    wrong = hashlib.sha256(b"something else").hexdigest()
    result = _ssh(fleet, key_path, f"berth-write policy {wrong}", stdin=b'{"version": 1}')
    assert result.returncode != 0
    after = (home / POLICY_PATH).read_bytes() if (home / POLICY_PATH).exists() else None
    assert after == before
    assert not list((home / ".berth").glob("*.tmp"))
    # Nor does a write with a malformed hash, or to any other file.
    for command in ("berth-write policy ../../x", "berth-write authorized_keys " + wrong):
        assert _ssh(fleet, key_path, command, stdin=b"x").returncode != 0
