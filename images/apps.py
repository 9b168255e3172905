from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "images"

    def ready(self) -> None:
        from hosts.inventory import register_inventory

        from . import publishing, scoping, services  # noqa: F401 - scope rules, operation actions

        register_inventory("images", "image.list", services.reconcile_images)
