"""Every mutating API endpoint leaves an audit record: an Operation naming what was done,
who did it and to what, without any secret in its parameters or result.

The endpoints come from the OpenAPI schema, so a new endpoint fails
``test_every_mutating_endpoint_is_walked`` until this file learns a body for it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator

from access.roles import Role
from accounts.models import ApiToken
from containers.secrets import create_secret
from deployments.choices import RolloutStatus
from deployments.models import Revision, Service
from hosts.models import Host, HostGroup
from images.models import RegistryCredential
from operations.choices import OperationStatus
from operations.models import Operation
from operations.services import start_operation
from policies.models import ContainerPolicy
from tests.examples import EXAMPLE_HOST_KEY
from tests.unit.roles_support import Site, logged_in, make_credential, make_site, make_user

pytestmark = pytest.mark.django_db

MUTATING = {"post", "put", "patch", "delete"}
PASSWORD = "a-long-passphrase-Kq7"
REGISTRY_PASSWORD = "registry-secret-Wm4"
SECRET_VALUE = "stored-secret-Vb3"


@dataclass
class World:
    site: Site
    admin: User
    victim: User
    credential: RegistryCredential
    spare_host: Host
    spare_group: HostGroup
    token: ApiToken
    pending: Operation
    secrets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    body: dict[str, Any] | Callable[[World], dict[str, Any]]
    action: str  # the action the request must record
    ids: Callable[[World], int] | None = None  # the {id} in the path, when not the usual one


def _secret_id(world: World) -> int:
    return create_secret(name="db-password", value=SECRET_VALUE).pk


def _policy_id(world: World) -> int:
    return ContainerPolicy.objects.get_or_create(host_group=None)[0].pk


def _finish_rollout(world: World) -> None:
    """Deploy and rollback need the site's own rollout to be over."""
    rollout = world.site.rollout
    Operation.objects.filter(pk=rollout.operation_id).update(status=OperationStatus.SUCCEEDED)
    rollout.status = RolloutStatus.SUCCEEDED
    rollout.save(update_fields=["status"])
    rollout.revision.digest = "sha256:" + "d" * 64
    rollout.revision.save(update_fields=["digest"])


