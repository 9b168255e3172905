"""Stacks through the API: a service of kind stack is created with a compose file as
revision 1, takes new revisions as compose files, and refuses a bad one with a 400
naming the key; single-container services are as they were."""

import pytest
from django.urls import reverse

from access.roles import Role
from deployments import services
from deployments.choices import RolloutKind
from deployments.models import Revision, Rollout, Service
from hosts.models import Host
from tests.unit.roles_support import logged_in, make_user

pytestmark = pytest.mark.django_db

WEB = "198.18.0.1:5000/demo/web:v1"
SLEEPER = "image: 198.18.0.1:5000/demo/sleeper:v1"
COMPOSE = f"""# the shop
services:
  web:
    image: {WEB}
    depends_on: [cache]
    volumes: [data:/data]
  cache:
    image: 198.18.0.1:5000/demo/sleeper:v1
volumes:
  data:
"""


@pytest.fixture
def host():
    return Host.objects.create(name="h1", transport="local")


def _create(client, host, compose, **extra):
    return client.post(
        reverse("service-list"),
        {"name": "shop", "kind": "stack", "hosts": [host.pk], "revision": {"compose": compose},
         **extra},
        content_type="application/json",
    )  # fmt: skip


def test_a_stack_is_created_with_its_compose_file_as_revision_1(admin_client, host):
    response = _create(admin_client, host, COMPOSE)
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "stack"
    stack = Service.objects.get(name="shop")
    revision = stack.revisions.get()
    assert revision.number == 1
    assert revision.compose == COMPOSE  # as given, comments and all
    assert revision.spec["services"]["web"]["image"] == WEB
    shown = admin_client.get(reverse("service-revisions", args=[stack.pk])).json()["results"][0]
    assert shown["compose"] == COMPOSE
    assert shown["spec"]["services"]["cache"]["image"].endswith("demo/sleeper:v1")
    assert shown["image"] == f"cache=198.18.0.1:5000/demo/sleeper:v1, web={WEB}"


def test_a_new_revision_is_a_compose_file(admin_client, host):
    _create(admin_client, host, COMPOSE)
    stack = Service.objects.get(name="shop")
    url = reverse("service-revisions", args=[stack.pk])
    changed = COMPOSE.replace("web:v1", "web:v2")
    response = admin_client.post(url, {"compose": changed, "note": "v2"}, "application/json")
    assert response.status_code == 201, response.content
    assert response.json()["number"] == 2
    spec = admin_client.post(url, {"spec": {"image": WEB}}, "application/json")
    assert spec.status_code == 400
    assert "compose" in spec.json()["errors"]
    assert stack.revisions.count() == 2


@pytest.mark.parametrize(
    ("compose", "key"),
    [
        (
            COMPOSE.replace("    depends_on", "    cap_add: [NET_ADMIN]\n    depends_on"),
            "revision.compose.services.web.cap_add",
        ),
        (COMPOSE.replace("data:/data", "/srv/data:/data"), "revision.compose.services.web.volumes"),
        (COMPOSE.replace("data:/data", "/etc:/data"), "revision.compose.services.web.volumes"),
        (COMPOSE.replace("demo/sleeper", "Demo/Sleeper"), "revision.compose.services.cache.image"),
        ("services: [", "revision.compose.compose"),
    ],
)
def test_a_bad_compose_file_is_a_400_naming_the_key_and_creates_nothing(
    admin_client, host, compose, key
):
    response = _create(admin_client, host, compose)
    assert response.status_code == 400
    assert key in response.json()["errors"], response.json()
    assert not Service.objects.exists()


