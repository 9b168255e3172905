"""Enumerations for containers, as Docker names them."""

from __future__ import annotations

from django.db import models


class ContainerState(models.TextChoices):
    CREATED = "created", "Created"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    RESTARTING = "restarting", "Restarting"
    REMOVING = "removing", "Removing"
    EXITED = "exited", "Exited"
    DEAD = "dead", "Dead"


class ContainerHealth(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    UNHEALTHY = "unhealthy", "Unhealthy"
    STARTING = "starting", "Starting"
    NONE = "none", "No health check"  # stored as ""


class RestartPolicy(models.TextChoices):
    NO = "no", "Never"
    ALWAYS = "always", "Always"
    UNLESS_STOPPED = "unless-stopped", "Unless stopped"
    ON_FAILURE = "on-failure", "On failure"


# Signal names a container may be sent (as the agent accepts them, without "SIG").
SIGNALS = frozenset(
    [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN",
        "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS",
    ]
)  # fmt: skip
