"""Stored secrets, and how a container spec uses them without ever holding one.

A spec names the secrets it needs: ``env_secrets: {"DB_PASSWORD": "db-password"}``
(variable name → secret name). The spec is recorded and shown by name only (in an
operation's params, a revision, a diff); a worker calls :func:`resolve_env` right
before it calls the agent, so the value exists only in that call. A plain ``env``
value whose name looks secret (:func:`looks_secret`) is refused at the API instead,
with a message pointing at ``env_secrets``, so no secret sits in a spec's ``env``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.db import transaction

from agent_link.errors import AgentError
from operations.choices import OperationStatus
from operations.models import Operation
from operations.services import Actor, record_change
from policies.services import PolicyViolation

from .models import Secret

if TYPE_CHECKING:
    from hosts.models import Host, HostGroup


SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
NAME_RULE = "1-100 characters: letters, digits, '_', '.' and '-', starting with a letter or digit."

# An environment variable's name looks secret when one of its word parts is one of these
# words, or two neighbouring parts make one of these pairs. Parts are split at "_", "-",
# "." and lower-to-upper case changes, and compared without case: POSTGRES_PASSWORD,
# DB_PASS, GITHUB_TOKEN, dbPassword, AWS_SECRET_ACCESS_KEY, STRIPE_API_KEY all look secret;
# PASSENGER, KEYBOARD, TOKENIZER, PWD (the working directory) do not.
SECRET_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWORDS",
        "PASSWD",
        "PASS",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
    }
)
SECRET_PAIRS = frozenset(
    {("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY"), ("SIGNING", "KEY")}
)
# ...unless its last part says it holds where the secret is, not the secret itself
# (POSTGRES_PASSWORD_FILE=/run/secrets/db is the usual Docker convention).
LOCATION_WORDS = frozenset({"FILE", "PATH", "DIR"})

_PART_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


class MissingSecret(AgentError):
    """A secret a spec names no longer exists (deleted or renamed since the spec was
    checked). Raised instead of calling the agent, and handled like the agent's own
    refusal of a bad argument: the run, or that host's deploy, fails with this message."""

    def __init__(self, message: str) -> None:
        super().__init__("secret_missing", message)


class SecretOutOfScope(AgentError):
    """A secret a spec names is limited to host groups the host is in none of. Raised by
    the worker instead of calling the agent (the doors refuse such a spec earlier, with
    a 400): the value never leaves for that host."""

    def __init__(self, message: str) -> None:
        super().__init__("secret_out_of_scope", message)


def _parts(name: str) -> list[str]:
    return [
        part.upper() for chunk in re.split(r"[_.\-]+", name) for part in _PART_RE.findall(chunk)
    ]


def looks_secret(name: str) -> bool:
    """Whether an environment variable called ``name`` probably holds a secret."""
    parts = _parts(name)
    if not parts or parts[-1] in LOCATION_WORDS:
        return False
    if any(part in SECRET_WORDS for part in parts):
        return True
    return any(pair in SECRET_PAIRS for pair in itertools.pairwise(parts))


def secret_name_problem(name: str) -> str | None:
    return None if SECRET_NAME_RE.match(name) else f"A secret name is {NAME_RULE}"


def missing_secrets(names: set[str]) -> set[str]:
    """Which of ``names`` no stored secret has."""
    return names - set(Secret.objects.filter(name__in=names).values_list("name", flat=True))


def out_of_scope(names: Iterable[str], hosts: Sequence[Host]) -> str | None:
    """Why one of the secrets ``names`` may not go to one of ``hosts``, or None: a secret
    that is not unrestricted goes only to hosts in one of its host groups. (A name no
    secret has is not this function's business: see :func:`missing_secrets`.)"""
    limited = (
        Secret.objects.filter(name__in=set(names), unrestricted=False)
        .prefetch_related("host_groups")
        .order_by("name")
    )
    for secret in limited:
        groups = {group.pk: group.name for group in secret.host_groups.all()}
        for host in hosts:
            if not groups.keys() & {group.pk for group in host.groups.all()}:
                allowed = ", ".join(sorted(groups.values())) or "no host group"
                return (
                    f"the secret {secret.name} is limited to host groups {allowed}, and "
                    f"{host.name} is in none of them; ask an admin to widen the secret, or "
                    "store one for these hosts"
                )
    return None


def refuse_out_of_scope(spec: dict[str, Any], hosts: Sequence[Host]) -> None:
    """The doors' check (registered with policies.services.add_spec_check, so every door
    that checks a spec against the container policy checks this too, and no override
    lifts it): raises PolicyViolation on ``env_secrets``."""
    wanted = spec.get("env_secrets") or {}
    problem = out_of_scope(wanted.values(), hosts) if wanted else None
    if problem:
        raise PolicyViolation("env_secrets", problem[:1].upper() + problem[1:] + ".")


def resolve_env(spec: dict[str, Any], host: Host) -> dict[str, Any]:
    """The spec as the agent on ``host`` takes it: ``env_secrets`` looked up and merged
    into ``env``, the ``env_secrets`` key gone. ``spec`` itself is not changed.

    Call it in the worker, right before the agent call, and keep what it returns out of
    anything stored or logged. Raises MissingSecret when a named secret is gone, and
    SecretOutOfScope when one may not go to ``host`` (checked again here: a spec made
    before the secret was limited, or a door's bug, must not carry it there).
    """
    wanted: dict[str, str] = spec.get("env_secrets") or {}
    resolved = {key: value for key, value in spec.items() if key != "env_secrets"}
    if not wanted:
        return resolved
    problem = out_of_scope(wanted.values(), [host])
    if problem:
        raise SecretOutOfScope(problem)
    values = dict(Secret.objects.filter(name__in=set(wanted.values())).values_list("name", "value"))
    env = dict(resolved.get("env") or {})
    for variable, name in wanted.items():
        if name not in values:
            raise MissingSecret(
                f"the secret {name!r} that {variable} takes its value from no longer exists; "
                "store it again or change the spec"
            )
        env[variable] = values[name]
    resolved["env"] = env
    return resolved


