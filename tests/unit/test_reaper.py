"""The reaper fails operations no worker will finish, saying why, and leaves every
other operation exactly as it was."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from hosts.models import Host
from operations import services
from operations.choices import OperationStatus
from operations.models import Operation

pytestmark = pytest.mark.django_db

PENDING_TIMEOUT = 600


@pytest.fixture(autouse=True)
def _pending_timeout(settings):
    settings.BERTH_PENDING_TIMEOUT = PENDING_TIMEOUT


@pytest.fixture
def host() -> Host:
    return Host.objects.create(name="h", transport="local")


def _operation(host: Host, status: str, *, age: float = 0, **fields) -> Operation:
    """An operation recorded ``age`` seconds ago, in ``status``, with ``fields`` set."""
    operation = services.start_operation(
        action="container.restart", target=host, actor=None, host=host
    )
    Operation.objects.filter(pk=operation.pk).update(
        status=status, created_at=timezone.now() - timedelta(seconds=age), **fields
    )
    operation.refresh_from_db()
    return operation


def _running(host: Host, *, deadline_in: float) -> Operation:
    now = timezone.now()
    return _operation(
        host,
        OperationStatus.RUNNING,
        age=abs(deadline_in) + 120,
        started_at=now - timedelta(seconds=abs(deadline_in) + 60),
        deadline_at=now + timedelta(seconds=deadline_in),
        claimed_by="worker-1:4242",
        attempts=1,
    )


def test_a_running_operation_past_its_deadline_fails_saying_its_worker_was_lost(host):
    stuck = _running(host, deadline_in=-5)

    assert services.reap_stuck_operations() == 1

    stuck.refresh_from_db()
    assert stuck.status == OperationStatus.FAILED
    deadline = f"{stuck.deadline_at:%H:%M:%S}"
    assert stuck.error == (
        f"no worker reported back by its deadline ({deadline} UTC); "
        "the worker running it was probably lost"
    )
    assert stuck.finished_at is not None


def test_a_pending_operation_nobody_picked_up_fails_naming_the_wait(host):
    forgotten = _operation(host, OperationStatus.PENDING, age=PENDING_TIMEOUT + 5)

    assert services.reap_stuck_operations() == 1

    forgotten.refresh_from_db()
    assert forgotten.status == OperationStatus.FAILED
    assert forgotten.error == (
        f"no worker picked it up within {PENDING_TIMEOUT} s (are the workers and Redis running?)"
    )
    assert forgotten.finished_at is not None


def test_operations_still_within_their_time_are_left_alone(host):
    running = _running(host, deadline_in=60)
    pending = _operation(host, OperationStatus.PENDING, age=PENDING_TIMEOUT - 60)

    assert services.reap_stuck_operations() == 0

    for operation in (running, pending):
        before = (operation.status, operation.error, operation.finished_at)
        operation.refresh_from_db()
        assert (operation.status, operation.error, operation.finished_at) == before


@pytest.mark.parametrize(
    "status", [OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.CANCELLED]
)
def test_a_finished_operation_is_left_alone_however_old(host, status):
    long_ago = timezone.now() - timedelta(days=2)
    finished = _operation(
        host,
        status,
        age=2 * 86400,
        deadline_at=long_ago,
        finished_at=long_ago,
        error="its own words" if status != OperationStatus.SUCCEEDED else "",
        result={"kept": True},
    )

    assert services.reap_stuck_operations() == 0

    after = Operation.objects.get(pk=finished.pk)
    assert (after.status, after.error, after.finished_at, after.result) == (
        finished.status,
        finished.error,
        finished.finished_at,
        finished.result,
    )


def test_a_reaped_child_ends_its_bulk_parent(host):
    parent = services.start_operation(
        action="bulk.container.restart",
        target=None,
        target_name="2 containers",
        actor=None,
        status=OperationStatus.RUNNING,
    )
    done = _operation(host, OperationStatus.SUCCEEDED, finished_at=timezone.now(), parent=parent)
    stuck = _running(host, deadline_in=-5)
    Operation.objects.filter(pk=stuck.pk).update(parent=parent)

    assert services.reap_stuck_operations() == 1

    parent.refresh_from_db()
    assert parent.status == OperationStatus.FAILED
    assert parent.error.startswith("1 of 2 succeeded; ")
    assert "no worker reported back by its deadline" in parent.error
    assert parent.result is not None
    assert [row["operation"] for row in parent.result["targets"]] == sorted([done.pk, stuck.pk])


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_running_operation_whose_worker_process_died_is_queued_again(
    host, django_capture_on_commit_callbacks
):
    lost = _running(host, deadline_in=600)
    Operation.objects.filter(pk=lost.pk).update(claimed_by=f"{os.uname().nodename}:{_dead_pid()}")
    alive = _running(host, deadline_in=600)
    Operation.objects.filter(pk=alive.pk).update(claimed_by=f"{os.uname().nodename}:1")  # init
    elsewhere = _running(host, deadline_in=600)
    Operation.objects.filter(pk=elsewhere.pk).update(claimed_by="another-machine:1")

    with django_capture_on_commit_callbacks() as queued:
        assert services.requeue_lost_operations() == [lost.pk]

    assert len(queued) == 1
    # Still running, as claimed: the next claim (by a live process) takes it over.
    lost.refresh_from_db()
    assert lost.status == OperationStatus.RUNNING
    assert services.claim_operation(lost.pk) is not None
    assert services.claim_operation(alive.pk) is None


def test_an_operation_whose_worker_machine_stopped_beating_is_queued_again(
    host, settings, django_capture_on_commit_callbacks
):
    """Another machine's process cannot be judged by pid: its heartbeat says whether it
    still runs the operation. Silent for longer than BERTH_WORKER_LOST_AFTER: lost."""
    settings.BERTH_WORKER_LOST_AFTER = 30
    now = timezone.now()
    silent = _running(host, deadline_in=600)
    beating = _running(host, deadline_in=600)
    Operation.objects.filter(pk=silent.pk).update(
        claimed_by="machine-b:77", heartbeat_at=now - timedelta(seconds=31)
    )
    Operation.objects.filter(pk=beating.pk).update(
        claimed_by="machine-b:78", heartbeat_at=now - timedelta(seconds=5)
    )

    with django_capture_on_commit_callbacks() as queued:
        assert services.requeue_lost_operations() == [silent.pk]

    assert len(queued) == 1
    taken = services.claim_operation(silent.pk)
    assert taken is not None
    assert taken.claimed_by == f"{os.uname().nodename}:{os.getpid()}"
    assert taken.attempts == 2
    assert taken.heartbeat_at is not None and taken.heartbeat_at > now
    assert services.claim_operation(beating.pk) is None


@pytest.mark.django_db(transaction=True)
def test_a_run_beats_while_it_lasts_and_stops_with_it(host, settings):
    """The heartbeat of a run: written from its own thread (its own connection) while
    the handler works, and no more once the run has ended."""
    settings.BERTH_WORKER_HEARTBEAT = 0.1
    operation = _running(host, deadline_in=600)
    stale = timezone.now() - timedelta(seconds=600)
    Operation.objects.filter(pk=operation.pk).update(claimed_by="machine-b:77", heartbeat_at=stale)

    with services.heartbeat(operation.pk, "machine-b:77"):
        deadline = time.monotonic() + 10
        while Operation.objects.get(pk=operation.pk).heartbeat_at == stale:
            assert time.monotonic() < deadline, "the run never beat"
            time.sleep(0.05)
    last = Operation.objects.get(pk=operation.pk).heartbeat_at
    assert last > timezone.now() - timedelta(seconds=5)
    time.sleep(0.4)
    assert Operation.objects.get(pk=operation.pk).heartbeat_at == last
