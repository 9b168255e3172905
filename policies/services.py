"""Container security policies: which one applies to a host, the one check every door
calls (``check_spec``), audited edits, and the policy file each host's agent enforces.

How policies combine (docs/security.md): the policies that apply to a host are, for
each of its host groups, that group's policy, or the global default when the group
has none; a host in no group gets the global default. A bind is allowed only if
EVERY policy that applies allows it (the stricter reading: adding a host to a
group can only take rights away). A missing global default allows no host binds.
The toggles (privileged, cap_add, …, running as root) combine the same way: one is
allowed only if every policy that applies allows it; a missing global default has
each at its default (all off, except running as root).

An admin's override of a run or a revision is carried to the agent as a grant: the
policy file lists the SHA-256 of the canonical JSON of each exact spec an admin
overrode (``granted_specs``) while that run is in flight, or while that revision is
its service's current one or is being rolled out or back to. The agent lets a spec
past the policy (never past the hard deny list) only when its digest is listed. The
digest leaves ``env`` (and ``env_secrets``) out: they govern nothing the policy
checks, and secret values are resolved only at call time, so the server never needs
them, or stores them, to compute it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from access.roles import Role, has_role
from agent_link import launch
from hosts.models import Host, HostGroup
from operations.choices import FINISHED_STATUSES
from operations.models import Operation
from operations.services import Actor, record_change

from .models import ContainerPolicy
from .paths import allowed_by, denied_by, intersect, minimal, normalise

POLICY_FILE_VERSION = 2
# The policy's toggles, as ContainerPolicy fields and policy file keys (the agent keeps
# the same list in agent/berth_agent/policy.py); each default is the model's.
TOGGLES = (
    "allow_privileged",
    "allow_cap_add",
    "allow_devices",
    "allow_host_network",
    "allow_host_pid",
    "allow_host_ipc",
    "allow_host_userns",
    "allow_unconfined",
    "allow_sysctls",
    "allow_root_user",
)
DEFAULTS = {toggle: toggle == "allow_root_user" for toggle in TOGGLES}  # the model's too
# security_opt entries that turn a confinement off (no-new-privileges only adds one).
UNCONFINED_OPTS = frozenset(
    {
        "apparmor=unconfined",
        "apparmor:unconfined",
        "seccomp=unconfined",
        "seccomp:unconfined",
        "label=disable",
        "label:disable",
        "systempaths=unconfined",
    }
)
# The operation param that holds an overridden container run's grant (its spec digest).
GRANT_PARAM = "policy_grant"
# Labels Berth sets on what it starts; a spec may not forge them (the agent refuses
# them in container.run too, except the run key Berth's own run handler adds).
RESERVED_LABEL_PREFIX = "berth."


class PolicyViolation(ValueError):
    """A spec the policy refuses; ``field`` names what to change (a 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# Checks other apps add to every door's check_spec (containers: a secret limited to
# host groups). Each raises PolicyViolation; an admin's override lifts none of them.
SpecCheck = Callable[[dict[str, Any], Sequence["Host"]], None]
_spec_checks: list[SpecCheck] = []


def add_spec_check(check: SpecCheck) -> None:
    """Have ``check(spec, hosts)`` run in every :func:`check_spec` (called
    from an app's ``ready()``: this app imports none of those that add checks)."""
    if check not in _spec_checks:
        _spec_checks.append(check)


class OverrideRefused(PermissionError):
    """``policy_override`` from a caller who is not an admin (a 403)."""


@dataclass(frozen=True)
class AppliedPolicy:
    label: str
    allowed_bind_prefixes: tuple[str, ...]
    allows: frozenset[str] = frozenset(t for t, on in DEFAULTS.items() if on)


def _applied(row: ContainerPolicy | None) -> AppliedPolicy:
    if row is None:
        return AppliedPolicy("the global default policy", ())
    allows = frozenset(toggle for toggle in TOGGLES if getattr(row, toggle))
    return AppliedPolicy(row.label, tuple(row.allowed_bind_prefixes), allows)


def policies_for(host: Host) -> list[AppliedPolicy]:
    """The policies that apply to ``host`` (see the module docstring)."""
    groups = list(host.groups.all())
    rows = {
        row.host_group_id: row
        for row in ContainerPolicy.objects.filter(host_group__in=groups).select_related(
            "host_group"
        )
    }
    fallback = _applied(ContainerPolicy.objects.filter(host_group__isnull=True).first())
    if not groups:
        return [fallback]
    applied: list[AppliedPolicy] = []
    for group in groups:
        row = rows.get(group.pk)
        policy = _applied(row) if row else fallback
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


def policy_document(host: Host) -> dict[str, Any]:
    """The agent's ``~/.berth/policy.json`` for ``host``: the effective policy and the
    specs admins overrode that may run there now."""
    policies = policies_for(host)
    toggles = {toggle: all(toggle in p.allows for p in policies) for toggle in TOGGLES}
    return {
        "version": POLICY_FILE_VERSION,
        "allowed_bind_prefixes": effective_prefixes(host),
        **toggles,
        "granted_specs": granted_specs(host),
    }


def spec_digest(spec: dict[str, Any]) -> str:
    """What the agent checks a grant against: the SHA-256 of the canonical JSON of the
    spec it receives, without ``env`` (see the module docstring)."""
    body = {key: value for key, value in spec.items() if key not in ("env", "env_secrets")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# Other apps whose records carry an admin's override (the deployments app: revisions)
# list the spec digests granted on a host; registered when they are ready, since this
# app imports none of them.
GrantSource = Callable[[Host], Iterable[str]]
_grant_sources: list[GrantSource] = []


def add_grant_source(source: GrantSource) -> None:
    """Have ``source(host)`` add digests to :func:`granted_specs`."""
    if source not in _grant_sources:
        _grant_sources.append(source)


def granted_specs(host: Host) -> list[str]:
    """The digests of the specs an admin overrode that may run on ``host`` now: runs in
    flight there, and what the registered sources grant (overridden revisions of
    services targeting it that are current or being rolled out or back to)."""
    digests = set(
        Operation.objects.filter(host=host, action="container.run", params__has_key=GRANT_PARAM)
        .exclude(status__in=FINISHED_STATUSES)
        .values_list(f"params__{GRANT_PARAM}", flat=True)
    )
    for source in _grant_sources:
        digests.update(source(host))
    return sorted(str(digest) for digest in digests)


def revision_digests(revision: Any) -> set[str]:
    """A revision's spec as service.deploy sends it: by tag before its digest is pinned,
    by digest after (both, as a rollout pins it on its first host)."""
    images = {revision.image, revision.deploy_image}
    return {spec_digest({**revision.spec, "image": image}) for image in images}


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
) -> None:
    """Refuse a validated container spec that any of ``hosts``' policies does not allow.

    The one check behind every door (container runs, revisions, deploys, rollbacks,
    API and pages). Raises PolicyViolation naming the spec's field and the policy, or
    OverrideRefused when a non-admin asks for ``override``. An admin's ``override``
    lifts the policies' prefixes and toggles but never the hard deny list (nor the
    reserved labels).
    """
    if override and not has_role(actor, Role.ADMIN):
        raise OverrideRefused("Only an admin can override the container security policy.")
    for check in _spec_checks:
        check(spec, hosts)
    for key in spec.get("labels") or {}:
        if key.startswith(RESERVED_LABEL_PREFIX):
            raise PolicyViolation(
                "labels",
                f"{key}: labels '{RESERVED_LABEL_PREFIX}*' are reserved for Berth's own use.",
            )
    for index, source in bind_sources(spec):
        field = "volumes"
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
    if override:
        return
    asked = asked_toggles(spec)
    for host in hosts:
        for policy in policies_for(host):
            for field, toggle, what in asked:
                if toggle not in policy.allows:
                    raise PolicyViolation(
                        field,
                        f"{what} is not allowed on {host} by {policy.label} ({toggle} is "
                        "off); ask an admin to allow it, or to override the policy.",
                    )


def refused_settings(spec: dict[str, Any], hosts: Sequence[Host]) -> list[str]:
    """The fields of ``spec`` some policy of ``hosts`` refuses (what an override lifts)."""
    refused: list[str] = []
    for host in hosts:
        for policy in policies_for(host):
            for field, toggle, _ in asked_toggles(spec):
                if toggle not in policy.allows and field not in refused:
                    refused.append(field)
    return refused


def may_be_root(user: str) -> bool:
    """Whether a container running as ``user`` (Docker's "uid[:gid]" or "name[:group]")
    may be root: anything but a numeric uid other than 0, since a name is looked up in
    the image, where any name can be uid 0."""
    uid = user.partition(":")[0]
    return not (uid.isascii() and uid.isdigit() and int(uid) != 0)


def asked_toggles(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, toggle, what it asks) for each thing in a validated spec that only a
    policy toggle allows."""
    asked: list[tuple[str, str, str]] = []
    if spec.get("privileged"):
        asked.append(("privileged", "allow_privileged", "privileged: true"))
    if spec.get("cap_add"):
        caps = ", ".join(spec["cap_add"])
        asked.append(("cap_add", "allow_cap_add", f"cap_add ({caps})"))
    if spec.get("devices"):
        devices = ", ".join(spec["devices"])
        asked.append(("devices", "allow_devices", f"devices ({devices})"))
    for key, toggle in (
        ("network_mode", "allow_host_network"),
        ("pid_mode", "allow_host_pid"),
        ("ipc_mode", "allow_host_ipc"),
        ("userns_mode", "allow_host_userns"),
    ):
        if spec.get(key) == "host":
            asked.append((key, toggle, f'{key}: "host"'))
    unconfined = [opt for opt in spec.get("security_opt") or [] if opt in UNCONFINED_OPTS]
    if unconfined:
        opts = ", ".join(unconfined)
        asked.append(("security_opt", "allow_unconfined", f"security_opt {opts}"))
    if spec.get("sysctls"):
        names = ", ".join(sorted(spec["sysctls"]))
        asked.append(("sysctls", "allow_sysctls", f"sysctls ({names})"))
    user = spec.get("user")
    if user is None or may_be_root(user):
        what = (
            "running as the image's default user (give a numeric non-root user, "
            'like "user": "1000")'
            if user is None
            else f'user {user!r} (it may be root; give a numeric non-root uid, like "1000")'
        )
        asked.append(("user", "allow_root_user", what))
    return asked


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
        **{toggle: getattr(policy, toggle) for toggle in TOGGLES},
    }


@transaction.atomic
def save_policy(
    policy: ContainerPolicy,
    *,
    actor: Actor,
    host_group: HostGroup | None,
    allowed_bind_prefixes: Iterable[str],
    toggles: dict[str, bool] | None = None,
) -> ContainerPolicy:
    """Create or update a policy, recorded as ``containerpolicy.create``/``.update``.
    ``toggles`` sets those of TOGGLES it names; the others keep their values."""
    created = policy.pk is None
    policy.host_group = host_group
    policy.allowed_bind_prefixes = clean_prefixes(allowed_bind_prefixes)
    for toggle, value in (toggles or {}).items():
        if toggle not in TOGGLES:
            raise ValueError(f"{toggle} is not a policy toggle")
        setattr(policy, toggle, bool(value))
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
    host = Host.objects.filter(name=name).first()
    return policy_document(host) if host is not None else None


def install_link_policy() -> None:
    """Have every agent link write its host's policy file (agent_link imports
    nothing from here: it is handed this function)."""
    launch.set_policy_source(_link_policy)
