from __future__ import annotations

from django.db import models


class Network(models.Model):
    """A Docker network on a host, as the host last reported it; rebuilt on every refresh."""

    host = models.ForeignKey("hosts.Host", on_delete=models.CASCADE, related_name="networks")
    network_id = models.CharField(max_length=128)
    name = models.CharField(max_length=255)
    driver = models.CharField(max_length=64, blank=True)
    scope = models.CharField(max_length=16, blank=True)
    internal = models.BooleanField(default=False)
    attachable = models.BooleanField(default=False)
    labels = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    # [{"subnet", "gateway", "ip_range"}] from the network's IPAM configuration.
    subnets = models.JSONField(default=list, blank=True)
    # [{"id", "name"}]: the containers attached to it.
    containers = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["host__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["host", "network_id"], name="unique_network_per_host")
        ]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return f"{self.name} on {self.host.name}"

    @property
    def predefined(self) -> bool:
        """Docker's own networks, which Berth never removes."""
        return self.name in PREDEFINED


PREDEFINED = frozenset({"bridge", "host", "none"})
