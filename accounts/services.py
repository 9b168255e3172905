"""Users, roles, API tokens and failed-login throttling."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from access.roles import Role, assigned_role, forget_scope, role_of
from hosts.models import HostGroup
from operations.services import record_change

from .models import TOKEN_PREFIX, ApiToken, Profile, hash_token

log = logging.getLogger("berth.security")

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


# --- users -----------------------------------------------------------------------------------


def set_profile(
    user: User,
    *,
    role: Role | None = None,
    host_groups: Iterable[HostGroup] | None = None,
    unrestricted: bool | None = None,
) -> Profile:
    """Give the user a role and/or a host-group scope (creating their profile).

    ``unrestricted`` None keeps the flag of an existing profile; a new profile is
    unrestricted unless it is given host groups (a user without a profile had every
    host, and keeps it).
    """
    groups = None if host_groups is None else list(host_groups)
    profile, created = Profile.objects.get_or_create(
        user=user,
        defaults={
            "role": assigned_role(user).label,
            "unrestricted": not groups if unrestricted is None else unrestricted,
        },
    )
    changed = []
    if role is not None and profile.role != role.label:
        profile.role = role.label
        changed.append("role")
    if not created and unrestricted is not None and profile.unrestricted != unrestricted:
        profile.unrestricted = unrestricted
        changed.append("unrestricted")
    if changed:
        profile.save(update_fields=changed)
    if groups is not None:
        profile.host_groups.set(groups)
    user.berth_profile = profile  # type: ignore[attr-defined]
    forget_scope(user)
    return profile


def user_fields(user: User) -> dict[str, Any]:
    """What the audit trail records of a login: never its password."""
    profile = getattr(user, "berth_profile", None)
    return {
        "username": user.get_username(),
        "email": user.email,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
        "role": assigned_role(user).label,
        "unrestricted": user.is_superuser or profile is None or profile.unrestricted,
        "host_groups": sorted(group.name for group in profile.host_groups.all())
        if profile is not None
        else [],
    }


@transaction.atomic
def create_user(
    *,
    username: str,
    actor: Any,
    password: str | None = None,
    role: Role = Role.VIEWER,
    host_groups: Iterable[HostGroup] = (),
    unrestricted: bool | None = None,
    superuser: bool = False,
    **fields: Any,
) -> User:
    """Add a login, recorded as ``user.create``; without a password it uses tokens only."""
    user = User(username=username, is_superuser=superuser, is_staff=superuser, **fields)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    set_profile(user, role=role, host_groups=host_groups, unrestricted=unrestricted)
    record_change(
        "user.create",
        user,
        actor=actor,
        fields={**user_fields(user), "password_set": bool(password)},
    )
    return user


@transaction.atomic
def update_user(
    user: User,
    *,
    actor: Any,
    password: str | None = None,
    role: Role | None = None,
    host_groups: Iterable[HostGroup] | None = None,
    unrestricted: bool | None = None,
    **fields: Any,
) -> User:
    """Change a login (``password`` None keeps it), recorded as ``user.update`` with what
    was given; a new password is recorded only as ``password_changed``."""
    for name, value in fields.items():
        setattr(user, name, value)
    if password:
        user.set_password(password)
    user.save()
    set_profile(user, role=role, host_groups=host_groups, unrestricted=unrestricted)
    given = {*fields, *(["role"] if role is not None else []),
             *(["host_groups"] if host_groups is not None else []),
             *(["unrestricted"] if unrestricted is not None else [])}  # fmt: skip
    current = user_fields(user)
    changes: dict[str, Any] = {name: current.get(name, fields.get(name)) for name in given}
    if password:
        changes["password_changed"] = True
    record_change("user.update", user, actor=actor, fields=changes)
    return user


def record_user_saved(user: User, *, actor: Any, created: bool, changed: Iterable[str]) -> None:
    """Record a login a form has just saved (the admin's user pages): ``user.create`` or
    ``user.update`` naming the fields changed; a password only as changed."""
    changed = set(changed)
    current = user_fields(user)
    secret_fields = {name for name in changed if "password" in name}
    changes: dict[str, Any] = {name: current.get(name) for name in changed - secret_fields}
    if secret_fields:
        changes["password_changed"] = True
    if created:
        changes = {**current, **changes}
    record_change("user.create" if created else "user.update", user, actor=actor, fields=changes)


@transaction.atomic
def deactivate_user(user: User, *, actor: Any) -> User:
    """Refuse the login and revoke its tokens, keeping the row so the audit trail keeps
    its actor; recorded as ``user.deactivate``."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    record_change(
        "user.deactivate",
        user,
        actor=actor,
        fields={"username": user.get_username()},
        result={"tokens_revoked": revoked},
    )
    return user


@transaction.atomic
def delete_user(user: User, *, actor: Any) -> None:
    """Delete a login and its tokens for good (the admin's delete), recorded as
    ``user.delete``; its past operations keep the actor's name."""
    record_change("user.delete", user, actor=actor, fields=user_fields(user))
    user.delete()


# --- tokens ----------------------------------------------------------------------------------