CASES: dict[tuple[str, str], Case] = {
    ("post", "/api/v1/container-policies/"): Case(
        {"host_group": "group-a", "allowed_bind_prefixes": ["/srv"]}, "containerpolicy.create"
    ),
    ("put", "/api/v1/container-policies/{id}/"): Case(
        {"allowed_bind_prefixes": ["/srv/www"]}, "containerpolicy.update", ids=_policy_id
    ),
    ("patch", "/api/v1/container-policies/{id}/"): Case(
        {"allowed_bind_prefixes": []}, "containerpolicy.update", ids=_policy_id
    ),
    ("delete", "/api/v1/container-policies/{id}/"): Case(
        {}, "containerpolicy.delete", ids=_policy_id
    ),
    ("post", "/api/v1/containers/{id}/diff/"): Case({"limit": 50}, "container.diff"),
    ("post", "/api/v1/containers/{id}/kill/"): Case({}, "container.kill"),
    ("post", "/api/v1/containers/{id}/logs/"): Case({}, "container.logs"),
    ("post", "/api/v1/containers/{id}/remove/"): Case({}, "container.remove"),
    ("post", "/api/v1/containers/{id}/restart/"): Case({}, "container.restart"),
    ("post", "/api/v1/containers/{id}/start/"): Case({}, "container.start"),
    ("post", "/api/v1/containers/{id}/stats/"): Case({}, "container.stats"),
    ("post", "/api/v1/containers/{id}/stop/"): Case({}, "container.stop"),
    ("post", "/api/v1/containers/bulk/"): Case(
        lambda w: {"action": "restart", "ids": [w.site.container.pk]}, "bulk.container.restart"
    ),
    ("post", "/api/v1/host-groups/"): Case({"name": "edge"}, "hostgroup.create"),
    ("put", "/api/v1/host-groups/{id}/"): Case(
        {"name": "group-a", "description": "the A side"}, "hostgroup.update"
    ),
    ("patch", "/api/v1/host-groups/{id}/"): Case({"description": "A"}, "hostgroup.update"),
    ("delete", "/api/v1/host-groups/{id}/"): Case(
        {}, "hostgroup.delete", ids=lambda w: w.spare_group.pk
    ),
    ("post", "/api/v1/host-images/{id}/layers/"): Case({}, "image.layers"),
    ("post", "/api/v1/host-images/{id}/remove/"): Case({}, "image.remove"),
    ("post", "/api/v1/containers/{id}/commit/"): Case(
        {"repository": "demo/web", "changes": ["ENV MODE=prod"]}, "container.commit"
    ),
    ("post", "/api/v1/host-images/{id}/tag/"): Case(
        {"repository": "demo/web", "tag": "t2"}, "image.tag"
    ),
    ("post", "/api/v1/host-images/{id}/push/"): Case(
        {"reference": "198.18.0.1:5000/demo/web:t2"}, "image.push"
    ),
    ("post", "/api/v1/hosts/{host_id}/images/build/"): Case(
        {"git_url": "https://git.example.com/app.git", "tags": ["demo/app:1"]}, "image.build"
    ),
    ("post", "/api/v1/hosts/"): Case({"name": "new-host", "transport": "local"}, "host.create"),
    ("post", "/api/v1/hosts/{host_id}/containers/"): Case(
        {"image": "demo/web:v1"}, "container.run"
    ),
    ("post", "/api/v1/hosts/{host_id}/images/prune/"): Case({}, "image.prune"),
    ("post", "/api/v1/hosts/{host_id}/images/pull/"): Case({"ref": "demo/web:v1"}, "image.pull"),
    ("post", "/api/v1/hosts/{host_id}/networks/"): Case({"name": "frontend"}, "network.create"),
    ("post", "/api/v1/hosts/{host_id}/networks/prune/"): Case({}, "network.prune"),
    ("delete", "/api/v1/networks/{id}/"): Case({}, "network.remove"),
    ("post", "/api/v1/networks/{id}/connect/"): Case(
        lambda w: {"container": w.site.container.name, "aliases": ["web"]}, "network.connect"
    ),
    ("post", "/api/v1/networks/{id}/disconnect/"): Case(
        lambda w: {"container": w.site.container.name}, "network.disconnect"
    ),
    ("post", "/api/v1/hosts/{host_id}/volumes/"): Case({"name": "pgdata"}, "volume.create"),
    ("post", "/api/v1/hosts/{host_id}/volumes/prune/"): Case({"dry_run": True}, "volume.prune"),
    ("post", "/api/v1/hosts/{host_id}/volumes/measure/"): Case({}, "volume.measure"),
    ("delete", "/api/v1/volumes/{id}/"): Case({}, "volume.remove"),
    ("delete", "/api/v1/hosts/{id}/"): Case({}, "host.remove", ids=lambda w: w.spare_host.pk),
    ("put", "/api/v1/hosts/{id}/"): Case(
        {"name": "renamed", "transport": "local"}, "host.update", ids=lambda w: w.spare_host.pk
    ),
    ("patch", "/api/v1/hosts/{id}/"): Case({"labels": {"env": "prod"}}, "host.update"),
    ("post", "/api/v1/hosts/{id}/approve-host-key/"): Case(
        lambda w: {"fingerprint": w.site.host.host_key_offered_fingerprint}, "host.approve_key"
    ),
    ("post", "/api/v1/hosts/{id}/refresh/"): Case({}, "host.refresh"),
    ("post", "/api/v1/hosts/{id}/disk/measure/"): Case({}, "host.disk"),
    ("post", "/api/v1/disk/measure/"): Case({"all": True}, "bulk.host.disk"),
    ("post", "/api/v1/images/pull/"): Case(
        lambda w: {"ref": "demo/web:v1", "hosts": [w.site.host.pk]}, "bulk.image.pull"
    ),
    ("post", "/api/v1/operations/{id}/cancel/"): Case(
        {}, "operation.cancel", ids=lambda w: w.pending.pk
    ),
    ("post", "/api/v1/registry-credentials/"): Case(
        {"name": "quay", "registry": "quay.io", "username": "bot", "password": REGISTRY_PASSWORD},
        "registrycredential.create",
    ),
    ("put", "/api/v1/registry-credentials/{id}/"): Case(
        {"name": "ghcr", "registry": "ghcr.io", "username": "bot", "password": REGISTRY_PASSWORD},
        "registrycredential.update",
    ),
    ("patch", "/api/v1/registry-credentials/{id}/"): Case(
        {"username": "robot-2"}, "registrycredential.update"
    ),
    ("delete", "/api/v1/registry-credentials/{id}/"): Case({}, "registrycredential.delete"),
    ("post", "/api/v1/rollouts/{id}/cancel/"): Case({}, "operation.cancel"),
    ("post", "/api/v1/secrets/"): Case({"name": "api-key", "value": SECRET_VALUE}, "secret.create"),
    ("put", "/api/v1/secrets/{id}/"): Case(
        {"name": "db-pass", "value": SECRET_VALUE}, "secret.update", ids=_secret_id
    ),
    ("patch", "/api/v1/secrets/{id}/"): Case(
        {"value": SECRET_VALUE}, "secret.update", ids=_secret_id
    ),
    ("delete", "/api/v1/secrets/{id}/"): Case({}, "secret.delete", ids=_secret_id),
    ("post", "/api/v1/services/"): Case(
        {"name": "svc-new", "host_group": "group-a"}, "service.create"
    ),
    ("put", "/api/v1/services/{id}/"): Case(
        {"name": "svc-a", "host_group": "group-a", "host_label": "tier=web"}, "service.update"
    ),
    ("patch", "/api/v1/services/{id}/"): Case({"host_label": "tier=web"}, "service.update"),
    ("delete", "/api/v1/services/{id}/"): Case(
        {}, "service.retire", ids=lambda w: Service.objects.create(name="spare-svc").pk
    ),
    ("patch", "/api/v1/services/{id}/revisions/{number}/"): Case(
        {"archived": True}, "revision.archive"
    ),
    ("post", "/api/v1/services/{id}/deploy/"): Case({}, "service.deploy"),
    ("post", "/api/v1/services/{id}/revisions/"): Case(
        {"spec": {"image": "demo/web:v2"}}, "revision.create"
    ),
    ("post", "/api/v1/services/{id}/rollback/"): Case({"revision": 1}, "service.rollback"),
    ("post", "/api/v1/tokens/"): Case({"name": "ci deploys"}, "token.create"),
    ("post", "/api/v1/tokens/{id}/revoke/"): Case({}, "token.revoke"),
    ("post", "/api/v1/users/"): Case(
        {"username": "newcomer", "password": PASSWORD, "role": "operator"}, "user.create"
    ),
    ("put", "/api/v1/users/{id}/"): Case(
        {"username": "victim", "password": PASSWORD, "role": "operator"}, "user.update"
    ),
    ("patch", "/api/v1/users/{id}/"): Case({"email": "victim@example.com"}, "user.update"),
    ("delete", "/api/v1/users/{id}/"): Case({}, "user.deactivate"),
}


