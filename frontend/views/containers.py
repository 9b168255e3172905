"""Containers: the fleet-wide list with bulk actions, and a container's own page."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from containers import services
from containers.choices import ContainerState
from containers.filtersets import ContainerFilterSet
from containers.models import Container
from hosts.models import Host
from images.references import describe_container_images
from operations.models import Operation

from ..forms import CommitForm
from .common import is_htmx, operator, paginate, refused, started, viewer, visible

CONTAINERS_PER_PAGE = 100
BULK_VERBS = ("start", "stop", "restart")
LOG_FOLLOW_SECONDS = 600
LOG_TAIL = 100

# verb → (service function, what the feedback says)
ACTIONS = {
    "start": (services.request_start, "Starting"),
    "stop": (services.request_stop, "Stopping"),
    "restart": (services.request_restart, "Restarting"),
    "kill": (services.request_kill, "Killing"),
}


@viewer
def container_list(request: HttpRequest) -> HttpResponse:
    filterset = ContainerFilterSet(
        request.GET or None, queryset=visible(request, Container.objects.select_related("host"))
    )
    containers = filterset.qs.order_by("host__name", "name")
    page = paginate(request, containers, CONTAINERS_PER_PAGE)
    page.object_list = list(page.object_list)
    describe_container_images(page.object_list)
    context = {
        "page": page,
        "states": ContainerState.choices,
        "hosts": visible(request, Host.objects.order_by("name")).values_list("pk", "name"),
    }
    template = (
        "frontend/partials/containers.html" if is_htmx(request) else "frontend/containers.html"
    )
    return render(request, template, context)


@require_POST
@operator
def container_bulk(request: HttpRequest) -> HttpResponse:
    verb = request.POST.get("verb", "")
    if verb not in BULK_VERBS:
        return refused(request, "Choose start, stop or restart.", "frontend:containers")
    ids = [value for value in request.POST.getlist("container") if value.isdigit()]
    containers = list(visible(request, Container.objects.filter(pk__in=ids).select_related("host")))
    if not containers:
        return refused(request, "Select at least one container first.", "frontend:containers")
    operation = services.request_bulk_action(
        containers, verb, actor=request.user, label=f"{verb} {len(containers)} container(s)"
    )
    return started(
        request,
        operation,
        f"{verb.capitalize()} of {len(containers)} container(s) queued: one operation each.",
        "frontend:containers",
    )


def _recent_operations(container: Container) -> list[Operation]:
    return list(
        Operation.objects.filter(target_type="container", target_id=str(container.pk))
        .select_related("host")
        .order_by("-created_at", "-id")[:10]
    )


@viewer
def container_detail(request: HttpRequest, pk: int) -> HttpResponse:
    container = visible(request, Container.objects.select_related("host")).filter(pk=pk).first()
    if container:
        describe_container_images([container])
    if is_htmx(request):
        # Polled: a container removed meanwhile says so instead of vanishing.
        return render(
            request,
            "frontend/partials/container.html",
            {
                "container": container,
                "operations": _recent_operations(container) if container else [],
            },
        )
    if container is None:
        raise Http404("No such container (it may have been removed)")
    context = {
        "container": container,
        "operations": _recent_operations(container),
        "commit_form": CommitForm(),
    }
    return render(request, "frontend/container.html", context)


@require_POST
@operator
def container_action(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    container = get_object_or_404(visible(request, Container.objects.select_related("host")), pk=pk)
    if verb == "remove":
        operation = services.request_remove(container, actor=request.user, force=True)
        message = f"Removing {container.name}."
    elif verb in ACTIONS:
        function, doing = ACTIONS[verb]
        operation = function(container, actor=request.user)
        message = f"{doing} {container.name}."
    else:
        raise Http404(f"no container action {verb}")
    return started(request, operation, message, "frontend:container", pk=pk)


@require_POST
@operator
def container_stats(request: HttpRequest, pk: int) -> HttpResponse:
    container = get_object_or_404(visible(request, Container.objects.select_related("host")), pk=pk)
    operation = services.request_stats(container, actor=request.user)
    return started(
        request, operation, f"Sampling {container.name}'s stats.", "frontend:container", pk=pk
    )


@require_POST
@operator
def container_logs_follow(request: HttpRequest, pk: int) -> HttpResponse:
    """Start following the log; the answer is a panel that polls the operation's stream."""
    container = get_object_or_404(visible(request, Container.objects.select_related("host")), pk=pk)
    operation = services.request_logs(
        container, actor=request.user, tail=LOG_TAIL, follow=True, duration=LOG_FOLLOW_SECONDS
    )
    return render(
        request, "frontend/partials/log_panel.html", {"op": operation, "container": container}
    )


@require_POST
@operator
def container_diff(request: HttpRequest, pk: int) -> HttpResponse:
    """Read the writable layer; the answer is the operation's card, which shows the
    changed paths when it is done."""
    container = get_object_or_404(visible(request, Container.objects.select_related("host")), pk=pk)
    operation = services.request_diff(container, actor=request.user)
    return started(
        request,
        operation,
        f"Reading what {container.name} changed in its file system.",
        "frontend:container",
        pk=pk,
    )
