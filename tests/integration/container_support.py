"""Helpers shared by the integration tests: containers on the fleet, hosts and their agents."""

from __future__ import annotations

import contextlib
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.urls import reverse

from containers.models import Container
from hosts.models import Host
from operations import streams
from operations.choices import FINISHED_STATUSES
from operations.models import Operation
from tests.fleet import FleetHost, wait_for

SLEEPER = "demo/sleeper:v1"


def unique(prefix: str) -> str:
    """A container (or host) name nobody else on the shared fleet is using."""
    return f"berth-ct-{prefix}-{uuid.uuid4().hex[:8]}"


def online_host(register, fleet_host: FleetHost) -> Host:
    """Register the fleet host under a unique name and wait for its first refresh."""
    host = register(fleet_host, name=unique(fleet_host.name))
    wait_for(
        lambda: Host.objects.get(pk=host.pk).status == "online",
        timeout=60,
        what=f"{fleet_host.name} to come online in Berth",
    )
    return Host.objects.get(pk=host.pk)


@contextlib.contextmanager
def host_container(
    fleet_host: FleetHost, registry: str, *args: str, image: str = SLEEPER, name: str = ""
) -> Iterator[str]:
    """A container started on the host with the docker CLI (``args`` go before the image,
    a command may follow after ``--``); removed again afterwards."""
    name = name or unique("c")
    options, command = list(args), []
    if "--" in options:
        split = options.index("--")
        options, command = options[:split], options[split + 1 :]
    fleet_host.docker("run", "-d", "--name", name, *options, f"{registry}/{image}", *command)
    try:
        yield name
    finally:
        fleet_host.docker("rm", "-f", name, check=False)


def docker_state(fleet_host: FleetHost, name: str) -> str | None:
    """The container's state as the host's docker CLI reports it; None if it is gone."""
    result = fleet_host.docker("inspect", "-f", "{{.State.Status}}", name, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def known_container(host: Host, name: str) -> Container:
    """The container's row once Berth has seen it (refresh the host if it has not yet)."""
    from hosts.services import request_refresh

    row = Container.objects.filter(host=host, name=name).first()
    if row is None:
        request_refresh(host, actor=None)
        row = wait_for(
            lambda: Container.objects.filter(host=host, name=name).first(),
            timeout=30,
            what=f"Berth to know container {name}",
        )
    return row


def post(client, url: str, body: dict | None = None):
    return client.post(url, body or {}, content_type="application/json")


def act(client, container: Container, verb: str, body: dict | None = None) -> Operation:
    """POST a container action, check the 202, and wait for the operation to finish."""
    response = post(client, reverse(f"container-{verb}", args=[container.pk]), body)
    assert response.status_code == 202, response.content
    return finished(response.json()["operation"])


def finished(operation_id: int, timeout: float = 90) -> Operation:
    return wait_for(
        lambda: Operation.objects.filter(pk=operation_id, status__in=FINISHED_STATUSES).first(),
        timeout=timeout,
        what=f"operation {operation_id} to finish",
    )


def stream_items(operation_id: int) -> list[dict]:
    return streams.read(operation_id, 0, 100000)


def until_status(host: Host, *statuses: str, timeout: float = 60) -> Host:
    """Wait until the host's row has one of ``statuses`` (the worker refreshes it)."""
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status__in=statuses).first(),
        timeout=timeout,
        what=f"{host.name} to become {' or '.join(statuses)}",
    )


def plant_old_agent(path: Path) -> None:
    """Put an agent of version 0.0.1 at ``path``: it says hello and waits, so Berth
    must replace it."""
    old_hello = {"hello": {"agent": "berth-agent", "version": "0.0.1", "protocol": 0}}
    with zipfile.ZipFile(path, "w") as old_agent:
        old_agent.writestr(
            "__main__.py",
            f"import sys\nprint({json.dumps(json.dumps(old_hello))}, flush=True)\n"
            "sys.stdin.read()\n",
        )
