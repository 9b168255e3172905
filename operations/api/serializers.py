from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import serializers

from operations.models import Operation


class OperationSerializer(serializers.ModelSerializer[Operation]):
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


class OperationStreamSerializer(serializers.Serializer[Any]):
    items = serializers.ListField(child=serializers.DictField())
    next_offset = serializers.IntegerField()
    finished = serializers.BooleanField()


class OperationAcceptedSerializer(serializers.Serializer[Any]):
    """The answer to an action that touches hosts: the operation to poll."""

    operation = serializers.IntegerField()
    operation_url = serializers.URLField()
    status = serializers.CharField()


class BulkAcceptedSerializer(OperationAcceptedSerializer):
    """The answer to a bulk action: the parent operation to poll, and the selection's size."""

    matched = serializers.IntegerField(
        help_text="How many targets the selection matched: one child operation each"
    )


class Text(serializers.CharField):
    """Text only: a number is not "1000"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Give text (a JSON string).")
        return str(super().to_internal_value(data))


def check_engine_labels(value: dict[str, str]) -> dict[str, str]:
    """The labels of a new network or volume: at most 100, each key 1-256 characters."""
    if len(value) > 100:
        raise serializers.ValidationError("At most 100 labels.")
    if any(not key or len(key) > 256 for key in value):
        raise serializers.ValidationError("Label keys are 1-256 characters.")
    return value


class StrictFieldsMixin:
    """For every write body: a field the serializer does not know, or one it only reports
    (read-only, like ``id``), is a 400 naming it, never silently dropped (a misspelt
    selection must not quietly widen what is acted on, nor a misspelt setting quietly
    keep its old value); so is a JSON value of another type than the field's, which DRF
    would quietly convert (``5`` is not the image ``"5"``, nor ``"no"`` false)."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = self._refused(data)
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]

    def _refused(self, data: Mapping[str, Any]) -> dict[str, str]:
        # A form (the browsable API's) has its CSRF token, and only text for values.
        form = isinstance(data, QueryDict)
        known = ", ".join(name for name, field in self.fields.items() if not field.read_only)
        errors: dict[str, str] = {}
        for name, value in data.items():
            field = self.fields.get(name)
            if field is None:
                if not (form and name == "csrfmiddlewaretoken"):
                    errors[name] = f"Unknown field; use {known}."
            elif field.read_only:
                errors[name] = "This field is read-only: leave it out."
            elif not form and (wrong := _wrong_json_type(field, value)):
                errors[name] = wrong
            elif (
                form
                and isinstance(field, serializers.BooleanField)
                # A form has only text: a boolean is spelt true or false there, not
                # "0", "yes" or "on", which DRF would also take.
                and isinstance(data, QueryDict)
                and any(item.lower() not in ("true", "false") for item in data.getlist(name))
            ):
                errors[name] = "Give true or false."
        return errors


def _wrong_json_type(field: serializers.Field[Any, Any, Any, Any], value: Any) -> Any:
    """What to say when ``value`` is of another JSON type than ``field`` takes, one DRF
    would convert rather than refuse: a number for text or a name, text for a number or
    an id, anything but true or false for a boolean; for a list or an object, by item.
    None when the type is right (null is for the field to allow or refuse)."""
    if value is None:
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Give true or false."
    if isinstance(field, serializers.IntegerField | serializers.FloatField):
        return "Give a number, not text." if isinstance(value, str | bool) else None
    if isinstance(field, serializers.PrimaryKeyRelatedField):
        return "Give an id (a number), not text." if isinstance(value, str | bool) else None
    if isinstance(field, serializers.CharField | serializers.SlugRelatedField):
        # (true and false are ints too)
        return "Give text (a JSON string)." if isinstance(value, int | float) else None
    items: dict[Any, Any] = {}
    if isinstance(field, serializers.ManyRelatedField):
        if not isinstance(value, list):  # DRF reads an object's keys as the list
            return "Give a list."
        items = {index: (field.child_relation, item) for index, item in enumerate(value)}
    elif isinstance(field, serializers.ListField) and isinstance(value, list):
        items = {index: (field.child, item) for index, item in enumerate(value)}
    elif isinstance(field, serializers.DictField) and isinstance(value, dict):
        items = {key: (field.child, item) for key, item in value.items()}
    wrong = {key: _wrong_json_type(child, item) for key, (child, item) in items.items()}
    return {key: message for key, message in wrong.items() if message} or None


def acting_user(serializer: serializers.BaseSerializer[Any], validated_data: dict[str, Any]) -> Any:
    """Who is saving through ``serializer``, for the audit trail: ``save(actor=…)`` when
    a page passes it, else the API request's user."""
    if "actor" in validated_data:
        return validated_data.pop("actor")
    request = serializer.context.get("request")
    return getattr(request, "user", None)
