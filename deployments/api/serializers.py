from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from berth.labels import LabelSelector, LabelSelectorError
from containers.api.serializers import ContainerRunSerializer
from deployments import compose, services
from deployments.choices import ServiceKind
from deployments.models import Revision, Rollout, RolloutHost, Service
from hosts.models import Host, HostGroup
from images.references import digest_of
from operations.api.serializers import StrictFieldsMixin, acting_user
from policies.api.errors import policy_refusals

IMAGE_HELP = "The image as asked for (the revision's tag)"
DIGEST_HELP = 'The registry digest (sha256:…) the revision is pinned to; "" until it first deploys'


class RemovalSerializer(serializers.Serializer[Any]):
    operation = serializers.IntegerField(help_text="The service.remove operation to follow")
    hosts = serializers.ListField(child=serializers.CharField())


class ServiceSpecSerializer(ContainerRunSerializer):
    """A revision's container spec: what container.run takes, less the name (Berth
    names each revision's containers) and less labels in Berth's own namespace."""

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields.pop("name")
        fields.pop("policy_override")  # a field of the revision body, not of its spec
        return fields

    def validate_labels(self, value: dict[str, str]) -> dict[str, str]:
        value = super().validate_labels(value)
        reserved = [key for key in value if key.startswith("berth.")]
        if reserved:
            raise serializers.ValidationError(f"{reserved[0]}: labels 'berth.*' are set by Berth.")
        return value


class RevisionSpecSerializer(ServiceSpecSerializer):
    """A revision's spec as read: a service's container spec, or a stack's Compose
    document as parsed from its file."""

    def to_representation(self, instance: Any) -> Any:
        if isinstance(instance, dict) and "services" in instance and "image" not in instance:
            return instance
        return super().to_representation(instance)


class HealthGateSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """When a new container counts as healthy. ``docker``: the image's HEALTHCHECK."""

    mode = serializers.ChoiceField(choices=["docker", "http", "tcp", "none"], default="docker")
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False)
    path = serializers.RegexField(r"^/[^\s]*$", max_length=1024, required=False)
    timeout_s = serializers.IntegerField(min_value=1, max_value=3600, required=False)
    interval_s = serializers.FloatField(min_value=0.1, max_value=600, required=False)
    retries = serializers.IntegerField(min_value=1, max_value=10000, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("mode") in {"http", "tcp"} and "port" not in attrs:
            raise serializers.ValidationError({"port": "An http or tcp probe needs the port."})
        return attrs


POLICY_OVERRIDE_HELP = (
    "Admins only: go ahead although the container security policy of a target host "
    "refuses a bind mount or a setting (never a bind on the hard deny list); recorded in "
    "the audit log, and the revision stays approved: its hosts' agents accept its exact "
    "spec while it is the service's"
)


class RevisionSerializer(StrictFieldsMixin, serializers.ModelSerializer[Revision]):
    spec = RevisionSpecSerializer(
        required=False,
        help_text="A service's container spec (required for a service); read from a stack's "
        "revision: its Compose document as parsed",
    )
    compose = serializers.CharField(
        required=False,
        trim_whitespace=False,
        max_length=compose.MAX_COMPOSE_CHARS,
        help_text="A stack's Compose file (YAML text; required for a stack, docs/stacks.md "
        'says what it may hold); "" for a service\'s revision',
    )
    health = HealthGateSerializer(required=False)
    # Written: the admin's override; read: whether an admin approved this revision past
    # the policy (its hosts' agents accept its exact spec while it is the service's).
    policy_override = serializers.BooleanField(required=False, help_text=POLICY_OVERRIDE_HELP)
    image_digest = serializers.SerializerMethodField(help_text=DIGEST_HELP)

    class Meta:
        model = Revision
        fields = ["id", "number", "image", "image_digest", "digest", "digests", "spec", "compose",
                  "health", "author_name", "note", "created_at", "policy_override",
                  "archived"]  # fmt: skip
        read_only_fields = ["id", "number", "image", "digest", "digests", "author_name",
                            "created_at", "archived"]  # fmt: skip
        extra_kwargs = {
            "digests": {
                "help_text": "A stack's: each compose service's pinned repo@sha256:… once the "
                "revision first deployed ({} before, and for a service)"
            }
        }

    def get_image_digest(self, revision: Revision) -> str:
        return digest_of(revision.digest)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("spec" in attrs) == ("compose" in attrs):
            raise serializers.ValidationError(
                {"spec": "Give spec (a service's revision) or compose (a stack's), one of them."}
            )
        return attrs


def check_revision_kind(kind: str, revision: dict[str, Any], field_prefix: str = "") -> None:
    """A service's revision is a spec, a stack's a compose file: a 400 for the other."""
    if kind == ServiceKind.STACK and "compose" not in revision:
        raise serializers.ValidationError(
            {f"{field_prefix}compose": "A stack's revision is a compose file: give compose."}
        )
    if kind != ServiceKind.STACK and "spec" not in revision:
        raise serializers.ValidationError(
            {f"{field_prefix}spec": 'A service\'s revision is a container spec (for a Compose '
             'file, create a service of kind "stack").'}
        )  # fmt: skip


@contextmanager
def compose_refusals(*, field_prefix: str = "") -> Iterator[None]:
    """A compose file Berth cannot deploy is a 400 naming its key, under the body's
    ``compose.`` (``compose.services.web.cap_add``); the policy's refusals likewise."""
    try:
        with policy_refusals(field_prefix=f"{field_prefix}compose."):
            yield
    except compose.ComposeInvalid as exc:
        raise serializers.ValidationError(
            {f"{field_prefix}compose.{exc.path}": exc.message}
        ) from None


class ServiceSerializer(StrictFieldsMixin, serializers.ModelSerializer[Service]):
    hosts = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Host.objects.all(), required=False
    )
    host_group = serializers.SlugRelatedField(
        slug_field="name", queryset=HostGroup.objects.all(), required=False, allow_null=True
    )
    current_revision = serializers.IntegerField(
        source="current_revision.number", read_only=True, allow_null=True
    )
    image = serializers.CharField(
        source="current_revision.image",
        read_only=True,
        allow_null=True,
        help_text=IMAGE_HELP + " of the current revision; null before the first deploy",
    )
    image_digest = serializers.SerializerMethodField(help_text=DIGEST_HELP)
    revision = RevisionSerializer(
        write_only=True,
        required=False,
        help_text="On create only: the first revision (spec, health, note, policy_override), "
        "made with the service in one step; a spec the policy refuses creates neither. "
        "Later revisions: POST /services/ID/revisions/",
    )
    removal = serializers.SerializerMethodField(
        help_text="In the answer to a change of targets only: the hosts that left them and "
        "the operation removing the service's containers from them; null otherwise"
    )

    kind = serializers.ChoiceField(
        choices=ServiceKind.choices,
        required=False,
        help_text="service (the default): one container per host; stack: a Compose file's "
        "containers. Set on create only",
    )

    class Meta:
        model = Service
        fields = ["id", "url", "name", "kind", "hosts", "host_group", "host_label",
                  "current_revision", "image", "image_digest", "retiring", "removal",
                  "created_at", "revision"]  # fmt: skip
        read_only_fields = ["retiring"]

    @extend_schema_field(RemovalSerializer(allow_null=True))
    def get_removal(self, service: Service) -> dict[str, Any] | None:
        operation = getattr(self, "removal_operation", None)
        if operation is None or self.instance is not service:
            return None
        return {"operation": operation.pk, "hosts": operation.params["hosts"]}

    def get_image_digest(self, service: Service) -> str:
        revision = service.current_revision
        return digest_of(revision.digest) if revision else ""

    def create(self, validated_data: dict[str, Any]) -> Service:
        actor = acting_user(self, validated_data)
        first = validated_data.pop("revision", None)
        validated_data.setdefault("kind", ServiceKind.SERVICE)
        if first is not None:
            first["override"] = first.pop("policy_override", False)
            check_revision_kind(validated_data["kind"], first, "revision.")
            if "compose" in first:
                first["compose_text"] = first.pop("compose")
        if validated_data["kind"] == ServiceKind.STACK:
            with compose_refusals(field_prefix="revision."):
                return services.create_service(actor=actor, first_revision=first, **validated_data)
        # Refusals name the spec's field under the body's "revision.spec.".
        with policy_refusals(field_prefix="revision.spec."):
            return services.create_service(actor=actor, first_revision=first, **validated_data)

    def update(self, instance: Service, validated_data: dict[str, Any]) -> Service:
        actor = acting_user(self, validated_data)
        validated_data.pop("kind", None)  # unchanged: validate_kind refuses another
        service, self.removal_operation = services.update_service(
            instance, actor=actor, **validated_data
        )
        return service

    def validate_name(self, value: str) -> str:
        if self.instance is not None and value != self.instance.name:
            # The name labels its containers on every host (berth.service).
            raise serializers.ValidationError(
                "A service's name cannot change: it names its containers on every host. "
                "Create a new service instead."
            )
        return value

    def validate_kind(self, value: str) -> str:
        if self.instance is not None and value != self.instance.kind:
            raise serializers.ValidationError("A service's kind is set when it is created.")
        return value

    def validate_revision(self, value: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None:
            raise serializers.ValidationError(
                "Only a new service takes its first revision here; add the next one with "
                f"POST /api/v1/services/{self.instance.pk}/revisions/."
            )
        return value

    def validate_host_label(self, value: str) -> str:
        # Checked as every label selector is: "," or "7=x" would otherwise be stored
        # and then target every host, or none.
        if value:
            try:
                return str(LabelSelector.parse(value))
            except LabelSelectorError as exc:
                raise serializers.ValidationError(exc.message) from None
        return value


class RevisionArchiveSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    archived = serializers.BooleanField(
        help_text="true sets the revision aside: kept in the history and a rollback target, "
        "but never what a deploy that names no revision picks; false brings it back"
    )


class DeploySerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    revision = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Revision number; the newest not archived when omitted",
    )
    batch_size = serializers.IntegerField(min_value=0, default=0, help_text="0 = all at once")
    max_failures = serializers.IntegerField(
        min_value=1, default=1, help_text="Stop and roll back once this many hosts failed"
    )
    health = HealthGateSerializer(required=False, help_text="Overrides the revision's gate")
    policy_override = serializers.BooleanField(default=False, help_text=POLICY_OVERRIDE_HELP)