def _endpoints() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method, path)
        for path, methods in schema["paths"].items()
        for method in methods
        if method in MUTATING
    )


@pytest.fixture
def world() -> World:
    site = make_site("a")
    admin = make_user("root-admin", Role.ADMIN)
    victim = make_user("victim", Role.VIEWER)
    site.host.host_key_offered = EXAMPLE_HOST_KEY
    site.host.save(update_fields=["host_key_offered"])
    token = ApiToken.objects.create(user=admin, name="mine", role="admin", key="k-admin")
    pending = start_operation(action="host.refresh", target=site.host, actor=admin, host=site.host)
    return World(
        site=site,
        admin=admin,
        victim=victim,
        credential=make_credential(),
        spare_host=Host.objects.create(name="spare", transport="local"),
        spare_group=HostGroup.objects.create(name="spare-group"),
        token=token,
        pending=pending,
        secrets=[PASSWORD, REGISTRY_PASSWORD, "registry-secret-Zq9", SECRET_VALUE],
    )


def _url(path: str, case: Case, world: World) -> str:
    resource = path.split("/")[3]
    usual = {
        "hosts": world.site.host.pk,
        "host-groups": world.site.group.pk,
        "containers": world.site.container.pk,
        "host-images": world.site.image.pk,
        "networks": world.site.network.pk,
        "volumes": world.site.volume.pk,
        "registry-credentials": world.credential.pk,
        "services": world.site.service.pk,
        "rollouts": world.site.rollout.pk,
        "operations": world.site.operation.pk,
        "users": world.victim.pk,
        "tokens": world.token.pk,
    }

    def value(match: re.Match) -> str:
        if match.group(1) == "host_id":
            return str(world.site.host.pk)
        if match.group(1) == "number":  # a revision neither current nor being rolled out
            spare = Revision.objects.create(
                service=world.site.service, number=99, image="demo/web:v9",
                spec={"image": "demo/web:v9"}, author_name="root-admin",
            )  # fmt: skip
            return str(spare.number)
        return str(case.ids(world) if case.ids else usual[resource])

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_mutating_endpoint_is_walked():
    assert set(_endpoints()) == set(CASES), "teach test_audit_every_mutation the new endpoint"


@pytest.mark.parametrize(("method", "path"), sorted(CASES))
def test_mutating_endpoint_records_an_operation(world, method, path):
    case = CASES[(method, path)]
    if path.startswith("/api/v1/services/{id}/") and path.endswith(("deploy/", "rollback/")):
        _finish_rollout(world)
    before = set(Operation.objects.values_list("pk", flat=True))
    body = case.body(world) if callable(case.body) else case.body
    client = logged_in(world.admin)
    response = getattr(client, method)(
        _url(path, case, world), body, content_type="application/json"
    )
    assert response.status_code < 300, (response.status_code, response.content)
    recorded = Operation.objects.exclude(pk__in=before)
    assert case.action in {op.action for op in recorded}, (
        f"{method.upper()} {path} recorded {sorted(op.action for op in recorded)}"
    )
    mine = [op for op in recorded if op.action == case.action]
    assert all(op.actor == world.admin and op.actor_name == "root-admin" for op in mine)
    trail = json.dumps([[op.params, op.result, op.error, op.target_name] for op in recorded])
    for secret in world.secrets:
        assert secret not in trail, f"{secret!r} was recorded"
    if path == "/api/v1/tokens/":
        assert response.json()["token"] not in trail
        # berth_<prefix>_<secret>: the secret may hold "_" itself, so split from the left.
        assert response.json()["token"].split("_", 2)[2] not in trail
