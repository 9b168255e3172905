from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "images"

    def ready(self) -> None:
        from . import services  # noqa: F401 - registers the app's operation actions
