"""How long finished operations ran, bucketed, computed by the database: what /metrics
shows (berth/monitoring/metrics.py) and what pruning keeps of the rows it deletes
(operations/retention.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Expression, F, FloatField, Q, QuerySet, Sum

from .choices import FINISHED_STATUSES
from .models import Operation

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler, _AsSqlType

# Upper bounds (seconds). Operations range from a sub-second container restart to
# a ten-minute rollout step.
OPERATION_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class SecondsBetween(Expression):
    """``end - start`` in seconds (a float), computed by the database itself.

    Django's portable datetime subtraction calls a Python function per row on
    SQLite, which made one scrape of 100k operations take seconds; these are native.
    """

    def __init__(self, start: str, end: str) -> None:
        super().__init__(output_field=FloatField())
        self.start: Any = F(start)
        self.end: Any = F(end)

    def get_source_expressions(self) -> list[Any]:
        return [self.start, self.end]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.start, self.end = exprs

    def _operands(self, compiler: SQLCompiler) -> tuple[str, str, tuple[Any, ...]]:
        start_sql, start_params = compiler.compile(self.start)
        end_sql, end_params = compiler.compile(self.end)
        return start_sql, end_sql, (*end_params, *start_params)

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> _AsSqlType:
        # PostgreSQL and the SQL standard: the length of the interval.
        start, end, params = self._operands(compiler)
        return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)", params

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> _AsSqlType:
        start, end, params = self._operands(compiler)
        return f"((julianday({end}) - julianday({start})) * 86400.0)", params


def bucket_counts(
    field: str, bounds: Sequence[float], to_db: Callable[[float], Any]
) -> dict[str, Count]:
    """Cumulative ``Count``s of rows with ``field <= bound``, one column per bound."""
    return {
        f"le_{index}": Count("pk", filter=Q(**{f"{field}__lte": to_db(bound)}))
        for index, bound in enumerate(bounds)
    }


def bucket_key(bound: float) -> str:
    """How an upper bound names its bucket in ``PrunedOperationTotals.duration_buckets``."""
    return str(float(bound))


def duration_rows(operations: QuerySet[Operation]) -> Iterable[Mapping[str, Any]]:
    """Per (action, status) of the finished ``operations`` that ran: ``count``, ``total``
    seconds and the cumulative ``le_0`` … of OPERATION_DURATION_BUCKETS, in one query."""
    # One grouped query: each bucket is a conditional COUNT over the same rows.
    return (
        operations.order_by()
        .filter(
            status__in=FINISHED_STATUSES,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .alias(duration=SecondsBetween("started_at", "finished_at"))
        .values("action", "status")
        .annotate(
            count=Count("pk"),
            total=Sum("duration"),
            **bucket_counts("duration", OPERATION_DURATION_BUCKETS, float),
        )
        .order_by("action", "status")
    )
