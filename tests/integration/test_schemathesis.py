"""schemathesis against the live API, as an admin: no endpoint answers 5xx, and every
answer matches the published OpenAPI schema.

The server (gunicorn) runs on the test database with its task queue on a Redis
database no worker reads, and the only host is a fake, unreachable one: whatever the
generated requests queue stays pending, so nothing can touch a real machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from access.roles import Role
from accounts.models import ApiToken
from accounts.services import create_token
from hosts.models import Host, HostGroup
from tests.live_services import free_port, start_process, stop_process

pytestmark = pytest.mark.django_db(transaction=True)

BIN = Path(sys.executable).parent
# Revoking the run's own token or deactivating its user ends the run's authentication:
# these few endpoints run last, in a second pass of their own.
SELF_DESTRUCTIVE = (
    r"^(POST /api/v1/tokens/\{id\}/revoke/|(PUT|PATCH|DELETE) /api/v1/users/\{id\}/)$"
)
# Ids the generated requests are unlikely to hit by chance (they still find them in lists).
FAR_ID = 987_654


def _wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (a local URL)
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the API server did not start; its log:\n{log.read_text()}")
        time.sleep(0.2)


@pytest.fixture
def live_api(service_env, tmp_path):
    port = free_port()
    env = {
        **service_env,
        # A Redis database no Celery worker listens on: queued operations stay pending.
        "BERTH_REDIS_URL": service_env["BERTH_REDIS_URL"].rsplit("/", 1)[0] + "/15",
        # The run sends thousands of requests from one address; none of them is a bad login.
        "BERTH_LOGIN_MAX_FAILURES": "1000000",
    }
    log = tmp_path / "gunicorn.log"
    process = start_process(
        [str(BIN / "gunicorn"), "berth.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "3", "--timeout", "60"],
        env,
        log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    _wait_for(f"{base}/healthz", process, log)
    yield base, log
    stop_process(process, log)


def _admin_token() -> str:
    admin = User.objects.create_superuser("schemathesis", "", "not-used-9f3k", pk=FAR_ID)
    token, secret = create_token(admin, name="schemathesis", role=Role.ADMIN)
    ApiToken.objects.filter(pk=token.pk).update(id=FAR_ID)
    group = HostGroup.objects.create(name="fake")
    host = Host.objects.create(name="fake-unreachable", address="198.51.100.7", transport="ssh")
    host.groups.add(group)
    return secret


def _schema_file(base: str, token: str, workdir: Path) -> Path:
    """The published schema, fetched as the admin: /api/schema/ needs a login."""
    request = urllib.request.Request(  # noqa: S310  (a local URL)
        f"{base}/api/schema/?format=json", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        path = workdir / "schema.json"
        path.write_bytes(response.read())
    return path


# No 5xx; answers as the schema describes them; no status the schema does not list; and
# data the schema forbids is refused, never accepted.
CHECKS = ",".join([
    "not_a_server_error", "response_schema_conformance", "status_code_conformance",
    "negative_data_rejection",
])  # fmt: skip


def _schemathesis(
    base: str, token: str, workdir: Path, *selection: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "schemathesis"), "run", str(_schema_file(base, token, workdir)),
         "--url", base,
         "--checks", CHECKS,
         "--max-examples", "5", "--seed", "1", "--no-color",
         "--generation-database", "none",
         "--generation-with-security-parameters", "false",
         "--header", f"Authorization: Bearer {token}",
         *selection],
        cwd=workdir,  # it keeps a cache directory there
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip


def test_every_endpoint_answers_within_its_schema_and_never_5xx(live_api, tmp_path):
    base, log = live_api
    token = _admin_token()
    for selection in (
        ["--exclude-name-regex", SELF_DESTRUCTIVE],
        ["--include-name-regex", SELF_DESTRUCTIVE],
    ):
        run = _schemathesis(base, token, tmp_path, *selection)
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\nserver log: {log}"
        assert " passed" in run.stdout and "Tested: 0" not in run.stdout, run.stdout
    assert "Internal Server Error" not in log.read_text()
