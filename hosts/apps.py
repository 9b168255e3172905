from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"

    def ready(self) -> None:
        from . import services  # noqa: F401 - registers the app's operation actions
