"""Retention of the operation log: export old finished operations, then delete them.

What goes: finished operations (succeeded, failed, cancelled) recorded more than
``days`` days ago, or beyond the newest ``keep`` operations (each limit only when it is
not 0). A bulk action's parent and its children go together, and only when every one
of them may go: a child is never left without its parent, and nothing pending or
running is ever deleted.

How: every row about to go is first written to a new file in the export directory
(JSON lines or CSV, secrets redacted), under a temporary name, fsynced and then
renamed, so a file of that name is always complete. Only then are the rows deleted,
in batches of whole families; each batch adds what its rows counted to
``PrunedOperationTotals`` in the same transaction as its delete, so that /metrics
counters never go down. If the export fails, nothing is deleted. Each run that
deletes rows, or fails, is itself recorded as an ``operation.prune`` operation.
"""

from __future__ import annotations

import csv
import json
import logging
import operator
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.utils import timezone

from .api.serializers import OperationSerializer
from .choices import FINISHED_STATUSES, OperationStatus
from .durations import OPERATION_DURATION_BUCKETS, bucket_key, duration_rows
from .models import Operation, PrunedOperationTotals
from .services import SECRET_PARAM_NAMES, USER_NAMED_MAPPINGS, Actor, start_operation

log = logging.getLogger(__name__)

PRUNE_ACTION = "operation.prune"
EXPORT_FORMATS = ("jsonl", "csv")
# An exported row is the operation as GET /api/v1/operations/ID/ shows it (less its
# URL), plus the name of its host, which outlives the host's row in the export.
EXPORT_FIELDS = [name for name in OperationSerializer.Meta.fields if name != "url"] + ["host_name"]
_SOURCES = {"host": "host_id", "parent": "parent_id", "host_name": "host__name"}
_JSON_FIELDS = ("params", "progress", "result")
_TIME_FIELDS = ("created_at", "started_at", "finished_at")
# Rows deleted per transaction (whole families, so a big bulk action may make it more),
# and ids per IN (...) list, within SQLite's limit on query parameters.
BATCH_ROWS = 1000
IN_CHUNK = 900


class RetentionError(Exception):
    """Pruning could not be done as asked; the message says what was (not) deleted."""


class ExportFailed(RetentionError):
    """The export could not be written completely, so nothing was deleted."""


@dataclass
class PruneResult:
    days: int
    keep: int
    dry_run: bool = False
    would_delete: int = 0  # rows that qualified
    deleted: int = 0
    export_path: Path | None = None
    by_outcome: dict[tuple[str, str], int] = field(default_factory=dict)
    record: Operation | None = None


def prune_operations(
    *,
    days: int = 0,
    keep: int = 0,
    export_dir: Path | str,
    export_format: str = "jsonl",
    dry_run: bool = False,
    actor: Actor = None,
    now: datetime | None = None,
) -> PruneResult:
    """Export, then delete, the finished operations beyond ``days`` or ``keep``.

    0 for both prunes nothing. Raises ExportFailed (after recording the failure) when
    the export cannot be written; then nothing has been deleted.
    """
    if days < 0 or keep < 0:
        raise RetentionError("days and keep must be 0 (no limit) or more")
    if export_format not in EXPORT_FORMATS:
        raise RetentionError(f"the export format is one of {', '.join(EXPORT_FORMATS)}")
    started = timezone.now()
    now = now or started
    result = PruneResult(days=days, keep=keep, dry_run=dry_run)
    families = _families_to_prune(days=days, keep=keep, now=now)
    ids = sorted(pk for family in families for pk in family)
    result.would_delete = len(ids)
    result.by_outcome = _outcomes(ids)
    if dry_run or not ids:
        return result

    params = {"days": days, "keep": keep, "format": export_format}
    try:
        result.export_path = _export(ids, Path(export_dir), export_format, now)
    except ExportFailed as exc:
        log.error("operation log not pruned: %s", exc)
        result.record = _record(actor, params, started, error=str(exc))
        raise
    result.deleted = _delete(families)
    log.info(
        "pruned %d operation(s) from the operation log; they are in %s",
        result.deleted, result.export_path,
    )  # fmt: skip
    outcome = {"deleted": result.deleted, "file": str(result.export_path)}
    result.record = _record(actor, params, started, result=outcome)
    return result


