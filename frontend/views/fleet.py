"""The fleet overview: every host as a row, with totals, filters and search."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from containers.models import Container
from hosts.choices import HostStatus
from hosts.filtersets import HostFilterSet
from hosts.models import Host, HostGroup

from .common import is_htmx, paginate, viewer, visible

HOSTS_PER_PAGE = 50
STOPPED_STATES = ("exited", "created", "dead")
PROBLEM_STATUSES = [s for s in HostStatus.values if s not in (HostStatus.ONLINE, HostStatus.NEW)]


def _totals(request: HttpRequest) -> dict[str, int]:
    """Fleet-wide counts: two aggregate queries, whatever the fleet's size."""
    hosts = visible(request, Host.objects.all()).aggregate(
        hosts=Count("id"),
        online=Count("id", filter=Q(status=HostStatus.ONLINE)),
        problems=Count("id", filter=Q(status__in=PROBLEM_STATUSES)),
    )
    containers = visible(request, Container.objects.all()).aggregate(
        running=Count("id", filter=Q(state="running")),
        stopped=Count("id", filter=Q(state__in=STOPPED_STATES)),
        unhealthy=Count("id", filter=Q(health="unhealthy")),
    )
    return {**hosts, **containers}


def host_rows(queryset):  # type: ignore[no-untyped-def]
    """Hosts with their container counts, groups and containers, in a fixed number of
    queries however many hosts there are."""
    return (
        queryset.annotate(
            running=Count("containers", filter=Q(containers__state="running"), distinct=True),
            stopped=Count(
                "containers", filter=Q(containers__state__in=STOPPED_STATES), distinct=True
            ),
            unhealthy=Count("containers", filter=Q(containers__health="unhealthy"), distinct=True),
        )
        .prefetch_related(
            "groups",
            Prefetch(
                "containers",
                queryset=Container.objects.order_by("name").only(
                    "id", "host_id", "name", "state", "health"
                ),
            ),
        )
        .order_by("name")
    )


@viewer
def dashboard(request: HttpRequest) -> HttpResponse:
    filterset = HostFilterSet(request.GET or None, queryset=visible(request, Host.objects.all()))
    error = ""
    try:
        hosts = filterset.qs
        if filterset.form.errors:
            error = "; ".join(
                f"{field}: {' '.join(messages)}"
                for field, messages in filterset.form.errors.items()
            )
    except ValidationError as exc:  # a malformed label selector
        detail = exc.detail if isinstance(exc.detail, dict) else {"filter": exc.detail}
        error = "; ".join(f"{key}: {value}" for key, value in detail.items())
        hosts = Host.objects.none()
    page = paginate(request, host_rows(hosts), HOSTS_PER_PAGE)
    context = {
        "page": page,
        "hosts": page.object_list,
        "totals": _totals(request),
        "filter_error": error,
        "filtered": bool(request.GET.keys() - {"page"}),
    }
    if is_htmx(request):
        return render(request, "frontend/partials/fleet.html", context)
    context["groups"] = visible(request, HostGroup.objects.order_by("name")).values_list(
        "name", flat=True
    )
    context["statuses"] = HostStatus.choices
    return render(request, "frontend/dashboard.html", context)
