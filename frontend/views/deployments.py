"""The deployments app's pages, under /services/: the list, a new service, its
revisions with diffs (archived or not), deploy, rollback, retirement and the
rollout's progress per host."""

from __future__ import annotations

import itertools

from django.contrib import messages
from django.db.models import OuterRef, Prefetch, Subquery, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deployments import services
from deployments.models import Revision, Rollout, RolloutHost, Service
from policies.services import PolicyViolation

from ..forms import RevisionForm, ServiceForm, ServiceTargetsForm, SpecFields
from .common import done, is_htmx, operator, refused, scoped_form, started, viewer, visible

RECENT_ROLLOUTS = 5


# What the rollouts partial shows of each host's step (of its host, only the name).
STEP_FIELDS = ("rollout", "host__name", "batch", "step", "message")


def _rollouts(service: Service) -> list[Rollout]:
    """The recent rollouts, the newest with its steps (the only ones shown: a rollout
    has a step per target host)."""
    rollouts = list(
        service.rollouts.select_related("revision", "previous_revision", "operation").order_by(
            "-created_at", "-id"
        )[:RECENT_ROLLOUTS]
    )
    steps = RolloutHost.objects.select_related("host").only(*STEP_FIELDS)
    prefetch_related_objects(rollouts[:1], Prefetch("hosts", queryset=steps))
    return rollouts


@viewer
def service_list(request: HttpRequest) -> HttpResponse:
    # Each service's newest rollout, found in SQL: a service has a rollout per deploy.
    newest = Rollout.objects.filter(service=OuterRef("pk")).order_by("-created_at", "-id")
    services_ = (
        visible(request, Service.objects.select_related("current_revision", "host_group"))
        .annotate(last_rollout_id=Subquery(newest.values("pk")[:1]))
        .order_by("name")
    )
    rows = [{"service": service, "last_rollout": None, "hosts": []} for service in services_]
    wanted = [row["service"].last_rollout_id for row in rows if row["service"].last_rollout_id]
    last = Rollout.objects.in_bulk(wanted)
    # The hosts a service lists, by name: names only, not a queryset and hosts per service.
    listed: dict[int, list[str]] = {}
    for service_id, name in (
        Service.hosts.through.objects.filter(service__in=[row["service"] for row in rows])
        .order_by("host__name")
        .values_list("service_id", "host__name")
    ):
        listed.setdefault(service_id, []).append(name)
    for row in rows:
        row["last_rollout"] = last.get(row["service"].last_rollout_id)
        row["hosts"] = listed.get(row["service"].pk, [])
    return render(request, "frontend/services.html", {"rows": rows})


@operator
def service_create(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, ServiceForm(request.POST or None))
    if request.method == "POST" and form.is_valid():
        try:
            service = services.create_service(
                **form.service.validated_data,
                first_revision={
                    "spec": form.spec,
                    "health": form.health,
                    "note": form.cleaned_data["note"],
                },
                actor=request.user,
            )
        except PolicyViolation as exc:
            form.add_error(_form_field(exc), exc.message)
        else:
            messages.success(request, f"Service {service.name} created with revision 1. Deploy it.")
            return redirect("frontend:service", pk=service.pk)
    return render(request, "frontend/service_form.html", {"form": form})


