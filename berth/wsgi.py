"""WSGI entry point (gunicorn berth.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")

application = get_wsgi_application()
