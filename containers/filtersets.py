"""Filters of the fleet-wide container list (``GET /api/v1/containers/``)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from berth.filters import StrictFilterSet
from hosts.filtersets import LabelFilter

from .choices import ContainerHealth, ContainerState
from .models import Container


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string"},
        "description": "key=value or key (has the label); repeat to require several",
    }
)
class RepeatedLabelFilter(LabelFilter):
    """``?label=app=web&label=tier``: one requirement per parameter, so a value may hold
    a comma; every one must match."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("repeated", True)
        super().__init__(*args, **kwargs)


class ContainerFilterSet(StrictFilterSet):
    host = django_filters.NumberFilter(
        field_name="host_id", min_value=0, max_value=2**63 - 1, help_text="Host id"
    )
    host_name = django_filters.CharFilter(field_name="host__name", help_text="Host name (exact)")
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Name contains")
    image = django_filters.CharFilter(lookup_expr="icontains", help_text="Image contains")
    state = django_filters.MultipleChoiceFilter(
        choices=ContainerState.choices, help_text="State (repeat for any of several)"
    )
    health = django_filters.MultipleChoiceFilter(
        choices=ContainerHealth.choices,
        method="filter_health",
        help_text="Health (none: no health check; repeat for any of several)",
    )
    label = RepeatedLabelFilter(field_name="labels")
    q = django_filters.CharFilter(method="filter_q", help_text="Name or image contains")

    class Meta:
        model = Container
        fields = ["host", "host_name", "name", "image", "state", "health", "label", "q"]

    def filter_health(self, queryset: QuerySet[Container], name: str, value: list[str]):  # type: ignore[no-untyped-def]
        if not value:
            return queryset
        wanted = ["" if item == ContainerHealth.NONE else item for item in value]
        return queryset.filter(health__in=wanted)

    def filter_q(self, queryset: QuerySet[Container], name: str, value: str):  # type: ignore[no-untyped-def]
        return queryset.filter(Q(name__icontains=value) | Q(image__icontains=value))
