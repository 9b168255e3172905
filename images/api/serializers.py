from __future__ import annotations

from typing import Any

from rest_framework import serializers

from hosts.models import Host
from images import services
from images.models import Image, RegistryCredential
from images.validators import normalize_registry
from operations.api.serializers import StrictFieldsMixin, acting_user


class RegistryCredentialSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A registry and its login. The password is write-only: stored encrypted, never
    returned; an update without ``password`` keeps the stored one, unless it changes
    ``registry`` (then the password is required again). A blank ``username`` (and no
    password) records a registry without a login, to browse or pull anonymously."""

    password = serializers.CharField(
        write_only=True,
        required=False,
        max_length=4096,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Password or access token (stored encrypted, never shown)",
    )

    class Meta:
        model = RegistryCredential
        fields = [
            "id",
            "url",
            "name",
            "registry",
            "username",
            "password",
            "insecure",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate_registry(self, value: str) -> str:
        try:
            return normalize_registry(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        username = attrs.get("username", self.instance.username if self.instance else "")
        if not username:
            if attrs.get("password"):
                raise serializers.ValidationError(
                    {"username": "Give the username the password is for (or neither)."}
                )
            attrs.pop("password", None)
            return attrs
        has_password = bool(self.instance and self.instance.password)
        if not has_password and not attrs.get("password"):
            raise serializers.ValidationError({"password": "Give the registry password or token."})
        if "password" in attrs and not attrs["password"]:
            raise serializers.ValidationError(
                {"password": "A password cannot be empty; leave it out to keep the stored one."}
            )
        return attrs

    def create(self, validated_data: dict[str, Any]) -> RegistryCredential:
        actor = acting_user(self, validated_data)
        return services.create_registry_credential(actor=actor, **validated_data)

    def update(
        self, instance: RegistryCredential, validated_data: dict[str, Any]
    ) -> RegistryCredential:
        actor = acting_user(self, validated_data)
        password = validated_data.pop("password", None)
        try:
            return services.update_registry_credential(
                instance, password=password, actor=actor, **validated_data
            )
        except services.PasswordRequired as exc:
            raise serializers.ValidationError({"password": str(exc)}) from None


class _HostPresenceList(serializers.ListSerializer):
    """The hosts of an image as group_fleet_images made them (ints and a name): copied,
    not passed field by field through the serializer (an image can be on every host)."""

    def to_representation(self, data: Any) -> list[dict[str, Any]]:
        return [{"host": p["host"], "host_name": p["host_name"], "image": p["image"]} for p in data]


class HostPresenceSerializer(serializers.Serializer):
    class Meta:
        list_serializer_class = _HostPresenceList

    host = serializers.IntegerField(help_text="host id")
    host_name = serializers.CharField()
    image = serializers.IntegerField(help_text="id of the host's image row (/host-images/ID/)")


class FleetImageSerializer(serializers.Serializer):
    """One image across the fleet, with the hosts it is on."""

    id = serializers.CharField(help_text="image id (sha256:...)")
    tags = serializers.ListField(child=serializers.CharField())
    digests = serializers.ListField(child=serializers.CharField())
    size = serializers.IntegerField()
    created = serializers.DateTimeField(allow_null=True)
    hosts = HostPresenceSerializer(many=True)


class HostImageSerializer(serializers.ModelSerializer):
    """An image on one host, as the host last reported it."""

    host_name = serializers.CharField(source="host.name", read_only=True)

    class Meta:
        model = Image
        fields = [
            "id",
            "host",
            "host_name",
            "image_id",
            "tags",
            "digests",
            "size",
            "created",
            "updated_at",
        ]
        read_only_fields = fields


class ImagePullSerializer(StrictFieldsMixin, serializers.Serializer):
    ref = serializers.CharField(
        max_length=512,
        help_text="image reference: [registry[:port]/]repo[:tag] or repo@sha256:<64 hex>",
    )
    credential = serializers.PrimaryKeyRelatedField(
        queryset=RegistryCredential.objects.all(),
        required=False,
        allow_null=True,
        help_text="registry credential id; by default the one stored for the ref's registry",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["pull"] = services.prepare_pull(attrs["ref"], attrs.get("credential"))
        except services.InvalidRequest as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from None
        return attrs


class BulkImagePullSerializer(ImagePullSerializer):
    hosts = serializers.PrimaryKeyRelatedField(
        queryset=Host.objects.all(), many=True, required=False, help_text="host ids"
    )
    host_label = serializers.CharField(
        required=False, help_text="every host whose labels hold key=value"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        has_hosts, has_label = "hosts" in attrs, "host_label" in attrs
        if has_hosts == has_label:
            raise serializers.ValidationError(
                {"hosts": "Give either hosts (a list of host ids) or host_label (key=value)."}
            )
        if has_label:
            try:
                # Only the hosts the caller may use (the view's "hosts" context): a
                # label is a selection within their scope, not a claim on the fleet.
                hosts = services.hosts_with_label(attrs["host_label"], self.context.get("hosts"))
            except ValueError as exc:
                raise serializers.ValidationError({"host_label": str(exc)}) from None
            if not hosts:
                raise serializers.ValidationError(
                    {"host_label": f"No host has the label {attrs['host_label']!r}."}
                )
        else:
            hosts = list({host.pk: host for host in attrs["hosts"]}.values())
            if not hosts:
                raise serializers.ValidationError({"hosts": "Give at least one host id."})
        attrs["targets"] = hosts
        return attrs


class ImageRemoveSerializer(StrictFieldsMixin, serializers.Serializer):
    force = serializers.BooleanField(
        default=True, help_text="remove the image even with several tags or a stopped container"
    )


class ImagePruneSerializer(StrictFieldsMixin, serializers.Serializer):
    all = serializers.BooleanField(
        default=False, help_text="remove every unused image, not only dangling ones"
    )


# --- the registry browser ---------------------------------------------------------------


class RegistryRepositoriesSerializer(serializers.Serializer):
    """The repositories in a registry's catalog (at most 1000; ``truncated`` says more)."""

    registry = serializers.CharField(help_text="registry address, host[:port]")
    repositories = serializers.ListField(child=serializers.CharField())
    truncated = serializers.BooleanField(help_text="the registry has more than are listed")


