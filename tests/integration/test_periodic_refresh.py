"""Celery beat keeps the fleet fresh with no one pressing Refresh."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from containers.models import Container
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import REPO, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def beat(redis_url, tmp_path):
    """A real celery beat process refreshing the fleet every second."""
    env = {**os.environ, "BERTH_REDIS_URL": redis_url, "BERTH_REFRESH_INTERVAL": "1"}
    log = open(tmp_path / "beat.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "berth", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "schedule"), "--pidfile="],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield process
    process.terminate()
    process.wait(10)
    log.close()


def test_container_started_on_a_host_appears_without_a_manual_refresh(register, fleet, beat):
    h1 = fleet["h1"]
    host = register(h1)
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 to come online",
    )
    name = f"it-beat-{uuid.uuid4().hex[:8]}"
    h1.docker("run", "-d", "--name", name, f"{fleet.registry}/demo/web:v1")
    try:
        wait_for(
            lambda: Container.objects.filter(host=host, name=name).exists(),
            timeout=20,
            what=f"{name} to appear through the periodic refresh",
        )
    finally:
        h1.docker("rm", "-f", name)
    wait_for(
        lambda: not Container.objects.filter(host=host, name=name).exists(),
        timeout=20,
        what=f"{name} to disappear through the periodic refresh",
    )
