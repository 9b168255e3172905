"""Encryption of secrets at rest (SSH private keys, passphrases, registry passwords).

Keys come from ``BERTH_ENCRYPTION_KEY`` (comma-separated Fernet keys): the first
one encrypts, every one decrypts, so a new key can be put in front and old
ciphertexts re-encrypted at leisure.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in settings.BERTH_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "a stored secret cannot be decrypted: BERTH_ENCRYPTION_KEY does not hold the key "
            "it was encrypted with"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt a stored token with the first key (``MultiFernet.rotate``)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "a stored secret cannot be decrypted: BERTH_ENCRYPTION_KEY does not hold the key "
            "it was encrypted with"
        ) from None


def reset_cache() -> None:
    """Forget the cached keys (after settings change, e.g. in tests or key rotation)."""
    _fernet.cache_clear()
