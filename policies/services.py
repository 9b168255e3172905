"""Container security policies: which one applies to a host, the one check every door
calls (``check_spec``), audited edits, and the policy file each host's agent enforces.

How policies combine (docs/security.md): the policies that apply to a host are, for
each of its host groups, that group's policy, or the global default when the group
has none; a host in no group gets the global default. A bind is allowed only if
EVERY policy that applies allows it (the stricter reading: adding a host to a
group can only take rights away). A missing global default allows no host binds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from accounts.roles import Role, has_role
from operations.services import record_change

from .models import ContainerPolicy
from .paths import allowed_by, denied_by, intersect, minimal, normalise

if TYPE_CHECKING:
    from hosts.models import Host, HostGroup

Actor = User | AnonymousUser | None
POLICY_FILE_VERSION = 1
# Labels Berth sets on what it starts; a spec may not forge them (the agent refuses
# them in containers.run too, except the run key Berth's own run handler adds).
RESERVED_LABEL_PREFIX = "berth."


class PolicyViolation(ValueError):
    """A spec the policy refuses; ``field`` names what to change (a 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class OverrideRefused(PermissionError):
    """``policy_override`` from a caller who is not an admin (a 403)."""


@dataclass(frozen=True)
class AppliedPolicy:
    label: str
    allowed_bind_prefixes: tuple[str, ...]


def policies_for(host: Host) -> list[AppliedPolicy]:
    """The policies that apply to ``host`` (see the module docstring)."""
    groups = list(host.groups.all())
    rows = {
        row.host_group_id: row
        for row in ContainerPolicy.objects.filter(host_group__in=groups).select_related(
            "host_group"
        )
    }
    default = ContainerPolicy.objects.filter(host_group__isnull=True).first()
    fallback = AppliedPolicy(
        "the global default policy", tuple(default.allowed_bind_prefixes) if default else ()
    )
    if not groups:
        return [fallback]
    applied: list[AppliedPolicy] = []
    for group in groups:
        row = rows.get(group.pk)
        policy = AppliedPolicy(row.label, tuple(row.allowed_bind_prefixes)) if row else fallback
        if policy not in applied:
            applied.append(policy)
    return applied


def effective_prefixes(host: Host) -> list[str]:
    """The bind prefixes every policy of ``host`` allows (what its agent's file holds)."""
    policies = policies_for(host)
    prefixes = list(policies[0].allowed_bind_prefixes)
    for policy in policies[1:]:
        prefixes = intersect(prefixes, policy.allowed_bind_prefixes)
    return minimal(prefixes)


def policy_document(host: Host, extra_prefixes: Iterable[str] = ()) -> dict[str, Any]:
    """The agent's ``~/.berth/policy.json`` for ``host``."""
    prefixes = minimal([*effective_prefixes(host), *extra_prefixes])
    return {"version": POLICY_FILE_VERSION, "allowed_bind_prefixes": prefixes}


def bind_sources(spec: dict[str, Any]) -> list[tuple[int, str]]:
    """(index, host path) of each bind mount in a validated spec (named volumes are not)."""
    return [
        (index, volume["source"])
        for index, volume in enumerate(spec.get("volumes") or [])
        if str(volume.get("source", "")).startswith("/")
    ]


def check_spec(
    spec: dict[str, Any],
    hosts: Sequence[Host],
    *,
    actor: Actor,
    override: bool = False,
    field_prefix: str = "",
) -> None:
    """Refuse a validated container spec that any of ``hosts``' policies does not allow.

    The one check behind every door (container runs, revisions, deploys, rollbacks,
    API and pages). Raises PolicyViolation naming the field and the policy, or
    OverrideRefused when a non-admin asks for ``override``. An admin's ``override``
    lifts the policies' prefixes but never the hard deny list.
    """
    if override and not has_role(actor, Role.ADMIN):
        raise OverrideRefused("Only an admin can override the container security policy.")
    for key in spec.get("labels") or {}:
        if key.startswith(RESERVED_LABEL_PREFIX):
            raise PolicyViolation(
                f"{field_prefix}labels",
                f"{key}: labels '{RESERVED_LABEL_PREFIX}*' are reserved for Berth's own use.",
            )
    for index, source in bind_sources(spec):
        field = f"{field_prefix}volumes"
        denied = denied_by(source)
        if denied is not None:
            raise PolicyViolation(
                field,
                f"volumes[{index}]: {source} is never allowed as a bind mount ({denied} is on "
                "Berth's hard deny list; no policy or override can lift it).",
            )
        if override:
            continue
        for host in hosts:
            for policy in policies_for(host):
                if not allowed_by(source, policy.allowed_bind_prefixes):
                    allowed = ", ".join(policy.allowed_bind_prefixes) or "no host path"
                    raise PolicyViolation(
                        field,
                        f"volumes[{index}]: {normalise(source)} is not allowed on {host} by "
                        f"{policy.label} (it allows binds under: {allowed}); use a named "
                        "volume, or ask an admin to widen the policy.",
                    )


# --- editing -------------------------------------------------------------------------------


def prefix_problem(prefix: Any) -> str | None:
    """Why ``prefix`` cannot be an allowed bind prefix, or None."""
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        return "Give absolute host paths like /srv/data."
    if "\x00" in prefix or ":" in prefix or "," in prefix or len(prefix) > 4096:
        return "A path cannot contain NUL, ':' or ','."
    denied = denied_by(prefix)
    if denied is not None:
        return (
            f"{normalise(prefix)} is under {denied}, on Berth's hard deny list: "
            "no policy can allow binds there."
        )
    return None


def clean_prefixes(prefixes: Iterable[str]) -> list[str]:
    return minimal(normalise(prefix) for prefix in prefixes)


def _fields(policy: ContainerPolicy) -> dict[str, Any]:
    return {
        "host_group": policy.host_group.name if policy.host_group else None,
        "allowed_bind_prefixes": policy.allowed_bind_prefixes,
    }


@transaction.atomic
def save_policy(
    policy: ContainerPolicy,
    *,
    actor: Actor,
    host_group: HostGroup | None,
    allowed_bind_prefixes: Iterable[str],
) -> ContainerPolicy:
    """Create or update a policy, recorded as ``containerpolicy.create``/``.update``."""
    created = policy.pk is None
    policy.host_group = host_group
    policy.allowed_bind_prefixes = clean_prefixes(allowed_bind_prefixes)
    policy.save()
    verb = "create" if created else "update"
    record_change(f"containerpolicy.{verb}", policy, actor=actor, fields=_fields(policy))
    return policy


@transaction.atomic
def delete_policy(policy: ContainerPolicy, *, actor: Actor) -> None:
    record_change("containerpolicy.delete", policy, actor=actor, fields=_fields(policy))
    policy.delete()


# --- the agent's policy file ---------------------------------------------------------------


def _link_policy(name: str) -> dict[str, Any] | None:
    from hosts.models import Host

    host = Host.objects.filter(name=name).first()
    return policy_document(host) if host is not None else None


def install_link_policy() -> None:
    """Have every agent link write its host's policy file (hosts/agent_link imports
    nothing from here: it is handed this function)."""
    from hosts.agent_link import launch

    launch.set_policy_source(_link_policy)
