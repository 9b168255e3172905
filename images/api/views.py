from __future__ import annotations

from django.db.models import Max
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import ScopedQuerysetMixin
from access.roles import Role
from berth.api_errors import QUEUE_UNAVAILABLE, error_responses
from hosts.scoping import hosts_in_scope, scoped_hosts
from images import services
from images.filtersets import ImageFilterSet
from images.models import Image, RegistryCredential
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
