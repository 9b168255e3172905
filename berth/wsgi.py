"""WSGI entry point (gunicorn berth.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from berth.startup import freeze_loaded_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")

application = get_wsgi_application()
freeze_loaded_app()