class RollbackSerializer(DeploySerializer):
    revision = serializers.IntegerField(min_value=1, help_text="The revision to go back to")


# A rollout's step as the rollouts list reads it: (rollout id, then the step's fields).
STEP_ROW = ("rollout_id", "host_id", "host__name", "batch", "step", "message", "container_id",
            "started_at", "finished_at")  # fmt: skip


class _RolloutHostList(serializers.ListSerializer):  # type: ignore[type-arg]
    """A rollout's steps, a host each: written straight from the rows (the same as the
    fields would), as a page of rollouts can hold a step for every host of a fleet. The
    rollouts list gives them as ``step_rows`` (STEP_ROW tuples without the rollout)."""

    def get_attribute(self, instance: Any) -> Any:
        rows = getattr(instance, "step_rows", None)
        return rows if rows is not None else super().get_attribute(instance)

    def to_representation(self, data: Any) -> list[dict[str, Any]]:
        if hasattr(data, "all"):
            data = [
                (
                    step.host_id,
                    step.host.name,
                    step.batch,
                    step.step,
                    step.message,
                    step.container_id,
                    step.started_at,
                    step.finished_at,
                )
                for step in data.all()
            ]
        fields = self.child.fields  # type: ignore[union-attr]
        started, finished = fields["started_at"], fields["finished_at"]
        return [
            {
                "host": host,
                "host_name": host_name,
                "batch": batch,
                "step": step,
                "message": message,
                "container_id": container_id,
                "started_at": started.to_representation(started_at),
                "finished_at": finished.to_representation(finished_at),
            }
            for host, host_name, batch, step, message, container_id, started_at, finished_at in data
        ]


class RolloutHostSerializer(serializers.ModelSerializer[RolloutHost]):
    host_name = serializers.CharField(source="host.name", read_only=True)

    class Meta:
        model = RolloutHost
        list_serializer_class = _RolloutHostList
        fields = ["host", "host_name", "batch", "step", "message", "container_id", "started_at",
                  "finished_at"]  # fmt: skip


class RolloutSerializer(serializers.ModelSerializer[Rollout]):
    service_name = serializers.CharField(source="service.name", read_only=True)
    revision = serializers.IntegerField(source="revision.number", read_only=True)
    previous_revision = serializers.IntegerField(
        source="previous_revision.number", read_only=True, allow_null=True
    )
    hosts = RolloutHostSerializer(many=True, read_only=True)
    image = serializers.CharField(source="revision.image", read_only=True, help_text=IMAGE_HELP)
    image_digest = serializers.SerializerMethodField(help_text=DIGEST_HELP)

    class Meta:
        model = Rollout
        fields = ["id", "url", "service", "service_name", "revision", "previous_revision", "image",
                  "image_digest", "kind", "status", "batch_size", "max_failures", "health",
                  "reason", "operation", "hosts", "created_at", "finished_at"]  # fmt: skip
        read_only_fields = fields

    def get_image_digest(self, rollout: Rollout) -> str:
        return digest_of(rollout.revision.digest)


class RevisionDiffSerializer(serializers.Serializer[Any]):
    field = serializers.CharField()
    before = serializers.JSONField(source="from", allow_null=True)
    after = serializers.JSONField(source="to", allow_null=True)