def test_a_stack_needs_a_compose_file_and_a_service_a_spec(admin_client, host):
    stack = admin_client.post(
        reverse("service-list"),
        {"name": "shop", "kind": "stack", "revision": {"spec": {"image": WEB}}},
        content_type="application/json",
    )
    assert stack.status_code == 400
    assert "revision.compose" in stack.json()["errors"]
    service = admin_client.post(
        reverse("service-list"),
        {"name": "web", "revision": {"compose": COMPOSE}},
        content_type="application/json",
    )
    assert service.status_code == 400
    assert "revision.spec" in service.json()["errors"]
    assert not Service.objects.exists()


def test_the_kind_of_a_service_cannot_change(admin_client, host):
    _create(admin_client, host, COMPOSE)
    stack = Service.objects.get(name="shop")
    response = admin_client.patch(
        reverse("service-detail", args=[stack.pk]), {"kind": "service"}, "application/json"
    )
    assert response.status_code == 400
    assert "kind" in response.json()["errors"]


def test_a_viewer_cannot_create_a_stack(host):
    viewer = logged_in(make_user("vera", Role.VIEWER))
    assert _create(viewer, host, COMPOSE).status_code == 403


def test_a_stack_deploys_and_rolls_back_through_the_one_rollout_engine(admin_client, host):
    _create(admin_client, host, COMPOSE)
    stack = Service.objects.get(name="shop")
    response = admin_client.post(
        reverse("service-deploy", args=[stack.pk]), {"batch_size": 1}, "application/json"
    )
    assert response.status_code == 202, response.content
    rollout = Rollout.objects.get()
    assert rollout.operation.action == "service.deploy"
    Rollout.objects.filter(pk=rollout.pk).update(status="succeeded")
    # Rolling back to a revision needs its digests, pinned by its first deploy.
    first = Revision.objects.get(service=stack, number=1)
    with pytest.raises(ValueError, match="never deployed"):
        services.request_rollback(stack, first, actor=None)
    Revision.objects.filter(pk=first.pk).update(digests={"web": "r/web@sha256:" + "a" * 64})
    first.refresh_from_db()
    back = services.request_rollback(stack, first, actor=None)
    assert back.kind == RolloutKind.ROLLBACK


def test_the_runner_sends_stack_deploy_with_the_plan_and_resolved_secrets(host):
    from containers.models import Secret
    from deployments.services import RolloutRunner

    Secret.objects.create(name="db-password", value="s3cret")
    stack = services.create_service(
        name="shop",
        actor=None,
        hosts=[host],
        kind="stack",
        first_revision={
            "compose_text": COMPOSE.replace(
                "    depends_on",
                "    x-berth-env-secrets: {DB_PASSWORD: db-password}\n    depends_on",
            )
        },
    )
    revision = stack.revisions.get()
    rollout = Rollout.objects.create(service=stack, revision=revision, health={"timeout_s": 30})
    op, args = RolloutRunner(rollout, context=None)._deploy_args(revision, host)  # type: ignore[arg-type]
    assert op == "stack.deploy"
    assert (args["stack"], args["revision"], args["health_timeout_s"]) == ("shop", 1, 30)
    _cache, web = args["components"]
    assert web["spec"]["env"]["DB_PASSWORD"] == "s3cret"
    assert "env_secrets" not in web["spec"]
    assert web["spec"]["volumes"][0]["source"] == "shop_data"
    assert args["volumes"] == {"shop_data": {"labels": {}}}
    assert revision.spec["services"]["web"]["x-berth-env-secrets"] == {"DB_PASSWORD": "db-password"}
    # Once pinned, the digests are what every later deploy of the revision runs.
    pinned = "198.18.0.1:5000/demo/web@sha256:" + "b" * 64
    revision.digests = {"web": pinned}
    _cache, web = RolloutRunner(rollout, context=None)._deploy_args(revision, host)[1]["components"]  # type: ignore[arg-type]
    assert web["spec"]["image"] == pinned
    assert _cache["spec"]["image"].endswith("demo/sleeper:v1")


