"""Images on the hosts: what they report, their layers, and pulling, removing and pruning
them.

Views and the API call the public functions here; each records an Operation and
queues it. The ``@action`` handlers below run in the worker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from agent_link.errors import AgentError
from berth.invalid import InvalidRequest
from berth.labels import LabelSelector
from berth.reconcile import SyncCounts, store_reported, sync_host_rows
from berth.timeutil import from_unix
from hosts.agent import HostAgent, operation_host
from hosts.models import Host
from operations.context import OperationContext, OperationFailed
from operations.models import Operation
from operations.registry import action
from operations.services import Actor, record_change, submit, submit_bulk

from .models import Image, ImageLayers, RegistryCredential
from .registry_client import Names, RegistryClient, TagInfo
from .validators import (
    DEFAULT_REGISTRY,
    REPOSITORY_RE,
    TAG_RE,
    ImageRef,
    normalize_registry,
    parse_image_ref,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

log = logging.getLogger(__name__)

PULL_TIME_LIMIT = 900  # seconds an image.pull may run before it is stopped
PULL_WAIT = PULL_TIME_LIMIT - 30  # the agent gets this long; the rest is for reconciling
PRUNE_TIME_LIMIT = 300
# image.layers inspects every image on the host to find the ones sharing a layer.
LAYERS_TIME_LIMIT = 300
# A pulled layer is done in one of these states.
LAYER_DONE = {"Pull complete", "Already exists"}


# --- reconciling ---------------------------------------------------------------------


def reconcile_images(host: Any, reported: list[dict[str, Any]]) -> SyncCounts:
    """Store the host's images exactly as ``image.list`` reported them."""
    rows = {
        item["id"]: {
            "tags": item.get("tags") or [],
            "digests": item.get("digests") or [],
            "size": item.get("size") or 0,
            "created": from_unix(item.get("created")),
        }
        for item in reported
    }
    return sync_host_rows(Image, host=host, key_field="image_id", reported=rows)


def _agent_timeout() -> float:
    return float(settings.BERTH_AGENT_REQUEST_TIMEOUT)


def _reconcile_from_agent(agent: HostAgent) -> None:
    """Ask the host for its images and store them (a refresh may be doing the same)."""
    reported = agent.call("image.list", timeout=_agent_timeout(), cancel=None)
    store_reported(lambda: reconcile_images(agent.host, reported))


# --- registry credentials --------------------------------------------------------------


def _credential_fields(credential: RegistryCredential) -> dict[str, Any]:
    """What the audit trail records of a registry login: never its password."""
    return {
        "name": credential.name,
        "registry": credential.registry,
        "username": credential.username,
        "insecure": credential.insecure,
    }


@transaction.atomic
def create_registry_credential(
    *,
    name: str,
    registry: str,
    username: str = "",
    password: str = "",
    insecure: bool = False,
    actor: Actor = None,
) -> RegistryCredential:
    """Store a registry and its login (the password encrypted), recorded as
    ``registrycredential.create``. A blank username stores a registry without a login.

    Raises ValueError when the registry address is not a host[:port].
    """
    credential = RegistryCredential.objects.create(
        name=name,
        registry=normalize_registry(registry),
        username=username,
        password=password if username else "",
        insecure=insecure,
    )
    record_change(
        "registrycredential.create",
        credential,
        actor=actor,
        fields=_credential_fields(credential),
    )
    return credential


class PasswordRequired(ValueError):
    """A registry login moved to another registry without its password given again."""


