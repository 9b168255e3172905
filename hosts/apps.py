from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"

    def ready(self) -> None:
        # Registers the app's scope rules, operation actions and Celery tasks (queued by
        # name from services; registered in every process, as operations/apps.py says).
        from . import disk, scoping, services, tasks  # noqa: F401
