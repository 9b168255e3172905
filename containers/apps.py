from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "containers"

    def ready(self) -> None:
        from hosts.inventory import register_inventory
        from policies.services import add_spec_check

        from . import publishing, scoping, services  # noqa: F401 - scope rules, operation actions
        from .secrets import refuse_out_of_scope

        add_spec_check(refuse_out_of_scope)
        register_inventory(
            "containers", "container.list", services.reconcile_containers, {"all": True}
        )
