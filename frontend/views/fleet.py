"""The fleet overview: every host as a row, with totals, filters and search."""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from containers.models import Container
from hosts.choices import HostStatus
from hosts.filtersets import HostFilterSet
from hosts.models import Host, HostGroup

from .common import form_problems, is_htmx, paginate, viewer, visible

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


class ContainerChip(NamedTuple):
    """What a host's row shows of each of its containers."""

    pk: int
    name: str
    state: str
    health: str


def host_rows(hosts: list[Host]) -> list[Host]:
    """Give each host of a page its containers (``chips``) and their counts (``running``,
    ``stopped``, ``unhealthy``), from one query for all of them.

    The counts come from the rows the page shows anyway, so the host query itself needs
    no join or GROUP BY and stays an index walk however many containers the fleet has.
    """
    chips: dict[int, list[ContainerChip]] = defaultdict(list)
    rows = (
        Container.objects.filter(host__in=[host.pk for host in hosts])
        .order_by("host_id", "name")
        .values_list("host_id", "pk", "name", "state", "health")
    )
    for host_id, pk, name, state, health in rows:
        chips[host_id].append(ContainerChip(pk, name, state, health))
    for host in hosts:
        mine = chips.get(host.pk, [])
        host.chips = mine  # type: ignore[attr-defined]
        host.running = sum(chip.state == "running" for chip in mine)  # type: ignore[attr-defined]
        host.stopped = sum(chip.state in STOPPED_STATES for chip in mine)  # type: ignore[attr-defined]
        host.unhealthy = sum(chip.health == "unhealthy" for chip in mine)  # type: ignore[attr-defined]
    return hosts


@viewer
def dashboard(request: HttpRequest) -> HttpResponse:
    filterset = HostFilterSet(request.GET or None, queryset=visible(request, Host.objects.all()))
    hosts = filterset.qs
    # A malformed filter (a label selector too) is a form error: the page says it was
    # not applied, and the other filters still are.
    error = form_problems(filterset.form.errors)
    page = paginate(request, hosts.prefetch_related("groups").order_by("name"), HOSTS_PER_PAGE)
    page.object_list = host_rows(list(page.object_list))
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
