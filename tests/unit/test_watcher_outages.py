"""The fleet watcher outlives Redis and database outages: it backs off, keeps the
events it saw, and queues their refreshes once the broker is back.

A real redis-server is stopped and started on one loopback port (tests/redis_server.py)."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from django.db import OperationalError

from berth.celery import app as celery_app
from hosts.watcher import FleetWatcher
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


def _point_broker_at(url: str) -> None:
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    previous = celery_app.conf.broker_url
    _point_broker_at(server.url)
    yield server
    server.stop()
    _point_broker_at(previous)


@pytest.fixture
def running_watcher(tmp_path):
    stop = threading.Event()
    watcher = FleetWatcher(
        resync_every=0.2, debounce=0, heartbeat=tmp_path / "beat", retry_first=0.1, retry_max=0.5
    )
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    yield watcher, thread, stop
    stop.set()
    thread.join(10)


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _queued_host_ids(server: RedisServer) -> list[int]:
    import redis

    client = redis.Redis.from_url(server.url)
    messages = [json.loads(raw) for raw in client.lrange("celery", 0, -1)]
    return [
        json.loads(base64.b64decode(message["body"]))[0][0]
        for message in messages
        if message["headers"]["task"] == "hosts.tasks.refresh_host"
    ]


def test_watcher_survives_redis_stopping_and_queues_the_refresh_once_it_is_back(
    redis_server, running_watcher
):
    watcher, thread, _stop = running_watcher
    thread.start()
    watcher.mark(41)
    assert _wait_for(lambda: _queued_host_ids(redis_server) == [41], 5), "no refresh queued"

    redis_server.stop()
    watcher.mark(42)  # an event while Redis is away
    time.sleep(2)  # several failed publishes and back-offs
    assert thread.is_alive(), "the watcher died with Redis"

    redis_server.start()  # a fresh, empty Redis on the same port
    assert _wait_for(lambda: _queued_host_ids(redis_server) == [42], 10), (
        "the refresh for the event seen during the outage was never queued"
    )
    assert thread.is_alive()


def test_watcher_survives_the_database_going_away(running_watcher, monkeypatch):
    watcher, thread, _stop = running_watcher
    real_sync = watcher.sync
    failures = {"left": 4}

    def flaky_sync() -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        real_sync()

    monkeypatch.setattr(watcher, "sync", flaky_sync)
    heartbeat = watcher.heartbeat
    assert heartbeat is not None
    thread.start()
    assert _wait_for(heartbeat.exists, 10), "the watcher never got past the outage"
    assert failures["left"] == 0
    assert thread.is_alive()
