"""Who a user is to Berth (role and host-group scope), and the API tokens they script with."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from access.roles import Role

ROLE_CHOICES = [(role.label, role.label) for role in Role]

TOKEN_PREFIX = "berth_"  # noqa: S105  (not a secret: marks a token)


class Profile(models.Model):
    """A user's role and the hosts they may reach: every host when ``unrestricted``,
    else only those in ``host_groups`` (none: no host at all).

    "Every host" is a flag, never an empty group set, so losing one's last group
    (deleted, or taken away) narrows a scope instead of lifting it. A superuser is an
    admin over every host whatever the profile says.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="berth_profile"
    )
    role = models.CharField(max_length=16, choices=ROLE_CHOICES, default=Role.VIEWER.label)
    unrestricted = models.BooleanField(
        default=False, help_text="Every host, whatever the host groups say"
    )
    host_groups = models.ManyToManyField(
        "hosts.HostGroup",
        blank=True,
        related_name="profiles",
        help_text="Limit the user to these host groups (when not unrestricted; none = no host)",
    )

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for scripts. Only its SHA-256 is stored; the secret is shown once.

    The secret reads ``berth_<key>_<random>``: ``key`` is a short, non-secret lookup
    id (stored as is), the whole string is what is hashed. A token acts as its user
    with at most ``role``; within its user's scope when ``unrestricted``, else also
    within ``host_groups`` (none: no host at all).
    """

    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    role = models.CharField(max_length=16, choices=ROLE_CHOICES, default=Role.VIEWER.label)
    unrestricted = models.BooleanField(
        default=False, help_text="Act in the user's whole scope, whatever the host groups say"
    )
    host_groups = models.ManyToManyField(
        "hosts.HostGroup",
        blank=True,
        related_name="api_tokens",
        help_text="Limit the token to these host groups (within the user's; when not "
        "unrestricted; none = no host)",
    )
    key = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_PREFIX}{self.key}_…)"

    @staticmethod
    def new_secret() -> tuple[str, str]:
        """A fresh ``(key, secret)`` pair."""
        key = secrets.token_hex(4)
        return key, f"{TOKEN_PREFIX}{key}_{secrets.token_urlsafe(32)}"

    @property
    def role_enum(self) -> Role:
        return Role[self.role.upper()]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )
