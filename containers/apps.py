from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "containers"

    def ready(self) -> None:
        from policies.services import add_spec_check

        from . import services  # noqa: F401 - registers the app's operation actions
        from .secrets import refuse_out_of_scope

        add_spec_check(refuse_out_of_scope)
