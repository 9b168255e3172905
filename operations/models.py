from __future__ import annotations

from django.conf import settings
from django.db import models

from .choices import FINISHED_STATUSES, OperationStatus


class Operation(models.Model):
    """One action Berth takes on the fleet, and the audit record of it.

    The row is created (pending) before anything runs; the worker that claims it
    records progress, the result and a readable error. It is the source of truth
    for what happened: Celery's own result store is never consulted.
    """

    action = models.CharField(max_length=64, help_text="What was done, as noun.verb")
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.PENDING
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_name = models.CharField(max_length=150, help_text="Who asked, kept if the user goes")
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=128, blank=True)
    target_name = models.CharField(max_length=255, blank=True)
    host = models.ForeignKey(
        "hosts.Host",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="operations",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    params = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reaper gives up on this operation"
    )
    cancel_requested = models.BooleanField(default=False)
    claimed_by = models.CharField(
        max_length=255, blank=True, help_text="worker node and process running it"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life from the process running it (operations.services.heartbeat)",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status"]),
            models.Index(fields=["action"]),
            models.Index(fields=["target_type", "target_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_name or self.target_id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class PrunedOperationTotals(models.Model):
    """What pruned operations of one action and outcome added to /metrics.

    Pruning deletes finished operations, but the counters and the duration histogram
    computed from the table must never go down (Prometheus would read a counter reset),
    so each prune adds the rows it deletes here, in the same transaction as the delete,
    and /metrics adds these totals to what the remaining rows count
    (operations/retention.py, berth/monitoring/metrics.py).
    """

    action = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=OperationStatus.choices)
    count = models.BigIntegerField(default=0, help_text="Operations pruned")
    duration_count = models.BigIntegerField(
        default=0, help_text="Of them, those that ran (had a start and an end)"
    )
    duration_sum = models.FloatField(default=0.0, help_text="Seconds they ran, in all")
    duration_buckets = models.JSONField(
        default=dict,
        blank=True,
        help_text="Upper bound in seconds -> how many of them ran at most that long",
    )

    class Meta:
        verbose_name_plural = "pruned operation totals"
        constraints = [
            models.UniqueConstraint(fields=["action", "status"], name="one_total_per_outcome")
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.status}: {self.count} pruned"


class OperationUpload(models.Model):
    """One chunk of a file sent with a request (a build context) for the operation's
    handler to pass on to its host: the worker that runs it may be another machine, and
    the database is what every process shares. Dropped once the operation has ended."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="uploads")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["operation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "seq"], name="unique_upload_chunk")
        ]

    def __str__(self) -> str:
        return f"upload chunk {self.seq} of operation #{self.operation_id}"
