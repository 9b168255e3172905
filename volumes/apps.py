from django.apps import AppConfig


class VolumesConfig(AppConfig):
    name = "volumes"

    def ready(self) -> None:
        from hosts.inventory import register_inventory
        from hosts.signals import disk_measured

        from . import scoping, services  # noqa: F401 - registers scope rules and operation actions

        # No sizes: `system df` walks every volume's files; only "measure sizes" asks for them.
        register_inventory("volumes", "volume.list", services.reconcile_volumes)
        # A disk measure (`host.disk`) reads every volume's size too: keep it.
        disk_measured.connect(services.on_disk_measured, dispatch_uid="volumes-sizes")
