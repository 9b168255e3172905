from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.permissions import ScopedQuerysetMixin
from access.roles import Role
from berth.api_errors import error_responses
from operations import services, streams
from operations.filtersets import OperationFilterSet
from operations.models import Operation

from .serializers import OperationSerializer, OperationStreamSerializer


class OperationViewSet(ScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet[Operation]):
    """The operation log: read-only, newest first. Poll an operation until its
    ``status`` is ``succeeded``, ``failed`` or ``cancelled``."""

    queryset = Operation.objects.select_related("host")
    serializer_class = OperationSerializer
    filterset_class = OperationFilterSet
    ordering_fields = ["created_at", "finished_at"]
    write_role = Role.OPERATOR  # cancel

    @extend_schema(
        request=None,
        responses={
            202: OperationSerializer,
            **error_responses({400: "The operation has already ended (errors names status)"}),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a pending operation, or ask a running one to stop."""
        try:
            operation = services.cancel_operation(self.get_object(), actor=request.user)
        except ValueError as exc:
            raise ValidationError({"status": str(exc)}) from None
        return Response(self.get_serializer(operation).data, status=202)

    @extend_schema(
        parameters=[OpenApiParameter("offset", int, description="first line to return")],
        responses={200: OperationStreamSerializer},
    )
    @action(detail=True, methods=["get"])
    def stream(self, request: Request, pk: str | None = None) -> Response:
        """Lines the operation has produced (log lines, pull progress), from ``offset`` on."""
        operation = self.get_object()
        offset_field = serializers.IntegerField(min_value=0, max_value=2**62)
        try:
            offset = offset_field.run_validation(request.query_params.get("offset", 0))
        except serializers.ValidationError as exc:
            raise ValidationError({"offset": exc.detail}) from None
        items = streams.read(operation.pk, offset)
        return Response(
            {"items": items, "next_offset": offset + len(items), "finished": operation.finished}
        )