@transaction.atomic
def update_registry_credential(
    credential: RegistryCredential,
    *,
    password: str | None = None,
    actor: Actor = None,
    **fields: Any,
) -> RegistryCredential:
    """Change a registry login; a ``password`` of None keeps the stored one. Recorded as
    ``registrycredential.update``, a new password only as ``password_changed``.

    Raises PasswordRequired when the registry changes without a new password: the stored
    one must never be sent to a server it was not given for.
    """
    if "registry" in fields:
        fields["registry"] = normalize_registry(fields["registry"])
        # From the database: a form (the admin's) may have set the new value already.
        stored = RegistryCredential.objects.values_list("registry", flat=True).get(pk=credential.pk)
        if fields["registry"] != stored and password is None and credential.password:
            raise PasswordRequired(
                f"Give the password again to move this login from {stored} to "
                f"{fields['registry']}: the stored one is only sent to {stored}."
            )
    for name, value in fields.items():
        setattr(credential, name, value)
    update_fields = list(fields)
    if not credential.username and credential.password:
        # Without a username there is no login: a password left behind would be sent
        # nowhere, so it is not kept either.
        password = ""
    if password is not None:
        credential.password = password
        update_fields.append("password")
    if update_fields:
        credential.save(update_fields=update_fields)
    changes: dict[str, Any] = dict(fields)
    if password is not None:
        changes["password_changed"] = True
    record_change("registrycredential.update", credential, actor=actor, fields=changes)
    return credential


@transaction.atomic
def delete_registry_credential(credential: RegistryCredential, *, actor: Actor) -> None:
    """Forget a registry login, recorded as ``registrycredential.delete``."""
    record_change(
        "registrycredential.delete",
        credential,
        actor=actor,
        fields=_credential_fields(credential),
    )
    credential.delete()


def credential_for(ref: ImageRef) -> RegistryCredential | None:
    """The stored credential for the registry ``ref`` pulls from (first by name), if any."""
    return RegistryCredential.objects.filter(registry=ref.registry.lower()).order_by("name").first()


def recorded_auth(params: dict[str, Any], doing: str) -> dict[str, str] | None:
    """The login an operation recorded when it was queued (its credential's id), as the
    agent takes it; the operation fails, saying so, when the credential was deleted
    before ``doing`` ("the pull", "the push") ran. Only the worker calls this."""
    credential_id = params.get("credential")
    if not credential_id:
        return None
    credential = RegistryCredential.objects.filter(pk=credential_id).first()
    if credential is None:
        name = params.get("credential_name") or credential_id
        raise OperationFailed(f"registry credential {name!r} was deleted before {doing} ran")
    return docker_auth(credential)


def docker_auth(credential: RegistryCredential) -> dict[str, str] | None:
    """What the agent's ``image.pull`` takes as ``auth`` (None for a registry without a
    login). Only the worker calls this."""
    if credential.anonymous:
        return None
    return {
        "username": credential.username,
        "password": credential.password,
        "serveraddress": credential.registry,
    }


# --- requests (record + queue) ---------------------------------------------------------


@dataclass(frozen=True)
class PullRequest:
    """A validated pull: the parsed reference and the credential it will use."""

    ref: ImageRef
    credential: RegistryCredential | None

    @property
    def params(self) -> dict[str, Any]:
        # The audit record names the credential; its secret stays in the database.
        return {
            "ref": str(self.ref),
            "credential": self.credential.pk if self.credential else None,
            "credential_name": self.credential.name if self.credential else "",
        }


def prepare_pull(ref: str, credential: RegistryCredential | None = None) -> PullRequest:
    """Check a pull before it is queued: a well-formed ``ref`` and a credential that fits.

    Without ``credential`` the stored credential for the ref's registry is used,
    if there is one. A credential for another registry is refused: its password
    would be sent to the wrong server.
    """
    try:
        parsed = parse_image_ref(ref)
    except ValueError as exc:
        raise InvalidRequest("ref", str(exc)) from None
    if credential is None:
        credential = credential_for(parsed)
    elif credential.registry != parsed.registry.lower():
        raise InvalidRequest(
            "credential",
            f"Credential {credential.name!r} is for {credential.registry}, but {parsed} is "
            f"pulled from {parsed.registry}.",
        )
    return PullRequest(ref=parsed, credential=credential)


