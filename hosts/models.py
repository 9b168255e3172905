from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from berth.fields import EncryptedTextField

from .choices import DiskKind, HostStatus, Transport
from .validators import (
    host_key_fingerprint,
    validate_address,
    validate_docker_host,
    validate_host_key,
    validate_host_name,
    validate_label_sizes,
)


class SSHKey(models.Model):
    """A private key Berth logs in with; one key may serve many hosts.

    The private key and its passphrase are encrypted at rest and never leave the
    server except as the SSH authentication itself.
    """

    name = models.CharField(max_length=100, unique=True)
    private_key = EncryptedTextField()
    passphrase = EncryptedTextField(blank=True, default="")
    public_key = models.TextField(blank=True, help_text="Derived from the private key")
    fingerprint = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SSH key"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SSHEndpoint(models.Model):
    """Where and how to log in over SSH, with the host key pinned for that address."""

    address = models.CharField(max_length=255, blank=True, validators=[validate_address])
    port = models.PositiveIntegerField(
        default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    username = models.CharField(max_length=64, default="root")
    ssh_key = models.ForeignKey(
        SSHKey, null=True, blank=True, on_delete=models.PROTECT, related_name="%(class)ss"
    )
    host_key = models.TextField(
        blank=True,
        validators=[validate_host_key],
        help_text="Pinned SSH host key ('ssh-ed25519 AAAA…'); connections offering another "
        "key are refused",
    )
    host_key_offered = models.TextField(
        blank=True, help_text="Key the host presented that is not (yet) pinned"
    )

    class Meta:
        abstract = True

    @property
    def host_key_offered_fingerprint(self) -> str:
        """What an admin compares out of band before approving the offered key."""
        return host_key_fingerprint(self.host_key_offered) if self.host_key_offered else ""


class JumpHost(SSHEndpoint):
    """A bastion that SSH connections to some hosts go through (like ProxyJump)."""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class HostGroup(models.Model):
    """A named set of hosts: a target for bulk actions and deployments, and a scope."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=1000)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Host(SSHEndpoint):
    """A Docker host Berth manages, how to reach it, and what it last reported."""

    # Written by refreshes, never by people: read-only in the API and the admin.
    REPORTED_FIELDS = (
        "host_key_offered",
        "status",
        "status_reason",
        "last_seen_at",
        "last_checked_at",
        "agent_version",
        "docker_version",
        "facts",
        "agent_rtt_ms",
    )

    name = models.CharField(max_length=100, unique=True, validators=[validate_host_name])
    transport = models.CharField(max_length=8, choices=Transport.choices, default=Transport.SSH)
    jump_host = models.ForeignKey(
        JumpHost, null=True, blank=True, on_delete=models.PROTECT, related_name="hosts"
    )
    docker_host = models.CharField(
        max_length=255,
        blank=True,
        validators=[validate_docker_host],
        help_text="Where the agent finds dockerd; empty for unix:///var/run/docker.sock",
    )
    labels = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_label_sizes],
        help_text="Free-form key/value labels (at most 64; keys up to 100 characters, values "
        "up to 255)",
    )
    groups = models.ManyToManyField(HostGroup, blank=True, related_name="hosts")

    status = models.CharField(max_length=24, choices=HostStatus.choices, default=HostStatus.NEW)
    status_reason = models.TextField(blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    agent_version = models.CharField(max_length=32, blank=True)
    docker_version = models.CharField(max_length=32, blank=True)
    # Kept on the row because refreshes run in workers (possibly on other machines)
    # while /metrics is served by the web process.
    agent_rtt_ms = models.FloatField(
        null=True,
        blank=True,
        help_text="Round trip of a ping to the agent at the last successful refresh (ms)",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.name


class DiskUsage(models.Model):
    """What Docker's ``system df`` said of one kind of a host's disk use when it was last
    measured (``host.disk``): a refresh does not measure (it walks every volume's files),
    so a host has none of these rows until someone asks."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="disk_usage")
    kind = models.CharField(max_length=16, choices=DiskKind.choices)
    count = models.PositiveIntegerField(default=0)
    active = models.PositiveIntegerField(default=0, help_text="in use (by a container)")
    size = models.BigIntegerField(default=0, help_text="bytes")
    reclaimable = models.BigIntegerField(
        default=0, help_text="bytes a prune would free, as Docker estimates it"
    )
    measured_at = models.DateTimeField()

    class Meta:
        ordering = ["host__name", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["host", "kind"], name="unique_disk_kind_per_host")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.host.name}"
