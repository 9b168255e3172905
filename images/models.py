from __future__ import annotations

from django.db import models

from berth.fields import EncryptedTextField


class Image(models.Model):
    """An image present on a host, as the host last reported it."""

    host = models.ForeignKey("hosts.Host", on_delete=models.CASCADE, related_name="images")
    image_id = models.CharField(max_length=128)
    tags = models.JSONField(default=list, blank=True)
    digests = models.JSONField(default=list, blank=True)
    size = models.BigIntegerField(default=0)
    created = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not stored: set by images.references.describe_images for the pages, (image,
    # digest) pairs to show.
    references: list[tuple[str, str]]

    class Meta:
        ordering = ["host__name", "image_id"]
        constraints = [
            models.UniqueConstraint(fields=["host", "image_id"], name="unique_image_per_host")
        ]

    def __str__(self) -> str:
        return self.tags[0] if self.tags else self.image_id[:19]


class ImageLayers(models.Model):
    """An image's layer stack as its host last read it (``image.layers``): its history,
    oldest step first, with the layer each step made and the other images on the host
    that shared each layer then. Kept apart from ``Image``, which every refresh reads."""

    image = models.OneToOneField(
        Image, on_delete=models.CASCADE, primary_key=True, related_name="layer_stack"
    )
    # [{"created", "created_by", "comment", "size", "layer", "digest", "shared_with":
    #   [{"id", "tags"}], "shared_count"}], as the agent's image.layers answers.
    history = models.JSONField(default=list, blank=True)
    # [{"digest", "chain_id", "shared_with", "shared_count"}]: RootFS order, base first.
    layers = models.JSONField(default=list, blank=True)
    mapped = models.BooleanField(
        default=True, help_text="whether the history says which step made each layer"
    )
    compared = models.PositiveIntegerField(
        default=0, help_text="how many other images of the host were compared"
    )
    read_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "image layers"

    def __str__(self) -> str:
        return f"layers of {self.image}"


class RegistryCredential(models.Model):
    """A login for a container registry, used when a host pulls from it.

    The password is encrypted at rest, never returned by the API or shown in the
    admin, and decrypted only in the worker that hands it to the agent.
    """

    name = models.CharField(max_length=100, unique=True)
    registry = models.CharField(
        max_length=255,
        help_text="Registry address as host[:port], e.g. ghcr.io, docker.io, 198.18.0.1:5000",
    )
    username = models.CharField(max_length=255)
    password = EncryptedTextField(
        max_length=4096, help_text="Password or access token (stored encrypted)"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.username}@{self.registry})"