# --- stored secrets: create, change, delete (admins; every change audited) -------------


def _username(actor: Actor) -> str:
    return actor.get_username() if isinstance(actor, User) and actor.is_authenticated else ""


def _check_name(name: str) -> None:
    problem = secret_name_problem(name)
    if problem:
        raise ValueError(problem)


def _scope_fields(secret: Secret) -> dict[str, Any]:
    groups = sorted(group.name for group in secret.host_groups.all())
    return {"unrestricted": secret.unrestricted, "host_groups": groups}


@transaction.atomic
def create_secret(
    *,
    name: str,
    value: str,
    host_groups: Iterable[HostGroup] = (),
    unrestricted: bool | None = None,
    actor: Actor = None,
) -> Secret:
    """Store a secret (encrypted), recorded as ``secret.create`` with its name and scope
    only. ``unrestricted`` defaults to whether no host group is given, as for tokens."""
    _check_name(name)
    groups = list(host_groups)
    who = _username(actor)
    secret = Secret.objects.create(
        name=name,
        value=value,
        unrestricted=not groups if unrestricted is None else unrestricted,
        created_by=who,
        updated_by=who,
    )
    secret.host_groups.set(groups)
    record_change(
        "secret.create", secret, actor=actor, fields={"name": name, **_scope_fields(secret)}
    )
    return secret


@transaction.atomic
def update_secret(
    secret: Secret,
    *,
    name: str | None = None,
    value: str | None = None,
    host_groups: Iterable[HostGroup] | None = None,
    unrestricted: bool | None = None,
    actor: Actor = None,
) -> Secret:
    """Rename a secret, replace its value and/or change its scope, recorded as
    ``secret.update``: the new name, the old one, the scope and ``value_changed`` —
    never the value.

    Specs refer to a secret by name: after a rename, specs that use the old name fail
    at their next run or deploy, saying which secret is missing."""
    changes: dict[str, Any] = {}
    if name is not None and name != secret.name:
        _check_name(name)
        changes.update(name=name, renamed_from=secret.name)
        secret.name = name
    if value is not None:
        changes["value_changed"] = True
        secret.value = value
    before = _scope_fields(secret)
    if host_groups is not None:
        secret.host_groups.set(list(host_groups))
    if unrestricted is not None:
        secret.unrestricted = unrestricted
    after = _scope_fields(secret)
    if after != before:
        changes.update(after)
    if not changes:
        return secret
    secret.updated_by = _username(actor)
    secret.save(update_fields=["name", "value", "unrestricted", "updated_by", "updated_at"])
    record_change("secret.update", secret, actor=actor, fields={"name": secret.name, **changes})
    return secret


class SecretInUse(Exception):
    """A secret that a revision or an unfinished operation names: deleting it would make
    that deploy, rollback or run fail."""


def variables_naming(spec: Any, name: str) -> list[str]:
    """The variables of ``spec`` whose value is the secret ``name``."""
    wanted = spec.get("env_secrets") if isinstance(spec, dict) else None
    if not isinstance(wanted, dict):
        return []
    return sorted(variable for variable, secret in wanted.items() if secret == name)


# Other apps whose records name secrets (the deployments app: revisions) say which do,
# as readable lines; registered when they are ready, since this app imports none of them.
SecretUsers = Callable[[str], list[str]]
_secret_user_sources: list[SecretUsers] = []


def add_secret_users(source: SecretUsers) -> None:
    """Have ``source(name)`` list what else names the secret in :func:`secret_users`."""
    if source not in _secret_user_sources:
        _secret_user_sources.append(source)


def secret_users(name: str) -> list[str]:
    """What names the secret ``name``: every revision (any of them can be deployed or
    rolled back to again, and revisions never change) and every pending or running
    operation whose spec does, e.g. "service api revision 3 (current; DB_PASSWORD)"."""
    users = [user for source in _secret_user_sources for user in source(name)]
    unfinished = Operation.objects.filter(
        status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]
    ).select_related("host")
    for operation in unfinished.order_by("pk"):
        variables = variables_naming(operation.params.get("spec"), name)
        if variables:
            where = operation.host.name if operation.host else operation.target_name
            users.append(
                f"{operation.status} operation #{operation.pk} {operation.action} on {where} "
                f"({', '.join(variables)})"
            )
    return users


def secret_in_use_message(secret: Secret, users: list[str]) -> str:
    return (
        f"The secret {secret.name} is used by {'; '.join(users)}. Replace its value instead, "
        "or delete those services (and let those operations finish) first."
    )


@transaction.atomic
def delete_secret(secret: Secret, *, actor: Actor = None) -> None:
    """Forget a secret, recorded as ``secret.delete``; refused (SecretInUse) while a
    revision or an unfinished operation names it (:func:`secret_users`)."""
    # Locked, so a rename in flight cannot slip past the check.
    Secret.objects.select_for_update().filter(pk=secret.pk).first()
    users = secret_users(secret.name)
    if users:
        raise SecretInUse(secret_in_use_message(secret, users))
    record_change("secret.delete", secret, actor=actor, fields={"name": secret.name})
    secret.delete()
