"""Checks on host connection fields, shared by the model, the API and the admin."""

from __future__ import annotations

import base64
import hashlib
import re

from django.core.exceptions import ValidationError

# Where the agent finds dockerd. Passed as one argv word to the agent, but still
# held to a strict charset: it ends up on a remote command line.
_DOCKER_HOST = re.compile(r"^(unix:///[A-Za-z0-9._/-]+|tcp://[A-Za-z0-9.-]+:[0-9]{1,5})$")
_HOST_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
}
_ADDRESS = re.compile(r"^[A-Za-z0-9.:-]+$")
# Names show in pages, logs, labels and selectors: plain ASCII, no spaces or slashes.
HOST_NAME_RULE = (
    "1-100 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"
)
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def validate_host_name(value: str) -> None:
    if not _HOST_NAME.match(value):
        raise ValidationError(f"A host name is {HOST_NAME_RULE}.")


def validate_docker_host(value: str) -> None:
    if value and not _DOCKER_HOST.match(value):
        raise ValidationError(
            "Enter unix:///absolute/path/docker.sock or tcp://host:port "
            "(letters, digits, '.', '_', '-' and '/' only)."
        )


def validate_address(value: str) -> None:
    if not _ADDRESS.match(value):
        raise ValidationError("Enter a host name or an IP address.")


def normalize_host_key(value: str) -> str:
    """Return 'TYPE BASE64' from an OpenSSH public key line, dropping any comment.

    Accepts the formats operators paste: a bare 'TYPE BASE64 [comment]' line or a
    known_hosts line 'HOST TYPE BASE64'.
    """
    words = value.split()
    for index, word in enumerate(words):
        if word in _HOST_KEY_TYPES and index + 1 < len(words):
            blob = words[index + 1]
            try:
                base64.b64decode(blob, validate=True)
            except ValueError:
                break
            return f"{word} {blob}"
    raise ValidationError(
        "Enter the host's public key as 'ssh-ed25519 AAAA…' "
        "(as printed by ssh-keyscan or found in /etc/ssh/ssh_host_*_key.pub)."
    )


def validate_host_key(value: str) -> None:
    if value:
        normalize_host_key(value)


def host_key_fingerprint(value: str) -> str:
    """The SHA-256 fingerprint of a host key line, as ``ssh-keygen -lf`` and paramiko
    print it: ``SHA256:<base64, unpadded>``."""
    blob = base64.b64decode(normalize_host_key(value).split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


# Labels are read in every list, page and selector: a few short words, not documents.
MAX_LABELS = 64
MAX_LABEL_KEY = 100
MAX_LABEL_VALUE = 255


def validate_label_sizes(value: object) -> None:
    """At most 64 labels, keys of at most 100 characters, values of at most 255."""
    if not isinstance(value, dict):
        return  # the shape is checked where labels are parsed
    if len(value) > MAX_LABELS:
        raise ValidationError(f"At most {MAX_LABELS} labels, not {len(value)}.")
    for key, item in value.items():
        if len(str(key)) > MAX_LABEL_KEY:
            raise ValidationError(f"A label key is at most {MAX_LABEL_KEY} characters.")
        if len(str(item)) > MAX_LABEL_VALUE:
            raise ValidationError(
                f"The value of label {str(key)[:40]!r} is over {MAX_LABEL_VALUE} characters."
            )
