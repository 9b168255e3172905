"""One-shot container stats through the API and the worker."""

import pytest

from tests.integration.container_support import (
    act,
    host_container,
    known_container,
    online_host,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def test_stats_result_has_cpu_and_memory_numbers(admin_client, register, fleet):
    h1 = fleet["h1"]
    host = online_host(register, h1)
    with host_container(h1, fleet.registry) as name:
        container = known_container(host, name)

        operation = act(admin_client, container, "stats")

        assert operation.status == "succeeded", operation.error
        result = operation.result
        assert result["name"] == name
        assert isinstance(result["cpu_percent"], float)
        assert result["cpu_percent"] >= 0
        assert result["mem_usage"] > 0
        assert result["mem_limit"] >= result["mem_usage"]
        assert 0 <= result["mem_percent"] <= 100
        assert result["pids"] >= 1
