"""GET /healthz and /readyz without the live services: no login, no tracebacks.
(Against a real Redis and worker: tests/integration/test_readiness.py.)"""

from __future__ import annotations

import pytest

from berth.monitoring import health
from tests.live_services import free_port


def test_healthz_answers_without_login_or_database(client):
    # No django_db mark: any query would raise here.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_names_each_failing_check_without_a_traceback(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"]["ok"] is False
    assert checks["redis"]["error"].startswith("ConnectionError")
    assert checks["workers"] == {
        "ok": False,
        "duration_ms": 0.0,
        "error": "not checked: Redis is unreachable",
    }
    assert "Traceback" not in response.content.decode()


@pytest.mark.django_db
def test_a_database_failure_is_reported_by_name(client, monkeypatch, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    def broken():
        raise RuntimeError("database is locked\nsecond line with details")

    monkeypatch.setattr(health, "check_database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "duration_ms": pytest.approx(0, abs=50),
        "error": "RuntimeError: database is locked",
    }


def test_a_broker_that_is_not_redis_fails_readiness(settings):
    settings.CELERY_BROKER_URL = "amqp://guest@127.0.0.1//"
    result = health.check_redis()
    assert not result.ok
    assert result.error == "the broker is not Redis (amqp)"
