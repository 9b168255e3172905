from __future__ import annotations

from typing import Any

from rest_framework import serializers

from networks import services
from networks.models import Network
from networks.validators import DRIVERS
from operations.api.serializers import StrictFieldsMixin, Text, check_engine_labels


class AttachedContainerSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the container's Docker id")
    name = serializers.CharField()


class SubnetSerializer(serializers.Serializer):
    subnet = serializers.CharField()
    gateway = serializers.CharField(allow_blank=True)
    ip_range = serializers.CharField(allow_blank=True)


class NetworkSerializer(serializers.ModelSerializer):
    """A Docker network on one host, as the host last reported it."""

    host_name = serializers.CharField(source="host.name", read_only=True)
    subnets = SubnetSerializer(many=True, read_only=True)
    containers = AttachedContainerSerializer(
        many=True, read_only=True, help_text="the containers attached to it"
    )
    labels = serializers.DictField(child=serializers.CharField(), read_only=True)
    options = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Network
        fields = [
            "id",
            "host",
            "host_name",
            "network_id",
            "name",
            "driver",
            "scope",
            "internal",
            "attachable",
            "subnets",
            "containers",
            "labels",
            "options",
            "created",
            "updated_at",
        ]
        read_only_fields = fields


class NetworkCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = Text(max_length=128, help_text="letters, digits, '_', '.', '-'")
    driver = serializers.ChoiceField(choices=DRIVERS, default="bridge")
    subnet = Text(max_length=64, required=False, allow_blank=True, help_text="e.g. 10.20.0.0/24")
    gateway = Text(
        max_length=64, required=False, allow_blank=True, help_text="an address in the subnet"
    )
    ip_range = Text(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="the part of the subnet containers get addresses from",
    )
    internal = serializers.BooleanField(default=False, help_text="no route outside the network")
    attachable = serializers.BooleanField(
        default=False, help_text="(overlay) containers may be connected by hand"
    )
    labels = serializers.DictField(child=Text(max_length=4096, allow_blank=True), default=dict)
    options = serializers.DictField(
        child=Text(max_length=64),
        default=dict,
        help_text="driver options: parent (and macvlan_mode / ipvlan_mode) for macvlan, ipvlan",
    )

    def validate_labels(self, value: dict[str, str]) -> dict[str, str]:
        return check_engine_labels(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["spec"] = services.prepare_create(self.context["host"], **attrs)
        except services.InvalidRequest as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from None
        return attrs


class NetworkConnectSerializer(StrictFieldsMixin, serializers.Serializer):
    container = Text(max_length=255, help_text="a container on the network's host: name or id")
    aliases = serializers.ListField(
        child=Text(max_length=63), required=False, max_length=32,
        help_text="other names the container answers to on this network",
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["found"] = services.find_container(self.context["network"], attrs["container"])
            services.check_aliases(attrs.get("aliases") or [])
        except services.InvalidRequest as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from None
        return attrs


class NetworkDisconnectSerializer(StrictFieldsMixin, serializers.Serializer):
    container = Text(max_length=255, help_text="a container on the network's host: name or id")
    force = serializers.BooleanField(default=False, help_text="disconnect a stopped container too")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["found"] = services.find_container(self.context["network"], attrs["container"])
        except services.InvalidRequest as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from None
        return attrs
