"""``/api/v1/container-policies/``: unscoped admins only, every change audited."""

from __future__ import annotations

from typing import Any

from rest_framework import viewsets
from rest_framework.serializers import BaseSerializer

from access.roles import Role
from policies import services
from policies.models import ContainerPolicy

from .serializers import ContainerPolicySerializer


class ContainerPolicyViewSet(viewsets.ModelViewSet):
    """Container security policies (docs/security.md). Only an admin who is not
    limited to host groups may read or change them: a scoped admin could otherwise
    open bind mounts on hosts outside their groups, or on their own ones."""

    queryset = ContainerPolicy.objects.select_related("host_group")
    serializer_class = ContainerPolicySerializer
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    unscoped_only = True
    filterset_fields = ["host_group"]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.save_policy(
            ContainerPolicy(),
            actor=self.request.user,
            host_group=serializer.validated_data.get("host_group"),
            allowed_bind_prefixes=serializer.validated_data.get("allowed_bind_prefixes", []),
            toggles=_toggles(serializer.validated_data),
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        policy = serializer.instance
        assert policy is not None
        data = serializer.validated_data
        serializer.instance = services.save_policy(
            policy,
            actor=self.request.user,
            host_group=data.get("host_group", policy.host_group),
            allowed_bind_prefixes=data.get("allowed_bind_prefixes", policy.allowed_bind_prefixes),
            toggles=_toggles(data),
        )

    def perform_destroy(self, instance: ContainerPolicy) -> None:
        services.delete_policy(instance, actor=self.request.user)


def _toggles(data: dict[str, Any]) -> dict[str, bool]:
    return {toggle: data[toggle] for toggle in services.TOGGLES if toggle in data}
