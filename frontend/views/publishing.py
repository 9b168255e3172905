"""Making and publishing images from the pages: build on a host (from a git URL or an
uploaded tar), tag and push a host's image, commit a container. The checks are
images.publishing's and containers.publishing's, as for the API."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from berth.invalid import InvalidRequest
from containers import publishing as container_publishing
from containers.models import Container
from images import publishing
from images.models import Image

from ..forms import BuildForm, CommitForm, PushForm, TagForm
from .common import form_problems, is_htmx, operator, refused, scoped_form, started, viewer, visible


def _build_page(request: HttpRequest, form: BuildForm, status: int = 200) -> HttpResponse:
    return render(request, "frontend/image_build.html", {"form": form}, status=status)


@operator
def image_build(request: HttpRequest) -> HttpResponse:
    """GET: the build form. POST: start the build and show its operation (its log
    streams there)."""
    if request.method != "POST":
        return _build_page(request, scoped_form(request, BuildForm()))
    form = scoped_form(request, BuildForm(request.POST, request.FILES))
    if not form.is_valid():
        return _build_page(request, form, status=400)
    data: dict[str, Any] = dict(form.cleaned_data)
    host, tarball, service = data.pop("host"), data.pop("tarball"), data.pop("revision_of")
    try:
        operation = publishing.request_build(
            host,
            context=tarball,
            context_size=tarball.size if tarball else 0,
            revision_of=service.pk if service else None,
            actor=request.user,
            **data,
        )
    except InvalidRequest as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        return _build_page(request, form, status=400)
    if is_htmx(request):  # a feedback card that follows the build, as other actions show
        return started(request, operation, f"Building on {host.name}.", "frontend:images")
    return redirect("frontend:operation", pk=operation.pk)


def _image(request: HttpRequest, pk: int) -> Image:
    return get_object_or_404(visible(request, Image.objects.select_related("host")), pk=pk)


@viewer
def image_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """One host's image: its names, and the forms to tag and push it."""
    image = _image(request, pk)
    elsewhere = (
        visible(request, Image.objects.filter(image_id=image.image_id).exclude(pk=image.pk))
        .select_related("host")
        .order_by("host__name")
    )
    context = {
        "image": image,
        "elsewhere": elsewhere,
        "tag_form": TagForm(),
        "push_form": scoped_form(request, PushForm()),
    }
    return render(request, "frontend/image_publish.html", context)


@require_POST
@operator
def image_tag(request: HttpRequest, pk: int) -> HttpResponse:
    image = _image(request, pk)
    form = TagForm(request.POST)
    if not form.is_valid():
        return refused(request, form_problems(form.errors), "frontend:image-publish", pk=pk)
    data = form.cleaned_data
    try:
        operation = publishing.request_tag(
            image, repository=data["repository"], tag=data["tag"], actor=request.user
        )
    except InvalidRequest as exc:
        return refused(request, exc.message, "frontend:image-publish", pk=pk)
    name = f"{data['repository']}:{data['tag']}"
    return started(
        request,
        operation,
        f"Tagging as {name} on {image.host.name}.",
        "frontend:image-publish",
        pk=pk,
    )


@require_POST
@operator
def image_push(request: HttpRequest, pk: int) -> HttpResponse:
    image = _image(request, pk)
    form = scoped_form(request, PushForm(request.POST))
    if not form.is_valid():
        return refused(request, form_problems(form.errors), "frontend:image-publish", pk=pk)
    data = form.cleaned_data
    service = data["revision_of"]
    try:
        operation = publishing.request_push(
            image,
            reference=data["reference"],
            revision_of=service.pk if service else None,
            actor=request.user,
        )
    except InvalidRequest as exc:
        return refused(request, exc.message, "frontend:image-publish", pk=pk)
    return started(
        request,
        operation,
        f"Pushing {data['reference']} from {image.host.name}.",
        "frontend:image-publish",
        pk=pk,
    )


@require_POST
@operator
def container_commit(request: HttpRequest, pk: int) -> HttpResponse:
    container = get_object_or_404(visible(request, Container.objects.select_related("host")), pk=pk)
    form = CommitForm(request.POST)
    if not form.is_valid():
        return refused(request, form_problems(form.errors), "frontend:container", pk=pk)
    try:
        operation = container_publishing.request_commit(
            container, actor=request.user, **form.cleaned_data
        )
    except InvalidRequest as exc:
        return refused(request, f"{exc.field}: {exc.message}", "frontend:container", pk=pk)
    name = f"{form.cleaned_data['repository']}:{form.cleaned_data['tag']}"
    return started(
        request, operation, f"Committing {container.name} as {name}.", "frontend:container", pk=pk
    )
