from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import ScopedQuerysetMixin
from access.roles import Role, scope_of
from berth.api_errors import QUEUE_UNAVAILABLE, InUse, error_responses
from hosts import disk, services
from hosts.filtersets import HostFilterSet
from hosts.models import Host, HostGroup
from hosts.scoping import scoped_hosts
from operations.api.responses import operation_accepted
from operations.api.serializers import BulkAcceptedSerializer, OperationAcceptedSerializer

from .serializers import (
    DiskMeasureSerializer,
    FleetDiskSerializer,
    HostDiskSerializer,
    HostGroupSerializer,
    HostKeyApprovalSerializer,
    HostSerializer,
)

QUEUED = {202: OperationAcceptedSerializer, **error_responses({503: QUEUE_UNAVAILABLE})}


def host_disk_data(host: Host, usage: disk.Usage) -> dict[str, Any]:
    return {
        "host": host.pk,
        "host_name": host.name,
        "measured_at": usage.measured_at,
        **usage.numbers(),
    }


class HostKeyChanged(APIException):
    status_code = 409
    default_code = "host_key_changed"


class HostViewSet(
    ScopedQuerysetMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    # The key's public half makes authorized_keys_line; its secrets stay in the database.
    queryset = (
        Host.objects.select_related("ssh_key")
        .defer("ssh_key__private_key", "ssh_key__passphrase")
        .prefetch_related("groups")
    )
    serializer_class = HostSerializer
    filterset_class = HostFilterSet
    ordering_fields = ["name", "status", "last_seen_at"]
    # everything else that writes: admin
    action_roles = {"refresh": Role.OPERATOR, "measure_disk": Role.OPERATOR}

    def perform_destroy(self, instance: Host) -> None:
        services.remove_host(instance, actor=self.request.user)

    @extend_schema(
        request=None,
        responses={202: OperationAcceptedSerializer, **error_responses({503: QUEUE_UNAVAILABLE})},
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        """Queue a refresh of the host; poll the operation for its outcome."""
        operation = services.request_refresh(self.get_object(), actor=request.user)
        return operation_accepted(request, operation)

    @extend_schema(responses={200: HostDiskSerializer, **error_responses({404: "No such host"})})
    @action(detail=True, methods=["get"])
    def disk(self, request: Request, pk: str | None = None) -> Response:
        """Docker's disk use on the host at its last measure: images (every layer once),
        containers' writable layers, volumes and build cache, each with what a prune would
        reclaim. Every number is null until the host is first measured (``POST
        /hosts/ID/disk/measure/``): a refresh does not measure."""
        host = self.get_object()
        return Response(HostDiskSerializer(host_disk_data(host, disk.host_usage(host))).data)

    @extend_schema(request=None, responses={**QUEUED, **error_responses({404: "No such host"})})
    @action(detail=True, methods=["post"], url_path="disk/measure")
    def measure_disk(self, request: Request, pk: str | None = None) -> Response:
        """Measure Docker's disk use on the host (``system df``, which walks every volume's
        files and sizes every writable layer) and keep it; the volumes' sizes too."""
        operation = disk.request_measure(self.get_object(), actor=request.user)
        return operation_accepted(request, operation)

    @extend_schema(
        request=HostKeyApprovalSerializer,
        responses={
            200: HostSerializer,
            **error_responses(
                {
                    400: "No fingerprint, or the host has not offered a key to approve",
                    409: "The host offers another key by now; the message names its "
                    "fingerprint and nothing was pinned",
                }
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="approve-host-key")
    def approve_host_key(self, request: Request, pk: str | None = None) -> Response:
        """Pin the host key the host last offered, given the fingerprint you checked
        (``host_key_offered_fingerprint``); 409 if the host offers another key by now."""
        host = self.get_object()
        approval = HostKeyApprovalSerializer(data=request.data)
        approval.is_valid(raise_exception=True)
        try:
            services.approve_host_key(
                host, fingerprint=approval.validated_data["fingerprint"], actor=request.user
            )
        except services.StaleHostKey as exc:
            raise HostKeyChanged(str(exc)) from None
        except ValueError as exc:
            raise ValidationError({"host_key_offered": str(exc)}) from None
        return Response(self.get_serializer(host).data)


@extend_schema_view(
    destroy=extend_schema(
        responses=error_responses(
            {
                403: "Deleting an unused host group needs an admin not limited to host groups",
                409: "A user, a token or a service still uses the group; the message names them",
            }
        )
    )
)
class HostGroupViewSet(ScopedQuerysetMixin, viewsets.ModelViewSet):
    queryset = HostGroup.objects.all()
    serializer_class = HostGroupSerializer
    search_fields = ["name"]
    ordering_fields = ["name"]

    def perform_destroy(self, instance: HostGroup) -> None:
        # A group that limits someone is a 409 naming them, whoever asks: a scoped
        # caller's own groups always limit them, so that is their answer. Deleting an
        # unused group is for admins not limited to host groups.
        if scope_of(self.request.user) is not None and not services.host_group_limits(instance):
            raise PermissionDenied(
                "Deleting a host group needs an admin who is not limited to host groups."
            )
        try:
            services.delete_host_group(instance, actor=self.request.user)
        except services.HostGroupInUse as exc:
            raise InUse(str(exc)) from None


# --- disk usage across the fleet ------------------------------------------------------------


class FleetDiskView(APIView):
    """Docker's disk use summed over every host you see, each at its last measure."""

    @extend_schema(responses={200: FleetDiskSerializer})
    def get(self, request: Request) -> Response:
        fleet = disk.fleet_usage(scoped_hosts(request.user))
        data = {
            "hosts": fleet.hosts,
            "measured": fleet.measured,
            "oldest_measure": fleet.oldest,
            "newest_measure": fleet.newest,
            **fleet.usage.numbers(),
        }
        return Response(FleetDiskSerializer(data).data)


class FleetDiskHostsView(generics.ListAPIView):
    """Each host you see with its last measure (every number null for a host never
    measured); ``?ordering=-size`` puts the hosts using the most first, those never
    measured last."""

    serializer_class = HostDiskSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "size", "reclaimable"]
    ordering = ["name"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Host.objects.none()
        return disk.hosts_by_usage(scoped_hosts(self.request.user))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        hosts = list(page if page is not None else self.filter_queryset(self.get_queryset()))
        usage = disk.usage_by_host(hosts)
        data = [host_disk_data(host, usage[host.pk]) for host in hosts]
        return self.get_paginated_response(data) if page is not None else Response(data)


class FleetDiskMeasureView(APIView):
    """Measure the disk use of many hosts at once: one operation per host under a parent
    (``host.disk`` each). Give ``hosts`` (ids) or ``"all": true``; nothing else."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=DiskMeasureSerializer,
        responses={
            202: BulkAcceptedSerializer,
            **error_responses(
                {
                    400: "Neither hosts nor all, both, or a host you cannot see; nothing "
                    "was queued",
                    503: QUEUE_UNAVAILABLE,
                }
            ),
        },
        examples=[
            OpenApiExample("two hosts", value={"hosts": [3, 4]}, request_only=True),
            OpenApiExample("every host", value={"all": True}, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        visible = scoped_hosts(request.user)
        serializer = DiskMeasureSerializer(data=request.data)
        serializer.fields["hosts"].child_relation.queryset = visible  # type: ignore[attr-defined]
        serializer.is_valid(raise_exception=True)
        hosts = serializer.validated_data.get("targets") or list(visible.order_by("name"))
        if not hosts:
            raise ValidationError({"all": "You can see no host to measure."})
        label = f"measure the disk use of {len(hosts)} host(s)"
        operation = disk.request_fleet_measure(hosts, actor=request.user, label=label)
        return operation_accepted(request, operation, matched=len(hosts))
