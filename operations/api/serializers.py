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