def request_pull(host: Host, pull: PullRequest, *, actor: Actor) -> Operation:
    """Record a pull of an image onto one host and queue it."""
    return submit(action="image.pull", target=host, actor=actor, host=host, params=pull.params)


def request_bulk_pull(hosts: Sequence[Host], pull: PullRequest, *, actor: Actor) -> Operation:
    """Pull one image onto many hosts at once: a parent operation with a child per host."""
    if not hosts:
        raise InvalidRequest("hosts", "Give at least one host.")
    return submit_bulk(
        action="image.pull",
        targets=[(host, host) for host in hosts],
        actor=actor,
        params=pull.params,
        label=f"pull {pull.ref} on {len(hosts)} host(s)",
    )


def request_remove(image: Image, *, force: bool = True, actor: Actor) -> Operation:
    """Record the removal of an image from the host it is on, and queue it."""
    params = {"image": image.image_id, "tags": list(image.tags), "force": force}
    return submit(action="image.remove", target=image, actor=actor, host=image.host, params=params)


def request_prune(host: Host, *, all_unused: bool = False, actor: Actor) -> Operation:
    """Record a prune of the host's dangling (or, with ``all_unused``, unused) images."""
    return submit(
        action="image.prune", target=host, actor=actor, host=host, params={"all": all_unused}
    )


def request_layers(image: Image, *, actor: Actor) -> Operation:
    """Record a read of the image's layers on its host (and of the other images there
    that share each) and queue it; the handler stores what it read."""
    params = {"image": image.image_id, "tags": list(image.tags)}
    return submit(action="image.layers", target=image, actor=actor, host=image.host, params=params)


def hosts_with_label(selector: str, hosts: QuerySet[Host] | None = None) -> list[Host]:
    """The hosts (of ``hosts``, by default every host) that a label selector picks
    (``role=web``, ``role=web,zone``: see ``berth.labels``), by name; LabelSelectorError
    when the selector is malformed."""
    chosen = LabelSelector.parse(selector)
    return list(
        (Host.objects.all() if hosts is None else hosts).filter(chosen.q("labels")).order_by("name")
    )


# --- the fleet-wide view -----------------------------------------------------------------


@dataclass
class FleetImage:
    """One image across the fleet: every host row with the same image id, merged."""

    id: str
    tags: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    size: int = 0
    created: Any = None
    hosts: list[dict[str, Any]] = field(default_factory=list)
    # For the pages: set by images.references.describe_images, not in the API.
    references: list[tuple[str, str]] = field(default_factory=list)


def fleet_image_rows(rows: QuerySet[Image]) -> QuerySet[Any]:
    """What group_fleet_images reads of each of ``rows``, as tuples: an image can be on
    every host of a fleet, and a model instance per row (with its host, tags and digests
    decoded) costs more than the rest of the list together. Tags and digests come as
    their JSON text, decoded once per distinct list."""
    return (
        rows.order_by()
        .annotate(tags_text=Cast("tags", TextField()), digests_text=Cast("digests", TextField()))
        .values_list("image_id", "tags_text", "digests_text", "size", "host_id", "host__name", "pk")
    )


def group_fleet_images(
    images: Sequence[tuple[str, Any]], rows: Iterable[tuple[Any, ...]]
) -> list[FleetImage]:
    """Merge per-host rows into one entry per image, in the order of ``images``.

    ``images`` are (image id, creation time) pairs; the id is the digest of the image's
    config, which holds its creation time, so every host reports the same one. ``rows``
    are those of ``fleet_image_rows``. Each entry has the tags and digests of all its
    rows (sorted, once each), the largest size and its hosts by name.
    """
    merged = {image_id: FleetImage(id=image_id, created=created) for image_id, created in images}
    # Per image, its rows' distinct (tags, digests) texts: decoded once, after the rows.
    texts: dict[str, set[tuple[str | None, str | None]]] = {image_id: set() for image_id in merged}
    for image_id, tags_text, digests_text, size, host_id, host_name, pk in rows:
        entry = merged.get(image_id)
        if entry is None:
            continue
        texts[image_id].add((tags_text, digests_text))
        if size > entry.size:
            entry.size = size
        entry.hosts.append({"host": host_id, "host_name": host_name, "image": pk})
    for image_id, entry in merged.items():
        tags: set[str] = set()
        digests: set[str] = set()
        for tags_text, digests_text in texts[image_id]:
            tags.update(json.loads(tags_text) if tags_text else ())
            digests.update(json.loads(digests_text) if digests_text else ())
        entry.tags = sorted(tags)
        entry.digests = sorted(digests)
        entry.hosts.sort(key=itemgetter("host_name"))
    return list(merged.values())


