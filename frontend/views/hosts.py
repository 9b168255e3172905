"""A host's page (facts, disk usage, containers, images, operations) and the host actions;
Docker's disk usage across the fleet."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from hosts import disk, services
from hosts.models import Host
from images.references import describe_container_images, describe_images
from images.services import request_prune
from operations.models import Operation

from ..forms import HostEditForm, HostForm, PruneForm
from .common import (
    admin,
    done,
    is_htmx,
    operator,
    paginate,
    refused,
    scoped_form,
    started,
    viewer,
    visible,
)

RECENT_OPERATIONS = 10
DISK_HOSTS_PER_PAGE = 100


def _host_context(host: Host) -> dict[str, object]:
    facts = host.facts or {}
    containers = list(host.containers.order_by("name"))
    describe_container_images(containers)
    images = list(host.images.order_by("-created"))
    describe_images(images)
    return {
        "host": host,
        "facts": facts,
        "containers": containers,
        "images": images,
        "operations": Operation.objects.filter(host=host)
        .select_related("host")
        .order_by("-created_at", "-id")[:RECENT_OPERATIONS],
        "authorized_keys_line": services.authorized_keys_line(host),
        "disk": disk.host_usage(host),
    }


@viewer
def host_detail(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(
        visible(request, Host.objects.select_related("ssh_key", "jump_host")).prefetch_related(
            "groups"
        ),
        pk=pk,
    )
    template = "frontend/partials/host.html" if is_htmx(request) else "frontend/host.html"
    return render(request, template, _host_context(host))


@require_POST
@operator
def host_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(visible(request, Host.objects.all()), pk=pk)
    operation = services.request_refresh(host, actor=request.user)
    return started(request, operation, f"Refresh of {host.name} queued.", "frontend:host", pk=pk)


@require_POST
@operator
def host_measure_disk(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(visible(request, Host.objects.all()), pk=pk)
    operation = disk.request_measure(host, actor=request.user)
    return started(
        request, operation, f"Measuring Docker's disk use on {host.name}.", "frontend:host", pk=pk
    )


@viewer
def disk_usage(request: HttpRequest) -> HttpResponse:
    """Docker's disk use summed over the fleet, and each host's, the largest first."""
    hosts = visible(request, Host.objects.all())
    ordered = disk.hosts_by_usage(hosts).order_by(F("size").desc(), "name")
    page = paginate(request, ordered, DISK_HOSTS_PER_PAGE)
    shown = list(page.object_list)
    usage = disk.usage_by_host(shown)
    context = {
        "fleet": disk.fleet_usage(hosts),
        "page": page,
        "rows": [(host, usage[host.pk]) for host in shown],
    }
    template = "frontend/partials/disk.html" if is_htmx(request) else "frontend/disk.html"
    return render(request, template, context)


@require_POST
@operator
def disk_measure(request: HttpRequest) -> HttpResponse:
    """Measure every host the user sees: one operation per host under a parent."""
    hosts = list(visible(request, Host.objects.order_by("name")))
    if not hosts:
        return refused(request, "You can see no host to measure.", "frontend:disk")
    operation = disk.request_fleet_measure(
        hosts, actor=request.user, label=f"measure the disk use of {len(hosts)} host(s)"
    )
    return started(
        request,
        operation,
        f"Measuring Docker's disk use on {len(hosts)} host(s): one operation each.",
        "frontend:disk",
    )


@require_POST
@admin
def host_approve_key(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(visible(request, Host.objects.all()), pk=pk)
    fingerprint = request.POST.get("fingerprint", "")  # the one the page showed
    try:
        services.approve_host_key(host, fingerprint=fingerprint, actor=request.user)
    except ValueError as exc:
        return refused(request, str(exc), "frontend:host", pk=pk)
    return done(request, f"Host key of {host.name} approved; refreshing.", "frontend:host", pk=pk)


@require_POST
@admin
def host_remove(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(visible(request, Host.objects.all()), pk=pk)
    services.remove_host(host, actor=request.user)
    messages.success(request, f"{host.name} was removed from the fleet.")
    if is_htmx(request):  # the page is gone: send the browser to the fleet
        return HttpResponse(headers={"HX-Redirect": reverse("frontend:dashboard")})
    return redirect("frontend:dashboard")


@require_POST
@operator
def host_prune(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, PruneForm(request.POST))
    if not form.is_valid():
        return refused(request, "Choose a host to prune.", "frontend:images")
    host = form.cleaned_data["host"]
    operation = request_prune(host, all_unused=form.cleaned_data["all_unused"], actor=request.user)
    return started(request, operation, f"Pruning images on {host.name}.", "frontend:images")


@sensitive_post_parameters("private_key", "passphrase")
@admin
def host_add(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, HostForm(request.POST or None, request.FILES or None))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        host = _saved(
            form,
            lambda: services.register_host(
                name=data["name"],
                address=data["address"],
                port=data["port"],
                username=data["username"],
                ssh_key=None if data.get("private_key") else data["existing_key"],
                private_key=data.get("private_key") or "",
                passphrase=data["passphrase"],
                docker_host=data["docker_host"],
                host_key=data["host_key"],
                jump_host=data["jump_host"],
                labels=data["labels"],
                groups=data["groups"],
                actor=request.user,
            ),
        )
        if host is not None:
            messages.success(request, f"{host.name} added; Berth is contacting it now.")
            return redirect("frontend:host", pk=host.pk)
    return render(request, "frontend/host_add.html", {"form": form})


@sensitive_post_parameters("private_key", "passphrase")
@admin
def host_edit(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(
        visible(request, Host.objects.select_related("ssh_key", "jump_host")), pk=pk
    )
    form = scoped_form(
        request, HostEditForm(request.POST or None, request.FILES or None, host=host)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes = {
            name: data[name]
            for name in ("name", "address", "port", "username", "docker_host", "host_key",
                         "jump_host", "labels", "groups")
        }  # fmt: skip
        if data.get("existing_key") and not data.get("private_key"):
            changes["ssh_key"] = data["existing_key"]
        saved = _saved(
            form,
            lambda: services.update_host(
                host,
                private_key=data.get("private_key") or "",
                passphrase=data["passphrase"],
                actor=request.user,
                **changes,
            ),
        )
        if saved is not None:
            messages.success(request, f"{host.name} saved.")
            return redirect("frontend:host", pk=host.pk)
    return render(request, "frontend/host_add.html", {"form": form, "host": host})


def _saved(form: HostForm, save: Callable[[], Host]) -> Host | None:
    """The host ``save`` (a hosts service) returns, or None with what it refused put on
    the form: an unreadable key, what a scoped admin may not do, a bad field."""
    try:
        return save()
    except ValueError as exc:  # the key could not be read
        form.add_error("private_key", str(exc))
    except PermissionDenied as exc:  # a scoped admin and a stored key, jump host, …
        form.add_error(None, str(exc))
    except DjangoValidationError as exc:
        for field, problems in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
    return None
