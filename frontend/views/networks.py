"""Docker networks across the fleet: create, remove, prune, connect and disconnect."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from containers.models import Container
from networks import services
from networks.models import Network

from ..forms import NetworkForm, NetworkPruneForm
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

NETWORKS_PER_PAGE = 50


def _networks(request: HttpRequest) -> dict[str, object]:
    rows = visible(request, Network.objects.select_related("host")).order_by("host__name", "name")
    search = request.GET.get("q", "").strip()
    if search:
        rows = rows.filter(
            Q(name__icontains=search) | Q(driver__iexact=search) | Q(host__name__icontains=search)
        )
    page = paginate(request, rows, NETWORKS_PER_PAGE)
    # For the connect form: the containers of each shown network's host.
    hosts = {network.host_id for network in page.object_list}
    names: dict[int, list[str]] = {}
    for host_id, name in (
        visible(request, Container.objects.filter(host_id__in=hosts))
        .order_by("name")
        .values_list("host_id", "name")
    ):
        names.setdefault(host_id, []).append(name)
    for network in page.object_list:
        attached = {c.get("name") for c in network.containers}
        network.connectable = [n for n in names.get(network.host_id, []) if n not in attached]
    return {"page": page, "networks": page.object_list, "q": search}


@viewer
def network_list(request: HttpRequest) -> HttpResponse:
    context = _networks(request)
    if is_htmx(request):
        return render(request, "frontend/partials/networks.html", context)
    context.update(
        create_form=scoped_form(request, NetworkForm()),
        prune_form=scoped_form(request, NetworkPruneForm(prefix="prune")),
    )
    return render(request, "frontend/networks.html", context)


@require_POST
@operator
def network_create(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, NetworkForm(request.POST))
    if not form.is_valid():
        return refused(request, form_problems(form.errors), "frontend:networks")
    data = form.cleaned_data
    host = data["host"]
    try:
        spec = services.prepare_create(
            host,
            name=data["name"],
            driver=data["driver"],
            subnet=data["subnet"],
            gateway=data["gateway"],
            ip_range=data["ip_range"],
            internal=data["internal"],
            attachable=data["attachable"],
            options={"parent": data["parent"]} if data["parent"] else {},
        )
    except services.InvalidRequest as exc:
        return refused(request, f"{exc.field}: {exc.message}", "frontend:networks")
    operation = services.request_create(host, spec, actor=request.user)
    return started(
        request, operation, f"Creating network {spec.name} on {host.name}.", "frontend:networks"
    )


def _network(request: HttpRequest, pk: int) -> Network:
    return get_object_or_404(visible(request, Network.objects.select_related("host")), pk=pk)


@require_POST
@operator
def network_remove(request: HttpRequest, pk: int) -> HttpResponse:
    network = _network(request, pk)
    try:
        operation = services.request_remove(network, actor=request.user)
    except services.InvalidRequest as exc:
        return refused(request, exc.message, "frontend:networks")
    return started(request, operation, f"Removing network {network}.", "frontend:networks")


@require_POST
@operator
def network_prune(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, NetworkPruneForm(request.POST, prefix="prune"))
    if not form.is_valid():
        return refused(request, "Choose a host to prune.", "frontend:networks")
    host = form.cleaned_data["host"]
    operation = services.request_prune(host, actor=request.user)
    return started(request, operation, f"Pruning networks on {host.name}.", "frontend:networks")


@require_POST
@operator
def network_connect(request: HttpRequest, pk: int) -> HttpResponse:
    network = _network(request, pk)
    try:
        container = services.find_container(network, request.POST.get("container", ""))
        operation = services.request_connect(network, container, actor=request.user)
    except services.InvalidRequest as exc:
        return refused(request, exc.message, "frontend:networks")
    return started(
        request, operation, f"Connecting {container.name} to {network}.", "frontend:networks"
    )


@require_POST
@operator
def network_disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    network = _network(request, pk)
    try:
        container = services.find_container(network, request.POST.get("container", ""))
    except services.InvalidRequest as exc:
        return refused(request, exc.message, "frontend:networks")
    operation = services.request_disconnect(network, container, actor=request.user)
    return started(
        request, operation, f"Disconnecting {container.name} from {network}.", "frontend:networks"
    )
