from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import serializers

from operations.models import Operation


class OperationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Operation
        fields = [
            "id",
            "url",
            "action",
            "status",
            "actor_name",
            "target_type",
            "target_id",
            "target_name",
            "host",
            "parent",
            "params",
            "progress",
            "result",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "cancel_requested",
            "attempts",
        ]
        read_only_fields = fields


class OperationStreamSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.DictField())
    next_offset = serializers.IntegerField()
    finished = serializers.BooleanField()


class OperationAcceptedSerializer(serializers.Serializer):
    """The answer to an action that touches hosts: the operation to poll."""

    operation = serializers.IntegerField()
    operation_url = serializers.URLField()
    status = serializers.CharField()


class BulkAcceptedSerializer(OperationAcceptedSerializer):
    """The answer to a bulk action: the parent operation to poll, and the selection's size."""

    matched = serializers.IntegerField(
        help_text="How many targets the selection matched: one child operation each"
    )


class StrictFieldsMixin:
    """For every write body: a field the serializer does not know, or one it only reports
    (read-only, like ``id``), is a 400 naming it, never silently dropped (a misspelt
    selection must not quietly widen what is acted on, nor a misspelt setting quietly
    keep its old value)."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = self._refused(data)
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]

    def _refused(self, data: Mapping[str, Any]) -> dict[str, str]:
        form = isinstance(data, QueryDict)  # a form (the browsable API's) has its CSRF token
        known = ", ".join(name for name, field in self.fields.items() if not field.read_only)
        errors: dict[str, str] = {}
        for name in data:
            field = self.fields.get(name)
            if field is None:
                if not (form and name == "csrfmiddlewaretoken"):
                    errors[name] = f"Unknown field; use {known}."
            elif field.read_only:
                errors[name] = "This field is read-only: leave it out."
        return errors


def acting_user(serializer: serializers.BaseSerializer, validated_data: dict[str, Any]) -> Any:
    """Who is saving through ``serializer``, for the audit trail: ``save(actor=…)`` when
    a page passes it, else the API request's user."""
    if "actor" in validated_data:
        return validated_data.pop("actor")
    request = serializer.context.get("request")
    return getattr(request, "user", None)
