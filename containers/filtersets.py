"""Filters of the fleet-wide container list (``GET /api/v1/containers/``)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from drf_spectacular.utils import extend_schema_field

from .choices import ContainerHealth, ContainerState
from .models import Container


class LabelsField(forms.Field):
    """Every ``label`` query parameter (``key=value`` or ``key``), each checked."""

    widget = forms.MultipleHiddenInput

    def clean(self, value: Any) -> list[tuple[str, str | None]]:
        pairs: list[tuple[str, str | None]] = []
        for item in value or []:
            key, sep, wanted = str(item).partition("=")
            if not key or len(key) > 256:
                raise forms.ValidationError("Give label=key or label=key=value.")
            pairs.append((key, wanted if sep else None))
        return pairs


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class LabelsFilter(django_filters.Filter):
    field_class = LabelsField

    def filter(self, qs: QuerySet[Container], value: list[tuple[str, str | None]]):  # type: ignore[no-untyped-def, override]
        for index, (key, wanted) in enumerate(value or []):
            if wanted is None:
                qs = qs.filter(labels__has_key=key)
            else:
                alias = f"_label_{index}"
                # Cast: compare the label's text, not a JSON value (SQLite and PostgreSQL alike).
                text = Cast(KeyTextTransform(key, "labels"), output_field=TextField())
                qs = qs.alias(**{alias: text}).filter(**{alias: wanted})
        return qs


class ContainerFilterSet(django_filters.FilterSet):
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
    label = LabelsFilter(
        help_text="key=value or key (has the label); repeat to require several",
    )
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
