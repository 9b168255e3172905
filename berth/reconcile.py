"""Make a host's stored rows match what the host reported, in three bulk statements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models


@dataclass(frozen=True)
class SyncCounts:
    created: int
    updated: int
    deleted: int


def sync_host_rows(
    model: type[models.Model],
    *,
    host: models.Model,
    key_field: str,
    reported: Mapping[str, Mapping[str, Any]],
) -> SyncCounts:
    """Upsert one row per reported key and delete the host's rows that were not reported.

    ``reported`` maps the natural key (a Docker id) to the row's field values.
    Rows whose values did not change are not written.
    """
    manager = model._default_manager
    existing = {getattr(row, key_field): row for row in manager.filter(host=host)}
    to_create = []
    to_update = []
    fields: set[str] = set()
    for key, values in reported.items():
        row = existing.get(key)
        if row is None:
            to_create.append(model(host=host, **{key_field: key}, **values))
            continue
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if changed:
            for name in changed:
                setattr(row, name, values[name])
            fields.update(changed)
            to_update.append(row)
    gone = [row.pk for key, row in existing.items() if key not in reported]
    if to_create:
        manager.bulk_create(to_create)
    if to_update:
        manager.bulk_update(to_update, sorted(fields | {"updated_at"}))
    if gone:
        manager.filter(pk__in=gone).delete()
    return SyncCounts(created=len(to_create), updated=len(to_update), deleted=len(gone))
