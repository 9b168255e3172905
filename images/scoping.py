"""A caller limited to host groups sees the images of the hosts in them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from access.permissions import scope_rule
from hosts.scoping import hosts_in

from .models import Image, ImageLayers


@scope_rule("images.Image")
def _images(queryset: QuerySet[Image], scope: frozenset[int], user: Any) -> QuerySet[Image]:
    return queryset.filter(host__in=hosts_in(scope))


@scope_rule("images.ImageLayers")
def _layers(
    queryset: QuerySet[ImageLayers], scope: frozenset[int], user: Any
) -> QuerySet[ImageLayers]:
    return queryset.filter(image__host__in=hosts_in(scope))