# --- an image's layers ------------------------------------------------------------------


@dataclass
class LayerStack:
    """An image's stored layers, for the API and the page: each ``shared_with`` entry also
    names that image's row on the same host (``image``: its id, None once it is gone)."""

    image: Image
    read_at: datetime | None = None
    mapped: bool = True
    compared: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shared(self) -> int:
        """How many of the image's layers another image on the host shares."""
        return sum(1 for layer in self.layers if layer.get("shared_count"))


def layer_stack(image: Image) -> LayerStack:
    """What the last ``image.layers`` of ``image`` read (nothing read yet: empty)."""
    stored = ImageLayers.objects.filter(image=image).first()
    if stored is None:
        return LayerStack(image=image)
    rows = [*stored.history, *stored.layers]
    ids = {sharer["id"] for row in rows for sharer in row.get("shared_with") or []}
    known = dict(
        Image.objects.filter(host_id=image.host_id, image_id__in=ids).values_list("image_id", "pk")
    )

    def resolved(row: dict[str, Any], **defaults: Any) -> dict[str, Any]:
        sharers = [
            {"id": s["id"], "tags": s.get("tags") or [], "image": known.get(s["id"])}
            for s in row.get("shared_with") or []
        ]
        return {
            **defaults,
            **row,
            "shared_with": sharers,
            "shared_count": int(row.get("shared_count") or len(sharers)),
        }

    history = [
        resolved(step, comment="", created_by="", size=0, layer=None, digest=None)
        for step in stored.history
    ]
    for step in history:  # unix seconds, as the engine says
        step["created"] = from_unix(step.get("created"))
    return LayerStack(
        image=image,
        read_at=stored.read_at,
        mapped=stored.mapped,
        compared=stored.compared,
        history=history,
        layers=[resolved(layer, chain_id="") for layer in stored.layers],
    )


def store_layers(host: Host, image_id: str, reported: dict[str, Any]) -> bool:
    """Keep what ``image.layers`` read of the host's image; False if Berth no longer has
    the image's row (a refresh saw it go meanwhile)."""
    image = Image.objects.filter(host=host, image_id=image_id).first()
    if image is None:
        return False
    ImageLayers.objects.update_or_create(
        image=image,
        defaults={
            "history": reported.get("history") or [],
            "layers": reported.get("layers") or [],
            "mapped": bool(reported.get("mapped")),
            "compared": int(reported.get("compared") or 0),
            "read_at": timezone.now(),
        },
    )
    return True


# --- handlers (run in the worker) ---------------------------------------------------------


class _PullProgress:
    """Per-layer state of a pull, summarised for ``operation.progress``."""

    def __init__(self) -> None:
        self.layers: dict[str, str] = {}
        self.status = "starting"

    def add(self, item: dict[str, Any]) -> None:
        status = str(item.get("status") or "")
        if item.get("layer"):
            self.layers[str(item["layer"])] = status
        elif status:
            self.status = status

    def summary(self) -> dict[str, Any]:
        done = sum(1 for status in self.layers.values() if status in LAYER_DONE)
        return {"layers_total": len(self.layers), "layers_done": done, "status": self.status}


