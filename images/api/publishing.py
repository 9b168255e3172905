"""API for making and publishing images: tag, push, build (images.publishing)."""

from __future__ import annotations

import json
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import scope_queryset
from access.roles import Role
from berth.api_errors import QUEUE_UNAVAILABLE, error_responses
from berth.invalid import InvalidRequest
from hosts.scoping import scoped_hosts
from images import publishing
from images.models import Image
from operations.api.responses import operation_accepted
from operations.api.serializers import (
    OperationAcceptedSerializer,
    StrictFieldsMixin,
    Text,
    check_engine_labels,
)

QUEUED_ERRORS = error_responses({503: QUEUE_UNAVAILABLE})


class ImageTagSerializer(StrictFieldsMixin, serializers.Serializer):
    repository = Text(max_length=255, help_text="e.g. 198.18.0.1:5000/team/app")
    tag = Text(max_length=128, default="latest", help_text="the tag; latest by default")


class ImagePushSerializer(StrictFieldsMixin, serializers.Serializer):
    reference = Text(
        max_length=512,
        help_text="registry[:port]/repo:tag to push as (the image is tagged so first)",
    )
    revision_of = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="service id: once pushed, add a revision of it running the pushed digest",
    )


class ImageBuildSerializer(StrictFieldsMixin, serializers.Serializer):
    """JSON with ``git_url``, or multipart with a ``tarball`` (the build context) (then
    ``build_args``, ``labels`` and ``tags`` are JSON text fields)."""

    git_url = Text(
        required=False,
        default="",
        allow_blank=True,
        max_length=2048,
        help_text="git repository the host's engine clones: https://, http://, git:// or "
        "git@host:path, optionally with #ref:subdir",
    )
    tarball = serializers.FileField(
        required=False,
        allow_null=True,
        default=None,
        help_text="the build context as a tar file (plain or gzip/bzip2/xz); "
        "at most BERTH_BUILD_CONTEXT_MAX_BYTES",
    )
    dockerfile = Text(max_length=1024, default="", allow_blank=True, help_text="path in context")
    target = Text(max_length=256, default="", allow_blank=True, help_text="build stage")
    build_args = serializers.DictField(child=Text(allow_blank=True, max_length=65536), default=dict)
    labels = serializers.DictField(
        child=Text(allow_blank=True, max_length=65536),
        default=dict,
    )
    tags = serializers.ListField(child=Text(max_length=512), default=list, max_length=20)
    push = serializers.BooleanField(default=False, help_text="push every tag after the build")
    revision_of = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="service id: once pushed, add a revision of it running the first tag's digest",
    )

    def validate_labels(self, value: dict[str, str]) -> dict[str, str]:
        return check_engine_labels(value)

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "getlist"):  # multipart: the structured fields come as JSON text
            data = _decoded_form(data)
        return super().to_internal_value(data)


def _decoded_form(form: Any) -> dict[str, Any]:
    out: dict[str, Any] = {key: form.get(key) for key in form}
    for key in ("build_args", "labels", "tags", "push", "revision_of"):
        if isinstance(out.get(key), str) and key in form:
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                raise serializers.ValidationError({key: ["Give JSON text."]}) from None
    return out


def accepted(request: Request, start: Any) -> Response:
    """202 with the operation ``start()`` queued, or a 400 naming the field it refused."""
    try:
        operation = start()
    except InvalidRequest as exc:
        raise serializers.ValidationError({exc.field: [exc.message]}) from None
    return operation_accepted(request, operation)


def _image(request: Request, pk: int) -> Image:
    return get_object_or_404(
        scope_queryset(Image.objects.select_related("host"), request.user), pk=pk
    )


class HostImageTagView(APIView):
    """Give an image on its host another name (``repository:tag``)."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=ImageTagSerializer, responses={202: OperationAcceptedSerializer, **QUEUED_ERRORS}
    )
    def post(self, request: Request, pk: int) -> Response:
        image = _image(request, pk)
        serializer = ImageTagSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return accepted(
            request,
            lambda: publishing.request_tag(
                image, repository=data["repository"], tag=data["tag"], actor=request.user
            ),
        )


class HostImagePushView(APIView):
    """Push an image from its host to a registry as ``reference``, with the stored
    credential for that registry; the result holds the pushed ``repo@digest``."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=ImagePushSerializer, responses={202: OperationAcceptedSerializer, **QUEUED_ERRORS}
    )
    def post(self, request: Request, pk: int) -> Response:
        image = _image(request, pk)
        serializer = ImagePushSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        return accepted(request, lambda: publishing.request_push(image, actor=request.user, **data))


class HostImageBuildView(APIView):
    """Build an image on one host from a git repository (its engine clones it), with the
    build log in the operation's stream; ``push`` pushes every tag after."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=ImageBuildSerializer, responses={202: OperationAcceptedSerializer, **QUEUED_ERRORS}
    )
    def post(self, request: Request, host_id: int) -> Response:
        host = get_object_or_404(scoped_hosts(request.user), pk=host_id)
        serializer = ImageBuildSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        upload = data.pop("tarball", None)
        if upload is not None:
            data.update(context=upload, context_size=upload.size)
        return accepted(request, lambda: publishing.request_build(host, actor=request.user, **data))
