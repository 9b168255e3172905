"""Model fields shared across apps."""

from __future__ import annotations

from typing import Any

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """Text stored encrypted with :mod:`berth.crypto`; Python code sees the plaintext.

    The column holds a Fernet token, so neither the database nor a dump of it
    reveals the secret. Empty strings are stored as they are.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return crypto.encrypt(value)
