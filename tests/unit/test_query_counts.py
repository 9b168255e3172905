"""Every list page and list endpoint makes a fixed number of SQL queries: the same for 3
hosts as for 40 (with their containers, images, operations, services, rollouts, users
and tokens), and exactly the number pinned here, so an N+1 fails a test.

A change that adds a query on purpose updates the pinned number; one that makes the
count grow with the rows fails the comparison whatever the pin says.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.roles import Role
from accounts.services import create_token, set_profile
from containers.models import Container
from deployments.choices import HostStep, RolloutStatus
from deployments.models import Rollout, RolloutHost, Service
from deployments.services import create_revision, target_host_ids, target_hosts
from hosts.choices import HostStatus
from hosts.disk import store_usage
from hosts.models import Host, HostGroup, SSHKey
from images.models import Image
from images.services import store_layers
from networks.models import Network
from operations.choices import OperationStatus
from operations.services import start_operation
from tests.unit.frontend_fixtures import make_host
from volumes.models import Volume

pytestmark = pytest.mark.django_db

FEW, MANY = 3, 40
SHARED_IMAGE = "sha256:" + "ab" * 32


def _first_host() -> Host:
    return Host.objects.order_by("name").first()  # type: ignore[return-value]


def _first_image() -> Image:
    return Image.objects.filter(host=_first_host()).order_by("pk").first()  # type: ignore[return-value]


def _grow(count: int, admin) -> None:
    """Bring the fleet to ``count`` hosts; everything a list shows grows with it, and so
    do the first host's own containers, images and operations, and the images its first
    image shares a layer with."""
    edge = HostGroup.objects.get_or_create(name="edge")[0]
    core = HostGroup.objects.get_or_create(name="core")[0]
    for index in range(Host.objects.count(), count):
        status = HostStatus.UNREACHABLE if index % 3 == 1 else HostStatus.ONLINE
        host = make_host(f"node-{index:03d}", status=status, containers=3)
        host.ssh_key = SSHKey.objects.create(
            name=f"key {index}", private_key="unused", public_key=f"ssh-ed25519 AAAA{index}"
        )
        host.save(update_fields=["ssh_key"])
        host.groups.set([edge, core] if index % 2 else [edge])
        first = _first_host()
        Container.objects.create(
            host=first, container_id=uuid.uuid4().hex, name=f"extra-{index}", state="exited"
        )
        # A service container deployed by digest: its tag comes from its revision, the
        # digest of what it runs from the host's image row.
        Container.objects.create(
            host=first,
            container_id=uuid.uuid4().hex,
            name=f"svc-{index}-r2-abcdef",
            image=f"demo/web@sha256:{index:064x}",
            image_id=f"sha256:{index:062x}01",
            state="running",
            labels={"berth.service": f"svc-{index}", "berth.revision": "2"},
        )
        for on in dict.fromkeys([host, first]):
            Image.objects.create(
                host=on,
                image_id=f"sha256:{index:062x}{int(on == first):02x}",
                tags=[f"demo/app{index}:v1"],
                digests=[f"demo/app{index}@sha256:{index:064x}"],
                size=1000 + index,
            )
        Image.objects.create(host=host, image_id=SHARED_IMAGE, tags=["demo/web:v1"], size=10)
        if status == HostStatus.ONLINE:
            numbers = {"count": index, "active": 1, "size": 1000 * index, "reclaimable": index}
            store_usage(host, {kind: numbers for kind in ("images", "containers", "volumes")})
        Network.objects.create(
            host=host, network_id=uuid.uuid4().hex * 2, name=f"net-{index}", driver="bridge",
            subnets=[{"subnet": f"10.0.{index}.0/24", "gateway": "", "ip_range": ""}],
            containers=[{"id": "c" * 64, "name": f"app-{index}"}],
        )  # fmt: skip
        Volume.objects.create(
            host=host, name=f"vol-{index}", driver="local", size=index or None,
            containers=[{"id": "c" * 64, "name": f"app-{index}"}] if index % 2 else [],
        )  # fmt: skip
        # Pulled by digest, untagged: the pages name it by the revision pinned to it.
        Image.objects.create(
            host=first,
            image_id=f"sha256:{index:062x}ff",
            digests=[f"demo/web@sha256:{index:064x}"],
            size=10,
        )
        parent = start_operation(
            action="host.refresh",
            target=host,
            actor=admin,
            host=host,
            status=OperationStatus.SUCCEEDED,
        )
        for on in (host, first):
            child = start_operation(
                action="container.restart",
                target=on,
                actor=admin,
                host=on,
                parent=parent,
                status=OperationStatus.FAILED,
            )
            child.error = "no such container"
            child.save(update_fields=["error"])

        service = Service.objects.create(name=f"svc-{index}", host_group=core)
        service.hosts.set([host, first])
        spec = {"image": "198.18.0.1:5000/demo/web:v1"}
        r1 = create_revision(service, spec=spec, note="first", actor=admin)
        r2 = create_revision(service, spec={"image": "demo/web:v2"}, note="v2", actor=admin)
        operation = start_operation(
            action="service.deploy", target=service, actor=admin, status=OperationStatus.SUCCEEDED
        )
        rollout = Rollout.objects.create(
            service=service,
            revision=r2,
            previous_revision=r1,
            status=RolloutStatus.SUCCEEDED,
            operation=operation,
        )
        for on in dict.fromkeys([host, first]):
            RolloutHost.objects.create(rollout=rollout, host=on, step=HostStep.DONE)
        service.current_revision = r2
        service.save(update_fields=["current_revision"])

        user = get_user_model().objects.create_user(f"user-{index}")
        set_profile(user, role=Role.OPERATOR, host_groups=[core] if index % 2 else [])
        create_token(admin, name=f"token {index}", role=Role.VIEWER, host_groups=[edge])
        create_token(user, name=f"token {index}", role=Role.OPERATOR)
    first_image = _first_image()
    sharers = [
        {"id": image_id, "tags": tags}
        for image_id, tags in Image.objects.filter(host=first_image.host)
        .exclude(pk=first_image.pk)
        .values_list("image_id", "tags")
    ]
    layer = {"digest": "sha256:" + "1" * 64, "shared_with": sharers, "shared_count": len(sharers)}
    steps = [{"created": 1_700_000_000, "created_by": "x", "size": 1, "layer": 0, **layer}]
    store_layers(first_image.host, first_image.image_id, {"history": steps, "layers": [layer]})


# name → (URL of the page or list, given the first host; queries pinned for an admin).
# A list of containers takes two more: their revisions (the tag) and their hosts' image
# rows (the digest), one query each for the whole page; a list of images with untagged
# ones one more: the revisions pinned to their digests (the tag they were deployed as).
ENDPOINTS: dict[str, tuple[Callable[[Host], str], int]] = {
    # pages
    "fleet overview": (lambda host: reverse("frontend:dashboard"), 9),
    "fleet overview, filtered": (lambda host: reverse("frontend:dashboard") + "?group=edge", 9),
    "containers page": (lambda host: reverse("frontend:containers"), 7),
    "containers page, filtered": (
        lambda host: reverse("frontend:containers") + "?q=app&state=running&page=2",
        5,
    ),
    "images page": (lambda host: reverse("frontend:images"), 9),
    "networks page": (lambda host: reverse("frontend:networks"), 7),
    "volumes page": (lambda host: reverse("frontend:volumes"), 7),
    "services page": (lambda host: reverse("frontend:services"), 5),
    "operations page": (lambda host: reverse("frontend:operations"), 4),
    "host detail": (lambda host: reverse("frontend:host", args=[host.pk]), 11),
    "image detail": (lambda host: reverse("frontend:image", args=[_first_image().pk]), 6),
    "disk page": (lambda host: reverse("frontend:disk"), 8),
    # API lists
    "API hosts": (lambda host: reverse("host-list"), 5),
    "API host groups": (lambda host: reverse("hostgroup-list"), 4),
    "API containers": (lambda host: reverse("container-list"), 6),
    "API host containers": (lambda host: reverse("host-containers", args=[host.pk]), 7),
    "API images": (lambda host: reverse("image-list"), 5),
    "API host images": (lambda host: reverse("host-image-list"), 4),
    "API image layers": (
        lambda host: reverse("host-image-layers", args=[_first_image().pk]),
        5,
    ),
    "API fleet disk": (lambda host: reverse("fleet-disk"), 5),
    "API fleet disk hosts": (lambda host: reverse("fleet-disk-hosts"), 5),
    "API networks": (lambda host: reverse("network-list"), 4),
    "API volumes": (lambda host: reverse("volume-list"), 4),
    "API services": (lambda host: reverse("service-list"), 5),
    "API rollouts": (lambda host: reverse("rollout-list"), 5),
    "API operations": (lambda host: reverse("operation-list"), 4),
    "API tokens": (lambda host: reverse("apitoken-list"), 5),
    "API users": (lambda host: reverse("user-list"), 5),
}


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_query_count_is_pinned_and_does_not_grow(
    admin_client, admin_user, django_assert_num_queries, name
):
    url_of, pinned = ENDPOINTS[name]
    _grow(FEW, admin_user)
    url = url_of(_first_host())
    few = _count(admin_client, url)
    _grow(MANY, admin_user)
    with django_assert_num_queries(pinned):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert few == pinned, f"{name}: {few} queries with {FEW} hosts, {pinned} pinned"


@pytest.mark.parametrize(
    "name", [name for name in ENDPOINTS if name not in ("API tokens", "API users")]
)
def test_query_count_does_not_grow_for_a_user_limited_to_host_groups(client, admin_user, name):
    """The scope filters add queries of their own; they must not grow with the rows either."""
    operator = get_user_model().objects.create_user("scoped-operator", "", "pw-op-1")
    _grow(FEW, admin_user)
    set_profile(operator, role=Role.OPERATOR, host_groups=[HostGroup.objects.get(name="edge")])
    client.force_login(operator)
    url_of, _ = ENDPOINTS[name]
    url = url_of(_first_host())
    few = _count(client, url)
    _grow(MANY, admin_user)
    assert _count(client, url) == few


def test_target_hosts_of_many_services_resolve_as_one_service_does():
    """The bulk resolution behind host-group scopes agrees with ``target_hosts``."""
    edge = HostGroup.objects.create(name="edge")
    hosts = [make_host(f"node-{index}", containers=0) for index in range(4)]
    hosts[0].groups.add(edge)
    hosts[1].labels = {"tier": "db", "zone": "a"}
    hosts[1].save(update_fields=["labels"])
    hosts[2].labels = {"zone": "b"}
    hosts[2].save(update_fields=["labels"])
    listed = Service.objects.create(name="listed")
    listed.hosts.set([hosts[3]])
    services = [
        listed,
        Service.objects.create(name="grouped", host_group=edge),
        Service.objects.create(name="labelled", host_label="tier=db"),
        Service.objects.create(name="keyed", host_label="zone"),
        Service.objects.create(name="nothing", host_label="tier=none"),
        Service.objects.create(name="all-three", host_group=edge, host_label="zone=b"),
        Service.objects.create(name="empty"),
    ]
    services[-2].hosts.set([hosts[3]])
    resolved = target_host_ids(Service.objects.all())
    for service in services:
        assert resolved[service.pk] == {host.pk for host in target_hosts(service)}, service.name
    assert resolved[services[5].pk] == {hosts[0].pk, hosts[2].pk, hosts[3].pk}
