"""Filters of the fleet-wide network list."""

from __future__ import annotations

import django_filters

from berth.filters import StrictFilterSet
from hosts.models import Host

from .models import Network


class NetworkFilterSet(StrictFilterSet):
    host = django_filters.ModelChoiceFilter(
        queryset=Host.objects.all(), help_text="networks on this host (id)"
    )
    driver = django_filters.CharFilter(help_text="the driver: bridge, macvlan, ipvlan, overlay…")
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="part of a name, any case")

    class Meta:
        model = Network
        fields = ["host", "driver", "name"]
