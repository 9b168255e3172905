"""The Celery application: workers run the tasks of every Django app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")

app = Celery("berth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
