"""The container API: the fleet-wide list, and actions that answer 202 with an operation."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.permissions import ScopedQuerysetMixin
from access.roles import Role
from berth.api_errors import QUEUE_UNAVAILABLE, error_responses
from containers import services
from containers.filtersets import ContainerFilterSet
from containers.models import Container
from hosts.models import Host
from hosts.scoping import scoped_hosts
from operations.api.responses import operation_accepted
from operations.api.serializers import BulkAcceptedSerializer, OperationAcceptedSerializer
from policies.api.errors import enforce_policy

from .serializers import (
    ContainerBulkSerializer,
    ContainerDiffSerializer,
    ContainerKillSerializer,
    ContainerLogsSerializer,
    ContainerRemoveSerializer,
    ContainerRestartSerializer,
    ContainerRunSerializer,
    ContainerSerializer,
    ContainerStopSerializer,
)

ACCEPTED = {
    202: OpenApiResponse(
        OperationAcceptedSerializer,
        description="Queued: poll operation_url until its status is succeeded, failed or "
        "cancelled; the Location header holds the same URL.",
    ),
    **error_responses({404: "No such container", 503: QUEUE_UNAVAILABLE}),
}


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data or {})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ContainerViewSet(ScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    """Containers across the fleet, as their hosts last reported them (refreshed after every
    action and periodically). Actions answer ``202`` with the operation to poll."""

    queryset = Container.objects.select_related("host")
    serializer_class = ContainerSerializer
    filterset_class = ContainerFilterSet
    ordering_fields = ["name", "image", "state", "health", "created", "updated_at", "host__name"]
    write_role = Role.OPERATOR

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        """Start the container (a running one is left as it is, and the result says so)."""
        return operation_accepted(
            request, services.request_start(self.get_object(), actor=request.user)
        )

    @extend_schema(request=ContainerStopSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        """Stop the container: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        container = self.get_object()
        params = _valid(ContainerStopSerializer, request)
        return operation_accepted(
            request, services.request_stop(container, actor=request.user, **params)
        )

    @extend_schema(request=ContainerRestartSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def restart(self, request: Request, pk: str | None = None) -> Response:
        """Restart the container (stop with ``timeout``, then start)."""
        container = self.get_object()
        params = _valid(ContainerRestartSerializer, request)
        operation = services.request_restart(container, actor=request.user, **params)
        return operation_accepted(request, operation)

    @extend_schema(request=ContainerKillSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def kill(self, request: Request, pk: str | None = None) -> Response:
        """Send a signal to the container's main process (SIGKILL by default)."""
        container = self.get_object()
        params = _valid(ContainerKillSerializer, request)
        return operation_accepted(
            request, services.request_kill(container, actor=request.user, **params)
        )

    @extend_schema(request=ContainerRemoveSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str | None = None) -> Response:
        """Remove the container (one already gone counts as removed, and the result says so)."""
        container = self.get_object()
        params = _valid(ContainerRemoveSerializer, request)
        operation = services.request_remove(container, actor=request.user, **params)
        return operation_accepted(request, operation)

    @extend_schema(
        request=ContainerLogsSerializer,
        responses=ACCEPTED,
        examples=[
            OpenApiExample("last 50 lines", value={"tail": 50}, request_only=True),
            OpenApiExample(
                "follow", value={"tail": 10, "follow": True, "duration": 120}, request_only=True
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def logs(self, request: Request, pk: str | None = None) -> Response:
        """Read the container's log. Without ``follow`` the operation's result holds
        ``{"lines": [{"line", "stream", "time"?}], "truncated"}``: the newest lines, at
        most 10,000 and ``BERTH_LOG_MAX_BYTES`` (1 MiB) of them, ``truncated`` when some
        were left out. With ``follow`` each line goes to ``GET
        /api/v1/operations/ID/stream/`` as it arrives, until the operation is cancelled
        (``POST /api/v1/operations/ID/cancel/``), the container stops, ``duration``
        passes or ``BERTH_LOG_MAX_BYTES`` were streamed (then ``truncated``)."""
        container = self.get_object()
        params = _valid(ContainerLogsSerializer, request)
        return operation_accepted(
            request, services.request_logs(container, actor=request.user, **params)
        )

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def stats(self, request: Request, pk: str | None = None) -> Response:
        """Sample the container's resource use once; the result holds cpu_percent,
        mem_usage, mem_limit, mem_percent, net_rx_bytes, net_tx_bytes and pids."""
        return operation_accepted(
            request, services.request_stats(self.get_object(), actor=request.user)
        )

    @extend_schema(
        request=ContainerDiffSerializer,
        responses={
            **ACCEPTED,
            **error_responses({400: "limit is not 1-10000, or a field is unknown"}),
        },
        examples=[OpenApiExample("first 100 paths", value={"limit": 100}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def diff(self, request: Request, pk: str | None = None) -> Response:
        """Read the container's writable layer (``docker diff``): the operation's result
        holds ``size_rw`` (bytes the container wrote), ``size_root_fs`` (its whole file
        system), ``counts`` of ``added``, ``changed`` and ``deleted`` paths, ``total``, and
        ``changes``: the first ``limit`` paths by name, each ``{"path", "kind"}``, with
        ``truncated`` when there were more."""
        container = self.get_object()
        params = _valid(ContainerDiffSerializer, request)
        return operation_accepted(
            request, services.request_diff(container, actor=request.user, **params)
        )

    @extend_schema(
        request=ContainerBulkSerializer,
        responses={
            202: OpenApiResponse(
                BulkAcceptedSerializer,
                description="Queued: a parent operation with one child per container; "
                "``matched`` says how many containers the selection matched.",
            ),
            **error_responses(
                {
                    400: "The selection is invalid, empty, or matches every container without "
                    '"all": true, or a field is; the body names it and nothing was queued',
                    503: QUEUE_UNAVAILABLE,
                }
            ),
        },
        examples=[
            OpenApiExample(
                "by label", value={"action": "restart", "filter": {"label": "app=web"}},
                request_only=True,
            ),
            OpenApiExample("every container", value={"action": "stop", "all": True},
                           request_only=True),
        ],
    )  # fmt: skip
    @action(detail=False, methods=["post"], filterset_class=None)
    def bulk(self, request: Request) -> Response:
        """Run one action on every selected container across the fleet: a parent
        operation with a child per container; poll the parent for per-container results.
        Unknown fields and filter keys, an empty selection and a filter that matches
        every container (without ``"all": true``) are a 400, with nothing queued."""
        stray = sorted(set(request.query_params) - {"format"})
        if stray:
            raise ValidationError(
                {name: "Give the selection in the body, not the query string." for name in stray}
            )
        body = _valid(ContainerBulkSerializer, request)
        try:
            containers, label = services.select_containers(
                self.get_queryset(),
                ids=body.pop("ids", None),
                filters=body.pop("filter", None),
                everything=body.pop("all"),
            )
        except services.InvalidSelection as exc:
            raise ValidationError({exc.field: exc.message}) from None
        verb = body.pop("action")
        operation = services.request_bulk_action(
            containers, verb, actor=request.user, label=f"{verb} {label}", **body
        )
        return operation_accepted(request, operation, matched=len(containers))


class HostContainersView(generics.ListCreateAPIView):
    """``GET``: the host's containers. ``POST``: run a new container on the host."""

    serializer_class = ContainerSerializer
    filterset_class = ContainerFilterSet
    ordering_fields = ContainerViewSet.ordering_fields
    write_role = Role.OPERATOR

    def get_host(self) -> Host:
        return get_object_or_404(scoped_hosts(self.request.user), pk=self.kwargs["host_id"])

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation: no host
            return Container.objects.none()
        return Container.objects.select_related("host").filter(host=self.get_host())

    @extend_schema(
        operation_id="hosts_containers_run",
        request=ContainerRunSerializer,
        responses={
            **ACCEPTED,
            **error_responses(
                {
                    400: "The spec is invalid, or the host's container security policy "
                    "refuses it; the body names the field",
                    403: "Your role does not allow this, or policy_override from someone "
                    "who is not an admin",
                    404: "No such host",
                }
            ),
        },
        examples=[
            OpenApiExample(
                "web server",
                request_only=True,
                value={
                    "image": "registry.example.com:5000/demo/web:v1",
                    "name": "web-1",
                    "ports": [{"private": 80, "public": 8080}],
                    "env": {"MODE": "production"},
                    "restart_policy": {"name": "unless-stopped"},
                    "labels": {"team": "ops"},
                    "limits": {"memory": "256m", "cpus": 0.5},
                },
            )
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create and start a container from a spec; the image is pulled first when the
        host lacks it (progress in the operation's stream). A name already in use or a
        port already allocated fails the operation with Docker's reason. A bind mount the
        host's container security policy refuses is a 400 naming ``volumes`` and the
        policy, with nothing queued (admins: ``"policy_override": true``, recorded)."""
        host = self.get_host()
        serializer = ContainerRunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        spec = serializer.to_agent_args()
        override = bool(serializer.validated_data.get("policy_override"))
        enforce_policy(spec, [host], actor=request.user, override=override)
        operation = services.request_run(host, spec, actor=request.user, policy_override=override)
        return operation_accepted(request, operation)
