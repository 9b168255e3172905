"""A volume made through Berth on h1: a file one container writes to it another reads;
removing it is refused while containers use it (the refusal names them, from Berth's
records and again from the host) and works once none does; sizes are measured only when
asked; a prune's dry run lists an unused volume and leaves it, the prune removes it."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from operations.context import OperationContext
from operations.models import Operation
from operations.services import submit
from tests.integration.container_support import finished, online_host, post
from volumes import services
from volumes.models import Volume

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def _succeeded(response, timeout: float = 120) -> Operation:
    assert response.status_code == 202, response.content
    operation = finished(response.json()["operation"], timeout=timeout)
    assert operation.status == "succeeded", operation.error
    return operation


def _run(client, host, fleet_host, registry, name, volume, command, read_only=False) -> str:
    """Run a container with ``volume`` at /data until ``command`` ends; its output."""
    spec = {
        "image": f"{registry}/demo/sleeper:v1",
        "name": name,
        "volumes": [{"source": volume, "target": "/data", "read_only": read_only}],
        "command": ["sh", "-c", command],
    }
    _succeeded(post(client, reverse("host-containers", args=[host.pk]), spec), 180)
    code = fleet_host.docker("wait", name).stdout.strip()
    logs = fleet_host.docker("logs", name)
    output = logs.stdout + logs.stderr
    assert code == "0", output
    return output


def _refresh(client, host) -> None:
    _succeeded(post(client, reverse("host-refresh", args=[host.pk])))


def test_a_volume_carries_a_file_between_containers_and_stays_while_used(
    admin_client, register, fleet
):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    suffix = uuid.uuid4().hex[:8]
    vol, spare = f"berth-it-vol-{suffix}", f"berth-it-spare-{suffix}"
    writer, reader, late = (f"berth-it-{role}-{suffix}" for role in ("writer", "reader", "late"))
    made = [writer, reader, late]
    try:
        created = _succeeded(
            post(admin_client, reverse("host-volumes", args=[host.pk]), {
                "name": vol, "labels": {"team": "berth-tests"}
            }),
        )  # fmt: skip
        row = Volume.objects.get(host=host, name=vol)
        assert row.labels == {"team": "berth-tests", "berth.operation": str(created.pk)}
        assert (row.driver, row.size) == ("local", None)
        # Run again (as when its worker was lost), the operation finds its own volume.
        again = services._create(created, OperationContext(created))
        assert again["name"] == vol

        write = "head -c 200000 /dev/zero > /data/blob && echo kept-in-a-volume > /data/note"
        _run(admin_client, host, h1, fleet.registry, writer, vol, write)
        output = _run(
            admin_client, host, h1, fleet.registry, reader, vol, "cat /data/note", read_only=True
        )
        assert "kept-in-a-volume" in output

        _refresh(admin_client, host)
        row = Volume.objects.get(host=host, name=vol)
        assert sorted(c["name"] for c in row.containers) == [reader, writer]
        listed = admin_client.get(reverse("volume-list"), {"host": host.pk, "in_use": "true"})
        assert vol in [item["name"] for item in listed.json()["results"]]

        # Refused before anything is queued, naming both containers (neither runs).
        refused = admin_client.delete(reverse("volume-detail", args=[row.pk]))
        assert refused.status_code == 400
        assert writer in str(refused.json()) and reader in str(refused.json())

        # Sizes only when asked: a refresh left the size unmeasured.
        assert row.size is None
        _succeeded(post(admin_client, reverse("host-volume-measure", args=[host.pk])), 300)
        row.refresh_from_db()
        assert row.size is not None and row.size >= 200000
        assert row.size_measured_at is not None

        # Berth's records may be stale; the host checks again and names who uses it.
        h1.docker("rm", writer, reader)
        h1.docker(
            "create", "--name", late, "-v", f"{vol}:/data", f"{fleet.registry}/demo/sleeper:v1"
        )
        stale = submit(action="volume.remove", target=row, actor=None, host=host,
                       params={"name": vol})  # fmt: skip
        stale = finished(stale.pk)
        assert stale.status == "failed"
        assert late in stale.error
        assert h1.docker("volume", "inspect", vol, check=False).returncode == 0

        h1.docker("rm", late)
        _refresh(admin_client, host)
        removed = _succeeded(admin_client.delete(reverse("volume-detail", args=[row.pk])))
        assert removed.result["removed"] is True
        assert not Volume.objects.filter(host=host, name=vol).exists()
        assert h1.docker("volume", "inspect", vol, check=False).returncode != 0

        _succeeded(post(admin_client, reverse("host-volumes", args=[host.pk]), {"name": spare}))
        prune_url = reverse("host-volume-prune", args=[host.pk])
        dry = _succeeded(post(admin_client, prune_url, {"dry_run": True, "all": True}))
        assert spare in dry.result["volumes"] and dry.result["deleted"] == []
        assert h1.docker("volume", "inspect", spare, check=False).returncode == 0
        pruned = _succeeded(post(admin_client, prune_url, {"all": True}))
        assert spare in pruned.result["deleted"]
        assert not Volume.objects.filter(host=host, name=spare).exists()
    finally:
        for name in made:
            h1.docker("rm", "-f", name, check=False)
        h1.docker("volume", "rm", vol, check=False)
        h1.docker("volume", "rm", spare, check=False)
