"""The audit trail: every operation, live, with filters; one operation's log and error."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from operations import services, streams
from operations.choices import OperationStatus
from operations.models import Operation

from .common import done, is_htmx, operator, paginate, refused, viewer, visible

OPERATIONS_PER_PAGE = 50


@viewer
def operation_list(request: HttpRequest) -> HttpResponse:
    operations = visible(request, Operation.objects.select_related("host")).order_by(
        "-created_at", "-id"
    )
    filters = {
        "status": request.GET.get("status", ""),
        "action": request.GET.get("action", "").strip(),
        "actor": request.GET.get("actor", "").strip(),
    }
    if filters["status"] in OperationStatus.values:
        operations = operations.filter(status=filters["status"])
    if filters["action"]:
        operations = operations.filter(action__icontains=filters["action"])
    if filters["actor"]:
        operations = operations.filter(actor_name__icontains=filters["actor"])
    context = {"page": paginate(request, operations, OPERATIONS_PER_PAGE), "filters": filters}
    if is_htmx(request):
        return render(request, "frontend/partials/operations.html", context)
    context["statuses"] = OperationStatus.values
    return render(request, "frontend/operations.html", context)


@viewer
def operation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    operation = get_object_or_404(
        visible(request, Operation.objects.select_related("host", "parent", "actor")), pk=pk
    )
    context = {
        "op": operation,
        "children": operation.children.select_related("host").order_by("id"),
    }
    template = "frontend/partials/operation.html" if is_htmx(request) else "frontend/operation.html"
    return render(request, template, context)


@viewer
def operation_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """The feedback card of an action, polled until its operation ends."""
    operation = get_object_or_404(visible(request, Operation.objects.all()), pk=pk)
    return render(
        request,
        "frontend/partials/op_feedback.html",
        {
            "op": operation,
            "message": request.GET.get("message", ""),
            "children": operation.children.order_by("id"),
        },
    )


@require_POST
@operator
def operation_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    operation = get_object_or_404(visible(request, Operation.objects.all()), pk=pk)
    try:
        services.cancel_operation(operation, actor=request.user)
    except ValueError as exc:
        return refused(request, str(exc), "frontend:operation", pk=pk)
    return done(request, f"Cancel of operation #{pk} requested.", "frontend:operation", pk=pk)


@viewer
def operation_stream(request: HttpRequest, pk: int) -> HttpResponse:
    """New lines of an operation's stream from ``offset`` on, followed by the poller that
    asks for the next ones (swapped in place of the previous poller)."""
    operation = get_object_or_404(visible(request, Operation.objects.all()), pk=pk)
    offset = request.GET.get("offset", "0")
    start = int(offset) if offset.isdigit() else 0
    try:
        items = streams.read(operation.pk, start)
        unavailable = ""
    except RedisError as exc:
        items, unavailable = [], f"the log store is unavailable ({exc})"
    return render(
        request,
        "frontend/partials/stream_lines.html",
        {
            "op": operation,
            "items": items,
            "next_offset": start + len(items),
            "keep_polling": not unavailable and (not operation.finished or items),
            "unavailable": unavailable,
        },
    )
