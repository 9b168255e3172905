import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from berth.settings.env import (
    env_bool,
    env_int,
    env_optional_secret,
    env_secret,
    url_with_password,
)


def test_env_bool_reads_common_spellings(monkeypatch):
    monkeypatch.setenv("BERTH_FLAG", "Yes")
    assert env_bool("BERTH_FLAG", False) is True
    monkeypatch.setenv("BERTH_FLAG", "off")
    assert env_bool("BERTH_FLAG", True) is False


def test_env_bool_rejects_a_typo_instead_of_guessing(monkeypatch):
    monkeypatch.setenv("BERTH_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="BERTH_FLAG"):
        env_bool("BERTH_FLAG", False)


def test_env_int_enforces_its_minimum(monkeypatch):
    monkeypatch.setenv("BERTH_N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("BERTH_N", 5, minimum=1)


def test_secret_is_read_from_a_file_when_name_file_is_set(monkeypatch, tmp_path):
    path = tmp_path / "secret"
    path.write_text("s3cret\n")
    monkeypatch.delenv("BERTH_X", raising=False)
    monkeypatch.setenv("BERTH_X_FILE", str(path))
    assert env_secret("BERTH_X", dev_dir=None) == "s3cret"


def test_production_refuses_to_start_without_a_secret(monkeypatch):
    monkeypatch.delenv("BERTH_X", raising=False)
    monkeypatch.delenv("BERTH_X_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="must be set"):
        env_secret("BERTH_X", dev_dir=None)


def test_development_secret_is_generated_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.delenv("BERTH_X", raising=False)
    monkeypatch.delenv("BERTH_X_FILE", raising=False)
    first = env_secret("BERTH_X", dev_dir=tmp_path)
    assert len(first) > 40
    assert env_secret("BERTH_X", dev_dir=tmp_path) == first
    assert (tmp_path / "berth_x").stat().st_mode & 0o077 == 0


def test_an_optional_secret_is_none_when_unset(monkeypatch, tmp_path):
    monkeypatch.delenv("BERTH_X", raising=False)
    monkeypatch.delenv("BERTH_X_FILE", raising=False)
    assert env_optional_secret("BERTH_X") is None
    (tmp_path / "x").write_text("from-file\n")
    monkeypatch.setenv("BERTH_X_FILE", str(tmp_path / "x"))
    assert env_optional_secret("BERTH_X") == "from-file"
    monkeypatch.setenv("BERTH_X", "from-env")
    assert env_optional_secret("BERTH_X") == "from-env"


def test_a_missing_secret_file_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("BERTH_X", raising=False)
    monkeypatch.setenv("BERTH_X_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured, match=r"BERTH_X_FILE=.*absent"):
        env_optional_secret("BERTH_X")


def test_a_password_is_put_into_a_url_encoded():
    assert url_with_password("redis://redis:6379/0", None) == "redis://redis:6379/0"
    assert url_with_password("redis://redis:6379/0", "p@ss/w:rd") == (
        "redis://:p%40ss%2Fw%3Ard@redis:6379/0"
    )
    assert url_with_password("rediss://user:old@[::1]:6380/2?ssl_cert_reqs=required", "new") == (
        "rediss://user:new@[::1]:6380/2?ssl_cert_reqs=required"
    )
    with pytest.raises(ImproperlyConfigured, match="names no host"):
        url_with_password("redis:///0", "x")


def test_settings_take_the_database_and_redis_passwords_from_files(tmp_path):
    (tmp_path / "db").write_text("db pass\n")
    (tmp_path / "redis").write_text("r/p\n")
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "BERTH_DEBUG": "false",
        "BERTH_SECRET_KEY": "k" * 50,
        "BERTH_ENCRYPTION_KEY": "x",
        "DATABASE_URL": "postgres://berth@db:5432/berth",
        "BERTH_DB_PASSWORD_FILE": str(tmp_path / "db"),
        "BERTH_REDIS_URL": "redis://redis:6379/0",
        "BERTH_REDIS_PASSWORD_FILE": str(tmp_path / "redis"),
    }
    code = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['USER'], d['PASSWORD'], d['HOST'], sep='|'); print(settings.CELERY_BROKER_URL)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == ["berth|db pass|db", "redis://:r%2Fp@redis:6379/0"]


@pytest.mark.parametrize(
    ("lost_after", "refused"), [("30", False), ("15", False), ("14.9", True), ("3", True)]
)
def test_a_worker_is_never_taken_for_lost_within_three_heartbeats(lost_after, refused):
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "BERTH_DEBUG": "true",
        "BERTH_WORKER_HEARTBEAT": "5",
        "BERTH_WORKER_LOST_AFTER": lost_after,
    }
    code = "from django.conf import settings; print(settings.BERTH_WORKER_LOST_AFTER)"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if refused:
        assert run.returncode != 0
        assert "BERTH_WORKER_LOST_AFTER must be at least 3 times BERTH_WORKER_HEARTBEAT" in (
            run.stderr
        )
    else:
        assert run.returncode == 0, run.stderr
        assert float(run.stdout) == float(lost_after)
