"""Start, stop, restart, kill and remove through the API and the worker: the host's
docker engine and Berth's database both show the result as soon as the operation ends."""

import pytest
from django.urls import reverse

from containers.models import Container
from operations.models import Operation
from tests.integration.container_support import (
    act,
    docker_state,
    host_container,
    known_container,
    online_host,
    post,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def h1(fleet):
    return fleet["h1"]


def test_stop_leaves_the_container_exited_on_the_host_and_in_berth(
    admin_client, register, fleet, h1
):
    host = online_host(register, h1)
    with host_container(h1, fleet.registry) as name:
        container = known_container(host, name)
        assert container.state == "running"

        operation = act(admin_client, container, "stop", {"timeout": 5})

        assert operation.status == "succeeded", operation.error
        assert operation.result["changed"] is True
        assert docker_state(h1, name) == "exited"
        assert Container.objects.get(pk=container.pk).state == "exited"


def test_start_runs_a_stopped_container_and_a_second_start_changes_nothing(
    admin_client, register, fleet, h1
):
    host = online_host(register, h1)
    with host_container(h1, fleet.registry) as name:
        h1.docker("stop", "-t", "1", name)
        container = known_container(host, name)

        operation = act(admin_client, container, "start")

        assert operation.status == "succeeded", operation.error
        assert docker_state(h1, name) == "running"
        assert Container.objects.get(pk=container.pk).state == "running"

        again = act(admin_client, container, "start")
        assert again.status == "succeeded", again.error
        assert again.result["changed"] is False
        assert "already running" in again.result["message"]


def test_restart_starts_the_container_afresh(admin_client, register, fleet, h1):
    host = online_host(register, h1)
    with host_container(h1, fleet.registry) as name:
        container = known_container(host, name)
        started = h1.docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout.strip()

        operation = act(admin_client, container, "restart", {"timeout": 2})

        assert operation.status == "succeeded", operation.error
        assert docker_state(h1, name) == "running"
        assert h1.docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout.strip() != started
        assert Container.objects.get(pk=container.pk).state == "running"


def test_kill_with_sigkill_leaves_the_container_exited(admin_client, register, fleet, h1):
    host = online_host(register, h1)
    with host_container(h1, fleet.registry) as name:
        container = known_container(host, name)

        operation = act(admin_client, container, "kill", {"signal": "KILL"})

        assert operation.status == "succeeded", operation.error
        assert operation.params["signal"] == "SIGKILL"
        assert docker_state(h1, name) == "exited"
        assert h1.docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "137"
        assert Container.objects.get(pk=container.pk).state == "exited"


def test_remove_takes_the_container_off_the_host_and_out_of_berth(
    admin_client, register, fleet, h1
):
    host = online_host(register, h1)
    with host_container(h1, fleet.registry) as name:
        container = known_container(host, name)

        operation = act(admin_client, container, "remove", {"force": True})

        assert operation.status == "succeeded", operation.error
        assert operation.result["removed"] is True
        assert docker_state(h1, name) is None
        assert not Container.objects.filter(pk=container.pk).exists()


def test_removing_a_running_container_without_force_fails_and_keeps_it(
    admin_client, register, fleet, h1
):
    host = online_host(register, h1)
    with host_container(h1, fleet.registry) as name:
        container = known_container(host, name)

        operation = act(admin_client, container, "remove")

        assert operation.status == "failed"
        assert "running" in operation.error
        assert docker_state(h1, name) == "running"
        assert Container.objects.filter(pk=container.pk).exists()


def test_removing_a_container_that_is_already_gone_succeeds_and_says_so(
    admin_client, register, fleet, h1
):
    host = online_host(register, h1)
    with host_container(h1, fleet.registry) as name:
        container = known_container(host, name)
        h1.docker("rm", "-f", name)

        operation = act(admin_client, container, "remove")

        assert operation.status == "succeeded", operation.error
        assert operation.result["removed"] is False
        assert "already gone" in operation.result["message"]
        assert not Container.objects.filter(pk=container.pk).exists()


def test_action_on_an_unknown_container_is_a_404_and_records_nothing(admin_client, register, h1):
    online_host(register, h1)
    before = Operation.objects.count()
    response = post(admin_client, reverse("container-stop", args=[987654]))
    assert response.status_code == 404
    assert Operation.objects.count() == before
