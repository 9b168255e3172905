from django.apps import AppConfig


class NetworksConfig(AppConfig):
    name = "networks"

    def ready(self) -> None:
        from hosts.inventory import register_inventory

        from . import scoping, services  # noqa: F401 - registers scope rules and operation actions

        register_inventory("networks", "network.list", services.reconcile_networks)
