from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from agent_link.ssh import load_private_key
from berth.labels import LABEL_KEY
from hosts import services
from hosts.choices import Transport
from hosts.models import Host, HostGroup, SSHKey
from hosts.validators import normalize_host_key
from operations.api.serializers import StrictFieldsMixin, acting_user


class HostSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A host. The private key is write-only: it is stored encrypted and never returned."""

    private_key = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        style={"base_template": "textarea.html"},
        help_text="OpenSSH/PEM private key Berth logs in with (stored encrypted, never shown)",
    )
    private_key_passphrase = serializers.CharField(
        write_only=True, required=False, allow_blank=True, default=""
    )
    ssh_key = serializers.PrimaryKeyRelatedField(
        queryset=SSHKey.objects.all(), required=False, allow_null=True
    )
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    groups = serializers.SlugRelatedField(
        slug_field="name", many=True, queryset=HostGroup.objects.all(), required=False
    )
    host_key_offered_fingerprint = serializers.CharField(
        read_only=True, help_text="SHA-256 fingerprint of host_key_offered; give it to approve"
    )
    authorized_keys_line = serializers.SerializerMethodField(
        help_text="authorized_keys line that lets Berth's key run, install and upgrade the "
        "agent and write its policy file, and nothing else"
    )

    class Meta:
        model = Host
        fields = [
            "id",
            "url",
            "name",
            "transport",
            "address",
            "port",
            "username",
            "ssh_key",
            "private_key",
            "private_key_passphrase",
            "docker_host",
            "host_key",
            "host_key_offered",
            "host_key_offered_fingerprint",
            "jump_host",
            "groups",
            "labels",
            "authorized_keys_line",
            "status",
            "status_display",
            "status_reason",
            "last_seen_at",
            "last_checked_at",
            "agent_version",
            "docker_version",
            "facts",
            "created_at",
        ]
        read_only_fields = [*Host.REPORTED_FIELDS, "created_at"]

    def get_authorized_keys_line(self, host: Host) -> str:
        return services.authorized_keys_line(host)

    def validate_host_key(self, value: str) -> str:
        if not value:
            return value
        try:
            return normalize_host_key(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        transport = attrs.get("transport", getattr(self.instance, "transport", Transport.SSH))
        if transport == Transport.SSH:
            if not attrs.get("address", getattr(self.instance, "address", "")):
                raise serializers.ValidationError({"address": "An SSH host needs an address."})
            has_key = (
                attrs.get("private_key")
                or attrs.get("ssh_key")
                or (self.instance is not None and self.instance.ssh_key_id)
            )
            if not has_key:
                raise serializers.ValidationError(
                    {"private_key": "Give the private key Berth logs in with, or an ssh_key id."}
                )
        if attrs.get("private_key"):
            try:
                load_private_key(attrs["private_key"], attrs.get("private_key_passphrase", ""))
            except ValueError as exc:
                raise serializers.ValidationError({"private_key": str(exc)}) from None
        return attrs

    def validate_labels(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and LABEL_KEY.match(k) and isinstance(v, str)
            for k, v in value.items()
        ):
            raise serializers.ValidationError(
                'Labels are an object of text values, e.g. {"env": "prod", "tier": "web"}; '
                "keys use letters, digits, '.', '_', '-' and '/'."
            )
        return value

    def create(self, validated_data: dict[str, Any]) -> Host:
        actor = acting_user(self, validated_data)
        try:
            return services.register_host(
                private_key=validated_data.pop("private_key", ""),
                passphrase=validated_data.pop("private_key_passphrase", ""),
                groups=validated_data.pop("groups", []),
                actor=actor,
                **validated_data,
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None

    def update(self, instance: Host, validated_data: dict[str, Any]) -> Host:
        actor = acting_user(self, validated_data)
        try:
            return services.update_host(
                instance,
                private_key=validated_data.pop("private_key", ""),
                passphrase=validated_data.pop("private_key_passphrase", ""),
                actor=actor,
                **validated_data,
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None


class HostGroupSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = HostGroup
        fields = ["id", "name", "description"]

    def create(self, validated_data: dict[str, Any]) -> HostGroup:
        actor = acting_user(self, validated_data)
        return services.create_host_group(actor=actor, **validated_data)

    def update(self, instance: HostGroup, validated_data: dict[str, Any]) -> HostGroup:
        actor = acting_user(self, validated_data)
        return services.update_host_group(instance, actor=actor, **validated_data)


class HostKeyApprovalSerializer(StrictFieldsMixin, serializers.Serializer):
    fingerprint = serializers.CharField(
        help_text="The fingerprint of the offered key you checked out of band "
        "('SHA256:…', as host_key_offered_fingerprint shows it)"
    )


# --- disk usage ---------------------------------------------------------------------------


class DiskKindSerializer(serializers.Serializer):
    """One kind of Docker's disk use, as `docker system df` counts it."""

    count = serializers.IntegerField(help_text="how many there are")
    active = serializers.IntegerField(help_text="of them, in use by a container")
    size = serializers.IntegerField(help_text="bytes on disk")
    reclaimable = serializers.IntegerField(
        help_text="bytes a prune would free, as Docker estimates it (see docs/api.md)"
    )


def _kind(help_text: str) -> DiskKindSerializer:
    return DiskKindSerializer(allow_null=True, help_text=f"{help_text}; null: never measured")


class _DiskTotals(serializers.Serializer):
    images = _kind("every image layer once")
    containers = _kind("the containers' writable layers")
    volumes = _kind("the volumes a driver measures")
    build_cache = _kind("the build cache")
    size = serializers.IntegerField(allow_null=True, help_text="bytes of every kind")
    reclaimable = serializers.IntegerField(allow_null=True, help_text="bytes of every kind")


class HostDiskSerializer(_DiskTotals):
    """Docker's disk use on one host at its last measure (``host.disk``)."""

    host = serializers.IntegerField()
    host_name = serializers.CharField()
    measured_at = serializers.DateTimeField(
        allow_null=True, help_text="when it was measured; null: never (the numbers are null)"
    )


class FleetDiskSerializer(_DiskTotals):
    """Docker's disk use summed over the hosts you see, each at its last measure."""

    hosts = serializers.IntegerField(help_text="hosts you see")
    measured = serializers.IntegerField(help_text="of them, measured at least once")
    oldest_measure = serializers.DateTimeField(allow_null=True)
    newest_measure = serializers.DateTimeField(allow_null=True)


class DiskMeasureSerializer(StrictFieldsMixin, serializers.Serializer):
    hosts = serializers.PrimaryKeyRelatedField(
        queryset=Host.objects.all(), many=True, required=False, help_text="host ids"
    )
    all = serializers.BooleanField(default=False, help_text="every host you see")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("hosts" in attrs) == attrs["all"]:
            raise serializers.ValidationError(
                {"hosts": 'Give either hosts (a list of host ids) or "all": true.'}
            )
        if "hosts" in attrs:
            attrs["targets"] = list({host.pk: host for host in attrs["hosts"]}.values())
            if not attrs["targets"]:
                raise serializers.ValidationError({"hosts": "Give at least one host id."})
        return attrs
