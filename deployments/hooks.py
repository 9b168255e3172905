"""What this app tells the apps below it, which cannot import it: the image each
revision names (images.references), the secrets revisions name (containers.secrets)
and the specs an admin overrode (policies). Registered in ``DeploymentsConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from containers.secrets import add_secret_users, variables_naming
from hosts.models import Host
from images.references import set_revision_lookups
from policies.services import add_grant_source, revision_digests

from .choices import ACTIVE_ROLLOUT_STATUSES
from .models import Revision, Rollout, Service
from .services import target_hosts


def revision_images(keys: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str]]:
    """{(service, number): (image, pinned digest)} of those revisions, in one query."""
    rows = Revision.objects.filter(
        service__name__in={name for name, _ in keys},
        number__in={number for _, number in keys},
    ).values_list("service__name", "number", "image", "digest")
    return {(name, number): (image, pin) for name, number, image, pin in rows}


def pinned_images(digests: set[str]) -> Iterable[tuple[str, str]]:
    """(repo@digest, image) of the revisions pinned to one of ``digests``, in one query."""
    return Revision.objects.filter(digest__in=digests).values_list("digest", "image")


def _variables_naming(revision: Revision, name: str) -> list[str]:
    if not revision.compose:
        return variables_naming(revision.spec, name)
    return sorted(
        f"{service}.{variable}"
        for service, settings in (revision.spec.get("services") or {}).items()
        for variable in variables_naming({"env_secrets": settings.get("x-berth-env-secrets")}, name)
    )


def revisions_naming(name: str) -> list[str]:
    """Every revision that names the secret ``name`` (any of them can be deployed or
    rolled back to again, and revisions never change)."""
    users = []
    # A stack's revision names secrets in its compose services (x-berth-env-secrets).
    revisions = Revision.objects.filter(
        Q(spec__has_key="env_secrets") | ~Q(compose="")
    ).select_related("service")
    for revision in revisions.order_by("service__name", "number"):
        variables = _variables_naming(revision, name)
        if variables:
            current = "current; " if revision.service.current_revision_id == revision.pk else ""
            users.append(
                f"service {revision.service.name} revision {revision.number} "
                f"({current}{', '.join(variables)})"
            )
    return users


def overridden_specs(host: Host) -> set[str]:
    """Spec digests of overridden revisions of services targeting ``host`` that are
    current, or being rolled out or back to."""
    digests: set[str] = set()
    services = Service.objects.filter(current_revision__policy_override=True).select_related(
        "current_revision", "host_group"
    )
    for service in services:
        if service.current_revision and any(t.pk == host.pk for t in target_hosts(service)):
            digests.update(revision_digests(service.current_revision))
    rollouts = Rollout.objects.filter(
        status__in=ACTIVE_ROLLOUT_STATUSES, hosts__host=host
    ).select_related("revision", "previous_revision")
    for rollout in rollouts:
        for revision in (rollout.revision, rollout.previous_revision):
            if revision is not None and revision.policy_override:
                digests.update(revision_digests(revision))
    return digests


def register() -> None:
    set_revision_lookups(revision_images, pinned_images)
    add_secret_users(revisions_naming)
    add_grant_source(overridden_specs)
