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
    # What a spec may ask beyond binds (docs/security.md has the table). Each is
    # refused unless every policy of the host allows it; running as root is the one
    # allowed by default, as nearly every image runs as root and root in a container
    # without the toggles above is not root on the host.
    allow_privileged = models.BooleanField(
        default=False, help_text="privileged: true (every device, no confinement: root on the host)"
    )
    allow_cap_add = models.BooleanField(
        default=False, help_text="cap_add: extra Linux capabilities (SYS_ADMIN, NET_ADMIN, …)"
    )
    allow_devices = models.BooleanField(default=False, help_text="devices: host devices")
    allow_host_network = models.BooleanField(
        default=False, help_text='network_mode: "host" (the host\'s network stack)'
    )
    allow_host_pid = models.BooleanField(
        default=False, help_text='pid_mode: "host" (see and signal the host\'s processes)'
    )
    allow_host_ipc = models.BooleanField(
        default=False, help_text='ipc_mode: "host" (the host\'s shared memory)'
    )
    allow_host_userns = models.BooleanField(
        default=False, help_text='userns_mode: "host" (out of a remapped user namespace)'
    )
    allow_unconfined = models.BooleanField(
        default=False,
        help_text="security_opt that turns confinement off: seccomp/apparmor unconfined, "
        "label disable, systempaths unconfined",
    )
    allow_sysctls = models.BooleanField(default=False, help_text="sysctls: kernel parameters")
    allow_root_user = models.BooleanField(
        default=True,
        help_text="Containers may run as root; when off, a spec names a numeric non-root user "
        '(user: "1000") and an image\'s own user must be one too',
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
