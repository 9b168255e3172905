"""Stored secrets in the API: ``/api/v1/secrets/``. Admins not limited to host groups
create, rename, replace, scope and delete them; everyone who can read sees their names
and scopes, never their values."""

from __future__ import annotations

from typing import Any

from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from access.roles import scope_of
from berth.api_errors import InUse, error_responses
from containers import secrets
from containers.models import Secret
from hosts.models import HostGroup
from operations.api.serializers import StrictFieldsMixin, acting_user


class SecretSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A stored secret. ``value`` is write-only: stored encrypted, never returned; an
    update without ``value`` keeps the stored one (a PATCH of ``name`` renames it)."""

    value = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        max_length=65536,
        style={"input_type": "password"},
        help_text="The secret's value (stored encrypted, never shown)",
    )
    unrestricted = serializers.BooleanField(
        required=False,
        help_text="Usable on every host (default on create: true when no host_groups are "
        "given). When false, only containers on hosts in host_groups may receive it.",
    )
    host_groups = serializers.SlugRelatedField(
        slug_field="name",
        many=True,
        queryset=HostGroup.objects.all(),
        required=False,
        help_text="Limit the secret to hosts in these groups",
    )

    class Meta:
        model = Secret
        fields = ["id", "url", "name", "value", "unrestricted", "host_groups", "created_at",
                  "updated_at", "created_by", "updated_by"]  # fmt: skip
        read_only_fields = ["created_at", "updated_at", "created_by", "updated_by"]

    def validate_name(self, value: str) -> str:
        problem = secrets.secret_name_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_value(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("A secret's value cannot be empty.")
        if "\x00" in value:
            raise serializers.ValidationError("A secret's value cannot contain NUL characters.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and "value" not in attrs:
            raise serializers.ValidationError({"value": "Give the secret's value."})
        groups = attrs.get("host_groups")
        if groups is None and self.instance is not None:
            groups = list(self.instance.host_groups.all())
        if attrs.get("unrestricted") and groups:
            raise serializers.ValidationError(
                {"unrestricted": "An unrestricted secret has no host groups: leave out "
                 "host_groups (or give an empty list), or set unrestricted to false."}
            )  # fmt: skip
        return attrs

    @sensitive_variables("validated_data")
    def create(self, validated_data: dict[str, Any]) -> Secret:
        actor = acting_user(self, validated_data)
        return secrets.create_secret(
            actor=actor,
            name=validated_data["name"],
            value=validated_data["value"],
            host_groups=validated_data.get("host_groups", ()),
            unrestricted=validated_data.get("unrestricted"),
        )

    @sensitive_variables("validated_data")
    def update(self, instance: Secret, validated_data: dict[str, Any]) -> Secret:
        actor = acting_user(self, validated_data)
        return secrets.update_secret(
            instance,
            name=validated_data.get("name"),
            value=validated_data.get("value"),
            host_groups=validated_data.get("host_groups"),
            # Giving host groups limits an unrestricted secret to them, as on create.
            unrestricted=validated_data.get(
                "unrestricted", False if validated_data.get("host_groups") else None
            ),
            actor=actor,
        )


# Deleting a secret a spec still names is refused.
IN_USE_ANSWER = (
    "A revision or a pending or running operation names the secret; the message names them"
)


@extend_schema_view(destroy=extend_schema(responses=error_responses({409: IN_USE_ANSWER})))
class SecretViewSet(viewsets.ModelViewSet):
    """Secrets that container specs use by name (``env_secrets``). Changes are
    admin-only and audited; the value is write-only and stored encrypted."""

    queryset = Secret.objects.all()
    serializer_class = SecretSerializer
    ordering_fields = ["name", "created_at", "updated_at"]

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        # A secret goes to containers on any host it allows: an admin limited to some
        # host groups could otherwise replace or widen one that other teams' hosts use.
        if request.method not in SAFE_METHODS and scope_of(request.user) is not None:
            raise PermissionDenied("Secrets are changed by admins not limited to host groups.")

    def perform_destroy(self, instance: Secret) -> None:
        try:
            secrets.delete_secret(instance, actor=self.request.user)
        except secrets.SecretInUse as exc:
            raise InUse(str(exc)) from None
