"""Small helpers for the browser tests."""

from __future__ import annotations

import urllib.request
import uuid

from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import wait_for

# Playwright's auto-waiting assertions get this long for anything a worker does.
WORK_MS = 60_000
ROLLOUT_MS = 180_000


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def online(host: Host) -> Host:
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        timeout=60,
        what=f"{host.name} to come online in Berth",
    )
    return Host.objects.get(pk=host.pk)


def served(address: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{address}:{port}/", timeout=5) as response:
        return response.read().decode()


def remove_service_containers(fleet_host, service: str) -> None:  # type: ignore[no-untyped-def]
    names = fleet_host.docker(
        "ps", "-a", "--filter", f"label=berth.service={service}", "--format", "{{.Names}}"
    ).stdout.split()
    for name in names:
        fleet_host.docker("rm", "-f", name, check=False)
