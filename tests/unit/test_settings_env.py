import pytest
from django.core.exceptions import ImproperlyConfigured

from berth.settings.env import env_bool, env_int, env_secret


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
