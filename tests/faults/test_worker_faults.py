"""Berth's own processes lost in the middle of work: a worker's parent process killed
mid-rollout, a worker process killed mid-bulk action, two beat processes at once. Each
outcome is what a user would check: the rollout's final status, one container per host,
no operation left open."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse

from berth.celery import app as celery_app
from containers.models import Container
from deployments import services
from deployments.choices import RolloutKind, RolloutStatus
from deployments.models import Revision, Service
from hosts.choices import HostStatus
from hosts.models import Host
from operations.choices import FINISHED_STATUSES, OperationStatus
from operations.models import Operation
from tests.fleet import wait_for
from tests.integration.rollout_support import (
    NAMES,
    assert_runs_only,
    finished,
    on_host,
    service_on_the_fleet,
    slow_sleeper,
    switched,
)
from tests.live_services import start_process, stop_process

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "celery"  # Celery's default queue: rollouts and bulk children go there


def _session_worker() -> str:
    return f"test-{os.getpid()}@{socket.gethostname()}"


@pytest.fixture
def own_worker(celery_worker, service_env, tmp_path) -> Iterator[subprocess.Popen]:
    """A worker of this test's own, the only one taking new tasks from the default queue
    (the session's worker stops consuming it meanwhile), so the test can kill it."""
    session = _session_worker()
    celery_app.control.cancel_consumer(QUEUE, destination=[session], reply=True, timeout=5)
    log_path = tmp_path / "own-worker.log"
    process = start_process(
        [sys.executable, "-m", "celery", "-A", "berth", "worker", "--pool", "prefork",
         "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
         "-n", f"own-{uuid.uuid4().hex[:6]}@%h"],
        service_env,
        log_path,
    )  # fmt: skip
    try:
        wait_for(
            lambda: len(celery_app.control.ping(timeout=0.5)) >= 2,
            timeout=60,
            what="the test's own worker to start",
        )
        yield process
    finally:
        if process.poll() is None:
            stop_process(process, log_path)
        celery_app.control.add_consumer(QUEUE, destination=[session], reply=True, timeout=5)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in out.split()]


def _reaping_beat(service_env, tmp_path) -> subprocess.Popen:
    """A beat process that runs the reaper every 2 s (and no fleet refresh to speak of)."""
    return start_process(
        [sys.executable, "-m", "celery", "-A", "berth", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "schedule"), "--pidfile="],
        {**service_env, "BERTH_REAPER_INTERVAL": "2", "BERTH_REFRESH_INTERVAL": "600"},
        tmp_path / "beat.log",
    )  # fmt: skip


@pytest.fixture
def sleeper(register, fleet) -> Iterator[Service]:
    yield from service_on_the_fleet(register, fleet)


def _assert_one_container_each(fleet, service: Service, revision: Revision) -> None:
    for name in NAMES:
        assert_runs_only(fleet, name, service, revision)


