from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.permissions import ScopedQuerysetMixin
from access.roles import Role, scope_of
from berth.api_errors import QUEUE_UNAVAILABLE, InUse, error_responses
from hosts import services
from hosts.filtersets import HostFilterSet
from hosts.models import Host, HostGroup
from operations.api.responses import operation_accepted
from operations.api.serializers import OperationAcceptedSerializer

from .serializers import HostGroupSerializer, HostKeyApprovalSerializer, HostSerializer


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
    action_roles = {"refresh": Role.OPERATOR}  # everything else that writes: admin

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
