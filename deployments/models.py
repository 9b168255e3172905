from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from .choices import HostStep, RolloutKind, RolloutStatus, ServiceKind

SERVICE_NAME = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,62}$",
    "Use lower-case letters, digits, '.', '_' and '-' (up to 63), starting with a letter or digit.",
)


class Service(models.Model):
    """Something deployed to each target host, with a history of revisions: one
    container (kind service) or the containers of a Compose file (kind stack)."""

    name = models.CharField(max_length=63, unique=True, validators=[SERVICE_NAME])
    # Fixed at creation: it says what the revisions hold and which agent op deploys them.
    kind = models.CharField(max_length=16, choices=ServiceKind.choices, default=ServiceKind.SERVICE)
    hosts = models.ManyToManyField("hosts.Host", blank=True, related_name="services")
    host_group = models.ForeignKey(
        "hosts.HostGroup", null=True, blank=True, on_delete=models.PROTECT, related_name="services"
    )
    host_label = models.CharField(
        max_length=255, blank=True, help_text="Target hosts whose labels match, e.g. 'tier=web'"
    )
    current_revision = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Being retired: its containers are being removed from every host, after which the
    # service goes. Meanwhile nothing deploys or converges it.
    retiring = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_stack(self) -> bool:
        return self.kind == ServiceKind.STACK


# A note says what changed and why, in a line or two; it shows on the service's page.
NOTE_MAX_LENGTH = 500


class Revision(models.Model):
    """An immutable snapshot of a service's container spec, numbered 1, 2, 3…

    ``digest`` is the image digest the reference resolved to when the revision was
    first deployed; every later deploy of the revision (a rollback) uses it, so
    the exact same bits come back.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    image = models.CharField(max_length=512)
    digest = models.CharField(max_length=600, blank=True)
    spec = models.JSONField(
        help_text="The container spec, as the agent's service.deploy takes it; for a stack, "
        "the Compose document as parsed from ``compose``"
    )
    # A stack's Compose file as it was given (YAML, comments and all); "" for a service.
    compose = models.TextField(blank=True)
    # A stack's ``digest``: {compose service: repo@sha256:…}, pinned when the revision
    # first deployed; every later deploy of the revision uses them.
    digests = models.JSONField(default=dict, blank=True)
    health = models.JSONField(default=dict, blank=True, help_text="The health gate")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    author_name = models.CharField(max_length=150)
    note = models.TextField(blank=True, max_length=NOTE_MAX_LENGTH)
    # An admin went past the container security policy for this revision (recorded in
    # the audit log): while it is the service's, or being rolled out or back to, its
    # hosts' policy files grant its exact spec, so converging to it still works.
    policy_override = models.BooleanField(default=False)
    # Set aside: kept in the history and still a rollback target, but never what a
    # deploy that names no revision ("the newest") picks.
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["service", "number"], name="unique_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.service.name} r{self.number}"

    @property
    def deploy_image(self) -> str:
        """The pinned digest once known, else the reference as given."""
        return self.digest or self.image


class Rollout(models.Model):
    """A revision applied to the service's target hosts, batch by batch."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="rollouts")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="rollouts")
    previous_revision = models.ForeignKey(
        Revision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=RolloutKind.choices, default=RolloutKind.DEPLOY)
    status = models.CharField(
        max_length=16, choices=RolloutStatus.choices, default=RolloutStatus.PENDING
    )
    batch_size = models.PositiveIntegerField(default=0, help_text="Hosts at a time; 0 = all")
    max_failures = models.PositiveIntegerField(
        default=1, help_text="Stop and roll back once this many hosts have failed"
    )
    health = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    operation = models.OneToOneField(
        "operations.Operation", null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} of {self.revision} ({self.status})"


class RolloutHost(models.Model):
    """One host's part in a rollout, with the step it is at."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="hosts")
    host = models.ForeignKey("hosts.Host", on_delete=models.CASCADE, related_name="+")
    batch = models.PositiveIntegerField(default=0)
    step = models.CharField(max_length=16, choices=HostStep.choices, default=HostStep.PENDING)
    message = models.TextField(blank=True)
    container_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "host__name"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "host"], name="one_step_per_host")
        ]

    def __str__(self) -> str:
        return f"{self.host} in rollout #{self.rollout_id}: {self.step}"
