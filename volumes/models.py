from __future__ import annotations

from django.db import models


class Volume(models.Model):
    """A Docker volume on a host, as the host last reported it; rebuilt on every refresh.

    ``size`` is what ``system df`` said at ``size_measured_at``: a refresh does not measure
    (it walks every volume's files), so both stay empty until someone asks for sizes.
    """

    host = models.ForeignKey("hosts.Host", on_delete=models.CASCADE, related_name="volumes")
    name = models.CharField(max_length=255)
    driver = models.CharField(max_length=64, blank=True)
    scope = models.CharField(max_length=16, blank=True)
    mountpoint = models.CharField(max_length=4096, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    # [{"id", "name"}]: the containers (running or not) that mount it.
    containers = models.JSONField(default=list, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    size_measured_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["host__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["host", "name"], name="unique_volume_per_host")
        ]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return f"{self.name} on {self.host.name}"

    @property
    def in_use(self) -> bool:
        return bool(self.containers)

    @property
    def user_names(self) -> list[str]:
        return [str(c.get("name") or c.get("id", "")[:12]) for c in self.containers]
