"""Filters of the image lists (fleet-wide and per host)."""

from __future__ import annotations

import django_filters

from berth.filters import StrictFilterSet
from hosts.models import Host

from .models import Image


class ImageFilterSet(StrictFilterSet):
    tag = django_filters.CharFilter(
        field_name="tags", lookup_expr="icontains", help_text="part of a tag, any case"
    )
    host = django_filters.ModelChoiceFilter(
        queryset=Host.objects.all(), help_text="images present on this host (id)"
    )
    image_id = django_filters.CharFilter(help_text="the full image id (sha256:...)")

    class Meta:
        model = Image
        fields = ["tag", "host", "image_id"]
