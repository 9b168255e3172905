"""The network API: the fleet-wide list, and actions that answer 202 with an operation."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import ScopedQuerysetMixin
from access.roles import Role
from berth.api_errors import QUEUE_UNAVAILABLE, error_responses
from hosts.models import Host
from hosts.scoping import scoped_hosts
from networks import services
from networks.filtersets import NetworkFilterSet
from networks.models import Network
from operations.api.responses import operation_accepted
from operations.api.serializers import OperationAcceptedSerializer

from .serializers import (
    NetworkConnectSerializer,
    NetworkCreateSerializer,
    NetworkDisconnectSerializer,
    NetworkSerializer,
)

ACCEPTED = {
    202: OpenApiResponse(
        OperationAcceptedSerializer,
        description="Queued: poll operation_url until its status is succeeded, failed or "
        "cancelled; the Location header holds the same URL.",
    ),
    **error_responses({404: "No such network", 503: QUEUE_UNAVAILABLE}),
}


class NetworkViewSet(
    ScopedQuerysetMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Docker networks across the fleet, one row per (host, network), as each host last
    reported them (refreshed after every action and periodically). Changes answer
    ``202`` with the operation to poll."""

    queryset = Network.objects.select_related("host")
    serializer_class = NetworkSerializer
    filterset_class = NetworkFilterSet
    ordering_fields = ["name", "driver", "created", "host__name"]
    write_role = Role.OPERATOR

    @extend_schema(
        request=None,
        responses={
            **ACCEPTED,
            **error_responses({400: "Docker's own networks (bridge, host, none) stay"}),
        },
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Remove the network from its host. The agent refuses while containers are
        attached: the operation fails naming them."""
        network = self.get_object()
        try:
            operation = services.request_remove(network, actor=request.user)
        except services.InvalidRequest as exc:
            raise ValidationError({exc.field: exc.message}) from None
        return operation_accepted(request, operation)

    @extend_schema(
        request=NetworkConnectSerializer,
        responses={
            **ACCEPTED,
            **error_responses({400: "No such container on the host; the body names the field"}),
        },
    )
    @action(detail=True, methods=["post"])
    def connect(self, request: Request, pk: str | None = None) -> Response:
        """Connect a container on the same host to this network, with optional aliases."""
        network = self.get_object()
        serializer = NetworkConnectSerializer(data=request.data, context={"network": network})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            operation = services.request_connect(
                network, data["found"], aliases=data.get("aliases"), actor=request.user
            )
        except services.InvalidRequest as exc:
            raise ValidationError({exc.field: exc.message}) from None
        return operation_accepted(request, operation)

    @extend_schema(
        request=NetworkDisconnectSerializer,
        responses={
            **ACCEPTED,
            **error_responses({400: "No such container on the host; the body names the field"}),
        },
    )
    @action(detail=True, methods=["post"])
    def disconnect(self, request: Request, pk: str | None = None) -> Response:
        """Disconnect a container from this network."""
        network = self.get_object()
        serializer = NetworkDisconnectSerializer(data=request.data, context={"network": network})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        operation = services.request_disconnect(
            network, data["found"], force=data["force"], actor=request.user
        )
        return operation_accepted(request, operation)


class HostNetworksView(generics.ListCreateAPIView):
    """``GET``: the host's networks. ``POST``: create a network on the host."""

    serializer_class = NetworkSerializer
    filterset_class = NetworkFilterSet
    ordering_fields = NetworkViewSet.ordering_fields
    write_role = Role.OPERATOR

    def get_host(self) -> Host:
        return get_object_or_404(scoped_hosts(self.request.user), pk=self.kwargs["host_id"])

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation: no host
            return Network.objects.none()
        return Network.objects.select_related("host").filter(host=self.get_host())

    @extend_schema(
        operation_id="hosts_networks_create",
        request=NetworkCreateSerializer,
        responses={
            **ACCEPTED,
            **error_responses(
                {400: "The spec is invalid; the body names the field", 404: "No such host"}
            ),
        },
        examples=[
            OpenApiExample(
                "bridge with a subnet",
                request_only=True,
                value={
                    "name": "backend",
                    "driver": "bridge",
                    "subnet": "10.20.0.0/24",
                    "gateway": "10.20.0.1",
                    "labels": {"team": "ops"},
                },
            )
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create a network on the host (bridge, macvlan, ipvlan; overlay needs swarm).
        Every field is checked before anything is queued: a bad one is a 400 naming it."""
        host = self.get_host()
        serializer = NetworkCreateSerializer(data=request.data, context={"host": host})
        serializer.is_valid(raise_exception=True)
        operation = services.request_create(
            host, serializer.validated_data["spec"], actor=request.user
        )
        return operation_accepted(request, operation)


class HostNetworkPruneView(APIView):
    """Remove every network on the host that no container uses (Docker's own stay)."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=None,
        responses={**ACCEPTED, **error_responses({404: "No such host"})},
    )
    def post(self, request: Request, host_id: int) -> Response:
        host = get_object_or_404(scoped_hosts(request.user), pk=host_id)
        return operation_accepted(request, services.request_prune(host, actor=request.user))
