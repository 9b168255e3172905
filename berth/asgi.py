"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

from berth.startup import freeze_loaded_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")

application = get_asgi_application()
freeze_loaded_app()