def prune_by_settings() -> PruneResult | None:
    """One run of the retention the BERTH_OPERATION_* settings ask for; None without one."""
    days = settings.BERTH_OPERATION_RETENTION_DAYS
    keep = settings.BERTH_OPERATION_RETENTION_ROWS
    if not days and not keep:
        return None
    return prune_operations(
        days=days,
        keep=keep,
        export_dir=settings.BERTH_OPERATION_EXPORT_DIR,
        export_format=settings.BERTH_OPERATION_EXPORT_FORMAT,
    )


# --- what goes ------------------------------------------------------------------------------


def _families_to_prune(*, days: int, keep: int, now: datetime) -> list[list[int]]:
    """Ids of whole families (a top-level operation, then its descendants) that may go,
    oldest first."""
    limits: list[Q] = []
    if days:
        limits.append(Q(created_at__lt=now - timedelta(days=days)))
    if keep:
        # The keep-th newest row, in the operation log's own order (newest first).
        newest = Operation.objects.order_by("-created_at", "-id").values_list("created_at", "id")
        last_kept = newest[keep - 1 : keep].first()
        if last_kept is not None:
            created, pk = last_kept
            limits.append(Q(created_at__lt=created) | Q(created_at=created, id__lt=pk))
    if not limits:
        return []
    may_go = Q(status__in=FINISHED_STATUSES) & reduce(operator.or_, limits)

    roots = Operation.objects.filter(may_go, parent__isnull=True)
    families = {pk: [pk] for pk in roots.order_by("created_at", "id").values_list("pk", flat=True)}
    root_of = {pk: pk for pk in families}
    held: set[int] = set()  # roots with a descendant that must stay
    level = roots
    while True:
        level = Operation.objects.filter(parent__in=level.values("pk"))
        rows = list(
            level.annotate(ok=ExpressionWrapper(may_go, output_field=BooleanField()))
            .order_by("id")
            .values_list("pk", "parent_id", "ok")
        )
        if not rows:
            break
        for pk, parent_id, ok in rows:
            root = root_of[parent_id]
            root_of[pk] = root
            families[root].append(pk)
            if not ok:
                held.add(root)
    return [members for root, members in families.items() if root not in held]


