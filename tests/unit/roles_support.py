"""Helpers for the role, token and scope tests: users with roles, token clients, a small fleet."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.test import Client

from access.roles import Role
from accounts import services
from containers.models import Container
from deployments.models import Revision, Rollout, RolloutHost, Service
from hosts.models import Host, HostGroup
from images.models import Image, RegistryCredential
from networks.models import Network
from operations.models import Operation
from operations.services import start_operation
from volumes.models import Volume


def make_user(username: str, role: Role, groups: list[HostGroup] | None = None) -> User:
    user = User.objects.create_user(username, password="correct horse battery")
    services.set_profile(user, role=role, host_groups=groups or [])
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(secret: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {secret}"})


def token_for(user: User, role: Role, groups: list[HostGroup] | None = None, **extra) -> str:
    _, secret = services.create_token(
        user, name=f"{user.username} {role.label}", role=role, host_groups=groups or [], **extra
    )
    return secret


@dataclass
class Site:
    """One of everything, on one host in one group."""

    group: HostGroup
    host: Host
    container: Container
    image: Image
    service: Service
    rollout: Rollout
    operation: Operation
    network: Network
    volume: Volume


def make_site(name: str) -> Site:
    group = HostGroup.objects.create(name=f"group-{name}")
    host = Host.objects.create(name=f"host-{name}", transport="local")
    host.groups.add(group)
    container = Container.objects.create(
        host=host, container_id=name[0] * 64, name=f"web-{name}", image="demo/web:v1",
        state="running",
    )  # fmt: skip
    image = Image.objects.create(host=host, image_id="sha256:" + name[0] * 64, tags=["demo/web:v1"])
    service = Service.objects.create(name=f"svc-{name}", host_group=group)
    revision = Revision.objects.create(
        service=service, number=1, image="demo/web:v1", spec={"image": "demo/web:v1"},
        author_name="test",
    )  # fmt: skip
    operation = start_operation(action="host.refresh", target=host, actor=None, host=host)
    rollout = Rollout.objects.create(
        service=service,
        revision=revision,
        operation=start_operation(action="service.deploy", target=service, actor=None),
    )
    RolloutHost.objects.create(rollout=rollout, host=host)
    network = Network.objects.create(
        host=host, network_id="n" + name[0] * 63, name=f"backend-{name}", driver="bridge",
        scope="local", containers=[{"id": container.container_id, "name": container.name}],
    )  # fmt: skip
    # Unused, so an operator may remove it.
    volume = Volume.objects.create(host=host, name=f"data-{name}", driver="local", scope="local")
    return Site(group, host, container, image, service, rollout, operation, network, volume)


def make_credential() -> RegistryCredential:
    return RegistryCredential.objects.create(
        name="ghcr", registry="ghcr.io", username="robot", password="registry-secret-Zq9"
    )


def resource_ids(site: Site, *, user: User, secret_value: str) -> dict[str, int]:
    """An object of every API resource, by the path segment that names it: the site's
    own, a container policy, a registry credential, a stored secret and ``user``."""
    from containers.secrets import create_secret
    from policies.models import ContainerPolicy

    return {
        "hosts": site.host.pk,
        "host-groups": site.group.pk,
        "containers": site.container.pk,
        "host-images": site.image.pk,
        "networks": site.network.pk,
        "volumes": site.volume.pk,
        "container-policies": ContainerPolicy.objects.create().pk,
        "registry-credentials": make_credential().pk,
        "secrets": create_secret(name="db-password", value=secret_value).pk,
        "services": site.service.pk,
        "rollouts": site.rollout.pk,
        "operations": site.operation.pk,
        "users": user.pk,
    }
