"""Stored secrets in the API: ``/api/v1/secrets/``. Admins create, rename, replace and
delete them; everyone who can read sees their names, never their values."""

from __future__ import annotations

from typing import Any

from django.views.decorators.debug import sensitive_variables
from rest_framework import serializers, viewsets

from berth.api_errors import InUse
from containers import secrets
from containers.models import Secret
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

    class Meta:
        model = Secret
        fields = ["id", "url", "name", "value", "created_at", "updated_at", "created_by",
                  "updated_by"]  # fmt: skip
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
        return attrs

    @sensitive_variables("validated_data")
    def create(self, validated_data: dict[str, Any]) -> Secret:
        actor = acting_user(self, validated_data)
        return secrets.create_secret(actor=actor, **validated_data)

    @sensitive_variables("validated_data")
    def update(self, instance: Secret, validated_data: dict[str, Any]) -> Secret:
        actor = acting_user(self, validated_data)
        return secrets.update_secret(
            instance,
            name=validated_data.get("name"),
            value=validated_data.get("value"),
            actor=actor,
        )


class SecretViewSet(viewsets.ModelViewSet):
    """Secrets that container specs use by name (``env_secrets``). Changes are
    admin-only and audited; the value is write-only and stored encrypted."""

    queryset = Secret.objects.all()
    serializer_class = SecretSerializer
    ordering_fields = ["name", "created_at", "updated_at"]

    def perform_destroy(self, instance: Secret) -> None:
        try:
            secrets.delete_secret(instance, actor=self.request.user)
        except secrets.SecretInUse as exc:
            raise InUse(str(exc)) from None
