from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from operations.api.serializers import StrictFieldsMixin, Text, check_engine_labels
from volumes import services
from volumes.models import Volume
from volumes.validators import DRIVERS


class VolumeUserSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the container's Docker id")
    name = serializers.CharField()


# "Volume" is the mount in a container's spec (containers.api.serializers).
@extend_schema_serializer(component_name="HostVolume")
class VolumeSerializer(serializers.ModelSerializer):
    """A Docker volume on one host, as the host last reported it."""

    host_name = serializers.CharField(source="host.name", read_only=True)
    containers = VolumeUserSerializer(
        many=True, read_only=True, help_text="the containers (running or not) that mount it"
    )
    in_use = serializers.BooleanField(read_only=True, help_text="mounted by a container")
    size = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="bytes used, from `system df` at size_measured_at; null: not measured "
        "(or the driver does not say)",
    )
    labels = serializers.DictField(child=serializers.CharField(), read_only=True)
    options = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Volume
        fields = [
            "id",
            "host",
            "host_name",
            "name",
            "driver",
            "scope",
            "mountpoint",
            "in_use",
            "containers",
            "size",
            "size_measured_at",
            "labels",
            "options",
            "created",
            "updated_at",
        ]
        read_only_fields = fields


class VolumeCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = Text(max_length=255, help_text="letters, digits, '_', '.', '-'")
    driver = serializers.ChoiceField(choices=DRIVERS, default="local")
    labels = serializers.DictField(child=Text(max_length=4096, allow_blank=True), default=dict)

    def validate_labels(self, value: dict[str, str]) -> dict[str, str]:
        return check_engine_labels(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["spec"] = services.prepare_create(self.context["host"], **attrs)
        except services.InvalidRequest as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from None
        return attrs


class VolumePruneSerializer(StrictFieldsMixin, serializers.Serializer):
    dry_run = serializers.BooleanField(
        default=False, help_text="list what would be removed, and remove nothing"
    )
    all = serializers.BooleanField(
        default=False,
        help_text="every volume no container mounts, not only anonymous ones (as "
        "`docker volume prune --all`)",
    )
