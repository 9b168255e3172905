from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Container security policies"

    def ready(self) -> None:
        from . import services

        services.install_link_policy()
