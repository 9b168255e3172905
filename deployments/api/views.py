from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.permissions import ScopedQuerysetMixin, scope_queryset
from access.roles import Role
from berth.api_errors import Conflict, error_responses
from deployments import services
from deployments.models import Revision, Rollout, RolloutHost, Service
from operations.api.responses import operation_accepted
from operations.api.serializers import OperationAcceptedSerializer
from operations.services import cancel_operation
from policies.api.errors import enforce_policy, policy_refusals

from .serializers import (
    STEP_ROW,
    DeploySerializer,
    RevisionArchiveSerializer,
    RevisionDiffSerializer,
    RevisionSerializer,
    RollbackSerializer,
    RolloutSerializer,
    ServiceSerializer,
    check_revision_kind,
    compose_refusals,
)

# What starting a deploy or a rollback can answer besides 202.
START_ERRORS = error_responses(
    {
        400: "A revision the service does not have, one never deployed (rollback), or one "
        "the container security policy now refuses on a target host; the body names it",
        403: "policy_override from someone who is not an admin",
        409: "A rollout of this service is still running",
        503: "The task queue is unreachable: nothing was started",
    }
)


class ServiceViewSet(
    ScopedQuerysetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Any],  # services, and their revisions in its actions
):
    """Services, their revision history, deploy, rollback, diff and retirement."""

    queryset = Service.objects.select_related("current_revision", "host_group").prefetch_related(
        "hosts"
    )
    serializer_class = ServiceSerializer
    filterset_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    write_role = Role.OPERATOR

    @extend_schema(
        request=None,
        responses={
            202: OperationAcceptedSerializer,
            **error_responses(
                {
                    409: "A rollout of this service is still running, or it is being "
                    "retired already",
                    503: "The task queue is unreachable: nothing was started",
                }
            ),
        },
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Retire the service: remove its containers from every host (one operation, a
        result per host), then the service and its revisions. Follow the operation."""
        service = self.get_object()
        try:
            operation = services.request_retire(service, actor=request.user)
        except services.RolloutConflict as exc:
            raise Conflict(str(exc)) from None
        return operation_accepted(request, operation)

    @extend_schema(methods=["GET"], request=None, responses=RevisionSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=RevisionSerializer,
        responses={
            201: RevisionSerializer,
            **error_responses(
                {
                    400: "The spec is invalid, or the container security policy refuses it "
                    "on a target host; the body names the field",
                    403: "policy_override from someone who is not an admin",
                }
            ),
        },
    )
    @action(detail=True, methods=["get", "post"], serializer_class=RevisionSerializer)
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        """GET: the revision history, newest first. POST: snapshot a new revision."""
        service = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(service.revisions.all())
            return self.get_paginated_response(RevisionSerializer(page, many=True).data)
        serializer = RevisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        check_revision_kind(service.kind, data)
        # A stack's refusals name the compose key, a service's the spec's field.
        refusals = compose_refusals() if service.is_stack else policy_refusals(field_prefix="spec.")
        with refusals:
            revision = services.add_revision(
                service,
                spec=data.get("spec"),
                compose_text=data.get("compose"),
                health=data.get("health"),
                note=data.get("note", ""),
                override=bool(data.get("policy_override")),
                actor=request.user,
            )
        return Response(RevisionSerializer(revision).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], request=None, responses=RevisionSerializer)
    @extend_schema(
        methods=["PATCH"],
        request=RevisionArchiveSerializer,
        responses={
            200: RevisionSerializer,
            **error_responses(
                {
                    409: "The revision is what the service runs, or a rollout of it is in "
                    "progress: it cannot be archived now",
                }
            ),
        },
    )
    @action(
        detail=True,
        methods=["get", "patch"],
        url_path=r"revisions/(?P<number>[0-9]+)",
        serializer_class=RevisionSerializer,
    )
    def revision(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        """GET: one revision. PATCH ``{"archived": true}``: set it aside (kept in the
        history, still a rollback target, never picked as "the newest"); false: back."""
        service = self.get_object()
        revision = get_object_or_404(service.revisions, number=int(number))
        if request.method == "PATCH":
            archived = self._validated(RevisionArchiveSerializer, request)["archived"]
            try:
                revision = services.set_archived(revision, archived, actor=request.user)
            except services.RevisionInUse as exc:
                raise Conflict(str(exc)) from None
        return Response(RevisionSerializer(revision).data)

    @extend_schema(request=DeploySerializer, responses={202: RolloutSerializer, **START_ERRORS})
    @action(detail=True, methods=["post"], serializer_class=DeploySerializer)
    def deploy(self, request: Request, pk: str | None = None) -> Response:
        """Roll a revision (the newest not archived by default) out to the service's hosts."""
        service = self.get_object()
        options = self._validated(DeploySerializer, request)
        try:
            revision = services.revision_to_deploy(service, options.pop("revision", None))
        except services.NoSuchRevision as exc:
            raise ValidationError({"revision": str(exc)}) from None
        return self._start(
            request,
            service,
            revision,
            options.pop("policy_override"),
            lambda: services.request_deploy(service, revision, actor=request.user, **options),
        )

    @extend_schema(request=RollbackSerializer, responses={202: RolloutSerializer, **START_ERRORS})
    @action(detail=True, methods=["post"], serializer_class=RollbackSerializer)
    def rollback(self, request: Request, pk: str | None = None) -> Response:
        """Deploy an earlier revision again, by its pinned image digest."""
        service = self.get_object()
        options = self._validated(RollbackSerializer, request)
        revision = _revision(service, options.pop("revision"))
        return self._start(
            request,
            service,
            revision,
            options.pop("policy_override"),
            lambda: services.request_rollback(service, revision, actor=request.user, **options),
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True),
            OpenApiParameter("to", int, required=True),
        ],
        responses={
            200: RevisionDiffSerializer(many=True),
            **error_responses(
                {400: "from or to is missing, or not a revision of the service; errors names it"}
            ),
        },
    )
    @action(detail=True, methods=["get"], serializer_class=RevisionDiffSerializer)
    def diff(self, request: Request, pk: str | None = None) -> Response:
        """What changed between two revisions (``?from=1&to=2``)."""
        service = self.get_object()
        numbers = {}
        for name in ("from", "to"):
            raw = request.query_params.get(name, "")
            if not (raw.isascii() and raw.isdigit()):
                raise ValidationError({name: "Give a revision number, e.g. ?from=1&to=2."})
            numbers[name] = int(raw)
        changes = services.diff_revisions(
            _revision(service, numbers["from"], "from"), _revision(service, numbers["to"], "to")
        )
        return Response(RevisionDiffSerializer(changes, many=True).data)

    def _validated(self, serializer_class: type, request: Request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _start(
        self,
        request: Request,
        service: Service,
        revision: Revision,
        override: bool,
        start: Callable[[], Rollout],
    ) -> Response:
        # Checked against each target host's policy as it is now: a revision made
        # before a policy tightened must not deploy.
        hosts = services.target_hosts(service)
        if service.is_stack:
            if override:
                raise ValidationError(
                    {"policy_override": "Not available for stacks: add a revision that passes."}
                )
            with compose_refusals():
                services.check_stack(service.name, revision.spec, hosts, actor=request.user)
        else:
            enforce_policy(
                revision.spec,
                hosts,
                actor=request.user,
                override=override,
                field_prefix="spec.",
                context=f"revision {revision.number}: ",
            )
        try:
            with transaction.atomic():
                if override:
                    services.grant_override(revision)
                rollout = start()
                if override:
                    services.record_override(rollout, revision.spec, hosts, actor=request.user)
        except services.RolloutConflict as exc:
            raise Conflict(str(exc)) from None
        except ValueError as exc:
            raise ValidationError({"revision": str(exc)}) from None
        data = RolloutSerializer(rollout, context={"request": request}).data
        url = request.build_absolute_uri(reverse("rollout-detail", args=[rollout.pk]))
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


def _revision(service: Service, number: int, field: str = "revision") -> Revision:
    """The service's revision ``number``, given in a request body or query: a number it
    does not have is bad input (400 on ``field``), not a missing page."""
    try:
        return services.revision_numbered(service, number)
    except services.NoSuchRevision as exc:
        raise ValidationError({field: str(exc)}) from None


class RolloutViewSet(viewsets.ReadOnlyModelViewSet[Rollout]):
    """Rollouts with their per-host steps; poll one to follow its progress."""

    serializer_class = RolloutSerializer
    filterset_fields = ["service", "status", "kind"]
    ordering_fields = ["created_at"]
    write_role = Role.OPERATOR  # cancel

    def get_queryset(self) -> QuerySet[Rollout]:
        rollouts = Rollout.objects.select_related(
            "service", "revision", "previous_revision"
        ).prefetch_related(
            # A join, not a second prefetch (that one would name every host of every
            # rollout on the page in one query), and of each host only its name.
            Prefetch(
                "hosts",
                queryset=RolloutHost.objects.select_related("host").only(
                    "rollout",
                    "host__name",
                    "batch",
                    "step",
                    "message",
                    "container_id",
                    "started_at",
                    "finished_at",
                ),
            )
        )
        return scope_queryset(rollouts, self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A page of rollouts; their host steps are read as rows in one query, not as a
        model instance (and one of its host) per step: a page can name every host of a
        fleet many times over."""
        rollouts = self.filter_queryset(self.get_queryset()).prefetch_related(None)
        page = self.paginate_queryset(rollouts)
        shown = list(page if page is not None else rollouts)
        steps: dict[int, list[tuple[Any, ...]]] = {rollout.pk: [] for rollout in shown}
        for row in RolloutHost.objects.filter(rollout__in=shown).values_list(*STEP_ROW):
            steps[row[0]].append(row[1:])
        for rollout in shown:
            rollout.step_rows = steps[rollout.pk]  # type: ignore[attr-defined]
        data = self.get_serializer(shown, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(
        request=None,
        responses={
            202: RolloutSerializer,
            **error_responses({400: "The rollout has already ended (errors names status)"}),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Stop the rollout; hosts it already switched go back to the previous revision."""
        rollout = self.get_object()
        if rollout.operation is None or rollout.operation.finished:
            raise ValidationError({"status": f"rollout #{rollout.pk} has already ended"})
        cancel_operation(rollout.operation, actor=request.user)
        return Response(self.get_serializer(rollout).data, status=status.HTTP_202_ACCEPTED)
