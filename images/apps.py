from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "images"

    def ready(self) -> None:
        from hosts.inventory import register_inventory

        from . import scoping, services  # noqa: F401 - registers scope rules and operation actions

        register_inventory("images", "image.list", services.reconcile_images)
