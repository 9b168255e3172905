from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from berth.filters import StrictFilterSet
from berth.labels import LabelSelector, LabelSelectorField

from .choices import HostStatus
from .models import Host


@extend_schema_field(
    {
        "type": "string",
        "description": "key=value or key (has the label), comma-separated; every one must match",
    }
)
class LabelFilter(django_filters.Filter):
    """``?label=app=web,tier``: every comma-separated requirement must match. A
    malformed selector is a form error on the field, which the API answers as a 400
    naming it and the pages show."""

    field_class = LabelSelectorField

    def filter(self, qs: QuerySet, value: LabelSelector | None) -> QuerySet:
        return qs if value is None else qs.filter(value.q(self.field_name))


class HostFilterSet(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=HostStatus.choices)
    group = django_filters.CharFilter(field_name="groups__name", distinct=True)
    label = LabelFilter(field_name="labels")
    q = django_filters.CharFilter(method="search", label="Search name and address")

    class Meta:
        model = Host
        fields = ["status", "transport", "group", "label"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(address__icontains=value))
