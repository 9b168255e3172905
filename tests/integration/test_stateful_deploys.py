"""Random sequences of what operators and scripts do to services — revise, deploy in quick
succession, roll back, restart containers, cancel — through the API, with the real
worker and the test fleet, checked after every step and once everything has settled.

A Hypothesis state machine, seeded (``BERTH_STATEFUL_SEED``, 0 by default) and bounded
(``BERTH_STATEFUL_EXAMPLES`` sequences of at most ``BERTH_STATEFUL_STEPS`` steps), so a
failing sequence is printed and replays with the same seed. No shrinking: every step
runs against real hosts.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from deployments.choices import ACTIVE_ROLLOUT_STATUSES
from deployments.models import Rollout, Service
from hosts.choices import HostStatus
from hosts.models import Host
from hosts.tasks import refresh_host
from operations.choices import OperationStatus
from operations.models import Operation
from tests.fleet import Fleet, wait_for
from tests.integration.rollout_support import NAMES, on_host

pytestmark = pytest.mark.django_db(transaction=True)

SEED = int(os.environ.get("BERTH_STATEFUL_SEED", "0"))
EXAMPLES = int(os.environ.get("BERTH_STATEFUL_EXAMPLES", "4"))
STEPS = int(os.environ.get("BERTH_STATEFUL_STEPS", "15"))
# What a mutating call may answer; anything else (a 5xx above all) fails the sequence.
ACCEPTED = {200, 201, 202, 204, 400, 409}
OPEN = (OperationStatus.PENDING, OperationStatus.RUNNING)


class DeployMachine(RuleBasedStateMachine):
    def __init__(self, client: Client, fleet: Fleet) -> None:
        super().__init__()
        self.client = client
        self.fleet = fleet
        self.created: list[int] = []
        # (method, url, answer) of each accepted mutation
        self.accepted: list[tuple[str, str, Any]] = []
        self.started = timezone.now()

    # -- the API, every answer checked ----------------------------------------------------

    def call(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        if method == "get":
            response = self.client.get(url)
        else:
            send = getattr(self.client, method)
            response = send(url, body or {}, content_type="application/json")
        text = response.content.decode()
        print(f"{method.upper()} {url} {_shown(body)} -> {response.status_code}")  # for a replay
        assert response.status_code < 500, f"{method.upper()} {url}: {response.status_code} {text}"
        if text:
            assert response["Content-Type"].startswith("application/json"), text[:200]
        assert "PRIVATE KEY" not in text
        if method != "get":
            assert response.status_code in ACCEPTED, (
                f"{method} {url}: {response.status_code} {text}"
            )
        answer = json.loads(text) if text else None
        if method != "get" and response.status_code < 300:
            self.accepted.append((method, url, answer))
        return response.status_code, answer

    def _target_names(self) -> list[str]:
        return sorted(self.service.hosts.values_list("name", flat=True))

    def _set_targets(self, names: list[str]) -> None:
        ids = list(Host.objects.filter(name__in=names).values_list("pk", flat=True))
        status, body = self.call(
            "patch", reverse("service-detail", args=[self.service.pk]), {"hosts": ids}
        )
        assert status == 200, body

    # -- rules (each enabled only when it can do something) -----------------------------------

    @initialize(tag=st.sampled_from(["v1", "v2"]))
    def create_service(self, tag: str) -> None:
        name = f"sm-{uuid.uuid4().hex[:6]}"
        status, body = self.call(
            "post",
            reverse("service-list"),
            {"name": name, "hosts": list(Host.objects.values_list("pk", flat=True))},
        )
        assert status == 201, body
        self.service = Service.objects.get(pk=body["id"])
        self.created.append(self.service.pk)
        self.revise(tag)

    def _active(self) -> Rollout | None:
        return Rollout.objects.filter(
            service=self.service, status__in=ACTIVE_ROLLOUT_STATUSES
        ).first()

    def _deployed(self) -> list[int]:
        return sorted(self.service.revisions.exclude(digest="").values_list("number", flat=True))

    @rule(tag=st.sampled_from(["v1", "v2"]))
    def revise(self, tag: str) -> None:
        status, body = self.call(
            "post",
            reverse("service-revisions", args=[self.service.pk]),
            {"spec": {"image": f"{self.fleet.registry}/demo/web:{tag}"}, "note": tag},
        )
        assert status == 201, body

    @rule(batch_size=st.integers(0, 2), wait=st.booleans())
    def deploy_newest(self, batch_size: int, wait: bool) -> None:
        status, body = self.call(
            "post", reverse("service-deploy", args=[self.service.pk]), {"batch_size": batch_size}
        )
        if status == 202 and wait:
            self._until_done(body["id"])

    @precondition(lambda self: bool(self._deployed()))
    @rule(data=st.data())
    def roll_back(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(self._deployed()), label="revision")
        self.call("post", reverse("service-rollback", args=[self.service.pk]), {"revision": number})

    @precondition(lambda self: self._deployed() != [])
    @rule()
    def restart_its_containers(self) -> None:
        query = f"?label=berth.service={self.service.name}"
        _, page = self.call("get", reverse("container-list") + query)
        for container in page["results"]:
            self.call("post", reverse("container-restart", args=[container["id"]]))

    @precondition(lambda self: self._active() is not None)
    @rule()
    def cancel_the_active_rollout(self) -> None:
        rollout = self._active()
        if rollout is not None:
            self.call("post", reverse("rollout-cancel", args=[rollout.pk]))

    @precondition(lambda self: self._active() is not None)
    @rule()
    def wait_for_the_active_rollout(self) -> None:
        rollout = self._active()
        if rollout is not None:
            self._until_done(rollout.pk)

    @rule(data=st.data())
    def change_targets(self, data: st.DataObject) -> None:
        names = data.draw(st.lists(st.sampled_from(NAMES), min_size=1, unique=True), label="hosts")
        self._set_targets(sorted(names))

    @rule(name=st.sampled_from(NAMES))
    def remove_a_host_and_add_it_again(self, name: str) -> None:
        host = Host.objects.filter(name=name).first()
        if host is None:
            return
        targeted = name in self._target_names()
        status, _ = self.call("delete", reverse("host-detail", args=[host.pk]))
        if status != 204:
            return  # refused (409): it is in a rollout under way
        fleet_host = self.fleet[name]
        status, body = self.call(
            "post",
            reverse("host-list"),
            {
                "name": name,
                "address": fleet_host.address,
                "port": fleet_host.port,
                "username": fleet_host.user,
                "private_key": Path(fleet_host.private_key).read_text(),
                "docker_host": fleet_host.docker_host,
                "host_key": fleet_host.host_key,
            },
        )
        assert status == 201, body
        if targeted:  # what an operator does next: put it back among the targets
            self._set_targets([*self._target_names(), name])

    @rule(seconds=st.sampled_from([0.2, 1.0, 3.0]))
    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    # -- after every step ------------------------------------------------------------------

    @invariant()
    def at_most_one_active_rollout_per_service(self) -> None:
        for service in self.created:
            active = Rollout.objects.filter(service_id=service, status__in=ACTIVE_ROLLOUT_STATUSES)
            assert active.count() <= 1, list(active.values("pk", "kind", "status"))

    @invariant()
    def no_operation_open_past_its_deadline(self) -> None:
        late = Operation.objects.filter(status__in=OPEN, deadline_at__lt=timezone.now())
        assert not late.exists(), list(late.values("pk", "action", "status", "deadline_at"))

    @invariant()
    def no_rollout_open_after_its_operation_ended(self) -> None:
        orphans = Rollout.objects.filter(status__in=ACTIVE_ROLLOUT_STATUSES).exclude(
            operation__status__in=OPEN
        )
        assert not orphans.exists(), list(orphans.values("pk", "status", "operation__status"))

    # -- once everything has settled --------------------------------------------------------

    def _until_done(self, rollout: int, timeout: float = 120) -> None:
        wait_for(
            lambda: (
                not Rollout.objects.filter(pk=rollout, status__in=ACTIVE_ROLLOUT_STATUSES).exists()
            ),
            timeout=timeout,
            what=f"rollout #{rollout} to end",
        )

    def teardown(self) -> None:
        try:
            self._check_quiescent_fleet()
        finally:
            for name in NAMES:
                for service in Service.objects.filter(pk__in=self.created):
                    for container in on_host(self.fleet, name, service.name):
                        self.fleet[name].docker("rm", "-f", container["id"], check=False)

    def _check_quiescent_fleet(self) -> None:
        for rollout in Rollout.objects.filter(
            service_id__in=self.created, status__in=ACTIVE_ROLLOUT_STATUSES
        ):
            self._until_done(rollout.pk)
        deployed = list(
            Service.objects.filter(
                pk__in=self.created, current_revision__isnull=False
            ).select_related("current_revision")
        )
        expected = {
            service.name: (
                str(service.current_revision.number),
                sorted(service.hosts.values_list("name", flat=True)),
            )
            for service in deployed
        }

        def converged() -> bool:
            # Refresh, so convergence (after its settle window) fixes what needs it.
            for host_id in Host.objects.values_list("pk", flat=True):
                refresh_host.delay(host_id)
            time.sleep(1)
            for service, (number, names) in expected.items():
                for name in names:
                    containers = on_host(self.fleet, name, service)
                    if [(c["revision"], c["state"]) for c in containers] != [(number, "running")]:
                        return False
            return not Rollout.objects.filter(
                service_id__in=self.created, status__in=ACTIVE_ROLLOUT_STATUSES
            ).exists()

        wait_for(converged, timeout=120, interval=2, what="every host on each service's revision")
        # Nothing Berth did behind the scenes moved a service off what was deployed last.
        for service in deployed:
            fresh = Service.objects.get(pk=service.pk)
            assert fresh.current_revision_id == service.current_revision_id
        for method, url, answer in self.accepted:
            assert _audited(method, url, answer), f"no audit record of {method} {url}: {answer}"


def _shown(body: dict[str, Any] | None) -> Any:
    return {k: ("…" if k == "private_key" else v) for k, v in (body or {}).items()}


def _audited(method: str, url: str, answer: Any) -> bool:
    """Whether the operation log holds a record of this accepted call, by a person."""
    ops = Operation.objects.exclude(actor_name="system")
    if url.endswith("/cancel/"):
        return ops.filter(rollout__pk=answer["id"], cancel_requested=True).exists()
    if url.endswith(("/deploy/", "/rollback/")):
        return ops.filter(rollout__pk=answer["id"]).exists()
    if answer and "operation" in answer:  # a container action's 202
        return ops.filter(pk=answer["operation"]).exists()
    if method == "delete":
        host_id = url.rstrip("/").rsplit("/", 1)[-1]
        return ops.filter(action="host.remove", target_id=host_id).exists()
    kind = {"/revisions/": "revision", "/hosts/": "host"}.get(
        "/" + url.rstrip("/").rsplit("/", 1)[-1] + "/", "service"
    )
    if method == "patch":
        return ops.filter(action="service.update", target_id=str(answer["id"])).exists()
    return ops.filter(target_type=kind, target_id=str(answer["id"])).exists()


@pytest.fixture
def fleet_hosts(register, fleet) -> list[int]:
    hosts = [register(fleet[name]) for name in NAMES]
    wait_for(
        lambda: Host.objects.filter(status=HostStatus.ONLINE).count() == len(NAMES),
        what="h1, h2 and h3 online",
    )
    return [host.pk for host in hosts]


def test_random_sequences_of_deploys_rollbacks_restarts_and_cancels(
    admin_client, fleet, fleet_hosts
):
    @seed(SEED)  # replayable: the same seed draws the same sequences
    def machine() -> DeployMachine:
        return DeployMachine(admin_client, fleet)

    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
        _min_steps=STEPS,
    )
