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
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from hosts.agent_link.errors import AgentError
from operations.services import record_change

from .models import Secret

Actor = User | AnonymousUser | None

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


def resolve_env(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as the agent takes it: ``env_secrets`` looked up and merged into ``env``,
    the ``env_secrets`` key gone. ``spec`` itself is not changed.

    Call it in the worker, right before the agent call, and keep what it returns out of
    anything stored or logged. Raises MissingSecret when a named secret is gone.
    """
    wanted: dict[str, str] = spec.get("env_secrets") or {}
    resolved = {key: value for key, value in spec.items() if key != "env_secrets"}
    if not wanted:
        return resolved
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


@transaction.atomic
def create_secret(*, name: str, value: str, actor: Actor = None) -> Secret:
    """Store a secret (encrypted), recorded as ``secret.create`` with its name only."""
    _check_name(name)
    who = _username(actor)
    secret = Secret.objects.create(name=name, value=value, created_by=who, updated_by=who)
    record_change("secret.create", secret, actor=actor, fields={"name": name})
    return secret


@transaction.atomic
def update_secret(
    secret: Secret, *, name: str | None = None, value: str | None = None, actor: Actor = None
) -> Secret:
    """Rename a secret and/or replace its value, recorded as ``secret.update``: the new
    name, the old one, and ``value_changed`` — never the value.

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
    if not changes:
        return secret
    secret.updated_by = _username(actor)
    secret.save(update_fields=["name", "value", "updated_by", "updated_at"])
    record_change("secret.update", secret, actor=actor, fields={"name": secret.name, **changes})
    return secret


class SecretInUse(Exception):
    """A secret that a revision or an unfinished operation names: deleting it would make
    that deploy, rollback or run fail."""


def _named(spec: Any, name: str) -> list[str]:
    """The variables of ``spec`` whose value is the secret ``name``."""
    wanted = spec.get("env_secrets") if isinstance(spec, dict) else None
    if not isinstance(wanted, dict):
        return []
    return sorted(variable for variable, secret in wanted.items() if secret == name)


def secret_users(name: str) -> list[str]:
    """What names the secret ``name``: every revision (any of them can be deployed or
    rolled back to again, and revisions never change) and every pending or running
    operation whose spec does, e.g. "service api revision 3 (current; DB_PASSWORD)"."""
    from deployments.models import Revision
    from operations.choices import OperationStatus
    from operations.models import Operation

    users = []
    revisions = Revision.objects.filter(spec__has_key="env_secrets").select_related("service")
    for revision in revisions.order_by("service__name", "number"):
        variables = _named(revision.spec, name)
        if variables:
            current = "current; " if revision.service.current_revision_id == revision.pk else ""
            users.append(
                f"service {revision.service.name} revision {revision.number} "
                f"({current}{', '.join(variables)})"
            )
    unfinished = Operation.objects.filter(
        status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]
    ).select_related("host")
    for operation in unfinished.order_by("pk"):
        variables = _named(operation.params.get("spec"), name)
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
