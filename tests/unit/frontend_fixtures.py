"""A small, realistic fleet in the database for the page tests (no hosts are contacted)."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from containers.models import Container
from deployments.choices import HostStep, RolloutStatus
from deployments.models import Rollout, RolloutHost, Service
from deployments.services import create_revision
from hosts.choices import HostStatus
from hosts.models import Host, HostGroup
from images.models import Image
from operations.choices import OperationStatus
from operations.services import start_operation

FACTS = {"cpus": 4, "mem_total": 8 * 1024**3, "os": "Debian GNU/Linux 12", "arch": "x86_64"}


def make_host(name: str, *, status: str = HostStatus.ONLINE, containers: int = 2) -> Host:
    host = Host.objects.create(
        name=name,
        address="198.18.99.2",
        status=status,
        status_reason="" if status == HostStatus.ONLINE else "connection refused",
        docker_version="24.0.5",
        facts=FACTS,
        labels={"tier": "web"},
        last_seen_at=timezone.now(),
    )
    for index in range(containers):
        Container.objects.create(
            host=host,
            container_id=uuid.uuid4().hex,
            name=f"{name}-app-{index}",
            image="198.18.0.1:5000/demo/web:v1",
            state="running" if index % 2 == 0 else "exited",
            status="Up 5 minutes" if index % 2 == 0 else "Exited (0) 1 minute ago",
            health="unhealthy" if index == 2 else "",
            ports=[{"ip": "0.0.0.0", "private": 80, "public": 8080 + index, "type": "tcp"}],  # noqa: S104
        )
    return host


@pytest.fixture
def viewer_user(db):
    return get_user_model().objects.create_user("vera-viewer", "", "pw-viewer-1")


@pytest.fixture
def operator_user(db):
    return get_user_model().objects.create_user("otto-operator", "", "pw-op-1", is_staff=True)


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.fixture
def operator_client(client, operator_user):
    client.force_login(operator_user)
    return client


@pytest.fixture
def seeded(db, admin_user):
    """Two hosts (one unreachable), containers, an image, a deployed service with two
    revisions and a finished rollout, and an operation."""
    group = HostGroup.objects.create(name="edge")
    web1 = make_host("web-1")
    web2 = make_host("web-2", status=HostStatus.UNREACHABLE, containers=1)
    web1.groups.add(group)
    image = Image.objects.create(
        host=web1, image_id="sha256:" + "ab" * 32, tags=["demo/web:v1"], size=12_000_000
    )
    Image.objects.create(host=web2, image_id=image.image_id, tags=["demo/web:v1"], size=12_000_000)
    service = Service.objects.create(name="shop")
    service.hosts.set([web1, web2])
    spec = {"image": "198.18.0.1:5000/demo/web:v1", "ports": [{"private": 80, "public": 8080}]}
    r1 = create_revision(service, spec=spec, note="first", actor=admin_user)
    r1.digest = "198.18.0.1:5000/demo/web@sha256:" + "cd" * 32
    r1.save(update_fields=["digest"])
    r2 = create_revision(
        service, spec={**spec, "image": "198.18.0.1:5000/demo/web:v2"}, note="v2", actor=admin_user
    )
    r2.digest = "198.18.0.1:5000/demo/web@sha256:" + "ef" * 32
    r2.save(update_fields=["digest"])
    operation = start_operation(
        action="service.deploy", target=service, actor=admin_user, status=OperationStatus.SUCCEEDED
    )
    rollout = Rollout.objects.create(
        service=service,
        revision=r2,
        previous_revision=r1,
        status=RolloutStatus.SUCCEEDED,
        operation=operation,
    )
    for host in (web1, web2):
        RolloutHost.objects.create(rollout=rollout, host=host, step=HostStep.DONE)
    service.current_revision = r2
    service.save(update_fields=["current_revision"])
    return {
        "hosts": [web1, web2],
        "container": web1.containers.order_by("name").first(),
        "image": image,
        "service": service,
        "revisions": [r1, r2],
        "operation": operation,
    }
