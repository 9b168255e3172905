"""The registry browser: stored registries → repositories → tags, each tag with its
digest, size, creation and the hosts on that digest or on another.

The registry is read inside the request (as the API does; images.services), with the
client's timeouts; a tag's details load row by row (htmx), so the names show at once.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from berth.invalid import InvalidRequest
from images import services
from images.models import Image, RegistryCredential
from images.registry_client import RegistryError

from .common import viewer, visible


@viewer
def registry_list(request: HttpRequest) -> HttpResponse:
    registries = RegistryCredential.objects.order_by("name")
    return render(request, "frontend/registries.html", {"registries": registries})


def _read(read: Any) -> tuple[Any, str, int]:
    """(answer, error message, status) of a read of a registry: never a 500."""
    try:
        return read(), "", 200
    except InvalidRequest as exc:
        return None, exc.message, 400
    except RegistryError as exc:
        return None, exc.message, 404 if exc.not_found else 502


@viewer
def registry_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A registry's repositories, or (``?repository=``) that repository's tags."""
    registry = get_object_or_404(RegistryCredential, pk=pk)
    repository = request.GET.get("repository", "")
    context: dict[str, Any] = {"registry": registry, "repository": repository}
    if repository:
        found, error, status = _read(lambda: services.registry_tags(registry, repository))
    else:
        found, error, status = _read(lambda: services.registry_repositories(registry))
    context.update(found=found, error=error)
    return render(request, "frontend/registry.html", context, status=status)


@viewer
def registry_tag(request: HttpRequest, pk: int) -> HttpResponse:
    """One tag's row of the tags table (htmx loads it once the table is shown)."""
    registry = get_object_or_404(RegistryCredential, pk=pk)
    repository, tag = request.GET.get("repository", ""), request.GET.get("tag", "")
    images = visible(request, Image.objects.all())
    found, error, status = _read(lambda: services.registry_tag(registry, repository, tag, images))
    context = {"registry": registry, "repository": repository, "tag": tag, "error": error}
    if found is not None:
        context.update(
            info=found.info,
            on_digest=[host for host in found.hosts if host.current],
            stale=[host for host in found.hosts if not host.current],
        )
    # A row the table swaps in: a failed read is a row that says why, not an error page.
    return render(request, "frontend/partials/registry_tag.html", context, status=status)
