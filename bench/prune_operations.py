#!/usr/bin/env python3
"""Pruning 100k old operations from the operation log, against a plain delete.

Builds a throwaway SQLite database (migrated, filled with bulk_create; or the database
--database-url names, which it fills and empties: give it one of its own): --rows
finished operations recorded 100 days ago, a tenth of them in bulk actions of a parent
and 9 children, with params, results and durations, plus 1,000 recent operations that
stay. Then times ``operations.retention.prune_operations(days=30)`` (find the families,
export every row to a JSON lines file and fsync it, delete in batches with the metrics
totals), by phase; fills the same rows again and times the baseline, a plain
``Operation.objects.filter(finished, older than 30 days).delete()`` (no export, no
totals, no family check). Checks that /metrics counts the same before and after the
prune. Results also go to bench/results/prune_operations_<sqlite|postgresql>.json.

Usage: bench/prune_operations.py [--rows 100000] [--database-url postgres://…/berth_bench]
"""

from __future__ import annotations

import argparse
import atexit
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="berth-bench-prune-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)

_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--rows", type=int, default=100_000)
_parser.add_argument("--database-url", default=f"sqlite:///{WORK / 'bench.sqlite3'}")
ARGS = _parser.parse_args()

os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "DATABASE_URL": ARGS.database_url,
        "BERTH_VAR_DIR": str(WORK / "var"),
        "BERTH_DEBUG": "false",
        "BERTH_SECRET_KEY": secrets.token_urlsafe(50),
        "BERTH_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "BERTH_LOG_LEVEL": "WARNING",
    }
)
sys.path.insert(0, str(REPO))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.common import write_results  # noqa: E402
from berth.monitoring import metrics  # noqa: E402
from hosts.models import Host  # noqa: E402
from operations import retention  # noqa: E402
from operations.choices import FINISHED_STATUSES  # noqa: E402
from operations.models import Operation, PrunedOperationTotals  # noqa: E402

ACTIONS = ["container.restart", "host.refresh", "image.pull", "container.stop", "service.deploy"]
STATUSES = ["succeeded"] * 8 + ["failed", "cancelled"]
FAMILY = 10  # a bulk parent and 9 children
INSERT_BATCH = 2000
RECENT = 1000


def fill(rows: int, hosts: list[Host]) -> None:
    """``rows`` old finished operations (a tenth in families) and RECENT new ones."""
    Operation.objects.all().delete()
    old = timezone.now() - timedelta(days=100)
    in_families = rows // 10 // FAMILY * FAMILY
    singles = rows - in_families

    def operation(index: int, created, **fields: Any) -> Operation:
        status = STATUSES[index % len(STATUSES)]
        ran = (index % 600) / 10
        return Operation(
            action=fields.pop("action", ACTIONS[index % len(ACTIONS)]),
            status=status,
            actor_name="alice",
            target_type="container",
            target_id=str(index),
            target_name=f"web-{index % 30}",
            host=hosts[index % len(hosts)],
            params={"container": f"web-{index % 30}", "timeout": 10, "password": "***"},
            result={"state": "running", "id": f"{index:064x}"} if status == "succeeded" else None,
            error="" if status == "succeeded" else f"{status}: the container did not stop in time",
            created_at=created,
            started_at=created,
            finished_at=created + timedelta(seconds=ran),
            **fields,
        )

    pending: list[Operation] = []
    for index in range(singles):
        pending.append(operation(index, old + timedelta(seconds=index)))
        if len(pending) >= INSERT_BATCH:
            Operation.objects.bulk_create(pending)
            pending = []
    Operation.objects.bulk_create(pending)
    for family in range(in_families // FAMILY):
        created = old + timedelta(seconds=singles + family)
        parent = Operation.objects.create(
            action="bulk.container.restart", status="succeeded", actor_name="alice",
            target_type="selection", target_name="9 containers", created_at=created,
            started_at=created, finished_at=created + timedelta(seconds=5),
        )  # fmt: skip
        Operation.objects.bulk_create(
            operation(family * FAMILY + child, created, parent=parent)
            for child in range(FAMILY - 1)
        )
    now = timezone.now()
    Operation.objects.bulk_create(operation(index, now) for index in range(RECENT))
    # auto_now_add ignores the value given: every row was recorded when it started.
    Operation.objects.update(created_at=F("started_at"))


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        if family.name in ("berth_operations", "berth_operation_duration_seconds"):
            for sample in family.samples:
                if sample.labels.get("action") != retention.PRUNE_ACTION:
                    samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def timed_phases() -> dict[str, float]:
    """Wrap the prune's phases to time each."""
    phases: dict[str, float] = {}
    for name, label in [("_families_to_prune", "find"), ("_export", "export"),
                        ("_delete", "delete")]:  # fmt: skip
        original = getattr(retention, name)

        def wrapper(*args: Any, _original=original, _label=label, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                phases[_label] = phases.get(_label, 0.0) + time.perf_counter() - started

        setattr(retention, name, wrapper)
    return phases


def main() -> None:
    call_command("migrate", verbosity=0)
    hosts = [Host.objects.get_or_create(name=f"h{n}", transport="local")[0] for n in range(10)]
    engine = connection.vendor

    started = time.perf_counter()
    fill(ARGS.rows, hosts)
    print(f"{engine}: {Operation.objects.count()} operations built in "
          f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    before = scrape()
    phases = timed_phases()
    started = time.perf_counter()
    result = retention.prune_operations(days=30, export_dir=WORK / "exports")
    pruned_s = time.perf_counter() - started
    after = scrape()
    assert result.deleted == ARGS.rows, result.deleted
    assert Operation.objects.exclude(action=retention.PRUNE_ACTION).count() == RECENT
    same = before.keys() == after.keys() and all(
        abs(after[key] - value) <= 1e-6 * max(1.0, abs(value)) for key, value in before.items()
    )
    size = result.export_path.stat().st_size if result.export_path else 0

    PrunedOperationTotals.objects.all().delete()
    fill(ARGS.rows, hosts)
    started = time.perf_counter()
    cutoff = timezone.now() - timedelta(days=30)
    Operation.objects.filter(created_at__lt=cutoff, status__in=FINISHED_STATUSES).delete()
    baseline_s = time.perf_counter() - started

    print()
    print(f"{'':<48}{'s':>8}")
    print(f"{'prune_operations(days=30), whole run':<48}{pruned_s:>8.2f}")
    for label in ("find", "export", "delete"):
        print(f"{'  ' + label:<48}{phases.get(label, 0.0):>8.2f}")
    print(f"{'baseline: QuerySet.delete(), no export':<48}{baseline_s:>8.2f}")
    print()
    print(f"rows pruned: {result.deleted}; export {size / 1e6:.1f} MB "
          f"({size / max(result.deleted, 1):.0f} bytes/row); "
          f"/metrics counters unchanged by the prune: {same}")  # fmt: skip
    write_results(
        f"prune_operations_{engine}",
        {
            "database": engine,
            "rows": result.deleted,
            "prune_s": pruned_s,
            "phases_s": phases,
            "baseline_delete_s": baseline_s,
            "export_bytes": size,
            "metrics_unchanged": same,
        },
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