def create_token(
    user: User,
    *,
    name: str,
    role: Role,
    host_groups: Iterable[HostGroup] = (),
    unrestricted: bool | None = None,
    expires_at: datetime | None = None,
    actor: Any = None,
) -> tuple[ApiToken, str]:
    """Issue a token for ``user``, recorded as ``token.create``; returns the row and the
    secret (shown once, never stored, never recorded).

    ``unrestricted`` (the token acts in its user's whole scope) defaults to whether no
    host group is given; a token that is not unrestricted and has no group reaches no host.

    Raises ValueError when ``role`` is above the user's own role.
    """
    groups = list(host_groups)
    if unrestricted is None:
        unrestricted = not groups
    user_role = role_of(user)
    if user_role is None or role > user_role:
        raise ValueError(
            f"a token's role cannot exceed its user's ({user_role.label if user_role else 'none'})"
        )
    for _ in range(5):
        key, secret = ApiToken.new_secret()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name,
                    role=role.label,
                    key=key,
                    token_hash=hash_token(secret),
                    expires_at=expires_at,
                    unrestricted=unrestricted,
                )
                token.host_groups.set(groups)
        except IntegrityError:  # the random key is taken: draw again
            continue
        log.info("api token %s (%s) created for %s", token.key, name, user.get_username())
        record_change("token.create", token, actor=actor, fields=_token_fields(token))
        return token, secret
    raise RuntimeError("could not draw an unused token key")


def _token_fields(token: ApiToken) -> dict[str, Any]:
    """What the audit trail records of a token: its non-secret prefix, never the secret."""
    return {
        "name": token.name,
        "prefix": f"{TOKEN_PREFIX}{token.key}_",
        "user": token.user.get_username(),
        "role": token.role,
        "unrestricted": token.unrestricted,
        "host_groups": sorted(group.name for group in token.host_groups.all()),
        "expires_at": token.expires_at,
    }


@transaction.atomic
def revoke_token(token: ApiToken, *, actor: Any) -> ApiToken:
    """Refuse the token from now on (the row stays, for the record); recorded as
    ``token.revoke``, also when it was already revoked."""
    already = token.revoked_at is not None
    if not already:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        log.info("api token %s revoked by %s", token.key, getattr(actor, "username", actor))
    record_change(
        "token.revoke",
        token,
        actor=actor,
        fields=_token_fields(token),
        result={"already_revoked": already},
    )
    return token


def find_token(secret: str) -> ApiToken | None:
    """The active token whose secret this is, or None (unknown, revoked or expired)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    key = secret[len(TOKEN_PREFIX) :].partition("_")[0]
    if not key:
        return None
    token = ApiToken.objects.select_related("user").filter(key=key).first()
    if token is None or not hmac.compare_digest(token.token_hash, hash_token(secret)):
        return None
    if not token.is_active or not token.user.is_active:
        return None
    return token


def touch_token(token: ApiToken) -> None:
    """Record that the token was used (at most once a minute)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def describe_token(secret: str) -> str:
    """What may be logged about a presented token: its lookup key, never the secret."""
    if secret.startswith(TOKEN_PREFIX):
        key = secret[len(TOKEN_PREFIX) :].partition("_")[0][:16]
        return f"{TOKEN_PREFIX}{key}_…"
    return "a malformed token"


# --- failed logins ---------------------------------------------------------------------------
# Counted per client address, and per username only together with the address: a
# username alone is no key, or anyone could lock its owner out by failing in their name.
# The counters live in the cache, Redis in production, so every web process shares them.


def _keys(client_ip: str, username: str | None) -> list[tuple[str, int]]:
    """The counters a failure from ``client_ip`` adds to, with the limit of each: every
    failure from the address, and those for this username from it (or, for API tokens,
    which name no user, the address's token failures)."""
    address = (f"auth-failures:ip:{client_ip}", settings.BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS)
    if username:
        pair = f"auth-failures:ip-user:{client_ip}:{username.lower()[:150]}"
    else:
        pair = f"auth-failures:ip-token:{client_ip}"
    return [address, (pair, settings.BERTH_LOGIN_MAX_FAILURES)]


def login_blocked(client_ip: str, username: str | None = None) -> bool:
    """Whether this address failed too often within the window: in all, or for this
    username (``None``: with API tokens)."""
    try:
        counts = cache.get_many([key for key, _ in _keys(client_ip, username)])
    except (RedisError, OSError) as exc:  # Redis away: log in without the limit
        log.warning("failed-login counters unavailable (%s): not limiting %s", exc, client_ip)
        return False
    return any((counts.get(key) or 0) >= limit for key, limit in _keys(client_ip, username))


def record_login_failure(kind: str, client_ip: str, username: str | None, what: str) -> None:
    """Count a failed login (session or token) and log it, without any secret."""
    window = settings.BERTH_LOGIN_FAILURE_WINDOW
    try:
        for key, _ in _keys(client_ip, username):
            if cache.add(key, 1, window):
                continue
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, window)
    except (RedisError, OSError) as exc:  # Redis away: still log the failure
        log.warning("failed-login counters unavailable: %s", exc)
    log.warning(
        "failed %s login from %s%s: %s",
        kind,
        client_ip,
        f" for user {username!r}" if username else "",
        what,
    )


def clear_login_failures(client_ip: str, username: str | None) -> None:
    """After a good login: forget this address's failures for this username."""
    if username:
        try:
            cache.delete(_keys(client_ip, username)[1][0])
        except (RedisError, OSError) as exc:
            log.warning("failed-login counters unavailable: %s", exc)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(net, strict=False) for net in settings.BERTH_TRUSTED_PROXIES
    )


def client_ip(request: Any) -> str:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy
    (``BERTH_TRUSTED_PROXIES``); then the last X-Forwarded-For address that is not one
    (the ones before it were written by the client and prove nothing)."""
    remote = str(request.META.get("REMOTE_ADDR") or "unknown")
    if not settings.BERTH_TRUSTED_PROXIES or not _trusted(remote):
        return remote
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # garbage in the header: trust only what the socket says
        if not _trusted(hop):
            return hop
    return remote
