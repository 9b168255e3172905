from django.db import models


class HostStatus(models.TextChoices):
    NEW = "new", "Not contacted yet"
    ONLINE = "online", "Online"
    UNREACHABLE = "unreachable", "Unreachable"
    AUTH_FAILED = "auth_failed", "Authentication failed"
    HOST_KEY_UNKNOWN = "host_key_unknown", "Host key awaiting approval"
    HOST_KEY_MISMATCH = "host_key_mismatch", "Host key mismatch"
    AGENT_FAILED = "agent_failed", "Agent failed"
    DOCKER_UNAVAILABLE = "docker_unavailable", "Docker unavailable"


class Transport(models.TextChoices):
    SSH = "ssh", "SSH"
    LOCAL = "local", "Local (this machine, no SSH)"


class DiskKind(models.TextChoices):
    """What Docker keeps on a host's disk, as `docker system df` counts it."""

    IMAGES = "images", "Images"
    CONTAINERS = "containers", "Containers (writable layers)"
    VOLUMES = "volumes", "Volumes"
    BUILD_CACHE = "build_cache", "Build cache"
