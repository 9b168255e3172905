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
    """A container registry Berth knows, with the login hosts pull from it with (if any).

    Hosts use it when they pull; the registry browser reads repositories and tags
    through it. Username and password are both blank for a registry without auth
    (anonymous browsing; a pull then sends no login). The password is encrypted at
    rest, never returned by the API or shown in the admin, and decrypted only where
    it is sent to the registry (the worker for a pull, the browser's HTTP client).
    """

    name = models.CharField(max_length=100, unique=True)
    registry = models.CharField(
        max_length=255,
        help_text="Registry address as host[:port], e.g. ghcr.io, docker.io, 198.18.0.1:5000",
    )
    username = models.CharField(max_length=255, blank=True, help_text="Blank for no login")
    password = EncryptedTextField(
        max_length=4096,
        blank=True,
        help_text="Password or access token (stored encrypted); blank for no login",
    )
    insecure = models.BooleanField(
        default=False,
        help_text="Browse this registry over plain HTTP (only for a registry without TLS)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        login = f"{self.username}@" if self.username else ""
        return f"{self.name} ({login}{self.registry})"

    @property
    def anonymous(self) -> bool:
        """True for a registry without a login: nothing is sent to it but requests."""
        return not self.username
