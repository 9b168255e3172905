"""The SSH transport: key types, jump hosts, timeouts and fresh sessions, agent
installation and upgrade, least-privilege keys — against real sshd and dockerd."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from agent_link.bundle import agent_bundle
from agent_link.errors import AgentTimeout
from agent_link.launch import REMOTE_PATH
from agent_link.pool import pool
from hosts import services
from hosts.agent import agent_link
from hosts.choices import HostStatus
from hosts.models import JumpHost
from tests.fleet import AUTHORIZED_KEYS, run_testbed
from tests.integration.container_support import plant_old_agent, until_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def _agent_file(fleet, name: str) -> Path:
    """The agent as installed in the test host's home directory."""
    return Path(fleet.raw_host(name)["home"]) / REMOTE_PATH


@pytest.fixture
def extra_key(tmp_path):
    """A fresh key pair authorized on every test host with the options given."""
    added: list[str] = []

    def _make(options: str) -> Path:
        path = tmp_path / f"key{len(added)}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
        public = Path(f"{path}.pub").read_text().strip()
        line = f"{options} {public}" if options else public
        with AUTHORIZED_KEYS.open("a") as handle:
            handle.write(line + "\n")
        added.append(line)
        return path

    yield _make
    kept = [line for line in AUTHORIZED_KEYS.read_text().splitlines() if line not in added]
    AUTHORIZED_KEYS.write_text("\n".join(kept) + "\n")


@pytest.mark.parametrize(
    ("key", "passphrase"),
    [("rsa", ""), ("ed25519_passphrase", "berth-test-passphrase")],
    ids=["rsa", "ed25519-with-passphrase"],
)
def test_rsa_and_passphrase_protected_keys_log_in(register, fleet, key, passphrase):
    key_path = fleet.raw["client_keys"][key]
    ssh_key = services.create_ssh_key(
        name=f"{key} key", private_key=Path(key_path).read_text(), passphrase=passphrase
    )
    host = until_status(register(fleet["h1"], ssh_key=ssh_key), HostStatus.ONLINE)
    assert host.facts["hostname"] == "berth-h1"


def test_host_behind_a_jump_host_is_reached_through_it(register, fleet, celery_worker):
    h1 = fleet["h1"]
    key = services.create_ssh_key(name="bastion key", private_key=Path(h1.private_key).read_text())
    bastion = JumpHost.objects.create(
        name="bastion", address=h1.address, username="root", ssh_key=key, host_key=h1.host_key
    )
    # 127.0.0.1 is the host's own loopback: only a connection made from the bastion gets there.
    host = services.register_host(
        name="behind-bastion",
        address="127.0.0.1",
        ssh_key=key,
        host_key=h1.host_key,
        docker_host=h1.docker_host,
        jump_host=bastion,
    )
    host = until_status(host, HostStatus.ONLINE)
    assert host.facts["hostname"] == "berth-h1"


def test_unknown_jump_host_key_is_recorded_on_the_jump_host(fleet, celery_worker):
    h1 = fleet["h1"]
    key = services.create_ssh_key(name="bastion key", private_key=Path(h1.private_key).read_text())
    bastion = JumpHost.objects.create(name="bastion", address=h1.address, ssh_key=key)
    host = services.register_host(
        name="behind-unknown-bastion",
        address="127.0.0.1",
        ssh_key=key,
        host_key=h1.host_key,
        jump_host=bastion,
    )
    host = until_status(host, HostStatus.HOST_KEY_UNKNOWN)
    assert "jump host" in host.status_reason
    assert host.host_key_offered == ""
    bastion.refresh_from_db()
    assert bastion.host_key_offered == h1.host_key

    services.approve_host_key(bastion, fingerprint=bastion.host_key_offered_fingerprint, actor=None)
    until_status(host, HostStatus.ONLINE)


def test_request_during_a_cut_times_out_and_the_next_runs_on_a_fresh_session(register, fleet):
    host = until_status(register(fleet["h2"]), HostStatus.ONLINE)
    first = agent_link(host)
    first_pid = first.session.hello["pid"]
    run_testbed("link", "down", "h2")
    try:
        with pytest.raises(AgentTimeout, match="within 2 s"):
            first.session.call("container.list", timeout=2)
        assert not services.refresh_host(host)
        assert host.status == HostStatus.UNREACHABLE
    finally:
        run_testbed("link", "up", "h2")
    pool.reset_backoff(host.pk)
    assert services.refresh_host(host), host.status_reason
    second = agent_link(host)
    assert second is not first
    assert second.session.hello["pid"] != first_pid
    pool.discard(host.pk)


def test_outdated_agent_is_replaced_and_verified(register, fleet):
    installed = _agent_file(fleet, "h3")
    installed.parent.mkdir(parents=True, exist_ok=True)
    plant_old_agent(installed)

    host = until_status(register(fleet["h3"]), HostStatus.ONLINE)
    bundle = agent_bundle()
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == bundle.sha256
    assert host.agent_version != "0.0.1"
    assert agent_link(host).session.hello["sha256"] == bundle.sha256
    pool.discard(host.pk)


def test_first_contact_installs_the_agent(register, fleet):
    installed = _agent_file(fleet, "h2")
    installed.unlink(missing_ok=True)
    until_status(register(fleet["h2"]), HostStatus.ONLINE)
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == agent_bundle().sha256


def test_forced_command_key_runs_the_agent_and_nothing_else(register, fleet, extra_key):
    h1 = fleet["h1"]
    host = until_status(register(h1), HostStatus.ONLINE)  # installs the agent
    line = services.authorized_keys_line(host)
    options = line.split(" ssh-")[0]
    assert options.startswith('command="umask 077;')
    assert "exec python3 .berth/berth-agent.pyz serve" in options
    assert options.endswith(",restrict")
    key_path = extra_key(options)

    known_hosts = key_path.parent / "known_hosts"
    known_hosts.write_text(f"{h1.address} {h1.host_key}\n")
    result = subprocess.run(
        ["ssh", "-i", str(key_path), "-o", f"UserKnownHostsFile={known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{h1.address}", "id"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert "uid=" not in result.stdout and result.returncode != 0  # (test_forced_command.py)

    restricted = services.create_ssh_key(name="restricted", private_key=key_path.read_text())
    host.ssh_key = restricted
    host.save(update_fields=["ssh_key"])
    assert services.refresh_host(host), host.status_reason
    pool.discard(host.pk)


def test_host_without_python3_gets_a_clear_message(register, fleet, extra_key):
    key_path = extra_key('command="env PATH=/nonexistent /bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\""')
    key = services.create_ssh_key(name="no python", private_key=key_path.read_text())
    host = until_status(register(fleet["h1"], ssh_key=key), HostStatus.AGENT_FAILED)
    assert "python3 is not installed on h1" in host.status_reason


def test_host_without_docker_gets_a_clear_message(register, fleet):
    host = register(fleet["h1"], docker_host="unix:///run/berth-testbed/no-such/docker.sock")
    host = until_status(host, HostStatus.DOCKER_UNAVAILABLE)
    assert "unix:///run/berth-testbed/no-such/docker.sock" in host.status_reason
