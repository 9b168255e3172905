"""Make a host's stored rows match what the host reported, in three bulk statements."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, models, router, transaction


@dataclass(frozen=True)
class SyncCounts:
    created: int
    updated: int
    deleted: int


@dataclass
class _Plan:
    to_create: list[models.Model] = field(default_factory=list)
    to_update: list[models.Model] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)
    gone: list[Any] = field(default_factory=list)

    def writes(self) -> bool:
        return bool(self.to_create or self.to_update or self.gone)


def _plan(
    model: type[models.Model],
    host: models.Model,
    key_field: str,
    reported: Mapping[str, Mapping[str, Any]],
) -> _Plan:
    existing = {getattr(row, key_field): row for row in model._default_manager.filter(host=host)}
    plan = _Plan()
    for key, values in reported.items():
        row = existing.get(key)
        if row is None:
            plan.to_create.append(model(host=host, **{key_field: key}, **values))
            continue
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if changed:
            for name in changed:
                setattr(row, name, values[name])
            plan.fields.update(changed)
            plan.to_update.append(row)
    plan.gone = [row.pk for key, row in existing.items() if key not in reported]
    return plan


def sync_host_rows(
    model: type[models.Model],
    *,
    host: models.Model,
    key_field: str,
    reported: Mapping[str, Mapping[str, Any]],
) -> SyncCounts:
    """Upsert one row per reported key and delete the host's rows that were not reported.

    ``reported`` maps the natural key (a Docker id) to the row's field values.
    Rows whose values did not change are not written: when nothing changed, this is
    one read.

    Two refreshes of one host may reconcile at the same time (the watcher's and
    beat's). Writers of one host's rows take turns on the host's row lock and plan
    again from what the previous writer committed, so they never insert the same row
    twice. (SQLite runs one write transaction at a time anyway.)
    """
    manager = model._default_manager
    plan = _plan(model, host, key_field, reported)
    if not plan.writes():
        return SyncCounts(created=0, updated=0, deleted=0)
    database = router.db_for_write(model)
    with transaction.atomic(using=database):
        features = transaction.get_connection(database).features
        if features.has_select_for_update:
            # NO KEY: rows that merely reference the host (new operations) are not held up.
            no_key = features.has_select_for_no_key_update
            locked = type(host)._default_manager.using(database).filter(pk=host.pk)
            list(locked.select_for_update(no_key=no_key).values_list("pk", flat=True))
            plan = _plan(model, host, key_field, reported)
        if plan.to_create:
            manager.bulk_create(plan.to_create)
        if plan.to_update:
            manager.bulk_update(plan.to_update, sorted(plan.fields | {"updated_at"}))
        if plan.gone:
            manager.filter(pk__in=plan.gone).delete()
    return SyncCounts(
        created=len(plan.to_create), updated=len(plan.to_update), deleted=len(plan.gone)
    )


def store_reported(store: Callable[[], object]) -> None:
    """Run ``store`` (a reconcile of what a host reported) in a transaction, once more if
    a concurrent refresh of the same host inserted the same rows first; a second
    IntegrityError is raised."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                store()
            return
        except IntegrityError:
            if attempt == 2:
                raise  # a concurrent refresh inserted the same rows twice in a row