@action("image.pull", time_limit=PULL_TIME_LIMIT)
def _pull(operation: Operation, context: OperationContext) -> dict[str, Any]:
    host = operation_host(operation)
    ref = str(operation.params["ref"])
    args: dict[str, Any] = {"ref": ref}
    auth = recorded_auth(operation.params, "the pull")
    if auth is not None:
        args["auth"] = auth
    tracker = _PullProgress()
    context.progress(force=True, **tracker.summary())

    def on_progress(item: dict[str, Any]) -> None:
        tracker.add(item)
        context.stream(item)
        context.progress(**tracker.summary())

    agent = HostAgent(host, context)
    try:
        # A cancel reaches the agent; past the deadline the pull is stopped there too.
        result = agent.call("image.pull", args, timeout=PULL_WAIT, on_progress=on_progress)
    except AgentError as exc:
        if exc.code == "not_found":
            raise OperationFailed(f"{ref} was not found: {exc.message}") from None
        raise
    tracker.status = "pulled"
    context.progress(force=True, **tracker.summary())
    _reconcile_from_agent(agent)
    return {"id": result["id"], "tags": result["tags"], "digests": result["digests"]}


@action("image.remove", time_limit=180)
def _remove(operation: Operation, context: OperationContext) -> dict[str, Any]:
    host = operation_host(operation)
    image_id = str(operation.params["image"])
    force = bool(operation.params.get("force", True))
    agent = HostAgent(host, context)
    try:
        result = agent.call(
            "image.remove", {"id": image_id, "force": force}, timeout=max(_agent_timeout(), 120)
        )
    except AgentError as exc:
        if exc.code == "not_found":
            _reconcile_from_agent(agent)
            return {
                "removed": False,
                "message": f"image {image_id} was already gone from {host.name}",
                "untagged": [],
                "deleted": [],
            }
        if exc.code == "conflict":
            _reconcile_from_agent(agent)
        raise  # the runner records the agent's message
    _reconcile_from_agent(agent)
    return {"removed": True, "untagged": result["untagged"], "deleted": result["deleted"]}


@action("image.prune", time_limit=PRUNE_TIME_LIMIT)
def _prune(operation: Operation, context: OperationContext) -> dict[str, Any]:
    host = operation_host(operation)
    all_unused = bool(operation.params.get("all", False))
    agent = HostAgent(host, context)
    result = agent.call("image.prune", {"all": all_unused}, timeout=PRUNE_TIME_LIMIT - 30)
    _reconcile_from_agent(agent)
    return {
        "space_reclaimed": result.get("space_reclaimed") or 0,
        "deleted": result.get("deleted") or [],
        "untagged": result.get("untagged") or [],
    }


@action("image.layers", time_limit=LAYERS_TIME_LIMIT)
def _layers(operation: Operation, context: OperationContext) -> dict[str, Any]:
    host = operation_host(operation)
    image_id = str(operation.params["image"])
    name = next(iter(operation.params.get("tags") or []), image_id[:19])
    agent = HostAgent(host, context)
    context.progress(force=True, step=f"reading the layers of {name} on {host.name}")
    try:
        result = agent.call("image.layers", {"id": image_id}, timeout=LAYERS_TIME_LIMIT - 30)
    except AgentError as exc:
        if exc.code == "not_found":
            _reconcile_from_agent(agent)
            raise OperationFailed(f"image {name} is no longer on {host.name}") from None
        raise  # the runner records the agent's message
    layers = result.get("layers") or []
    return {
        "image": image_id,
        "steps": len(result.get("history") or []),
        "layers": len(layers),
        "shared": sum(1 for layer in layers if layer.get("shared_count")),
        "mapped": bool(result.get("mapped")),
        "compared": int(result.get("compared") or 0),
        "stored": store_layers(host, image_id, result),
    }


# --- browsing registries -----------------------------------------------------------------
# A read an operator waits for, answered inside the request like the other reads of the
# database: no Operation (nothing changes) and no host involved. The registry client's
# timeouts bound how long it can take. Only registries an admin stored can be read, by id.


