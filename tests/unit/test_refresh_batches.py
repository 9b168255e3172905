"""How a fleet refresh is split into tasks."""

from __future__ import annotations

from hosts.tasks import refresh_batches


def test_without_shards_hosts_go_in_batches_of_the_configured_size(settings):
    settings.BERTH_HOST_SHARDS = 0
    settings.BERTH_REFRESH_BATCH = 4
    assert refresh_batches(list(range(1, 11))) == [
        (None, [1, 2, 3, 4]),
        (None, [5, 6, 7, 8]),
        (None, [9, 10]),
    ]


def test_with_shards_each_batch_holds_hosts_of_one_shard_only(settings):
    settings.BERTH_HOST_SHARDS = 3
    settings.BERTH_REFRESH_BATCH = 2
    assert refresh_batches(list(range(1, 10))) == [
        ("hosts.0", [3, 6]),
        ("hosts.0", [9]),
        ("hosts.1", [1, 4]),
        ("hosts.1", [7]),
        ("hosts.2", [2, 5]),
        ("hosts.2", [8]),
    ]


def test_no_hosts_no_tasks(settings):
    assert refresh_batches([]) == []
