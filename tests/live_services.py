"""Real services for the tests that need them (integration and browser): the test fleet,
a private Redis and one real Celery worker sharing the test database.

A pytest plugin (loaded from tests/conftest.py) rather than a conftest, so the whole
session shares one Redis and one worker whichever directories run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings

from berth.celery import app as celery_app
from hosts import services
from hosts.models import Host
from operations import streams
from tests.fleet import REPO, Fleet, FleetHost, load_fleet, run_testbed

# Short timeouts so fault tests finish quickly; the worker gets the same values.
TEST_TIMEOUTS = {
    "BERTH_SSH_CONNECT_TIMEOUT": "3",
    "BERTH_AGENT_START_TIMEOUT": "10",
    "BERTH_AGENT_REQUEST_TIMEOUT": "8",
    "BERTH_OPERATION_RETRIES": "1",
    "BERTH_RETRY_BACKOFF": "0.5",
    "BERTH_CONVERGE_COOLDOWN": "3",
    "BERTH_CONVERGE_SETTLE": "5",
}


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    try:
        loaded = load_fleet()
        run_testbed("status")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    return loaded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)", pytrace=False)
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("redis-server did not start within 10 s", pytrace=False)
        time.sleep(0.05)
    url = f"redis://127.0.0.1:{port}/0"
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def service_env(django_db_setup, redis_url) -> dict[str, str]:
    """Environment for Berth processes (worker, beat, watcher) sharing the test database."""
    settings.CELERY_BROKER_URL = redis_url
    celery_app.conf.broker_url = redis_url
    # Clients made before this point (by earlier tests) point at the default Redis.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    streams.reset_client()
    return {
        **os.environ,
        **TEST_TIMEOUTS,
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "BERTH_REDIS_URL": redis_url,
        "DATABASE_URL": services_database_url(),
        "BERTH_SECRET_KEY": settings.SECRET_KEY,
        "BERTH_ENCRYPTION_KEY": ",".join(settings.BERTH_ENCRYPTION_KEYS),
    }


def services_database_url() -> str:
    """DATABASE_URL naming the test database this session created (pytest-django renames
    settings' NAME to it), so worker, beat and watcher write where the tests read."""
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    # The configured URL with the test database's name in place of the database's own.
    parts = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(database["NAME"])))


def start_process(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen, log_path: Path) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    print(f"log: {log_path}")


@pytest.fixture(scope="session")
def worker_log(tmp_path_factory) -> Path:
    """Where the session's Celery worker writes its log."""
    return tmp_path_factory.mktemp("worker") / "worker.log"


@pytest.fixture(scope="session")
def celery_worker(service_env, worker_log):
    """A real Celery worker (prefork, 3 processes) on the test database and Redis,
    logging JSON lines (``worker_log``) as a production worker with
    BERTH_LOG_FORMAT=json does."""
    log_path = worker_log
    process = start_process(
        [
            sys.executable, "-m", "celery", "-A", "berth", "worker",
            "--pool", "prefork", "--concurrency", "3", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "-n", f"test-{os.getpid()}@%h",
        ],
        {**service_env, "BERTH_LOG_FORMAT": "json"},
        log_path,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(
                f"the Celery worker did not start; its log:\n{log_path.read_text()}",
                pytrace=False,
            )
    yield process
    stop_process(process, log_path)


@pytest.fixture
def short_timeouts(settings):
    """This process's settings get the same short timeouts as the worker."""
    for name, value in TEST_TIMEOUTS.items():
        setattr(settings, name, float(value) if "." in value else int(value))


@pytest.fixture
def register(fleet, celery_worker):
    """Register a fleet host in Berth (the worker starts refreshing it at once)."""

    def _register(host: FleetHost, *, name: str | None = None, **overrides) -> Host:
        ssh_key = services.create_ssh_key(
            name=f"key for {name or host.name}", private_key=Path(host.private_key).read_text()
        )
        fields = {
            "name": name or host.name,
            "address": host.address,
            "port": host.port,
            "username": host.user,
            "ssh_key": ssh_key,
            "docker_host": host.docker_host,
            "host_key": host.host_key,
        }
        fields.update(overrides)
        return services.register_host(**fields)

    return _register


@pytest.fixture
def beat(service_env, tmp_path):
    """A real celery beat process refreshing the fleet every second."""
    log_path = tmp_path / "beat.log"
    process = start_process(
        [sys.executable, "-m", "celery", "-A", "berth", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "schedule"), "--pidfile="],
        {**service_env, "BERTH_REFRESH_INTERVAL": "1"},
        log_path,
    )  # fmt: skip
    yield process
    stop_process(process, log_path)
