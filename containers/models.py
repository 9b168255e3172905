from __future__ import annotations

from django.db import models


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

    class Meta:
        ordering = ["host__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["host", "container_id"], name="unique_container_per_host"
            )
        ]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"{self.name} on {self.host_id}"
