"""A web server process loads every view and freezes what it loaded before its first
request (berth.startup): Django's and Berth's own objects then stay out of the garbage
collector's full collections, which otherwise walked all of them during a request."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import gc, sys
before = gc.get_freeze_count()
import {module}
print(before, gc.get_freeze_count(), "frontend.views.networks" in sys.modules)
"""


@pytest.mark.parametrize("module", ["berth.wsgi", "berth.asgi"])
def test_the_server_entry_points_load_every_view_then_freeze_them(module, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "BERTH_DEBUG": "true",  # generated secrets
        "BERTH_VAR_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    before, after, views_loaded = out.split()
    assert int(before) == 0
    assert int(after) > 10_000  # the loaded app: modules, classes, functions
    assert views_loaded == "True"  # imported at startup, not by the first request
