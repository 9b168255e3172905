"""Changes made on a host outside Berth show up within seconds, with no refresh asked
for and no periodic refresh running: the watcher follows each host's Docker events."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from containers.models import Container
from hosts.choices import HostStatus
from hosts.models import Host
from networks.models import Network
from tests.fleet import wait_for
from tests.live_services import start_process, stop_process
from volumes.models import Volume

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Watcher:
    process: subprocess.Popen
    log_path: Path

    def subscriptions_to(self, host: str) -> int:
        """How often the watcher (re)subscribed to the host's event stream. A stream
        that died is resubscribed, with a catch-up refresh, at every resync, which
        would look live enough to pass on its own; a stream that stays up is made once."""
        return self.log_path.read_text().count(f"following the Docker events of {host}\n")


@pytest.fixture
def watcher(service_env, celery_worker, tmp_path) -> Iterator[Watcher]:
    log_path = tmp_path / "watcher.log"
    env = {**service_env, "BERTH_LOG_FORMAT": "text", "BERTH_LOG_LEVEL": "INFO"}
    process = start_process([sys.executable, "manage.py", "watch_fleet"], env, log_path)
    yield Watcher(process, log_path)
    stop_process(process, log_path)


@pytest.fixture
def h1_online(register, fleet) -> Host:
    host = register(fleet["h1"])
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 to come online",
    )
    return host


def test_container_created_with_the_docker_cli_appears_within_five_seconds(
    h1_online, fleet, watcher
):
    h1 = fleet["h1"]
    host = h1_online
    name = f"it-live-{uuid.uuid4().hex[:8]}"
    h1.docker("create", "--name", name, f"{fleet.registry}/demo/sleeper:v1")
    try:
        wait_for(
            lambda: Container.objects.filter(host=host, name=name, state="created").exists(),
            timeout=5,
            what=f"{name} to appear in Berth",
        )
        # Only the event stream can tell Berth about this one: no refresh is running.
        h1.docker("start", name)
        wait_for(
            lambda: Container.objects.filter(host=host, name=name, state="running").exists(),
            timeout=5,
            what=f"{name} to be running in Berth",
        )
    finally:
        h1.docker("rm", "-f", name)
    wait_for(
        lambda: not Container.objects.filter(host=host, name=name).exists(),
        timeout=5,
        what=f"{name} to disappear from Berth",
    )
    # All of that came through one event subscription that stayed up throughout.
    assert watcher.process.poll() is None, watcher.log_path.read_text()
    assert watcher.subscriptions_to(host.name) == 1, watcher.log_path.read_text()


def test_volume_and_network_made_with_the_docker_cli_appear_within_five_seconds(
    h1_online, fleet, watcher
):
    h1 = fleet["h1"]
    host = h1_online
    name = f"it-live-{uuid.uuid4().hex[:8]}"
    h1.docker("volume", "create", name)
    h1.docker("network", "create", name)
    try:
        wait_for(
            lambda: (
                Volume.objects.filter(host=host, name=name).exists()
                and Network.objects.filter(host=host, name=name).exists()
            ),
            timeout=5,
            what=f"the volume and the network {name} to appear in Berth",
        )
    finally:
        h1.docker("volume", "rm", name, check=False)
        h1.docker("network", "rm", name, check=False)
    wait_for(
        lambda: (
            not Volume.objects.filter(host=host, name=name).exists()
            and not Network.objects.filter(host=host, name=name).exists()
        ),
        timeout=5,
        what=f"the volume and the network {name} to disappear from Berth",
    )
    assert watcher.subscriptions_to(host.name) == 1, watcher.log_path.read_text()
