"""PostgreSQL restarted in the middle of a rollout: the worker loses its connection
part-way, records nothing wrong, and the rollout resumes once the database is back —
hosts it had switched are kept, one container per host, the operation succeeds.

Only in the PostgreSQL run of the suite (`make test` runs it second): SQLite is a file,
with no server to restart, so on SQLite this module holds no test."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.db import connection

from deployments import services
from deployments.choices import RolloutStatus
from deployments.models import Service
from operations.choices import OperationStatus
from operations.models import Operation
from tests.fleet import REPO
from tests.integration.rollout_support import (
    NAMES,
    assert_runs_only,
    finished,
    on_host,
    service_on_the_fleet,
    slow_sleeper,
    switched,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _postgres(command: str) -> None:
    subprocess.run([str(REPO / "scripts" / "postgres"), command], check=True, capture_output=True)


if connection.vendor == "postgresql":

    @pytest.fixture
    def sleeper(register, fleet):
        yield from service_on_the_fleet(register, fleet)

    def test_postgres_restarted_mid_rollout(sleeper: Service, fleet):
        revision = slow_sleeper(sleeper, fleet)
        rollout = services.request_deploy(sleeper, revision, actor=None, batch_size=1)
        switched(rollout, "h1")
        (h1_container,) = on_host(fleet, "h1", sleeper.name)
        _postgres("down")  # fast shutdown: every connection is cut
        down_at = time.monotonic()
        time.sleep(3)
        _postgres("up")
        up_at = time.monotonic()
        connection.close()  # this process's connection died with the server too

        final = finished(rollout, timeout=120)
        print(
            f"[fault] PostgreSQL down {up_at - down_at:.1f} s mid-rollout: rollout "
            f"{final.status} {time.monotonic() - up_at:.1f} s after it was back"
        )
        assert final.status == RolloutStatus.SUCCEEDED, final.reason
        operation = Operation.objects.get(pk=rollout.operation_id)
        assert operation.status == OperationStatus.SUCCEEDED, operation.error
        assert operation.attempts >= 2
        # h1 was confirmed, not deployed again; every host has one container of r1.
        assert on_host(fleet, "h1", sleeper.name) == [h1_container]
        for name in NAMES:
            assert_runs_only(fleet, name, sleeper, revision)
