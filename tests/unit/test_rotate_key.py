"""rotate_encryption_key re-encrypts every stored secret with the first key, so the old
key can then be dropped."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from berth import crypto
from hosts.models import SSHKey
from images.models import RegistryCredential

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BERTH_ENCRYPTION_KEYS = [old]
    crypto.reset_cache()
    yield settings, old, new
    crypto.reset_cache()


def _stored(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_rotation_re_encrypts_every_secret_with_the_new_key(keys):
    settings, old, new = keys
    key = SSHKey.objects.create(name="k", private_key="PRIVATE-KEY-TEXT", passphrase="")
    credential = RegistryCredential.objects.create(
        name="ghcr", registry="ghcr.io", username="robot", password="registry-password"
    )
    before = _stored("hosts_sshkey", "private_key", key.pk)

    settings.BERTH_ENCRYPTION_KEYS = [new, old]  # step 1: the new key first
    call_command("rotate_encryption_key", stdout=io.StringIO())

    after = _stored("hosts_sshkey", "private_key", key.pk)
    assert after != before
    assert Fernet(new.encode()).decrypt(after.encode()) == b"PRIVATE-KEY-TEXT"
    assert _stored("hosts_sshkey", "passphrase", key.pk) == ""  # empty stays empty

    settings.BERTH_ENCRYPTION_KEYS = [new]  # step 3: drop the old key
    crypto.reset_cache()
    assert SSHKey.objects.get(pk=key.pk).private_key == "PRIVATE-KEY-TEXT"
    assert RegistryCredential.objects.get(pk=credential.pk).password == "registry-password"


def test_a_secret_no_key_can_read_stops_the_rotation_and_changes_nothing(keys):
    settings, _old, new = keys
    SSHKey.objects.create(name="k", private_key="PRIVATE-KEY-TEXT")
    credential = RegistryCredential.objects.create(
        name="ghcr", registry="ghcr.io", username="robot", password="registry-password"
    )
    before = _stored("images_registrycredential", "password", credential.pk)
    settings.BERTH_ENCRYPTION_KEYS = [new]  # the old key was dropped too early
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("rotate_encryption_key")
    assert _stored("images_registrycredential", "password", credential.pk) == before
