"""Registering hosts, pinning their keys and refreshing what Berth knows about them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from access.roles import scope_of
from agent_link.errors import AgentError, AgentLinkError, HostKeyError
from agent_link.launch import authorized_keys_options
from agent_link.pool import pool
from agent_link.ssh import load_private_key, public_key_line
from berth.broker import BROKER_ERRORS
from berth.celery import app as celery_app
from operations.context import OperationContext, OperationFailed
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, record_change, record_operation, submit

from .agent import HostAgent, operation_host
from .choices import HostStatus, Transport
from .inventory import Inventory, inventories
from .models import Host, HostGroup, JumpHost, SSHEndpoint, SSHKey
from .signals import host_refreshed
from .validators import normalize_host_key

log = logging.getLogger(__name__)

# The task that refreshes one host (hosts/tasks.py, which calls into this module).
REFRESH_HOST = "hosts.tasks.refresh_host"


# --- keys and registration ----------------------------------------------------------


def create_ssh_key(*, name: str, private_key: str, passphrase: str = "") -> SSHKey:
    """Store a private key (encrypted) with its derived public key and fingerprint.

    Raises ValueError with a message for the operator when the key is unusable.
    """
    pkey = load_private_key(private_key, passphrase)
    return SSHKey.objects.create(
        name=name,
        private_key=private_key,
        passphrase=passphrase,
        public_key=public_key_line(pkey),
        fingerprint=pkey.fingerprint,
    )


@transaction.atomic
def add_ssh_key(*, name: str, private_key: str, passphrase: str = "", actor: Actor) -> SSHKey:
    """Store a key on its own (the admin's SSH keys page), recorded as ``sshkey.create``
    with its public half only."""
    key = create_ssh_key(name=name, private_key=private_key, passphrase=passphrase)
    record_change("sshkey.create", key, actor=actor, fields=_key_fields(key))
    return key


@transaction.atomic
def rename_ssh_key(key: SSHKey, *, name: str, actor: Actor) -> SSHKey:
    """A key's name is all that may change; recorded as ``sshkey.update``."""
    key.name = name
    key.save(update_fields=["name"])
    record_change("sshkey.update", key, actor=actor, fields={"name": name})
    return key


@transaction.atomic
def delete_ssh_key(key: SSHKey, *, actor: Actor) -> None:
    """Forget a key (refused, ProtectedError, while a host or jump host uses it)."""
    record_change("sshkey.delete", key, actor=actor, fields=_key_fields(key))
    key.delete()


def _key_fields(key: SSHKey) -> dict[str, Any]:
    return {"name": key.name, "fingerprint": key.fingerprint, "public_key": key.public_key}


@transaction.atomic
def save_jump_host(
    jump_host: JumpHost, *, actor: Actor, created: bool, changed: Iterable[str]
) -> JumpHost:
    """Save a jump host a form has filled in (the admin's), recorded as
    ``jump_host.create`` or ``jump_host.update`` with the fields changed."""
    jump_host.save()
    fields = {
        name: getattr(jump_host, name)
        for name in ("name", "address", "port", "username", "ssh_key", "host_key")
        if created or name in set(changed)
    }
    action = "jump_host.create" if created else "jump_host.update"
    record_change(action, jump_host, actor=actor, fields=fields)
    return jump_host


@transaction.atomic
def delete_jump_host(jump_host: JumpHost, *, actor: Actor) -> None:
    """Forget a jump host (refused, ProtectedError, while a host goes through it)."""
    record_change("jump_host.delete", jump_host, actor=actor, fields={"name": jump_host.name})
    jump_host.delete()


def _own_key_name(host_name: str) -> str:
    """A free name for the key given with a new host: "web-1 key", else "web-1 key 2"…"""
    base = f"{host_name} key"
    taken = set(SSHKey.objects.filter(name__startswith=base).values_list("name", flat=True))
    if base not in taken:
        return base
    return next(f"{base} {n}" for n in range(2, len(taken) + 3) if f"{base} {n}" not in taken)


def _is_own_key(key: SSHKey, host_name: str) -> bool:
    """Whether ``key`` was stored with the host ``host_name`` (named by ``_own_key_name``)."""
    return re.fullmatch(rf"{re.escape(host_name)} key( \d+)?", key.name) is not None


def host_fields(host: Host) -> dict[str, Any]:
    """What the audit trail records of a host: how it is reached, never a secret."""
    return {
        "name": host.name,
        "transport": host.transport,
        "address": host.address,
        "port": host.port,
        "username": host.username,
        "docker_host": host.docker_host,
        "host_key": host.host_key,
        "ssh_key": host.ssh_key.name if host.ssh_key_id else None,  # type: ignore[union-attr]
        "jump_host": host.jump_host.name if host.jump_host_id else None,  # type: ignore[union-attr]
        "labels": host.labels,
        "groups": sorted(host.groups.values_list("name", flat=True)) if host.pk else [],
    }


def check_enrolment(
    actor: Actor, *, transport: str, ssh_key: SSHKey | None, jump_host: JumpHost | None
) -> None:
    """Refuse an actor limited to host groups what would reach beyond them.

    A stored key or jump host opens whatever machines it opens, wherever they are: a
    scoped admin could enrol any of them into their group. A ``local`` host is the
    engine of the Berth server itself, whose files hold every secret. So these are for
    admins not limited to host groups; a scoped admin brings the host's own key.
    """
    if actor is None or scope_of(actor) is None:
        return
    refused = {
        "transport": "a 'local' host (the Berth server's own engine)"
        if transport == Transport.LOCAL
        else "",
        "ssh_key": "a stored SSH key" if ssh_key is not None else "",
        "jump_host": "a jump host" if jump_host is not None else "",
    }
    for field, what in refused.items():
        if what:
            raise PermissionDenied(
                f"{field}: registering a host with {what} needs an admin who is not limited "
                "to host groups; give the host's own private_key instead."
            )


@transaction.atomic
def register_host(
    *,
    name: str,
    address: str = "",
    port: int = 22,
    username: str = "root",
    ssh_key: SSHKey | None = None,
    private_key: str = "",
    passphrase: str = "",
    docker_host: str = "",
    host_key: str = "",
    transport: str = Transport.SSH,
    jump_host: JumpHost | None = None,
    labels: dict[str, str] | None = None,
    groups: Iterable[HostGroup] = (),
    actor: Actor = None,
) -> Host:
    """Add a host to the fleet, recorded as ``host.create``; its first refresh is queued
    once the row is committed.

    ``private_key`` (with its ``passphrase``) is stored as the host's own key, which
    goes when the host is removed; ``ssh_key`` uses a stored key instead. Raises
    ValueError for an unusable key, ValidationError for a bad field, PermissionDenied
    when an actor limited to host groups asks for what only an unrestricted admin may
    (see ``check_enrolment``).
    """
    check_enrolment(actor, transport=transport, ssh_key=ssh_key, jump_host=jump_host)
    host = Host(
        name=name,
        jump_host=jump_host,
        transport=transport,
        address=address,
        port=port,
        username=username,
        ssh_key=ssh_key,
        docker_host=docker_host,
        host_key=normalize_host_key(host_key) if host_key else "",
        labels=labels or {},
    )
    host.full_clean()
    if private_key:
        host.ssh_key = create_ssh_key(
            name=_own_key_name(name), private_key=private_key, passphrase=passphrase
        )
    host.save()
    host.groups.set(groups)
    record_change("host.create", host, actor=actor, host=host, fields=host_fields(host))
    _enqueue_refresh(host)
    return host


# What decides which machine a host is and how Berth reaches it: a change to one of them
# dials again and checks the machine against the pinned host key at once.
_REACH_FIELDS = ("transport", "address", "port", "username", "ssh_key", "docker_host",
                 "host_key", "jump_host")  # fmt: skip


@transaction.atomic
def update_host(
    host: Host, *, actor: Actor, private_key: str = "", passphrase: str = "", **fields: Any
) -> Host:
    """Change how a host is reached (or its name, labels and groups), recorded as
    ``host.update`` with the fields that changed, as they are now.

    ``private_key`` (with its ``passphrase``) becomes the host's own key; the key that
    came with the host goes when nothing else uses it. The pinned host key stays unless
    a new one is given: after a change of address (or anything else in
    ``_REACH_FIELDS``) a refresh is queued, which checks the machine now reached
    against it, so another machine shows as ``host_key_mismatch`` for an admin to
    approve. Raises ValueError for an unusable key, ValidationError for a bad field and
    PermissionDenied for what ``check_enrolment`` keeps from a scoped admin.
    """
    # From the database: a form (the admin's) may have set the new values on ``host`` already.
    stored = Host.objects.select_related("ssh_key", "jump_host").get(pk=host.pk)
    before = host_fields(stored)
    groups = fields.pop("groups", None)
    if fields.get("host_key"):
        fields["host_key"] = normalize_host_key(fields["host_key"])

    # Only what changes is checked: a scoped admin may edit a host an unscoped one set up.
    def new(name: str) -> Any:
        value = fields.get(name, getattr(stored, name))
        return value if value != getattr(stored, name) else None

    check_enrolment(
        actor, transport=new("transport") or Transport.SSH, ssh_key=new("ssh_key"),
        jump_host=new("jump_host"),
    )  # fmt: skip
    old_key = stored.ssh_key
    for name, value in fields.items():
        setattr(host, name, value)
    if private_key:
        load_private_key(private_key, passphrase)  # ValueError before anything is stored
    host.full_clean()
    if private_key:
        host.ssh_key = create_ssh_key(
            name=_own_key_name(host.name), private_key=private_key, passphrase=passphrase
        )
    host.save()
    if groups is not None:
        host.groups.set(groups)
    if (
        old_key is not None
        and host.ssh_key_id != old_key.pk
        and _own_key_unused(old_key, stored.name)
    ):
        old_key.delete()
    after = host_fields(host)
    changed = {name: value for name, value in after.items() if before[name] != value}
    record_change("host.update", host, actor=actor, host=host, fields=changed)
    # The address, key or transport may have changed: the next call dials afresh (every
    # worker's pool sees the new LinkConfig), and a refresh checks the host now.
    transaction.on_commit(lambda: pool.discard(host.pk))
    if any(name in changed for name in _REACH_FIELDS):
        _enqueue_refresh(host)
    return host


def _own_key_unused(key: SSHKey, host_name: str, *, but: Host | None = None) -> bool:
    """Whether ``key`` came with host ``host_name`` and nothing (``but`` aside) uses it:
    such a key goes when its host does, or when the host is given another one."""
    others = Host.objects.filter(ssh_key=key)
    if but is not None:
        others = others.exclude(pk=but.pk)
    return (
        _is_own_key(key, host_name)
        and not others.exists()
        and not JumpHost.objects.filter(ssh_key=key).exists()
    )


def _enqueue_refresh(host: Host) -> None:
    """Queue a refresh of ``host`` once its row is committed.

    With the task queue down the change stands all the same (it is committed by then):
    the periodic refresh contacts the host once the queue is back. Answering 503 would
    say nothing was done, and a client retrying the same new host would get a 400.
    """

    def send() -> None:
        try:
            celery_app.signature(REFRESH_HOST, args=(host.pk,)).apply_async()
        except BROKER_ERRORS as exc:
            log.warning(
                "%s is saved, but its refresh could not be queued (%s); the periodic "
                "refresh will contact it once the task queue is back", host.name, exc,
            )  # fmt: skip

    transaction.on_commit(send)


class StaleHostKey(ValueError):
    """The endpoint now offers another key than the one the admin approved."""


@transaction.atomic
def approve_host_key(endpoint: Host | JumpHost, *, fingerprint: str, actor: Actor) -> Operation:
    """Pin the key a host (or jump host) last offered, so Berth connects to it from now on.

    ``fingerprint`` is the one the admin saw and checked: if the endpoint has offered
    another key since, nothing is pinned (StaleHostKey). This is also how an admin
    accepts a changed key after checking it out of band.
    """
    # Read the offered key under a row lock: a refresh may record another one meanwhile.
    current = type(endpoint).objects.select_for_update().filter(pk=endpoint.pk)
    endpoint.host_key_offered = current.values_list("host_key_offered", flat=True).get()
    if not endpoint.host_key_offered:
        raise ValueError(f"{endpoint.name} has not offered a host key to approve")
    if not fingerprint.strip():
        raise ValueError(
            f"give the fingerprint of the key {endpoint.name} offered, as you checked it"
        )
    offered = endpoint.host_key_offered_fingerprint
    if fingerprint.strip() != offered:
        raise StaleHostKey(
            f"{endpoint.name} now offers the host key {offered}, not {fingerprint.strip()!r}; "
            "check the new fingerprint before approving it"
        )
    host = endpoint if isinstance(endpoint, Host) else None
    operation = record_operation(
        action="host.approve_key" if host else "jump_host.approve_key",
        target=endpoint,
        actor=actor,
        host=host,
        params={"host_key": endpoint.host_key_offered, "previous": endpoint.host_key},
        result={"host_key": endpoint.host_key_offered},
    )
    endpoint.host_key = endpoint.host_key_offered
    endpoint.host_key_offered = ""
    endpoint.save(update_fields=["host_key", "host_key_offered"])
    if isinstance(endpoint, Host):
        endpoint.status = HostStatus.NEW
        endpoint.status_reason = "host key approved; waiting for the next refresh"
        endpoint.save(update_fields=["status", "status_reason"])
    hosts = [endpoint] if isinstance(endpoint, Host) else list(endpoint.hosts.all())
    for host in hosts:
        _enqueue_refresh(host)
    return operation


@transaction.atomic
def remove_host(host: Host, *, actor: Actor) -> Operation:
    """Take a host out of the fleet: its stored containers, images and steps go with it,
    and so does the key stored with it when no other host or jump host uses it.

    Nothing runs on the host (its containers keep running); the operation records
    who removed it. Services stop targeting it.
    """
    key = host.ssh_key
    own_key = key is not None and _own_key_unused(key, host.name, but=host)
    operation = record_operation(
        action="host.remove",
        target=host,
        actor=actor,
        params={"address": host.address, "port": host.port, "username": host.username},
        result={"removed": host.name, "ssh_key_removed": key.name if own_key else None},  # type: ignore[union-attr]
    )
    pk = host.pk
    host.delete()
    if own_key:
        key.delete()  # type: ignore[union-attr]
    transaction.on_commit(lambda: pool.discard(pk))
    return operation


# --- host groups -----------------------------------------------------------------------


@transaction.atomic
def create_host_group(*, name: str, description: str = "", actor: Actor) -> HostGroup:
    group = HostGroup(name=name, description=description)
    group.full_clean()
    group.save()
    record_change("hostgroup.create", group, actor=actor, fields={"name": name,
                  "description": description})  # fmt: skip
    return group


@transaction.atomic
def update_host_group(group: HostGroup, *, actor: Actor, **fields: str) -> HostGroup:
    for name, value in fields.items():
        setattr(group, name, value)
    group.full_clean()
    group.save()
    record_change("hostgroup.update", group, actor=actor, fields=fields)
    return group


class HostGroupInUse(Exception):
    """A host group that scopes a user or a token: deleting it would change their scope."""


def host_group_limits(group: HostGroup) -> list[str]:
    """Who the group limits: "user NAME" for each profile, "token NAME (USER)" for each
    active token limited to it. Empty when deleting it changes nobody's scope."""
    users = sorted(group.profiles.values_list("user__username", flat=True))  # type: ignore[attr-defined]
    tokens = sorted(
        f"{name} ({username})"
        for name, username in group.api_tokens.filter(revoked_at__isnull=True).values_list(  # type: ignore[attr-defined]
            "name", "user__username"
        )
    )
    return [*(f"user {name}" for name in users), *(f"token {name}" for name in tokens)]


def host_group_in_use_message(group: HostGroup) -> str | None:
    """Why the group cannot be deleted because it limits someone (the API's 409 and the
    admin's refusal say the same), or None when it limits nobody."""
    who = host_group_limits(group)
    if not who:
        return None
    return (
        f"Host group {group.name} limits {', '.join(who)}; take it out of their host "
        "groups (or revoke the token) first."
    )


@transaction.atomic
def delete_host_group(group: HostGroup, *, actor: Actor) -> None:
    """Delete a host group: refused (HostGroupInUse) while a user or token is limited to
    it, and (ProtectedError) while a service targets it."""
    in_use = host_group_in_use_message(group)
    if in_use:
        raise HostGroupInUse(in_use)
    record_change(
        "hostgroup.delete",
        group,
        actor=actor,
        fields={"name": group.name, "hosts": sorted(group.hosts.values_list("name", flat=True))},
    )
    group.delete()


def authorized_keys_line(host: Host) -> str:
    """An authorized_keys line that lets Berth's key run, install and upgrade the agent
    and write its policy file, and nothing else (agent_link/forced.py)."""
    public_key = host.ssh_key.public_key if host.ssh_key else "<public key>"
    return f"{authorized_keys_options(host.docker_host)} {public_key} berth"


# --- talking to the agent -------------------------------------------------------------


# --- refresh ---------------------------------------------------------------------------


def refresh_host(host: Host) -> bool:
    """Ask the host's agent for facts, containers and images and store them.

    Never raises for a host problem: the outcome is recorded in the host's status
    and reason. Returns whether the host answered.
    """
    timeout = settings.BERTH_AGENT_REQUEST_TIMEOUT
    agent = HostAgent(host)  # drops the pooled link on any link failure below
    try:
        ping = agent.send("ping")
        facts_request = agent.send("host.facts")
        listed = [
            (inventory, agent.send(inventory.op, inventory.args)) for inventory in inventories()
        ]
        # A pooled connection to a host that went away looks alive until a request
        # times out. The ping is answered at once by a live agent however busy Docker
        # is, so a dead host costs one connect timeout, not a request timeout.
        agent.wait(ping, settings.BERTH_SSH_CONNECT_TIMEOUT)
        facts = agent.wait(facts_request, timeout)
        reported = [(inventory, agent.wait(request, timeout)) for inventory, request in listed]
    except HostKeyError as exc:
        if exc.role == "jump host" and host.jump_host is not None:
            _record_offered_key(host.jump_host, exc.offered_key)
            _record_failure(host, exc.status, str(exc))
        else:
            _record_failure(host, exc.status, str(exc), offered_key=exc.offered_key)
        return False
    except AgentLinkError as exc:
        _record_failure(host, exc.status, str(exc))
        return False
    except AgentError as exc:
        status = (
            HostStatus.DOCKER_UNAVAILABLE
            if exc.code == "docker_unavailable"
            else HostStatus.AGENT_FAILED
        )
        _record_failure(host, status, exc.message)
        return False
    # The ping costs the agent nothing, so its round trip measures the link itself.
    _record_state(host, ping.session.hello, facts, reported, rtt=ping.round_trip)
    return True


def refresh_hosts(hosts: list[Host], *, threads: int) -> int:
    """Refresh many hosts at once, ``threads`` at a time; returns how many answered.

    The work is waiting on remote agents, so threads in one worker process overlap it
    and share that process's pooled links; a dead host holds only its own thread.
    """
    if not hosts:
        return 0

    def refresh_one(host: Host) -> bool:
        try:
            return refresh_host(host)
        except Exception:  # one host's bug must not hide the others' results
            log.exception("refresh of %s failed", host.name)
            return False
        finally:
            connection.close()  # this thread's own database connection

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(hosts)))) as executor:
        return sum(executor.map(refresh_one, hosts))


