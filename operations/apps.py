from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operation log"

    def ready(self) -> None:
        # Registers the app's Celery tasks in every process, not only in workers (whose
        # autodiscovery finds them): services queue them by name, and an eager run
        # (BERTH_TASKS_EAGER) needs the task itself in this process.
        from . import tasks  # noqa: F401
        from .signals import operation_finished
        from .uploads import drop_upload

        operation_finished.connect(drop_upload, dispatch_uid="operations-drop-upload")
