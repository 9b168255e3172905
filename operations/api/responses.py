"""How every action that queues an operation answers."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from operations.models import Operation


def operation_accepted(request: Request, operation: Operation, **extra: Any) -> Response:
    """202 with the operation to poll, also in the Location header (and ``extra`` fields,
    such as a bulk action's ``matched``)."""
    url = request.build_absolute_uri(reverse("operation-detail", args=[operation.pk]))
    return Response(
        {"operation": operation.pk, "operation_url": url, "status": operation.status, **extra},
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": url},
    )
