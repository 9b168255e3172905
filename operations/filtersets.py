"""Filters of the operation log (``GET /api/v1/operations/``): who, what, on what, when."""

from __future__ import annotations

import django_filters

from berth.filters import StrictFilterSet

from .choices import OperationStatus
from .models import Operation


class OperationFilterSet(StrictFilterSet):
    actor = django_filters.CharFilter(field_name="actor_name", help_text="Who asked (username)")
    action = django_filters.CharFilter(help_text="What was done, e.g. container.restart")
    status = django_filters.MultipleChoiceFilter(choices=OperationStatus.choices)
    target_type = django_filters.CharFilter(help_text="e.g. container, host, service")
    target_id = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="At or after (ISO 8601)"
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Before (ISO 8601)"
    )

    class Meta:
        model = Operation
        fields = ["actor", "action", "status", "target_type", "target_id", "host", "parent"]
