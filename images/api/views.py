from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db.models import Max
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import ScopedQuerysetMixin, scope_queryset
from access.roles import Role
from berth.api_errors import QUEUE_UNAVAILABLE, error_responses
from berth.invalid import InvalidRequest
from hosts.scoping import hosts_in_scope, scoped_hosts
from images import services
from images.filtersets import ImageFilterSet
from images.models import Image, RegistryCredential
from images.registry_client import RegistryError
from operations.api.responses import operation_accepted
from operations.api.serializers import BulkAcceptedSerializer, OperationAcceptedSerializer

from .serializers import (
    BulkImagePullSerializer,
    FleetImageSerializer,
    HostImageSerializer,
    ImageLayersSerializer,
    ImagePruneSerializer,
    ImagePullSerializer,
    ImageRemoveSerializer,
    RegistryCredentialSerializer,
    RegistryRepositoriesSerializer,
    RegistryTagSerializer,
    RegistryTagsSerializer,
)

# Actions that queue an operation (besides the errors every such endpoint has).
QUEUED_ERRORS = error_responses({503: QUEUE_UNAVAILABLE})


class RegistryCredentialViewSet(viewsets.ModelViewSet):
    """Registry logins used for pulls. The password is write-only and stored encrypted."""

    queryset = RegistryCredential.objects.all()
    serializer_class = RegistryCredentialSerializer
    filterset_fields = ["registry"]
    ordering_fields = ["name", "registry", "created_at"]

    def perform_destroy(self, instance: RegistryCredential) -> None:
        services.delete_registry_credential(instance, actor=self.request.user)


class FleetImageViewSet(ScopedQuerysetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Images across the fleet: one entry per image id, with the hosts that have it.

    ``tag`` and ``host`` choose which images are listed; each entry still shows
    every host the image is on.
    """

    queryset = Image.objects.all()
    serializer_class = FleetImageSerializer
    filterset_class = ImageFilterSet
    filter_backends = [DjangoFilterBackend]
    write_role = Role.OPERATOR

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        images = (
            self.filter_queryset(self.get_queryset())
            .values("image_id")
            .annotate(newest=Max("created"))
            .order_by("-newest", "image_id")
            .values_list("image_id", "newest")
        )
        page = self.paginate_queryset(images)
        shown = list(page if page is not None else images)
        rows = self.get_queryset().filter(image_id__in=[image_id for image_id, _ in shown])
        entries = services.group_fleet_images(shown, services.fleet_image_rows(rows))
        data = FleetImageSerializer(entries, many=True).data
        if page is not None:
            return self.get_paginated_response(data)
        return Response(data)

    @extend_schema(
        request=BulkImagePullSerializer,
        responses={202: BulkAcceptedSerializer, **QUEUED_ERRORS},
    )
    @action(detail=False, methods=["post"], filterset_class=None, pagination_class=None)
    def pull(self, request: Request) -> Response:
        """Pull an image onto many hosts (ids, or every host with a label) at once.

        The answer names the parent operation (it ends when every host's pull has, with
        per-host results) and ``matched``, how many hosts the selection matched.
        """
        serializer = BulkImagePullSerializer(
            data=request.data, context={"hosts": scoped_hosts(request.user)}
        )
        serializer.is_valid(raise_exception=True)
        if not hosts_in_scope(request.user, serializer.validated_data["targets"]):
            raise ValidationError({"hosts": "Some hosts are outside the host groups you can use."})
        operation = services.request_bulk_pull(
            serializer.validated_data["targets"],
            serializer.validated_data["pull"],
            actor=request.user,
        )
        matched = len(serializer.validated_data["targets"])
        return operation_accepted(request, operation, matched=matched)


class HostImageViewSet(ScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    """Images per host, one row per (host, image), as each host last reported them."""

    queryset = Image.objects.select_related("host")
    serializer_class = HostImageSerializer
    filterset_class = ImageFilterSet
    ordering_fields = ["size", "created", "updated_at"]
    write_role = Role.OPERATOR

    @extend_schema(
        request=ImageRemoveSerializer,
        responses={202: OperationAcceptedSerializer, **QUEUED_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str | None = None) -> Response:
        """Remove this image from its host (force by default)."""
        image = self.get_object()
        serializer = ImageRemoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        operation = services.request_remove(
            image, force=serializer.validated_data["force"], actor=request.user
        )
        return operation_accepted(request, operation)

    @extend_schema(
        methods=["GET"],
        responses={200: ImageLayersSerializer, **error_responses({404: "No such image"})},
    )
    @extend_schema(
        methods=["POST"],
        request=None,
        responses={
            202: OperationAcceptedSerializer,
            **error_responses({404: "No such image", 503: QUEUE_UNAVAILABLE}),
        },
    )
    @action(detail=True, methods=["get", "post"])
    def layers(self, request: Request, pk: str | None = None) -> Response:
        """``GET``: the image's layers as its host last read them: each step of its
        history (oldest first) with the layer it made, that layer's digest and the other
        images on the same host that share it; empty, with ``read_at`` null, until read.
        ``POST``: read them again on the host (``image.layers``; operator work)."""
        image = self.get_object()
        if request.method == "POST":
            return operation_accepted(request, services.request_layers(image, actor=request.user))
        return Response(ImageLayersSerializer(services.layer_stack(image)).data)


class HostImagePullView(APIView):
    """Pull an image onto one host."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=ImagePullSerializer,
        responses={202: OperationAcceptedSerializer, **QUEUED_ERRORS},
    )
    def post(self, request: Request, host_id: int) -> Response:
        host = get_object_or_404(scoped_hosts(request.user), pk=host_id)
        serializer = ImagePullSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        operation = services.request_pull(
            host, serializer.validated_data["pull"], actor=request.user
        )
        return operation_accepted(request, operation)


