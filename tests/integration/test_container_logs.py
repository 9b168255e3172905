"""Container logs through the API and the worker: the last N lines into the result;
a follow streams each line until it is cancelled or its time is up."""

import pytest
from django.urls import reverse

from tests.fleet import wait_for
from tests.integration.container_support import (
    act,
    finished,
    host_container,
    known_container,
    online_host,
    post,
    stream_items,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]

ECHO_FIVE = "for i in 1 2 3 4 5; do echo known-line-$i; done; echo on-stderr >&2; exec /bin/start"
TICKER = 'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done'


def _logged(fleet_host, name, text):
    result = fleet_host.docker("logs", name)
    return text in result.stdout + result.stderr


def test_logs_returns_the_last_lines_the_container_wrote(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    with host_container(h1, fleet.registry, "--", "sh", "-c", ECHO_FIVE) as name:
        wait_for(lambda: _logged(h1, name, "on-stderr"), timeout=20, what="the lines")
        container = known_container(host, name)

        operation = act(admin_client, container, "logs", {"tail": "all", "timestamps": True})

        assert operation.status == "succeeded", operation.error
        lines = operation.result["lines"]
        stdout = [line["line"] for line in lines if line["stream"] == "stdout"]
        assert stdout == [f"known-line-{i}" for i in range(1, 6)]
        assert any(line["line"] == "on-stderr" and line["stream"] == "stderr" for line in lines)
        assert all(line["time"].startswith("20") for line in lines)


def test_logs_tail_limits_the_lines(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    command = "for i in 1 2 3 4 5; do echo known-line-$i; done; exec /bin/start"
    with host_container(h1, fleet.registry, "--", "sh", "-c", command) as name:
        wait_for(lambda: _logged(h1, name, "known-line-5"), timeout=20, what="the lines")
        container = known_container(host, name)

        operation = act(admin_client, container, "logs", {"tail": 2})

        assert operation.status == "succeeded", operation.error
        assert operation.result["lines"] == [
            {"line": "known-line-4", "stream": "stdout"},
            {"line": "known-line-5", "stream": "stdout"},
        ]


def test_follow_streams_lines_until_cancelled(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    with host_container(h1, fleet.registry, "--", "sh", "-c", TICKER) as name:
        container = known_container(host, name)
        response = post(
            admin_client, reverse("container-logs", args=[container.pk]), {"follow": True}
        )
        assert response.status_code == 202, response.content
        operation_id = response.json()["operation"]

        def streamed():
            body = admin_client.get(reverse("operation-stream", args=[operation_id])).json()
            return len(body["items"]) >= 5 and body["items"]

        items = wait_for(streamed, timeout=30, what="five streamed lines")
        assert all(item["line"].startswith("tick-") for item in items)
        cancel = post(admin_client, reverse("operation-cancel", args=[operation_id]))
        assert cancel.status_code == 202

        operation = finished(operation_id, timeout=30)
        assert operation.status == "cancelled", operation.error
        lines = [item["line"] for item in stream_items(operation_id)]
        assert len(lines) >= 5
        numbers = [int(line.removeprefix("tick-")) for line in lines]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # none lost


def test_follow_ends_by_itself_after_its_duration(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    with host_container(h1, fleet.registry, "--", "sh", "-c", TICKER) as name:
        container = known_container(host, name)

        operation = act(admin_client, container, "logs", {"follow": True, "duration": 2})

        assert operation.status == "succeeded", operation.error
        assert "maximum of 2 s" in operation.result["ended"]
        assert operation.result["lines"] == len(stream_items(operation.pk)) > 0


def test_follow_ends_when_the_container_stops(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    with host_container(h1, fleet.registry, "--", "sh", "-c", TICKER) as name:
        container = known_container(host, name)
        response = post(
            admin_client, reverse("container-logs", args=[container.pk]), {"follow": True}
        )
        operation_id = response.json()["operation"]
        wait_for(lambda: stream_items(operation_id), timeout=30, what="a streamed line")

        h1.docker("stop", "-t", "2", name)

        operation = finished(operation_id, timeout=30)
        assert operation.status == "succeeded", operation.error
        assert operation.result["ended"] == "the container stopped"


# About 3 MB of log (3000 lines of 1000 bytes), three times the default cap, then a marker.
BIG_LOG = "yes " + "x" * 999 + " | head -n 3000; echo last-line; exec /bin/start"


def test_a_huge_log_comes_back_capped_and_marked_truncated(admin_client, register, fleet, settings):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    with host_container(h1, fleet.registry, "--", "sh", "-c", BIG_LOG) as name:
        wait_for(lambda: _logged(h1, name, "last-line"), timeout=30, what="the whole log")
        container = known_container(host, name)

        operation = act(admin_client, container, "logs", {"tail": "all"})

        assert operation.status == "succeeded", operation.error
        assert operation.result["truncated"] is True
        lines = operation.result["lines"]
        size = sum(len(line["line"].encode()) + 1 for line in lines)
        assert settings.BERTH_LOG_MAX_BYTES - 1000 <= size <= settings.BERTH_LOG_MAX_BYTES
        assert lines[-1]["line"] == "last-line"  # the newest lines are the ones kept


def test_a_follow_of_a_flood_ends_at_the_cap(admin_client, register, fleet, settings):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    flood = "yes " + "y" * 999
    with host_container(h1, fleet.registry, "--", "sh", "-c", flood) as name:
        container = known_container(host, name)

        operation = act(admin_client, container, "logs", {"follow": True, "tail": 0})

        assert operation.status == "succeeded", operation.error
        assert operation.result["truncated"] is True
        assert "byte cap" in operation.result["ended"]
        streamed = stream_items(operation.pk)
        assert operation.result["lines"] == len(streamed)
        assert sum(len(item["line"]) + 1 for item in streamed) <= settings.BERTH_LOG_MAX_BYTES
