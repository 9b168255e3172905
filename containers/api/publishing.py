"""API for committing a container to a new image (containers.publishing)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import scope_queryset
from access.roles import Role
from containers import publishing
from containers.models import Container
from images.api.publishing import QUEUED_ERRORS, accepted
from operations.api.serializers import OperationAcceptedSerializer, StrictFieldsMixin, Text


class ContainerCommitSerializer(StrictFieldsMixin, serializers.Serializer):
    repository = Text(max_length=255, help_text="e.g. 198.18.0.1:5000/team/app")
    tag = Text(max_length=128, default="latest")
    message = Text(max_length=4096, default="", allow_blank=True, help_text="commit message")
    author = Text(max_length=256, default="", allow_blank=True, help_text="e.g. Ann <ann@x.org>")
    changes = serializers.ListField(
        child=Text(max_length=4096),
        default=list,
        help_text="Dockerfile instructions to apply: "
        + ", ".join(publishing.COMMIT_CHANGES)
        + ' (e.g. "ENV MODE=prod", "CMD [\\"app\\"]")',
    )
    push = serializers.BooleanField(default=False, help_text="push the new image after")
    revision_of = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="service id: once pushed, add a revision of it running the pushed digest",
    )


class ContainerCommitView(APIView):
    """Commit a container's filesystem and settings to a new image on its host (the
    container is paused meanwhile); ``push`` then pushes it to its registry."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=ContainerCommitSerializer,
        responses={202: OperationAcceptedSerializer, **QUEUED_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        container = get_object_or_404(
            scope_queryset(Container.objects.select_related("host"), request.user), pk=pk
        )
        serializer = ContainerCommitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        return accepted(
            request, lambda: publishing.request_commit(container, actor=request.user, **data)
        )
