"""Pruning the operation log: what goes (finished, old or beyond the newest N, whole
families only), that every row is in a complete export file before it is deleted, that a
failed export deletes nothing, and that /metrics counters never go down after a prune."""

from __future__ import annotations

import csv
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from deployments.models import Rollout, Service
from deployments.services import create_revision
from hosts.models import Host
from operations import retention
from operations.choices import FINISHED_STATUSES, OperationStatus
from operations.models import Operation
from operations.tasks import prune_operations as prune_task

pytestmark = pytest.mark.django_db

DAY = 86400.0


@pytest.fixture
def host() -> Host:
    return Host.objects.create(name="h1", transport="local")


def _op(
    host: Host | None,
    *,
    age_days: float,
    status: str = OperationStatus.SUCCEEDED,
    action: str = "container.restart",
    parent: Operation | None = None,
    ran: float | None = 1.5,
    **fields,
) -> Operation:
    """An operation recorded ``age_days`` ago in ``status``; a finished one ran ``ran`` s.

    Inserted as it is, not through start_operation, so that a row recorded before
    params were redacted (or by a bug) can be made too."""
    created = timezone.now() - timedelta(seconds=age_days * DAY)
    finished = status in FINISHED_STATUSES
    operation = Operation.objects.create(
        action=action,
        status=status,
        actor_name="alice",
        target_type="host",
        target_id=str(host.pk) if host else "",
        target_name=host.name if host else "",
        host=host,
        parent=parent,
        started_at=created if ran is not None else None,
        finished_at=created + timedelta(seconds=ran or 0) if finished else None,
        **fields,
    )
    Operation.objects.filter(pk=operation.pk).update(created_at=created)
    operation.refresh_from_db()
    return operation


def _family(host: Host, *, age_days: float, child_statuses: list[str]) -> list[Operation]:
    """A bulk parent and one child per status, all recorded ``age_days`` ago."""
    open_ = any(status not in FINISHED_STATUSES for status in child_statuses)
    parent = _op(
        None,
        age_days=age_days,
        action="bulk.container.restart",
        status=OperationStatus.RUNNING if open_ else OperationStatus.SUCCEEDED,
    )
    children = [
        _op(host, age_days=age_days, parent=parent, status=status) for status in child_statuses
    ]
    return [parent, *children]


def _prune(tmp_path: Path, **options) -> retention.PruneResult:
    return retention.prune_operations(export_dir=tmp_path / "exports", **options)


def _exported(result: retention.PruneResult) -> list[dict]:
    assert result.export_path is not None
    with open(result.export_path) as handle:
        return [json.loads(line) for line in handle]


def _ids(operations) -> set[int]:
    return {operation.pk for operation in operations}


def _remaining() -> set[int]:
    return set(
        Operation.objects.exclude(action=retention.PRUNE_ACTION).values_list("pk", flat=True)
    )


# --- what goes ------------------------------------------------------------------------------


def test_finished_operations_older_than_n_days_are_exported_then_deleted(tmp_path, host):
    old = [
        _op(host, age_days=40),
        _op(host, age_days=31, status=OperationStatus.FAILED, error="boom"),
        _op(host, age_days=35, status=OperationStatus.CANCELLED, ran=None),
    ]
    recent = [_op(host, age_days=29), _op(host, age_days=0)]
    still_open = [
        _op(host, age_days=60, status=OperationStatus.PENDING, ran=None),
        _op(host, age_days=60, status=OperationStatus.RUNNING),
    ]

    result = _prune(tmp_path, days=30)

    assert result.deleted == 3
    assert _remaining() == _ids(recent + still_open)
    assert {row["id"] for row in _exported(result)} == _ids(old)


def test_keep_n_keeps_the_newest_n_operations(tmp_path, host):
    by_age = [_op(host, age_days=days) for days in range(10)]  # newest first
    pending = _op(host, age_days=20, status=OperationStatus.PENDING, ran=None)

    result = _prune(tmp_path, keep=4)

    assert _remaining() == _ids(by_age[:4]) | {pending.pk}
    assert {row["id"] for row in _exported(result)} == _ids(by_age[4:])


def test_days_and_keep_together_prune_what_breaks_either_limit(tmp_path, host):
    by_age = [_op(host, age_days=days) for days in (0, 1, 2, 50, 60)]
    _prune(tmp_path, days=30, keep=2)
    assert _remaining() == _ids(by_age[:2])


def test_ties_in_time_are_broken_by_id_so_keep_n_is_exact(tmp_path, host):
    at_once = [_op(host, age_days=3) for _ in range(5)]
    Operation.objects.update(created_at=at_once[0].created_at)
    _prune(tmp_path, keep=2)
    assert _remaining() == _ids(at_once[-2:])