def test_worker_parent_killed_mid_rollout(sleeper, fleet, own_worker, service_env, tmp_path):
    """A SIGKILLed worker parent takes its pool processes with it (Celery sets their
    parent-death signal), and Redis would hand the unacknowledged task back only after
    an hour. The reaper (beat, every BERTH_REAPER_INTERVAL s) sees that the process that
    claimed the rollout is gone and queues it again; a worker resumes it."""
    revision = slow_sleeper(sleeper, fleet)
    rollout = services.request_deploy(sleeper, revision, actor=None, batch_size=1)
    switched(rollout, "h1")
    (h1_container,) = on_host(fleet, "h1", sleeper.name)
    children = _children(own_worker.pid)
    os.kill(own_worker.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    for child in children:
        wait_for(
            lambda child=child: not Path(f"/proc/{child}").exists(),
            timeout=10,
            what=f"worker process {child} to die with its parent",
        )
    # What a process manager does: a worker takes the queue again (here the session's).
    celery_app.control.add_consumer(QUEUE, destination=[_session_worker()], reply=True, timeout=5)
    beat = _reaping_beat(service_env, tmp_path)
    try:
        final = finished(rollout, timeout=120)
    finally:
        stop_process(beat, tmp_path / "beat.log")
    recovery = time.monotonic() - killed_at
    print(f"worker parent killed mid-rollout: rollout ended {recovery:.1f} s later")

    assert final.status == RolloutStatus.SUCCEEDED, final.reason
    operation = Operation.objects.get(pk=rollout.operation_id)
    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    assert operation.attempts == 2
    # h1 was confirmed, not deployed again; every host runs one container of r1.
    assert on_host(fleet, "h1", sleeper.name) == [h1_container]
    _assert_one_container_each(fleet, sleeper, revision)


@pytest.mark.parametrize("whom", ["process", "parent"])
def test_worker_killed_mid_bulk_restart(
    whom, admin_client, sleeper, fleet, request, service_env, tmp_path
):
    """A pool process killed: Celery hands its task back. The worker's parent killed
    (its processes die with it): the reaper queues again what they were running."""
    revision = services.create_revision(
        sleeper, spec={"image": f"{fleet.registry}/demo/sleeper:v1"}, health={"mode": "none"}
    )
    assert finished(services.request_deploy(sleeper, revision, actor=None)).status == "succeeded"

    def stored() -> bool:
        labelled = Container.objects.filter(labels__has_key="berth.service")
        return sum(c.labels["berth.service"] == sleeper.name for c in labelled) == len(NAMES)

    wait_for(stored, what="the service's containers to be stored")
    before = {name: on_host(fleet, name, sleeper.name)[0]["id"] for name in NAMES}
    own = request.getfixturevalue("own_worker") if whom == "parent" else None
    response = admin_client.post(
        reverse("container-bulk"),
        {"action": "restart", "filter": {"label": f"berth.service={sleeper.name}"}, "all": True},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    parent = response.json()["operation"]

    # Kill the first worker process seen running one of the children, or its parent.
    running = wait_for(
        lambda: (
            Operation.objects.filter(parent_id=parent, status="running")
            .exclude(claimed_by="")
            .first()
        ),
        timeout=30,
        what="a restart to be under way",
    )
    node, _, pid = running.claimed_by.rpartition(":")
    assert node == os.uname().nodename
    beat = None
    if own is None:
        os.kill(int(pid), signal.SIGKILL)
    else:
        os.kill(own.pid, signal.SIGKILL)
        # What a process manager and beat do: a worker takes the queue again, the
        # reaper runs.
        celery_app.control.add_consumer(
            QUEUE, destination=[_session_worker()], reply=True, timeout=5
        )
        beat = _reaping_beat(service_env, tmp_path)
    try:
        done = wait_for(
            lambda: Operation.objects.filter(pk=parent, status__in=FINISHED_STATUSES).first(),
            timeout=90,
            what="the bulk restart to end",
        )
    finally:
        if beat is not None:
            stop_process(beat, tmp_path / "beat.log")
    children = Operation.objects.filter(parent_id=parent)
    assert done.status == OperationStatus.SUCCEEDED, done.error
    assert children.count() == len(NAMES)
    assert set(children.values_list("status", flat=True)) == {OperationStatus.SUCCEEDED}
    # Restarted, not replaced: the same containers, running, one per host.
    for name in NAMES:
        assert [c["id"] for c in on_host(fleet, name, sleeper.name)] == [before[name]]
    _assert_one_container_each(fleet, sleeper, revision)


def test_two_beats_at_once_converge_a_host_once(sleeper, fleet, service_env, tmp_path):
    revision = services.create_revision(
        sleeper, spec={"image": f"{fleet.registry}/demo/sleeper:v1"}, health={"mode": "none"}
    )
    assert finished(services.request_deploy(sleeper, revision, actor=None)).status == "succeeded"
    (lost,) = on_host(fleet, "h2", sleeper.name)
    fleet["h2"].docker("rm", "-f", lost["id"])

    beats = [
        start_process(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "berth",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(tmp_path / f"schedule-{index}"),
                "--pidfile=",
            ],
            {**service_env, "BERTH_REFRESH_INTERVAL": "1"},
            tmp_path / f"beat-{index}.log",
        )
        for index in range(2)
    ]
    try:
        wait_for(
            lambda: (
                [(c["revision"], c["state"]) for c in on_host(fleet, "h2", sleeper.name)]
                == [("1", "running")]
            ),
            timeout=60,
            what="h2 to converge",
        )
        time.sleep(5)  # a few more refresh rounds from both beats
    finally:
        for index, process in enumerate(beats):
            stop_process(process, tmp_path / f"beat-{index}.log")

    converges = sleeper.rollouts.filter(kind=RolloutKind.CONVERGE)
    assert converges.count() == 1, list(converges.values("pk", "status", "reason"))
    assert converges.get().status == RolloutStatus.SUCCEEDED
    _assert_one_container_each(fleet, sleeper, revision)
    assert not Operation.objects.exclude(status__in=FINISHED_STATUSES).exists()


def test_watcher_killed_and_started_again_follows_the_fleet(register, fleet, service_env, tmp_path):
    """The fleet watcher SIGKILLed (as a crash): nothing is lost for good; a new watcher
    (what supervisord starts under `make run`) follows every host's events again."""
    host = register(fleet["h1"])
    wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).exists(),
        what="h1 online",
    )

    def watcher(index: int) -> subprocess.Popen:
        return start_process(
            [sys.executable, "manage.py", "watch_fleet"],
            service_env,
            tmp_path / f"watcher-{index}.log",
        )

    first = watcher(1)
    wait_for(
        lambda: "following the Docker events of h1" in (tmp_path / "watcher-1.log").read_text(),
        timeout=30,
        what="the first watcher to follow h1",
    )
    first.kill()
    first.wait()
    name = f"fault-watch-{uuid.uuid4().hex[:8]}"
    # Made while no watcher runs: the new one's first pass over the fleet finds it.
    fleet["h1"].docker("create", "--name", name, f"{fleet.registry}/demo/sleeper:v1")
    second = watcher(2)
    try:
        started = time.monotonic()
        wait_for(
            lambda: Container.objects.filter(host=host, name=name).exists(),
            timeout=30,
            what=f"{name}, made while no watcher ran, to show up",
        )
        # ... and it follows events again: a start shows up without any refresh asked.
        fleet["h1"].docker("start", name)
        wait_for(
            lambda: Container.objects.filter(host=host, name=name, state="running").exists(),
            timeout=15,
            what=f"{name} to show up running",
        )
        print(f"[fault] watcher killed: a new one caught up in {time.monotonic() - started:.1f} s")
        assert second.poll() is None
    finally:
        stop_process(second, tmp_path / "watcher-2.log")
        fleet["h1"].docker("rm", "-f", name, check=False)