def test_runs_revision_wants_exactly_the_revisions_set_of_containers(host):
    two_caches = COMPOSE.replace(SLEEPER, f"deploy: {{replicas: 2}}\n    {SLEEPER}")
    stack = services.create_service(
        name="shop", actor=None, hosts=[host], kind="stack",
        first_revision={"compose_text": two_caches},
    )  # fmt: skip
    revision = stack.revisions.get()

    def labels(component, number=1):
        return {"berth.stack": "shop", "berth.component": component, "berth.revision": str(number)}

    both = [labels("web"), labels("cache"), labels("cache")]
    assert services.runs_revision(both, revision)
    assert not services.runs_revision(both[:2], revision)  # a replica short
    assert not services.runs_revision([*both, labels("web", 0)], revision)  # an old one left
    assert not services.runs_revision(
        [labels("web"), labels("cache"), labels("cache", 2)], revision
    )


def test_a_host_missing_part_of_a_stack_converges_and_one_running_it_all_does_not(settings, host):
    from datetime import timedelta

    from django.utils import timezone

    from containers.models import Container
    from operations.choices import OperationStatus
    from operations.models import Operation

    settings.BERTH_CONVERGE_SETTLE = 30
    stack = services.create_service(
        name="shop", actor=None, hosts=[host], kind="stack",
        first_revision={"compose_text": COMPOSE},
    )  # fmt: skip
    r1 = stack.revisions.get()
    rollout = services.request_deploy(stack, r1, actor=None)
    Rollout.objects.filter(pk=rollout.pk).update(
        status="succeeded", finished_at=timezone.now() - timedelta(seconds=120)
    )
    Operation.objects.filter(pk=rollout.operation_id).update(status=OperationStatus.SUCCEEDED)
    Service.objects.filter(pk=stack.pk).update(current_revision=r1)

    def runs(component):
        labels = {"berth.stack": "shop", "berth.revision": "1", "berth.component": component}
        return Container.objects.create(
            host=host, container_id=f"c-{component}", name=f"shop-{component}-r1-x",
            image=WEB, state="running", labels=labels,
        )  # fmt: skip

    runs("web")
    runs("cache")
    assert services.converge_host(host) == []
    Container.objects.filter(container_id="c-cache").delete()  # cache is gone from the host
    (converge,) = services.converge_host(host)
    assert converge.revision == r1
    assert converge.kind == RolloutKind.CONVERGE


def test_a_secret_a_stack_names_is_reported_as_in_use(host):
    from containers.models import Secret
    from containers.secrets import secret_users

    Secret.objects.create(name="db-password", value="s3cret")
    with_secret = COMPOSE.replace(
        "    depends_on", "    x-berth-env-secrets: {DB_PASSWORD: db-password}\n    depends_on"
    )
    services.create_service(
        name="shop", actor=None, hosts=[host], kind="stack",
        first_revision={"compose_text": with_secret},
    )  # fmt: skip
    assert secret_users("db-password") == ["service shop revision 1 (web.DB_PASSWORD)"]
    assert secret_users("other") == []


def test_a_deploy_of_a_revision_naming_a_secret_deleted_since_fails_that_host(host):
    from agent_link.errors import AgentError
    from containers.models import Secret
    from deployments.services import RolloutRunner

    secret = Secret.objects.create(name="db-password", value="s3cret")
    stack = services.create_service(
        name="shop", actor=None, hosts=[host], kind="stack",
        first_revision={"compose_text": COMPOSE.replace(
            "    depends_on", "    x-berth-env-secrets: {DB_PASSWORD: db-password}\n    depends_on"
        )},
    )  # fmt: skip
    revision = stack.revisions.get()
    secret.delete()
    rollout = Rollout.objects.create(service=stack, revision=revision)
    with pytest.raises(AgentError) as refused:
        RolloutRunner(rollout, context=None)._deploy_args(revision, host)  # type: ignore[arg-type]
    assert "services.web.x-berth-env-secrets.DB_PASSWORD" in refused.value.message
