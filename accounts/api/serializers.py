from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from access.roles import Role, assigned_role, role_of, scope_of
from accounts import services
from accounts.models import ROLE_CHOICES, ApiToken
from hosts.models import HostGroup
from operations.api.serializers import StrictFieldsMixin, acting_user


def _group_field(help_text: str) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="name",
        many=True,
        queryset=HostGroup.objects.all(),
        required=False,
        help_text=help_text,
    )


class UserSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A login. ``role`` and ``host_groups`` say what it may do and where; the password is
    write-only."""

    role = serializers.ChoiceField(
        choices=ROLE_CHOICES, required=False, help_text="viewer (default), operator or admin"
    )
    unrestricted = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Every host, whatever host_groups says (default on create: true when no "
        "host_groups are given). When false, no host_groups means no host at all.",
    )
    host_groups = _group_field("Limit the user to these host groups (when not unrestricted)")
    password = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Set the password (leave out to keep it; a user without one logs in "
        "with API tokens only)",
    )

    class Meta:
        model = User
        fields = ["id", "username", "email", "is_active", "is_superuser", "role", "unrestricted",
                  "host_groups", "password", "date_joined", "last_login"]  # fmt: skip
        read_only_fields = ["is_superuser", "date_joined", "last_login"]

    def to_representation(self, instance: User) -> dict[str, Any]:
        data = super().to_representation(instance)
        profile = getattr(instance, "berth_profile", None)
        data["role"] = assigned_role(instance).label
        data["unrestricted"] = instance.is_superuser or profile is None or profile.unrestricted
        data["host_groups"] = (
            [group.name for group in profile.host_groups.all()] if profile is not None else []
        )
        return data

    def validate_password(self, value: str) -> str:
        try:
            password_validation.validate_password(value, self.instance)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from None
        return value

    def create(self, validated_data: dict[str, Any]) -> User:
        actor = acting_user(self, validated_data)
        return services.create_user(
            actor=actor,
            role=Role.from_label(validated_data.pop("role", "viewer")),
            host_groups=validated_data.pop("host_groups", []),
            unrestricted=validated_data.pop("unrestricted", None),
            password=validated_data.pop("password", None),
            **validated_data,
        )

    def update(self, instance: User, validated_data: dict[str, Any]) -> User:
        actor = acting_user(self, validated_data)
        role_label = validated_data.pop("role", None)
        return services.update_user(
            instance,
            actor=actor,
            role=Role.from_label(role_label) if role_label else None,
            host_groups=validated_data.pop("host_groups", None),
            unrestricted=validated_data.pop("unrestricted", None),
            password=validated_data.pop("password", None),
            **validated_data,
        )


class ApiTokenSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """An API token, without its secret (only its non-secret ``prefix``)."""

    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, help_text="Whose token (default: yours)"
    )
    username = serializers.CharField(source="user.username", read_only=True)
    role = serializers.ChoiceField(
        choices=ROLE_CHOICES, required=False, help_text="At most the user's role (default: it)"
    )
    unrestricted = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Act in the user's whole scope, whatever host_groups says (default: true "
        "when no host_groups are given). When false, no host_groups means no host at all.",
    )
    host_groups = _group_field("Limit the token to these host groups (when not unrestricted)")
    prefix = serializers.SerializerMethodField(help_text="Identifies the token; not a secret")
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "user", "username", "role", "unrestricted", "host_groups", "prefix",
                  "active", "created_at", "expires_at", "last_used_at", "revoked_at"]  # fmt: skip
        read_only_fields = ["created_at", "last_used_at", "revoked_at"]

    def get_prefix(self, token: ApiToken) -> str:
        return f"berth_{token.key}_"

    def validate_expires_at(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Give a time in the future (or null: no expiry).")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        caller = self.context["request"].user
        user = attrs.get("user") or caller
        caller_scope = scope_of(caller)
        if user.pk == caller.pk:
            user = caller  # carries the token in use, if any: a token cannot mint more than it has
        elif caller_scope is not None:
            raise serializers.ValidationError(
                {"user": "An admin limited to host groups can issue tokens only for themselves."}
            )
        user_role = role_of(user)
        if user_role is None:
            raise serializers.ValidationError({"user": "This user is inactive."})
        role = Role.from_label(attrs.get("role") or user_role.label)
        if role > user_role:
            raise serializers.ValidationError(
                {"role": f"A token's role is at most its user's ({user_role.label})."}
            )
        if caller_scope is not None:
            if not caller_scope:
                raise serializers.ValidationError(
                    {"host_groups": "You can see no host group, so neither could this token."}
                )
            groups = attrs.get("host_groups") or list(HostGroup.objects.filter(pk__in=caller_scope))
            if not {group.pk for group in groups} <= caller_scope:
                raise serializers.ValidationError(
                    {"host_groups": "Give only host groups you are limited to."}
                )
            attrs["host_groups"] = groups
            # Its user's whole scope may be wider than the token now in use.
            attrs["unrestricted"] = False
        attrs["user"], attrs["role"] = user, role
        return attrs

    def create(self, validated_data: dict[str, Any]) -> ApiToken:
        token, secret = services.create_token(
            validated_data["user"],
            actor=acting_user(self, validated_data),
            name=validated_data["name"],
            role=validated_data["role"],
            host_groups=validated_data.get("host_groups", []),
            unrestricted=validated_data.get("unrestricted"),
            expires_at=validated_data.get("expires_at"),
        )
        token.secret = secret  # type: ignore[attr-defined]
        return token


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.SerializerMethodField(
        help_text="The secret: shown only in this answer, never again. Send it as "
        "'Authorization: Bearer <token>'."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]

    @extend_schema_field(serializers.CharField())
    def get_token(self, token: ApiToken) -> str:
        return str(getattr(token, "secret", ""))


class MeSerializer(serializers.Serializer):
    """Who the caller is, as the API sees them."""

    username = serializers.CharField()
    role = serializers.CharField(help_text="The effective role (a token's role caps it)")
    host_groups = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="Host groups the caller is limited to; null = every host",
    )
    token = serializers.IntegerField(allow_null=True, help_text="The token used, if any")