def registry_client(registry: RegistryCredential) -> RegistryClient:
    """A client for a stored registry, with its login (if any). The password leaves the
    database only here, for the registry it was given for."""
    return RegistryClient(
        registry.registry,
        username=registry.username,
        password=registry.password if registry.username else "",
        insecure=registry.insecure,
    )


def check_repository(name: str) -> str:
    """``name`` if it is a repository path (``demo/web``); InvalidRequest otherwise."""
    if not isinstance(name, str) or not REPOSITORY_RE.match(name) or len(name) > 255:
        raise InvalidRequest(
            "repository",
            f"{name!r} is not a repository name (lowercase letters, digits, '.', '_', '-' "
            "and '/', like demo/web).",
        )
    return name


def check_tag(tag: str) -> str:
    """``tag`` if it is a tag name; InvalidRequest otherwise."""
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        raise InvalidRequest(
            "tag", f"{tag!r} is not a tag (letters, digits, '_', '.', '-'; at most 128)."
        )
    return tag


def registry_repositories(registry: RegistryCredential) -> Names:
    """The repositories in a stored registry (its catalog); RegistryError says why not."""
    return registry_client(registry).catalog()


def registry_tags(registry: RegistryCredential, repository: str) -> Names:
    """The tags of one repository of a stored registry."""
    return registry_client(registry).tags(check_repository(repository))


@dataclass
class TagHost:
    """A host with an image of the tag's repository: the digest it has, and whether that
    is the tag's current digest (``current``) or another (the host's copy is stale)."""

    host: int
    host_name: str
    image: int
    digest: str
    current: bool


@dataclass
class RegistryTag:
    """A tag as the registry describes it, with the hosts that have its repository."""

    info: TagInfo
    hosts: list[TagHost]


def registry_tag(
    registry: RegistryCredential, repository: str, tag: str, images: QuerySet[Image]
) -> RegistryTag:
    """What ``repository:tag`` points at in a stored registry, and which of the hosts
    behind ``images`` (the caller's scope) have that digest or another one of it."""
    info = registry_client(registry).tag(check_repository(repository), check_tag(tag))
    return RegistryTag(info=info, hosts=hosts_on_tag(registry.registry, info, images))


def hosts_on_tag(address: str, info: TagInfo, images: QuerySet[Image]) -> list[TagHost]:
    """The hosts (of ``images``) on the tag's current digest, and those whose copy of the
    tag is another digest: stale, the tag has moved since they pulled it.

    A host is on the digest when one of its images has ``<registry>/<repo>@<digest>``
    among its RepoDigests (whatever it is tagged there); it is stale when its image
    tagged ``<registry>/<repo>:<tag>`` has only other digests of the repository.
    """
    name = ImageRef(registry=address, repository=info.repository, tag="", digest="").name
    # A cheap filter in the database (the text of the repository's name, as a host would
    # write it); exact matching on the parsed references below.
    short = info.repository.removeprefix("library/") if address == DEFAULT_REGISTRY else name
    rows = (
        images.filter(digests__icontains=f"{short}@")
        .order_by("host__name", "pk")
        .values_list("host_id", "host__name", "pk", "tags", "digests")
    )
    found: dict[int, TagHost] = {}
    for host_id, host_name, pk, tags, digests in rows:
        own = [ref.digest for ref in _refs(digests) if ref.name == name]
        if not own:
            continue
        if info.digest in own:
            found[host_id] = TagHost(host_id, host_name, pk, info.digest, current=True)
            continue
        tagged = any(ref.name == name and ref.tag == info.tag for ref in _refs(tags))
        if tagged and host_id not in found:
            found[host_id] = TagHost(host_id, host_name, pk, own[0], current=False)
    return sorted(found.values(), key=lambda entry: (not entry.current, entry.host_name))


def _refs(values: Iterable[str]) -> Iterator[ImageRef]:
    for value in values or []:
        try:
            yield parse_image_ref(value)
        except ValueError:
            continue