class HostImagePruneView(APIView):
    """Remove a host's dangling images (or, with ``all``, every unused one)."""

    write_role = Role.OPERATOR

    @extend_schema(
        request=ImagePruneSerializer,
        responses={202: OperationAcceptedSerializer, **QUEUED_ERRORS},
    )
    def post(self, request: Request, host_id: int) -> Response:
        host = get_object_or_404(scoped_hosts(request.user), pk=host_id)
        serializer = ImagePruneSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        operation = services.request_prune(
            host, all_unused=serializer.validated_data["all"], actor=request.user
        )
        return operation_accepted(request, operation)


# --- the registry browser ------------------------------------------------------------------


class RegistryUnavailable(APIException):
    """502: the registry could not be read; the message says what it answered."""

    status_code = 502
    default_code = "registry_error"


BROWSE_ERRORS = error_responses(
    {
        404: "No such registry record, or the registry has no such repository or tag",
        502: "The registry could not be reached or refused: the message says what it answered",
    }
)
NAMED_ERRORS = {
    **BROWSE_ERRORS,
    **error_responses({400: "The repository or tag in the path is malformed: errors names it"}),
}


class _RegistryRead(APIView):
    """A read of a stored registry (by the id of its registry-credentials record), answered
    from the registry inside the request: no Operation, nothing changes."""

    def registry(self, pk: str) -> RegistryCredential:
        return get_object_or_404(RegistryCredential, pk=pk)

    def ask(self, read: Any) -> Any:
        try:
            return read()
        except InvalidRequest as exc:
            raise ValidationError({exc.field: exc.message}) from None
        except RegistryError as exc:
            if exc.not_found:
                raise NotFound(exc.message) from None
            raise RegistryUnavailable(exc.message) from None


class RegistryRepositoriesView(_RegistryRead):
    """The repositories of a stored registry (its catalog)."""

    @extend_schema(
        operation_id="v1_registries_repositories_list",
        responses={200: RegistryRepositoriesSerializer, **BROWSE_ERRORS},
    )
    def get(self, request: Request, pk: str) -> Response:
        registry = self.registry(pk)
        found = self.ask(lambda: services.registry_repositories(registry))
        body = {
            "registry": registry.registry,
            "repositories": found.names,
            "truncated": found.truncated,
        }
        return Response(RegistryRepositoriesSerializer(body).data)


class RegistryTagsView(_RegistryRead):
    """The tags of a repository (its name may hold slashes: ``demo/web``)."""

    @extend_schema(
        operation_id="v1_registries_repositories_tags_list",
        responses={200: RegistryTagsSerializer, **NAMED_ERRORS},
    )
    def get(self, request: Request, pk: str, repository: str) -> Response:
        registry = self.registry(pk)
        found = self.ask(lambda: services.registry_tags(registry, repository))
        body = {
            "registry": registry.registry,
            "repository": repository,
            "tags": found.names,
            "truncated": found.truncated,
        }
        return Response(RegistryTagsSerializer(body).data)


class RegistryTagView(_RegistryRead):
    """A tag's manifest digest, size and creation, and the hosts (of your host groups)
    that have it: those on this digest, and those whose copy of the tag is another."""

    @extend_schema(
        operation_id="v1_registries_repositories_tags_retrieve",
        responses={200: RegistryTagSerializer, **NAMED_ERRORS},
    )
    def get(self, request: Request, pk: str, repository: str, tag: str) -> Response:
        registry = self.registry(pk)
        images = scope_queryset(Image.objects.all(), request.user)
        found = self.ask(lambda: services.registry_tag(registry, repository, tag, images))
        return Response(RegistryTagSerializer(registry_tag_body(registry, found)).data)


def registry_tag_body(registry: RegistryCredential, found: services.RegistryTag) -> dict[str, Any]:
    """A RegistryTag as the API (and the page) show it."""
    info = found.info
    return {
        "registry": registry.registry,
        "repository": info.repository,
        "tag": info.tag,
        "digest": info.digest,
        "media_type": info.media_type,
        "size": info.size,
        "created": info.created,
        "platforms": [asdict(platform) for platform in info.platforms],
        "platforms_truncated": info.platforms_truncated,
        "hosts": [asdict(host) for host in found.hosts],
    }
