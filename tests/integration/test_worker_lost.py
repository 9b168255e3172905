"""A worker process killed with SIGKILL in the middle of a pull does not leave its
operation stuck: the task is handed back to the queue and run again to the end."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import tarfile
import uuid

import pytest
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from operations.models import Operation
from tests.fleet import run_testbed, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _image_with_unique_layer() -> bytes:
    """A root filesystem tarball of 1.5 MB of random bytes: a layer no host has."""
    payload = os.urandom(1_500_000)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("data.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


@pytest.fixture
def slow_image(fleet):
    """A fresh image in the registry, absent from h3, behind a slow link to h3."""
    h3 = fleet["h3"]
    ref = f"{fleet.registry}/it/slow-{uuid.uuid4().hex[:8]}:1"
    subprocess.run(
        ["docker", "-H", h3.docker_host, "import", "-", ref],
        input=_image_with_unique_layer(), check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    h3.docker("push", ref)
    h3.docker("rmi", ref)
    yield ref
    h3.docker("rmi", "-f", ref, check=False)


def test_worker_killed_mid_pull_runs_the_pull_again(admin_client, register, fleet, slow_image):
    host = register(fleet["h3"])
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h3 online",
    )
    run_testbed("link", "slow", "h3", "100kbit")  # 1.5 MB now takes about two minutes
    try:
        response = admin_client.post(
            reverse("host-image-pull", args=[host.pk]),
            {"ref": slow_image},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        operation_id = response.json()["operation"]
        running = wait_for(
            lambda: Operation.objects.filter(
                pk=operation_id, status="running", progress__status__isnull=False
            ).first(),
            timeout=30,
            what="the pull to be under way",
        )
        node, _, pid = running.claimed_by.rpartition(":")
        assert node == os.uname().nodename
        os.kill(int(pid), signal.SIGKILL)
        wait_for(
            lambda: Operation.objects.filter(pk=operation_id, attempts=2).exists(),
            timeout=30,
            what="another worker process to take the pull over",
        )
    finally:
        run_testbed("link", "fast", "h3")

    final = wait_for(
        lambda: (
            Operation.objects.filter(pk=operation_id)
            .exclude(status__in=["pending", "running"])
            .first()
        ),
        timeout=90,
        what="the pull to finish",
    )
    assert final.status == "succeeded", final.error
    assert final.attempts == 2
    assert fleet["h3"].docker("image", "inspect", slow_image, check=False).returncode == 0
