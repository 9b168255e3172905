"""The volume API: the fleet-wide list, and actions that answer 202 with an operation."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import ScopedQuerysetMixin
from access.roles import Role
from berth.api_errors import QUEUE_UNAVAILABLE, error_responses
from hosts.models import Host
from hosts.scoping import scoped_hosts
from operations.api.responses import operation_accepted
from operations.api.serializers import OperationAcceptedSerializer
from volumes import services
from volumes.filtersets import VolumeFilterSet
from volumes.models import Volume

from .serializers import VolumeCreateSerializer, VolumePruneSerializer, VolumeSerializer

ACCEPTED = {
    202: OpenApiResponse(
        OperationAcceptedSerializer,
        description="Queued: poll operation_url until its status is succeeded, failed or "
        "cancelled; the Location header holds the same URL.",
    ),
    **error_responses({404: "No such volume", 503: QUEUE_UNAVAILABLE}),
}


class VolumeViewSet(
    ScopedQuerysetMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Docker volumes across the fleet, one row per (host, volume), as each host last
    reported them (refreshed after every action and periodically), with the containers
    that mount each. Sizes are those of the last measure of the host (``POST
    /hosts/ID/volumes/measure/``); null until then. Changes answer ``202`` with the
    operation to poll."""

    queryset = Volume.objects.select_related("host")
    serializer_class = VolumeSerializer
    filterset_class = VolumeFilterSet
    ordering_fields = ["name", "driver", "size", "created", "host__name"]
    write_role = Role.OPERATOR

    @extend_schema(
        request=None,
        responses={
            **ACCEPTED,
            **error_responses({400: "A container uses it; the body names the containers"}),
        },
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Remove the volume from its host. Refused (400) while a container, running or
        not, mounts it; the agent checks again on the host, and the operation fails naming
        the containers if one started using it since."""
        volume = self.get_object()
        try:
            operation = services.request_remove(volume, actor=request.user)
        except services.InvalidRequest as exc:
            raise ValidationError({exc.field: exc.message}) from None
        return operation_accepted(request, operation)


def _host(request: Request, host_id: int) -> Host:
    return get_object_or_404(scoped_hosts(request.user), pk=host_id)


class HostVolumesView(generics.ListCreateAPIView):
    """``GET``: the host's volumes. ``POST``: create a volume on the host."""

    serializer_class = VolumeSerializer
    filterset_class = VolumeFilterSet
    ordering_fields = VolumeViewSet.ordering_fields
    write_role = Role.OPERATOR

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation: no host
            return Volume.objects.none()
        host = _host(self.request, self.kwargs["host_id"])
        return Volume.objects.select_related("host").filter(host=host)

    @extend_schema(
        operation_id="hosts_volumes_create",
        request=VolumeCreateSerializer,
        responses={
            **ACCEPTED,
            **error_responses(
                {400: "The spec is invalid; the body names the field", 404: "No such host"}
            ),
        },
        examples=[
            OpenApiExample(
                "a named volume",
                request_only=True,
                value={"name": "pgdata", "labels": {"team": "ops"}},
            )
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create a volume on the host (local driver). Every field is checked before
        anything is queued: a bad one is a 400 naming it."""
        host = _host(request, kwargs["host_id"])
        serializer = VolumeCreateSerializer(data=request.data, context={"host": host})
        serializer.is_valid(raise_exception=True)
        operation = services.request_create(
            host, serializer.validated_data["spec"], actor=request.user
        )
        return operation_accepted(request, operation)


class HostVolumePruneView(APIView):
    """Remove the host's volumes no container (running or not) mounts: anonymous ones, or
    with ``all`` every one. With ``dry_run`` the operation's result lists what would go
    and nothing is removed."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=VolumePruneSerializer,
        responses={**ACCEPTED, **error_responses({404: "No such host"})},
    )
    def post(self, request: Request, host_id: int) -> Response:
        host = _host(request, host_id)
        serializer = VolumePruneSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        operation = services.request_prune(
            host, dry_run=data["dry_run"], every=data["all"], actor=request.user
        )
        return operation_accepted(request, operation)


class HostVolumeMeasureView(APIView):
    """Measure the sizes of the host's volumes (``system df``, which walks their files:
    a periodic refresh does not) and store them with the time measured."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=None,
        responses={**ACCEPTED, **error_responses({404: "No such host"})},
    )
    def post(self, request: Request, host_id: int) -> Response:
        host = _host(request, host_id)
        return operation_accepted(request, services.request_measure(host, actor=request.user))
