from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"

    def ready(self) -> None:
        from . import scoping, services  # noqa: F401 - registers scope rules and operation actions
