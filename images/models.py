from __future__ import annotations

from django.db import models


class Image(models.Model):
    """An image present on a host, as the host last reported it."""

    host = models.ForeignKey("hosts.Host", on_delete=models.CASCADE, related_name="images")
    image_id = models.CharField(max_length=128)
    tags = models.JSONField(default=list, blank=True)
    digests = models.JSONField(default=list, blank=True)
    size = models.BigIntegerField(default=0)
    created = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["host__name", "image_id"]
        constraints = [
            models.UniqueConstraint(fields=["host", "image_id"], name="unique_image_per_host")
        ]

    def __str__(self) -> str:
        return self.tags[0] if self.tags else self.image_id[:19]
