"""Settings for the test suite and type checks: debug on (secrets generated under
``var/secrets/``, loopback only) unless the environment says otherwise, and an
in-process cache so tests that need no Redis run without one
(tests/security/test_web_hardening.py checks the failed-login counters on a real Redis).

Production, ``berth.settings`` with ``BERTH_DEBUG`` unset, is the default everywhere else.
"""

from __future__ import annotations

import os

# Before the settings are read; child processes (a test's Celery worker) inherit it.
os.environ.setdefault("BERTH_DEBUG", "true")

from berth.settings import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
