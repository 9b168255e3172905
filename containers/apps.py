from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "containers"

    def ready(self) -> None:
        from . import services  # noqa: F401 - registers the app's operation actions
