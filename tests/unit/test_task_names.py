"""Services queue Celery tasks by name (the task modules call into them), so every
process, not only a worker, must have those tasks registered under those names: a
web process or a script running with BERTH_TASKS_EAGER would otherwise send them to
Redis, or not run them at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import django
django.setup()
from berth.celery import app
from hosts.services import REFRESH_HOST
from operations.services import EXECUTE_OPERATION
print(sorted(name for name in (EXECUTE_OPERATION, REFRESH_HOST) if name in app.tasks))
"""


def test_a_fresh_process_knows_the_tasks_services_queue_by_name():
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == str(
        sorted(["hosts.tasks.refresh_host", "operations.tasks.execute_operation"])
    )