class RegistryTagsSerializer(serializers.Serializer):
    """A repository's tags, sorted (at most 1000; ``truncated`` says more)."""

    registry = serializers.CharField()
    repository = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    truncated = serializers.BooleanField()


class RegistryPlatformSerializer(serializers.Serializer):
    platform = serializers.CharField(help_text="os/architecture[/variant]")
    digest = serializers.CharField(help_text="this platform's manifest digest")
    size = serializers.IntegerField(help_text="bytes: config + compressed layers")
    created = serializers.DateTimeField(allow_null=True)


class TagHostSerializer(serializers.Serializer):
    host = serializers.IntegerField(help_text="host id")
    host_name = serializers.CharField()
    image = serializers.IntegerField(help_text="the host's image row (/host-images/ID/)")
    digest = serializers.CharField(help_text="the host's digest of this repository")
    current = serializers.BooleanField(
        help_text="true: the tag's current digest; false: the host's copy of the tag is stale"
    )


class RegistryTagSerializer(serializers.Serializer):
    """A tag: the manifest digest it points at, its size and creation, and the hosts."""

    registry = serializers.CharField()
    repository = serializers.CharField()
    tag = serializers.CharField()
    digest = serializers.CharField(
        help_text="manifest digest (of the index, for a multi-platform tag), as hosts record it"
    )
    media_type = serializers.CharField()
    size = serializers.IntegerField(
        allow_null=True, help_text="bytes: config + compressed layers; null for an index"
    )
    created = serializers.DateTimeField(allow_null=True, help_text="null for an index")
    platforms = RegistryPlatformSerializer(many=True, help_text="for an index: each platform")
    platforms_truncated = serializers.BooleanField()
    hosts = TagHostSerializer(many=True, help_text="hosts on this digest first, then stale ones")


# --- layers -------------------------------------------------------------------------------


class LayerSharerSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the other image's id (sha256:…)")
    tags = serializers.ListField(child=serializers.CharField())
    image = serializers.IntegerField(
        allow_null=True, help_text="its row on the same host (/host-images/ID/); null once gone"
    )


class _Shared(serializers.Serializer):
    shared_with = LayerSharerSerializer(
        many=True, help_text="other images on the host with this layer (at most 50 named)"
    )
    shared_count = serializers.IntegerField(help_text="how many other images have it")


class LayerStepSerializer(_Shared):
    """One step of the image's history, oldest first."""

    created = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField(help_text="the command or Dockerfile step")
    comment = serializers.CharField()
    size = serializers.IntegerField(help_text="bytes the step's layer added")
    layer = serializers.IntegerField(
        allow_null=True,
        help_text="index in layers of the layer the step made; null: it made none (or "
        "mapped is false)",
    )
    digest = serializers.CharField(allow_null=True, help_text="that layer's digest (diff id)")


class LayerSerializer(_Shared):
    """One layer of the image's root file system, base first."""

    digest = serializers.CharField(help_text="the layer's digest (diff id)")
    chain_id = serializers.CharField(help_text="the layer with every one below it")


class ImageLayersSerializer(serializers.Serializer):
    """An image's layer stack as its host last read it."""

    image = serializers.IntegerField(source="image.pk", help_text="the host's image row")
    image_id = serializers.CharField(source="image.image_id")
    host = serializers.IntegerField(source="image.host_id")
    host_name = serializers.CharField(source="image.host.name")
    read_at = serializers.DateTimeField(
        allow_null=True, help_text="when they were read; null: never (history and layers empty)"
    )
    mapped = serializers.BooleanField(
        help_text="whether the history says which step made each layer (false: the steps "
        "carry no digest, and layers alone say what is shared)"
    )
    compared = serializers.IntegerField(help_text="other images on the host compared")
    shared = serializers.IntegerField(help_text="layers another image on the host shares")
    history = LayerStepSerializer(many=True)
    layers = LayerSerializer(many=True)
