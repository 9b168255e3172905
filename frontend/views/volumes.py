"""Docker volumes across the fleet: create, remove, prune (with a dry run), measure sizes."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from volumes import services
from volumes.models import Volume

from ..forms import VolumeForm, VolumeMeasureForm, VolumePruneForm
from .common import (
    form_problems,
    is_htmx,
    operator,
    paginate,
    refused,
    scoped_form,
    started,
    viewer,
    visible,
)

VOLUMES_PER_PAGE = 50


def _volumes(request: HttpRequest) -> dict[str, object]:
    rows = visible(request, Volume.objects.select_related("host")).order_by("host__name", "name")
    search = request.GET.get("q", "").strip()
    if search:
        rows = rows.filter(
            Q(name__icontains=search) | Q(driver__iexact=search) | Q(host__name__icontains=search)
        )
    page = paginate(request, rows, VOLUMES_PER_PAGE)
    return {"page": page, "volumes": page.object_list, "q": search}


@viewer
def volume_list(request: HttpRequest) -> HttpResponse:
    context = _volumes(request)
    if is_htmx(request):
        return render(request, "frontend/partials/volumes.html", context)
    context.update(
        create_form=scoped_form(request, VolumeForm()),
        prune_form=scoped_form(request, VolumePruneForm(prefix="prune")),
        measure_form=scoped_form(request, VolumeMeasureForm(prefix="measure")),
    )
    return render(request, "frontend/volumes.html", context)


@require_POST
@operator
def volume_create(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, VolumeForm(request.POST))
    if not form.is_valid():
        return refused(request, form_problems(form.errors), "frontend:volumes")
    data = form.cleaned_data
    host = data["host"]
    try:
        spec = services.prepare_create(host, name=data["name"], driver=data["driver"])
    except services.InvalidRequest as exc:
        return refused(request, f"{exc.field}: {exc.message}", "frontend:volumes")
    operation = services.request_create(host, spec, actor=request.user)
    return started(
        request, operation, f"Creating volume {spec.name} on {host.name}.", "frontend:volumes"
    )


@require_POST
@operator
def volume_remove(request: HttpRequest, pk: int) -> HttpResponse:
    volume = get_object_or_404(visible(request, Volume.objects.select_related("host")), pk=pk)
    try:
        operation = services.request_remove(volume, actor=request.user)
    except services.InvalidRequest as exc:
        return refused(request, exc.message, "frontend:volumes")
    return started(request, operation, f"Removing volume {volume}.", "frontend:volumes")


@require_POST
@operator
def volume_prune(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, VolumePruneForm(request.POST, prefix="prune"))
    if not form.is_valid():
        return refused(request, "Choose a host to prune.", "frontend:volumes")
    data = form.cleaned_data
    host = data["host"]
    operation = services.request_prune(
        host, dry_run=data["dry_run"], every=data["all"], actor=request.user
    )
    verb = "Listing the volumes a prune would remove" if data["dry_run"] else "Pruning volumes"
    return started(request, operation, f"{verb} on {host.name}.", "frontend:volumes")


@require_POST
@operator
def volume_measure(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, VolumeMeasureForm(request.POST, prefix="measure"))
    if not form.is_valid():
        return refused(request, "Choose a host to measure.", "frontend:volumes")
    host = form.cleaned_data["host"]
    operation = services.request_measure(host, actor=request.user)
    return started(request, operation, f"Measuring the volumes on {host.name}.", "frontend:volumes")