def _outcomes(ids: Sequence[int]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for chunk in _chunks(ids, IN_CHUNK):
        rows = (
            Operation.objects.filter(pk__in=chunk)
            .order_by()
            .values_list("action", "status")
            .annotate(n=Count("pk"))
        )
        for action, status, n in rows:
            counts[(action, status)] = counts.get((action, status), 0) + n
    return dict(sorted(counts.items()))


# --- the export -------------------------------------------------------------------------------


def _export(ids: Sequence[int], export_dir: Path, export_format: str, now: datetime) -> Path:
    """Write the operations ``ids`` to a new file in ``export_dir``; its path.

    The file appears under its name only once it is completely on disk.
    """
    try:
        export_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = _new_export_name(export_dir, export_format, now)
        partial = path.with_name(f".{path.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                write = _writer(handle, export_format)
                for row in _export_rows(ids):
                    write(row)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        _fsync_directory(export_dir)
    except OSError as exc:
        raise ExportFailed(
            f"could not write the export to {export_dir} ({exc}); nothing was deleted"
        ) from exc
    return path


def _new_export_name(export_dir: Path, export_format: str, now: datetime) -> Path:
    stem = f"operations-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    path = export_dir / f"{stem}.{export_format}"
    number = 1
    while path.exists():
        number += 1
        path = export_dir / f"{stem}-{number}.{export_format}"
    return path


def _export_rows(ids: Sequence[int]) -> Iterator[dict[str, Any]]:
    """The rows ``ids``, by id, as exported: secrets redacted, times in ISO 8601."""
    sources = [_SOURCES.get(name, name) for name in EXPORT_FIELDS]
    for chunk in _chunks(ids, IN_CHUNK):
        for values in Operation.objects.filter(pk__in=chunk).order_by("id").values(*sources):
            row = {
                name: values[source] for name, source in zip(EXPORT_FIELDS, sources, strict=True)
            }
            for name in _JSON_FIELDS:
                row[name] = _redacted(row[name])
            for name in _TIME_FIELDS:
                row[name] = row[name].isoformat() if row[name] is not None else None
            yield row


def _redacted(value: Any) -> Any:
    """``value`` with every secret-named key's value replaced, at any depth (lists too).

    The rule that keeps secrets out of an operation's params when it is recorded
    (services.redact), applied again: an export leaves the database's access control,
    and rows recorded by an older release may predate a rule."""
    if isinstance(value, dict):
        return {
            key: "***"
            if str(key).lower() in SECRET_PARAM_NAMES
            else item
            if key in USER_NAMED_MAPPINGS and isinstance(item, dict)
            else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def _writer(handle: TextIO, export_format: str) -> Any:
    if export_format == "jsonl":

        def write_line(row: dict[str, Any]) -> None:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")

        return write_line
    writer = csv.DictWriter(handle, fieldnames=EXPORT_FIELDS)
    writer.writeheader()

    def write_row(row: dict[str, Any]) -> None:
        # JSON fields as JSON text; an empty cell is null.
        cells = {name: "" if value is None else value for name, value in row.items()}
        for name in _JSON_FIELDS:
            if row[name] is not None:
                cells[name] = json.dumps(row[name], ensure_ascii=False)
        writer.writerow(cells)

    return write_row


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the delete ---------------------------------------------------------------------------------


def _delete(families: Sequence[list[int]]) -> int:
    deleted = 0
    for batch in _batches(families, BATCH_ROWS):
        deleted += _delete_batch(batch)
    return deleted


def _delete_batch(ids: list[int]) -> int:
    """Delete one batch of whole families and add what they counted to the totals,
    in one transaction."""
    with transaction.atomic():
        locked: list[int] = []
        for chunk in _chunks(ids, IN_CHUNK):
            # Locked, and read again: a concurrent prune may have taken some already.
            locked += (
                Operation.objects.select_for_update()
                .filter(pk__in=chunk, status__in=FINISHED_STATUSES)
                .values_list("pk", flat=True)
            )
        _add_to_totals(locked)
        deleted = 0
        # Children (higher ids) before their parents: nothing is left to cascade.
        for chunk in _chunks(sorted(locked, reverse=True), IN_CHUNK):
            _, per_model = Operation.objects.filter(pk__in=chunk).delete()
            deleted += per_model.get(Operation._meta.label, 0)
        if deleted != len(locked):
            # Something cascaded that was not counted: undo rather than skew /metrics.
            raise RetentionError(
                f"deleting {len(locked)} operation(s) deleted {deleted}; this batch was undone"
            )
    return deleted


def _add_to_totals(ids: Sequence[int]) -> None:
    counts: dict[tuple[str, str], int] = {}
    durations: dict[tuple[str, str], dict[str, Any]] = {}
    for chunk in _chunks(ids, IN_CHUNK):
        for (action, status), n in _outcomes(chunk).items():
            counts[(action, status)] = counts.get((action, status), 0) + n
        for row in duration_rows(Operation.objects.filter(pk__in=chunk)):
            into = durations.setdefault(
                (row["action"], row["status"]),
                {"count": 0, "total": 0.0, "buckets": [0] * len(OPERATION_DURATION_BUCKETS)},
            )
            into["count"] += row["count"]
            into["total"] += float(row["total"] or 0.0)
            for index in range(len(OPERATION_DURATION_BUCKETS)):
                into["buckets"][index] += row[f"le_{index}"]
    for (action, status), n in counts.items():
        totals, _ = PrunedOperationTotals.objects.select_for_update().get_or_create(
            action=action, status=status
        )
        totals.count += n
        ran = durations.get((action, status))
        if ran:
            totals.duration_count += ran["count"]
            totals.duration_sum += ran["total"]
            buckets = dict(totals.duration_buckets)
            for bound, added in zip(OPERATION_DURATION_BUCKETS, ran["buckets"], strict=True):
                buckets[bucket_key(bound)] = int(buckets.get(bucket_key(bound), 0)) + added
            totals.duration_buckets = buckets
        totals.save()


# --- the record ---------------------------------------------------------------------------------


def _record(
    actor: Actor,
    params: dict[str, Any],
    started: datetime,
    *,
    result: dict[str, Any] | None = None,
    error: str = "",
) -> Operation:
    """Record the run in the operation log, as every change Berth makes is."""
    record = start_operation(
        action=PRUNE_ACTION,
        target=None,
        target_name="operation log",
        actor=actor,
        params=params,
        status=OperationStatus.RUNNING,
    )
    Operation.objects.filter(pk=record.pk).update(
        status=OperationStatus.FAILED if error else OperationStatus.SUCCEEDED,
        result=result,
        error=error,
        started_at=started,
        finished_at=timezone.now(),
    )
    record.refresh_from_db()
    return record


# --- helpers -----------------------------------------------------------------------------------


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _batches(families: Iterable[list[int]], size: int) -> Iterator[list[int]]:
    """Whole families, gathered into batches of about ``size`` rows."""
    batch: list[int] = []
    for family in families:
        if batch and len(batch) + len(family) > size:
            yield batch
            batch = []
        batch += family
    if batch:
        yield batch
