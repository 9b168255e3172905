"""Dashboard pages. Each page renders whole on first load; htmx then polls its
partial so the fleet stays live without reloading."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from containers.models import Container
from hosts import services
from hosts.choices import HostStatus
from hosts.models import Host


def _fleet_context() -> dict[str, object]:
    queryset = (
        Host.objects.order_by("name")
        .annotate(
            running=Count("containers", filter=Q(containers__state="running")),
            total=Count("containers"),
        )
        .prefetch_related(
            Prefetch(
                "containers",
                queryset=Container.objects.order_by("name").only(
                    "id", "host_id", "name", "image", "state", "status", "health"
                ),
            )
        )
    )
    hosts = list(queryset)
    return {
        "hosts": hosts,
        "online": sum(1 for host in hosts if host.status == HostStatus.ONLINE),
        "containers_running": sum(host.running for host in hosts),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    partial = bool(getattr(request, "htmx", False))  # set by django_htmx's middleware
    template = "frontend/partials/fleet.html" if partial else "frontend/dashboard.html"
    return render(request, template, _fleet_context())


@require_POST
@staff_member_required
def refresh_host(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(Host, pk=pk)
    services.request_refresh(host, actor=request.user)
    messages.success(request, f"Refresh of {host.name} queued.")
    return redirect("frontend:dashboard")
