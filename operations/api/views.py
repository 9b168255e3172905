from rest_framework import viewsets

from operations.models import Operation

from .serializers import OperationSerializer


class OperationViewSet(viewsets.ReadOnlyModelViewSet):
    """The operation log: read-only, newest first."""

    queryset = Operation.objects.all()
    serializer_class = OperationSerializer
    filterset_fields = ["status", "action", "target_type", "target_id", "host"]
    ordering_fields = ["created_at", "finished_at"]
