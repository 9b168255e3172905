from __future__ import annotations

from typing import Any

from rest_framework import serializers

from hosts.models import HostGroup
from operations.api.serializers import StrictFieldsMixin
from policies.models import ContainerPolicy
from policies.paths import normalise
from policies.services import TOGGLES, prefix_problem


class ContainerPolicySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A container security policy: the global default (``host_group`` null) or one
    host group's. Prefixes are normalised (``/srv/../srv/data/`` is ``/srv/data``);
    one on Berth's hard deny list (``/``, ``/etc``, the Docker socket, …) is a 400.
    Each ``allow_*`` toggle lets a spec ask for one dangerous setting (docs/security.md);
    all are off by default except ``allow_root_user``."""

    host_group = serializers.SlugRelatedField(
        slug_field="name",
        queryset=HostGroup.objects.all(),
        allow_null=True,
        required=False,
        help_text="The host group's name; null for the global default",
    )
    allowed_bind_prefixes = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False, max_length=4096),
        max_length=100,
        required=False,
        help_text="Absolute host paths a container may bind-mount under; [] = none",
    )

    class Meta:
        model = ContainerPolicy
        fields = ["id", "host_group", "allowed_bind_prefixes", *TOGGLES, "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators: list[Any] = []  # uniqueness of the scope is checked in validate()

    def validate_allowed_bind_prefixes(self, value: list[str]) -> list[str]:
        for prefix in value:
            problem = prefix_problem(prefix)
            if problem:
                raise serializers.ValidationError(problem)
        return [normalise(prefix) for prefix in value]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        group = attrs.get("host_group", self.instance.host_group if self.instance else None)
        clash = ContainerPolicy.objects.filter(host_group=group)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            scope = f"host group {group}" if group else "the global default"
            raise serializers.ValidationError(
                {"host_group": f"There is already a policy for {scope}: edit that one."}
            )
        return attrs