def test_without_a_limit_nothing_is_pruned_and_no_file_is_written(tmp_path, host):
    _op(host, age_days=400)
    result = _prune(tmp_path)
    assert result.deleted == 0
    assert result.export_path is None
    assert not (tmp_path / "exports").exists()
    assert Operation.objects.count() == 1


def test_nothing_old_enough_writes_no_file_and_no_record(tmp_path, host):
    _op(host, age_days=1)
    result = _prune(tmp_path, days=30)
    assert (result.deleted, result.export_path) == (0, None)
    assert not Operation.objects.filter(action=retention.PRUNE_ACTION).exists()


def test_a_dry_run_deletes_nothing_and_writes_nothing(tmp_path, host):
    _op(host, age_days=40)
    _op(host, age_days=41, status=OperationStatus.FAILED)
    result = _prune(tmp_path, days=30, dry_run=True)
    assert result.deleted == 0
    assert result.would_delete == 2
    assert result.export_path is None
    assert Operation.objects.count() == 2
    assert not (tmp_path / "exports").exists()


# --- families ---------------------------------------------------------------------------------


def test_a_bulk_action_goes_with_all_its_children_or_not_at_all(tmp_path, host):
    done = _family(host, age_days=40, child_statuses=["succeeded", "failed"])
    # A child still running keeps its parent and its finished siblings.
    unfinished = _family(host, age_days=40, child_statuses=["succeeded", "running"])

    result = _prune(tmp_path, days=30)

    assert _remaining() == _ids(unfinished)
    assert {row["id"] for row in _exported(result)} == _ids(done)
    by_id = {row["id"]: row for row in _exported(result)}
    assert {by_id[child.pk]["parent"] for child in done[1:]} == {done[0].pk}


def test_a_family_is_kept_whole_while_any_member_is_among_the_newest(tmp_path, host):
    family = _family(host, age_days=5, child_statuses=["succeeded", "succeeded"])
    newest_child = family[-1]
    Operation.objects.filter(pk=newest_child.pk).update(created_at=timezone.now())
    older = [_op(host, age_days=days) for days in (6, 7)]

    _prune(tmp_path, keep=1)

    # The newest row is a child: its parent and sibling stay with it.
    assert _remaining() == _ids(family)
    assert not _ids(older) & _remaining()


def test_no_child_is_ever_left_without_its_parent(tmp_path, host):
    for age in (40, 35, 2):
        _family(host, age_days=age, child_statuses=["succeeded", "failed", "cancelled"])
    # The newest 5 rows reach into the 35-day-old family: it stays whole.
    _prune(tmp_path, keep=5)
    orphans = Operation.objects.filter(parent__isnull=False).exclude(
        parent_id__in=Operation.objects.values("pk")
    )
    assert not orphans.exists()
    assert Operation.objects.filter(parent__isnull=False).count() == 6


def test_a_rollout_outlives_its_pruned_operation(tmp_path, host):
    service = Service.objects.create(name="web")
    revision = create_revision(service, spec={"image": "198.18.0.1:5000/demo/web:v1"})
    operation = _op(None, age_days=40, action="service.deploy")
    rollout = Rollout.objects.create(
        service=service, revision=revision, status="succeeded", operation=operation
    )

    _prune(tmp_path, days=30)

    rollout.refresh_from_db()
    assert rollout.operation is None
    assert not Operation.objects.filter(pk=operation.pk).exists()


# --- the export ---------------------------------------------------------------------------------


