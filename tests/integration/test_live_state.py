"""Changes made on a host outside Berth show up within seconds, with no refresh asked
for and no periodic refresh running: the watcher follows each host's Docker events."""

from __future__ import annotations

import sys
import uuid

import pytest

from containers.models import Container
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import wait_for
from tests.live_services import start_process, stop_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def watcher(service_env, celery_worker, tmp_path):
    log_path = tmp_path / "watcher.log"
    process = start_process([sys.executable, "manage.py", "watch_fleet"], service_env, log_path)
    yield process
    stop_process(process, log_path)


def test_container_created_with_the_docker_cli_appears_within_five_seconds(
    register, fleet, watcher
):
    h1 = fleet["h1"]
    host = register(h1)
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 to come online",
    )
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
