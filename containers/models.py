from __future__ import annotations

from django.db import models

from berth.fields import EncryptedTextField


class Container(models.Model):
    """A container as its host last reported it; rebuilt from the host on every refresh."""

    host = models.ForeignKey("hosts.Host", on_delete=models.CASCADE, related_name="containers")
    container_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    image = models.CharField(max_length=512)
    image_id = models.CharField(max_length=128, blank=True)
    command = models.TextField(blank=True)
    state = models.CharField(max_length=32)
    status = models.CharField(max_length=255, blank=True)
    health = models.CharField(max_length=16, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    ports = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not stored: set by images.references.describe_container_images for the API and
    # the pages (the tag asked for, and the registry digest of what runs).
    shown_image: str
    image_digest: str

    class Meta:
        ordering = ["host__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["host", "container_id"], name="unique_container_per_host"
            )
        ]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["state"])]

    def __str__(self) -> str:
        # What the operation log records as the target: a person reads host names.
        return f"{self.name} on {self.host.name}"


class Secret(models.Model):
    """A value a container spec uses by name (``env_secrets``), never by value.

    The value is encrypted at rest like SSH keys and registry passwords, never
    returned by the API or shown on a page, and read only by a worker right before
    it calls the agent (``containers.secrets.resolve_env``).
    """

    name = models.CharField(max_length=100, unique=True)
    value = EncryptedTextField(max_length=65536, help_text="Stored encrypted, never shown")
    # Like a user's or a token's scope: unrestricted, or only for containers on hosts in
    # one of host_groups (none: no host at all).
    unrestricted = models.BooleanField(
        default=True, help_text="Usable on every host; otherwise only on hosts in its groups"
    )
    host_groups = models.ManyToManyField(
        "hosts.HostGroup",
        blank=True,
        related_name="secrets",
        help_text="When not unrestricted: the host groups whose hosts may receive it",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.CharField(max_length=150, blank=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
