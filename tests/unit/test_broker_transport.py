"""A worker that loses Redis while it holds an unacknowledged task message survives it.

Celery's consumer, on losing the broker, first collects its connection (which drops the
transport's link to the connection; closing the remote-control channel fails there and
leaves the task channel open) and then closes it; closing the task channel then tries
to put the unacknowledged message back, and kombu's Redis channel, asked for new
connection parameters by a transport with no connection left, raised AttributeError.
Nothing catches that: the worker stopped for good ("Unrecoverable error"), the opposite
of waiting for Redis to come back. Berth's transport (berth/broker.py) makes it the
connection error it is, which Celery expects and rides out.

Real redis-server, real kombu; the two calls at the end are the ones Celery's consumer
makes (celery/worker/consumer/consumer.py, on_connection_error_after_connected)."""

from __future__ import annotations

import contextlib
import time

import pytest
from kombu import Connection, Consumer, Exchange, Message, Producer, Queue
from kombu.common import ignore_errors
from kombu.transport.redis import Transport as KombuRedisTransport

from berth.broker import RedisTransport
from berth.celery import app as celery_app
from tests.redis_server import RedisServer


def _lose_the_broker_holding_a_message(tmp_path, transport: type) -> None:
    server = RedisServer(tmp_path)
    server.start()
    connection = Connection(server.url, transport=transport)
    try:
        queue = Queue("berth-test", Exchange("berth-test"), "berth-test")
        producer = Producer(connection.default_channel)
        producer.publish({"n": 1}, exchange=queue.exchange, routing_key="berth-test",
                         declare=[queue])  # fmt: skip
        held: list[Message] = []
        consumer = Consumer(connection, [queue], callbacks=[lambda _b, m: held.append(m)])
        consumer.consume()
        # A second channel listening on a fanout exchange, as Celery's remote-control
        # mailbox does: closing it fails first and leaves the task channel open.
        control = Queue("berth-control", Exchange("berth-control", type="fanout"),
                        auto_delete=True)  # fmt: skip
        Consumer(connection.channel(), [control], no_ack=True).consume()
        deadline = time.monotonic() + 5
        while not held and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=0.5)
        assert len(held) == 1, "the message was not delivered"
        # Waiting for the next message, as an idle consumer does, with this one still
        # unacknowledged (a task running under acks_late): drained until nothing comes.
        for _ in range(10):
            try:
                connection.drain_events(timeout=0.2)
            except TimeoutError:
                break
        else:
            pytest.fail("the consumer never went idle")
        server.stop()
        with contextlib.suppress(Exception):  # as Celery does
            connection.collect(socket_timeout=0.5)
        ignore_errors(connection, connection.close)
    finally:
        server.stop()


def test_kombus_own_transport_fails_the_way_celery_cannot_survive(tmp_path):
    """The failure this guards against, shown on the transport Berth no longer uses;
    when a kombu release fixes it, this test says so and the workaround can go."""
    with pytest.raises(AttributeError, match="hostname"):
        _lose_the_broker_holding_a_message(tmp_path, KombuRedisTransport)


def test_berths_transport_turns_it_into_a_connection_error_celery_expects(tmp_path):
    _lose_the_broker_holding_a_message(tmp_path, RedisTransport)


def test_celery_uses_berths_transport():
    with celery_app.connection_for_write() as connection:
        assert connection.transport_cls is RedisTransport or isinstance(
            connection.transport, RedisTransport
        )