def test_the_export_holds_every_field_and_no_secret_value(tmp_path, host):
    # As an older release might have recorded them: secrets in the params and result.
    leaky = _op(
        host,
        age_days=40,
        status=OperationStatus.FAILED,
        params={"image": "web:v1", "password": "hunter2", "registry": {"token": "tok-123"}},
        result={"auth": "s3cret-auth", "pulled": True},
        error="pull failed",
    )

    result = _prune(tmp_path, days=30)

    text = result.export_path.read_text()
    for secret in ("hunter2", "tok-123", "s3cret-auth"):
        assert secret not in text
    (row,) = _exported(result)
    assert row["id"] == leaky.pk
    assert row["action"] == "container.restart"
    assert row["status"] == "failed"
    assert row["actor_name"] == "alice"
    assert row["host"] == host.pk
    assert row["host_name"] == "h1"
    assert row["parent"] is None
    assert row["params"] == {"image": "web:v1", "password": "***", "registry": {"token": "***"}}
    assert row["result"] == {"auth": "***", "pulled": True}
    assert row["error"] == "pull failed"
    assert row["created_at"].startswith(leaky.created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert row["started_at"] and row["finished_at"]


def test_the_export_file_is_complete_on_disk_and_private(tmp_path, host):
    _op(host, age_days=40)
    result = _prune(tmp_path, days=30)
    path = result.export_path
    assert path.parent == tmp_path / "exports"
    assert path.name.startswith("operations-") and path.suffix == ".jsonl"
    assert path.stat().st_mode & 0o077 == 0
    # No temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_csv_export_has_a_header_and_a_row_per_deleted_operation(tmp_path, host):
    old = [_op(host, age_days=40, params={"passphrase": "nope", "name": "x"}) for _ in range(3)]
    result = _prune(tmp_path, days=30, export_format="csv")
    assert result.export_path.suffix == ".csv"
    with open(result.export_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {int(row["id"]) for row in rows} == _ids(old)
    assert json.loads(rows[0]["params"]) == {"passphrase": "***", "name": "x"}
    assert "nope" not in result.export_path.read_text()


def test_two_runs_never_overwrite_each_others_file(tmp_path, host):
    _op(host, age_days=40)
    first = _prune(tmp_path, days=30)
    _op(host, age_days=40)
    second = _prune(tmp_path, days=30)
    assert first.export_path != second.export_path
    assert first.export_path.exists() and second.export_path.exists()


# --- a failed export deletes nothing ------------------------------------------------------------


def test_an_unusable_export_directory_deletes_nothing(tmp_path, host):
    _op(host, age_days=40)
    (tmp_path / "a-file").write_text("")

    with pytest.raises(retention.ExportFailed, match="nothing was deleted"):
        retention.prune_operations(days=30, export_dir=tmp_path / "a-file" / "exports")

    assert Operation.objects.exclude(action=retention.PRUNE_ACTION).count() == 1
    record = Operation.objects.get(action=retention.PRUNE_ACTION)
    assert record.status == OperationStatus.FAILED
    assert "a-file" in record.error


def test_a_write_that_fails_on_flush_deletes_nothing_and_leaves_no_file(
    tmp_path, host, monkeypatch
):
    _op(host, age_days=40)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(retention.os, "fsync", disk_full)
    with pytest.raises(retention.ExportFailed, match="No space left"):
        _prune(tmp_path, days=30)

    assert Operation.objects.exclude(action=retention.PRUNE_ACTION).count() == 1
    assert list((tmp_path / "exports").iterdir()) == []


# --- the record of a prune ------------------------------------------------------------------------


def test_a_prune_is_recorded_in_the_operation_log(tmp_path, host):
    for _ in range(3):
        _op(host, age_days=40)
    result = _prune(tmp_path, days=30)
    record = result.record
    assert record is not None
    assert record.action == "operation.prune"
    assert record.status == OperationStatus.SUCCEEDED
    assert record.actor_name == "system"
    assert record.params == {"days": 30, "keep": 0, "format": "jsonl"}
    assert record.result["deleted"] == 3
    assert record.result["file"] == str(result.export_path)


# --- /metrics stays monotonic ---------------------------------------------------------------------


def _scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        if family.name in ("berth_operations", "berth_operation_duration_seconds"):
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = sample.value
    return samples


def _without_prune_records(samples: dict[tuple, float]) -> dict[tuple, float]:
    return {
        key: value
        for key, value in samples.items()
        if ("action", retention.PRUNE_ACTION) not in key[1]
    }


def test_metrics_counters_are_the_same_before_and_after_a_prune(client, tmp_path, host):
    rows = [(40, "succeeded", 0.05), (40, "succeeded", 3), (41, "failed", 45),
            (45, "cancelled", None), (1, "succeeded", 700), (50, "failed", 4000)]  # fmt: skip
    for days, status, ran in rows:
        _op(host, age_days=days, status=status, ran=ran)
    _family(host, age_days=40, child_statuses=["succeeded", "failed"])
    before = _scrape(client)

    assert _prune(tmp_path, days=30).deleted == 8
    after = _scrape(client)

    assert _without_prune_records(after).keys() == before.keys()
    for key, value in before.items():
        assert after[key] == pytest.approx(value), key


def test_metrics_keep_counting_after_several_prunes(client, tmp_path, host):
    _op(host, age_days=40, ran=2)
    _prune(tmp_path, days=30)
    _op(host, age_days=40, ran=2)
    _op(host, age_days=0, ran=2)
    _prune(tmp_path, days=30)
    samples = _scrape(client)
    labels = (("action", "container.restart"), ("status", "succeeded"))
    assert samples[("berth_operations_total", labels)] == 3
    assert samples[("berth_operation_duration_seconds_count", labels)] == 3
    assert samples[("berth_operation_duration_seconds_sum", labels)] == pytest.approx(6, abs=0.01)
    bucket = "berth_operation_duration_seconds_bucket"
    assert samples[(bucket, tuple(sorted((*labels, ("le", "2.5")))))] == 3
    assert samples[(bucket, tuple(sorted((*labels, ("le", "1.0")))))] == 0


# --- the command and the periodic task ------------------------------------------------------


def test_the_command_prunes_and_says_where_the_export_is(tmp_path, host, capsys):
    _op(host, age_days=40)
    _op(host, age_days=1)
    call_command("prune_operations", days=30, export_dir=str(tmp_path), format="csv")
    out = capsys.readouterr().out
    (exported,) = tmp_path.glob("operations-*.csv")
    assert "Deleted 1 operation(s)" in out
    assert str(exported) in out
    assert _remaining() == {Operation.objects.get(action="container.restart").pk}


def test_the_command_dry_run_names_what_would_go(tmp_path, host, capsys):
    _op(host, age_days=40)
    _op(host, age_days=40, status=OperationStatus.FAILED)
    call_command("prune_operations", keep=0, days=30, export_dir=str(tmp_path), dry_run=True)
    out = capsys.readouterr().out
    assert "Would delete 2 operation(s)" in out
    assert Operation.objects.count() == 2
    assert list(tmp_path.iterdir()) == []


def test_the_command_refuses_to_run_without_a_limit(tmp_path, settings):
    settings.BERTH_OPERATION_RETENTION_DAYS = 0
    settings.BERTH_OPERATION_RETENTION_ROWS = 0
    with pytest.raises(CommandError, match="--days or --keep"):
        call_command("prune_operations", export_dir=str(tmp_path))


def test_the_command_fails_clearly_when_the_export_fails(tmp_path, host):
    _op(host, age_days=40)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(CommandError, match="nothing was deleted"):
        call_command("prune_operations", days=30, export_dir=str(tmp_path / "a-file"))
    assert Operation.objects.filter(action="container.restart").exists()


def test_the_periodic_task_follows_the_settings(tmp_path, host, settings):
    settings.BERTH_OPERATION_RETENTION_DAYS = 30
    settings.BERTH_OPERATION_RETENTION_ROWS = 0
    settings.BERTH_OPERATION_EXPORT_DIR = str(tmp_path)
    settings.BERTH_OPERATION_EXPORT_FORMAT = "jsonl"
    old = _op(host, age_days=40)
    recent = _op(host, age_days=1)

    assert prune_task() == 1

    assert _remaining() == {recent.pk}
    (exported,) = tmp_path.glob("operations-*.jsonl")
    assert json.loads(exported.read_text())["id"] == old.pk


def test_the_periodic_task_does_nothing_without_a_retention_setting(tmp_path, host, settings):
    settings.BERTH_OPERATION_RETENTION_DAYS = 0
    settings.BERTH_OPERATION_RETENTION_ROWS = 0
    settings.BERTH_OPERATION_EXPORT_DIR = str(tmp_path)
    _op(host, age_days=4000)
    assert prune_task() == 0
    assert Operation.objects.count() == 1


def test_the_periodic_task_reports_a_failed_export_without_deleting(tmp_path, host, settings):
    (tmp_path / "a-file").write_text("")
    settings.BERTH_OPERATION_RETENTION_DAYS = 30
    settings.BERTH_OPERATION_RETENTION_ROWS = 0
    settings.BERTH_OPERATION_EXPORT_DIR = str(tmp_path / "a-file")
    _op(host, age_days=40)
    with pytest.raises(retention.ExportFailed):
        prune_task()
    assert Operation.objects.filter(action="container.restart").exists()


def test_pruning_is_scheduled_only_when_a_retention_is_set():
    import subprocess
    import sys

    code = (
        "from django.conf import settings; s = settings.CELERY_BEAT_SCHEDULE; "
        "print('prune-operations' in s, settings.BERTH_OPERATION_EXPORT_DIR)"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("BERTH_OPERATION")}
    # Secrets given, so that none is generated under the made-up BERTH_VAR_DIR.
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", BERTH_VAR_DIR="/srv/berth",
               BERTH_SECRET_KEY="k" * 50, BERTH_ENCRYPTION_KEY="x")  # fmt: skip
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    assert default.split() == ["False", "/srv/berth/operation-exports"]
    env["BERTH_OPERATION_RETENTION_DAYS"] = "90"
    configured = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout  # fmt: skip
    assert configured.split()[0] == "True"
