"""Berth: a control plane for fleets of Docker hosts."""

from .celery import app as celery_app

__all__ = ("celery_app",)
