"""Typed readers for settings that come from the environment.

Each reader fails loudly on a value it cannot parse, so a typo in a deployment
stops the process at start-up instead of surfacing later as odd behaviour.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, *, dev_dir: Path | None) -> str:
    """Read a secret from NAME, or from the file named by NAME_FILE.

    With ``dev_dir`` set (development only), a missing secret is generated once
    and kept in that directory, so a laptop runs without set-up while the secret
    still never lives in the repository. Without it, a missing secret is fatal.
    """
    value = env_optional_secret(name)
    if value is not None:
        return value
    if dev_dir is None:
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) must be set when BERTH_DEBUG is off")
    path = dev_dir / name.lower()
    if not path.exists():
        dev_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_new_secret(name))
    return path.read_text().strip()


def env_optional_secret(name: str) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE; None when neither is set."""
    value = os.environ.get(name)
    if value:
        return value.strip()
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name}: {exc.strerror}") from None
    return None


def url_with_password(url: str, password: str | None) -> str:
    """``url`` with its password replaced by ``password`` (percent-encoded); as is for None.

    Lets a deployment keep the password of a database or Redis URL in a secret file
    while the rest of the URL stays plain configuration.
    """
    if password is None:
        return url
    parts = urlsplit(url)
    if not parts.hostname:
        raise ImproperlyConfigured(f"cannot add a password to {url!r}: it names no host")
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _new_secret(name: str) -> str:
    if name == "BERTH_ENCRYPTION_KEY":
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()
    return secrets.token_urlsafe(50)


def is_loopback_bind(bind: str) -> bool:
    """Whether a gunicorn ``--bind`` value (``HOST:PORT``, ``[V6]:PORT``, ``HOST``) listens
    on loopback only. A Unix socket is not: a proxy may publish it."""
    if bind.startswith("unix:"):
        return False
    host = bind
    if bind.startswith("["):
        host = bind[1:].partition("]")[0]
    elif bind.count(":") == 1:
        host = bind.partition(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