@viewer
def service_detail(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_object_or_404(
        visible(
            request, Service.objects.select_related("current_revision", "host_group")
        ).prefetch_related("hosts"),
        pk=pk,
    )
    revisions = list(service.revisions.order_by("-number"))
    history = [
        {
            "revision": revision,
            "previous": previous,
            "diff": services.diff_revisions(previous, revision) if previous else [],
        }
        # Each revision with the one before it (None for the first; nothing at all for
        # a service with no revision yet).
        for revision, previous in itertools.zip_longest(revisions, revisions[1:])
    ]
    context = {
        "service": service,
        "rollouts": _rollouts(service),
        "history": history,
        "targets": services.target_hosts(service),
        "retire_hosts": [host.name for host in services.retire_hosts(service)],
        "newest": next((r for r in revisions if not r.archived), None),
    }
    if is_htmx(request):
        return render(request, "frontend/partials/service.html", context)
    return render(request, "frontend/service.html", context)


@operator
def revision_create(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_object_or_404(visible(request, Service.objects.all()), pk=pk)
    if service.is_stack:
        # A stack's revision is a compose file, which this form does not take yet.
        message = f"{service.name} is a stack: add its revisions with POST /api/v1/services/."
        return refused(request, message, "frontend:service", pk=service.pk)
    latest = service.revisions.order_by("-number").first()
    initial = SpecFields.initial_from(latest.spec, latest.health) if latest else {}
    form = RevisionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            revision = services.add_revision(
                service,
                spec=form.spec,
                health=form.health,
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except PolicyViolation as exc:
            form.add_error(_form_field(exc), exc.message)
        else:
            messages.success(request, f"Revision {revision.number} of {service.name} created.")
            return redirect("frontend:service", pk=service.pk)
    return render(
        request, "frontend/revision_form.html", {"form": form, "service": service, "latest": latest}
    )


def _form_field(exc: PolicyViolation) -> str:
    """The form field a policy refusal is about: its own, or "More settings" for keys
    typed there (privileged, cap_add, labels, user, …)."""
    return exc.field if exc.field in SpecFields.SPEC_FIELDS else "advanced"


def _start_rollout(
    request: HttpRequest, service: Service, revision: Revision, start
) -> HttpResponse:  # type: ignore[no-untyped-def]
    try:
        # Against each target host's policy as it is now (pages have no override).
        services.check_revision(revision, services.target_hosts(service), actor=request.user)
    except PolicyViolation as exc:
        message = f"Revision {revision.number} cannot be deployed: {exc.message}"
        return refused(request, message, "frontend:service", pk=service.pk)
    try:
        rollout = start()
    except services.RolloutConflict as exc:
        return refused(request, str(exc), "frontend:service", pk=service.pk)
    except ValueError as exc:
        return refused(request, str(exc), "frontend:service", pk=service.pk)
    verb = "Rolling back to" if rollout.kind == "rollback" else "Deploying"
    assert rollout.operation is not None
    return started(
        request,
        rollout.operation,
        f"{verb} revision {rollout.revision.number} of {service.name} "
        f"on {rollout.hosts.count()} host(s).",
        "frontend:service",
        pk=service.pk,
    )


@require_POST
@operator
def service_deploy(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_object_or_404(visible(request, Service.objects.all()), pk=pk)
    number = request.POST.get("revision", "")
    try:
        revision = services.revision_to_deploy(service, int(number) if number.isdigit() else None)
    except services.NoSuchRevision as exc:
        return refused(request, str(exc), "frontend:service", pk=pk)
    return _start_rollout(
        request,
        service,
        revision,
        lambda: services.request_deploy(service, revision, actor=request.user),
    )


@require_POST
@operator
def service_rollback(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    service = get_object_or_404(visible(request, Service.objects.all()), pk=pk)
    revision = get_object_or_404(Revision, service=service, number=number)
    return _start_rollout(
        request,
        service,
        revision,
        lambda: services.request_rollback(service, revision, actor=request.user),
    )


@require_POST
@operator
def service_retire(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_object_or_404(visible(request, Service.objects.all()), pk=pk)
    try:
        operation = services.request_retire(service, actor=request.user)
    except services.RolloutConflict as exc:
        return refused(request, str(exc), "frontend:service", pk=pk)
    hosts = len(operation.params["hosts"])
    return started(
        request,
        operation,
        f"Retiring {service.name}: removing its containers from {hosts} host(s), then the "
        "service and its revisions.",
        "frontend:service",
        pk=pk,
    )


@require_POST
@operator
def revision_archive(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    service = get_object_or_404(visible(request, Service.objects.all()), pk=pk)
    revision = get_object_or_404(Revision, service=service, number=number)
    archived = request.POST.get("archived") != "false"
    try:
        services.set_archived(revision, archived, actor=request.user)
    except services.RevisionInUse as exc:
        return refused(request, str(exc), "frontend:service", pk=pk)
    verb = (
        "archived: kept in the history, never deployed as the newest"
        if archived
        else ("back among the revisions a deploy picks")
    )
    return done(request, f"Revision {number} of {service.name} {verb}.", "frontend:service", pk=pk)


@operator
def service_targets(request: HttpRequest, pk: int) -> HttpResponse:
    """Change where a service runs. Hosts that would lose its container are shown
    first, and the change is saved only once that is confirmed."""
    service = get_object_or_404(visible(request, Service.objects.all()), pk=pk)
    form = scoped_form(request, ServiceTargetsForm(request.POST or None, service=service))
    leaving: list[str] = []
    if request.method == "POST" and form.is_valid():
        leaving = [host.name for host in services.hosts_leaving(service, **form.changes)]
        # Confirmed only for the hosts that were shown: a changed selection is shown again.
        if not leaving or request.POST.get("confirm") == ",".join(leaving):
            _, removal = services.update_service(service, actor=request.user, **form.changes)
            message = f"Targets of {service.name} saved."
            if removal is not None:
                hosts = ", ".join(removal.params["hosts"])
                message += f" Removing its containers from {hosts}."
            messages.success(request, message)
            return redirect("frontend:service", pk=pk)
    context = {"form": form, "service": service, "leaving": leaving}
    return render(request, "frontend/service_targets.html", context)
