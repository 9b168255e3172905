"""Host sharding: tasks for one host go to hosts.<pk % BERTH_HOST_SHARDS>, others stay put."""

import os
import subprocess
import sys
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from berth.celery import app
from berth.routing import route_task, shard_queues
from hosts import services as host_services
from hosts.models import Host
from hosts.tasks import refresh_fleet
from hosts.watcher import FleetWatcher
from operations import registry, services


@pytest.fixture
def shards(settings):
    settings.BERTH_HOST_SHARDS = 4
    return 4


@pytest.fixture
def sent():
    """Every task message the app would publish, as (task name, queue name, args, kwargs)."""
    messages = []

    def record(producer, name, message, **options):
        queue = options.get("queue")
        args, kwargs, _ = message.body
        messages.append((name, getattr(queue, "name", queue), list(args), kwargs))

    with mock.patch.object(app.amqp, "send_task_message", side_effect=record):
        yield messages


def test_a_refresh_goes_to_its_hosts_shard(shards):
    assert route_task("hosts.tasks.refresh_host", (5,), {}, {}) == {"queue": "hosts.1"}
    assert route_task("hosts.tasks.refresh_host", (), {"host_id": 8}, {}) == {"queue": "hosts.0"}


def test_an_operation_with_a_host_goes_to_its_hosts_shard(shards):
    route = route_task("operations.tasks.execute_operation", (41,), {"host_id": 7}, {})
    assert route == {"queue": "hosts.3"}


def test_an_operation_without_a_host_stays_on_the_default_queue(shards):
    assert route_task("operations.tasks.execute_operation", (41,), {"host_id": None}, {}) is None
    assert route_task("operations.tasks.execute_operation", (41,), {}, {}) is None


def test_tasks_that_target_no_host_are_not_routed(shards):
    assert route_task("hosts.tasks.refresh_fleet", (), {}, {}) is None
    assert route_task("operations.tasks.reap_stuck_operations", (), {}, {}) is None
    assert route_task("celery.group", (), {"host_id": 3}, {}) is None


def test_without_shards_nothing_is_routed(settings):
    settings.BERTH_HOST_SHARDS = 0
    assert route_task("hosts.tasks.refresh_host", (5,), {}, {}) is None
    assert route_task("operations.tasks.execute_operation", (1,), {"host_id": 5}, {}) is None
    assert shard_queues() == []


def test_the_shard_queues_are_listed_in_order(shards):
    assert shard_queues() == ["hosts.0", "hosts.1", "hosts.2", "hosts.3"]


def test_celery_uses_the_router(shards):
    routed = app.amqp.router.route({}, "hosts.tasks.refresh_host", (6,), {})
    assert routed["queue"].name == "hosts.2"
    default = app.amqp.router.route({}, "hosts.tasks.refresh_fleet", (), {})
    assert default["queue"].name == app.conf.task_default_queue


@pytest.mark.django_db
def test_a_submitted_operation_is_sent_to_its_hosts_shard(
    shards, sent, django_capture_on_commit_callbacks
):
    registry.action("test.sharded")(lambda operation, context: None)
    host = Host.objects.create(name="h", transport="local")
    with django_capture_on_commit_callbacks(execute=True):
        operation = services.submit(action="test.sharded", target=host, actor=None, host=host)
    assert sent == [
        (
            "operations.tasks.execute_operation",
            f"hosts.{host.pk % 4}",
            [operation.pk],
            {"host_id": host.pk},
        )
    ]


@pytest.mark.django_db
def test_each_child_of_a_bulk_operation_goes_to_its_own_hosts_shard(
    shards, sent, django_capture_on_commit_callbacks
):
    registry.action("test.sharded")(lambda operation, context: None)
    hosts = [Host.objects.create(name=f"h{n}", transport="local") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        services.submit_bulk(
            action="test.sharded", targets=[(h, h) for h in hosts], actor=None, label="all"
        )
    assert sorted(queue for _, queue, _, _ in sent) == sorted(f"hosts.{h.pk % 4}" for h in hosts)


@pytest.mark.django_db
def test_a_host_added_to_the_fleet_is_first_refreshed_on_its_shard(
    shards, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        host = host_services.register_host(name="new", transport="local")
    assert [(name, queue) for name, queue, _, _ in sent] == [
        ("hosts.tasks.refresh_host", f"hosts.{host.pk % 4}")
    ]


@pytest.mark.django_db
def test_a_fleet_refresh_refreshes_every_host_from_its_own_shard(shards, sent):
    hosts = [Host.objects.create(name=f"h{n}", transport="local") for n in range(9)]
    assert refresh_fleet() == 9
    refreshed = []
    for _name, queue, args, _kwargs in sent:
        batch = args[0] if isinstance(args[0], list) else [args[0]]
        assert {f"hosts.{pk % 4}" for pk in batch} == {queue}
        refreshed += batch
    assert sorted(refreshed) == sorted(h.pk for h in hosts)


def test_a_sharded_watcher_follows_only_its_shards_hosts(shards):
    watcher = FleetWatcher(shards={1, 2})
    assert [pk for pk in range(1, 9) if watcher.follows(pk)] == [1, 2, 5, 6]
    assert all(FleetWatcher().follows(pk) for pk in range(1, 9))


def test_watch_fleet_refuses_shards_that_do_not_exist(shards):
    with pytest.raises(CommandError, match=r"shards \[4\] do not exist"):
        call_command("watch_fleet", shards="1,4")


def test_with_shards_a_worker_serves_every_queue_unless_told_otherwise():
    code = (
        "from berth.celery import app; "
        "print(sorted((q.name, q.exchange.name, q.routing_key) "
        "for q in app.amqp.queues.consume_from.values()))"
    )
    env = {**os.environ, "BERTH_HOST_SHARDS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == str([(name, name, name) for name in ("celery", "hosts.0", "hosts.1")])
