"""Filters of the fleet-wide volume list."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from berth.filters import StrictFilterSet
from hosts.models import Host

from .models import Volume


class VolumeFilterSet(StrictFilterSet):
    host = django_filters.ModelChoiceFilter(
        queryset=Host.objects.all(), help_text="volumes on this host (id)"
    )
    driver = django_filters.CharFilter(help_text="the driver: local, or a plugin's")
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="part of a name, any case")
    in_use = django_filters.BooleanFilter(
        method="filter_in_use", help_text="true: mounted by a container (running or not)"
    )

    class Meta:
        model = Volume
        fields = ["host", "driver", "name", "in_use"]

    def filter_in_use(self, queryset: QuerySet[Volume], name: str, value: bool) -> QuerySet[Volume]:
        unused = queryset.filter(containers=[])
        return queryset.exclude(pk__in=unused.values("pk")) if value else unused