def _record_state(
    host: Host,
    hello: dict[str, Any],
    facts: dict[str, Any],
    reported: list[tuple[Inventory, list[dict[str, Any]]]],
    *,
    rtt: float | None = None,
) -> None:
    now = timezone.now()
    with transaction.atomic():
        for inventory, answer in reported:
            inventory.store(host, answer)
        host.facts = facts
        host.agent_version = str(hello.get("version", ""))
        host.docker_version = str(facts.get("docker_version", ""))
        host.status = HostStatus.ONLINE
        host.status_reason = ""
        host.last_seen_at = now
        host.last_checked_at = now
        host.agent_rtt_ms = round(rtt * 1000, 3) if rtt is not None else None
        host.save(
            update_fields=[
                "facts",
                "agent_version",
                "docker_version",
                "status",
                "status_reason",
                "last_seen_at",
                "last_checked_at",
                "agent_rtt_ms",
            ]
        )
    host_refreshed.send(sender=Host, host=host)


def _record_offered_key(endpoint: SSHEndpoint, offered_key: str) -> None:
    endpoint.host_key_offered = offered_key
    endpoint.save(update_fields=["host_key_offered"])


def _record_failure(host: Host, status: str, reason: str, *, offered_key: str = "") -> None:
    log.info("refresh of %s failed: %s", host.name, reason)
    host.status = status
    host.status_reason = reason
    host.last_checked_at = timezone.now()
    fields = ["status", "status_reason", "last_checked_at"]
    if offered_key:
        host.host_key_offered = offered_key
        fields.append("host_key_offered")
    host.save(update_fields=fields)


def request_refresh(host: Host, *, actor: Actor) -> Operation:
    """Record a refresh operation and queue it; the worker records the outcome."""
    return submit(action="host.refresh", target=host, actor=actor, host=host)


@action("host.refresh", time_limit=120, retry_transport=False)
def _run_refresh(operation: Operation, context: OperationContext) -> dict[str, int]:
    host = operation_host(operation)
    pool.reset_backoff(host.pk)  # someone asked for this refresh: dial now, not later
    if not refresh_host(host):
        raise OperationFailed(f"{host.get_status_display()}: {host.status_reason}")
    return {"containers": host.containers.count(), "images": host.images.count()}
