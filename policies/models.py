from __future__ import annotations

from django.db import models
from django.db.models.functions import Coalesce


class ContainerPolicy(models.Model):
    """What a container spec may ask of a host. One global default (``host_group`` empty)
    and at most one per host group; see policies/services.py for how they combine."""

    host_group = models.OneToOneField(
        "hosts.HostGroup",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="container_policy",
        help_text="Empty: the global default, for hosts in no group and groups without one",
    )
    allowed_bind_prefixes = models.JSONField(
        default=list,
        blank=True,
        help_text="Absolute host paths under which a container may bind-mount; empty: no "
        "host bind mounts at all (named volumes are always allowed)",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["host_group__name"]
        verbose_name_plural = "container policies"
        constraints = [
            # One global default: NULLs are distinct in a plain unique constraint.
            models.UniqueConstraint(
                Coalesce("host_group", models.Value(0)), name="one_container_policy_per_scope"
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.host_group_id is None:
            return "the global default policy"
        return f"the policy of host group {self.host_group}"
