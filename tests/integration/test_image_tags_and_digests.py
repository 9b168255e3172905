"""A real v1 and v2 of a service read differently in the API: the tag asked for and the
digest the registry gave, also after a rollback that runs v1 by its pinned digest."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from deployments import services
from deployments.choices import RolloutStatus
from deployments.models import Service
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import wait_for
from tests.integration.rollout_support import finished, on_host, revision

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service(register, fleet):
    host = register(fleet["h1"])
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 online",
    )
    created = Service.objects.create(name=f"tags-{uuid.uuid4().hex[:6]}")
    created.hosts.set([host])
    yield created
    for container in on_host(fleet, "h1", created.name):
        fleet["h1"].docker("rm", "-f", container["id"], check=False)


def _running(client, service: Service) -> tuple[str, str]:
    response = client.get(
        reverse("container-list"), {"label": f"berth.service={service.name}", "state": "running"}
    )
    (container,) = response.json()["results"]
    return container["image"], container["image_digest"]


def test_v1_and_v2_read_as_their_tags_and_digests_also_after_a_rollback(
    admin_client, service, fleet
):
    r1 = revision(service, fleet, "v1")
    assert (
        finished(services.request_deploy(service, r1, actor=None)).status == RolloutStatus.SUCCEEDED
    )
    r1.refresh_from_db()
    v1_digest = r1.digest.partition("@")[2]
    assert v1_digest.startswith("sha256:")
    assert _running(admin_client, service) == (r1.image, v1_digest)  # deployed by tag

    r2 = revision(service, fleet, "v2")
    assert (
        finished(services.request_deploy(service, r2, actor=None)).status == RolloutStatus.SUCCEEDED
    )
    r2.refresh_from_db()
    v2_digest = r2.digest.partition("@")[2]
    assert v2_digest not in ("", v1_digest)
    assert _running(admin_client, service) == (r2.image, v2_digest)

    rollout = finished(services.request_rollback(service, r1, actor=None))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    # The host runs repo@sha256:… now and reports no tag; Berth names the revision's.
    assert _running(admin_client, service) == (r1.image, v1_digest)
    body = admin_client.get(reverse("service-detail", args=[service.pk])).json()
    assert (body["image"], body["image_digest"]) == (r1.image, v1_digest)
