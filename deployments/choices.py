from django.db import models


class RolloutStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial", "Succeeded on some hosts"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back", "Failed, rolled back"
    CANCELLED = "cancelled"


ACTIVE_ROLLOUT_STATUSES = (RolloutStatus.PENDING, RolloutStatus.RUNNING)


class RolloutKind(models.TextChoices):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    CONVERGE = "converge"


class HostStep(models.TextChoices):
    PENDING = "pending"
    PULLING = "pulling"
    STARTING = "starting"
    HEALTH_CHECKING = "health-checking"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    SKIPPED = "skipped"


class ServiceKind(models.TextChoices):
    """A service runs one container per host; a stack, a Compose file's containers."""

    SERVICE = "service"
    STACK = "stack"
