"""What a container runs, as a person reads it: the tag that was asked for and the digest
of the bits, together (``demo/web:v2 (sha256:3e80…)``).

A host reports a container's image as it was created (``Config.Image``): a tag, a
``repo@sha256:…`` when Berth deployed a revision by its pinned digest, or the image id
when the tag has since moved to other bits. Berth fills in what the host leaves out:
the revision a service container runs (its ``berth.service``/``berth.revision`` labels)
gives the tag, and the host's image row (the image id's RepoDigests) gives the digest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from images.models import Image

if TYPE_CHECKING:
    from containers.models import Container
    from images.services import FleetImage

SERVICE_LABEL = "berth.service"  # set by the agent on every service container
REVISION_LABEL = "berth.revision"

# Which image a service's revision names and the digest it was pinned to, and which
# revision image a pinned digest was deployed as, are the deployments app's to say:
# it registers these lookups when it is ready (each one query).
RevisionImages = Callable[[set[tuple[str, int]]], dict[tuple[str, int], tuple[str, str]]]
PinnedImages = Callable[[set[str]], Iterable[tuple[str, str]]]


def _no_revisions(keys: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str]]:
    return {}


def _no_pins(digests: set[str]) -> Iterable[tuple[str, str]]:
    return ()


_revision_images: RevisionImages = _no_revisions
_pinned_images: PinnedImages = _no_pins


def set_revision_lookups(revision_images: RevisionImages, pinned_images: PinnedImages) -> None:
    """``revision_images({(service, number)})`` → {(service, number): (image, digest)};
    ``pinned_images({repo@digest})`` → (repo@digest, image) pairs."""
    global _revision_images, _pinned_images
    _revision_images, _pinned_images = revision_images, pinned_images


def digest_of(reference: str) -> str:
    """The ``sha256:…`` of a ``repo@sha256:…`` reference, else ""."""
    return reference.partition("@")[2]


def repository_of(reference: str) -> str:
    """A reference without its digest and tag: ``reg:5000/demo/web:v2`` → ``reg:5000/demo/web``."""
    name = reference.partition("@")[0]
    last = name.rpartition("/")[2]
    return name.rpartition(":")[0] if ":" in last else name


def _familiar(repository: str) -> str:
    """Docker writes Docker Hub repositories short in RepoDigests (``nginx``)."""
    for prefix in ("docker.io/", "index.docker.io/"):
        repository = repository.removeprefix(prefix)
    return repository.removeprefix("library/")


def digest_for(reference: str, repo_digests: Sequence[str]) -> str:
    """Of an image's RepoDigests, the digest of ``reference``'s repository: the first one
    when none is of that repository (the same bits pushed elsewhere), "" when none."""
    want = _familiar(repository_of(reference))
    for repo_digest in repo_digests:
        if _familiar(repository_of(repo_digest)) == want:
            return digest_of(repo_digest)
    return digest_of(repo_digests[0]) if repo_digests else ""


def _revision_key(container: Container) -> tuple[str, int] | None:
    """(service, revision number) of a container Berth deployed, from its labels."""
    labels = container.labels if isinstance(container.labels, dict) else {}
    service, number = labels.get(SERVICE_LABEL), str(labels.get(REVISION_LABEL, ""))
    if not isinstance(service, str) or not number.isdigit():
        return None
    return service, int(number)


def describe_container_images(containers: Sequence[Container]) -> None:
    """Set ``shown_image`` (the tag as asked, when known) and ``image_digest`` (the
    registry digest ``sha256:…`` of what runs, "" when unknown: an image built on the
    host and never pushed) on each container, in two queries however many there are."""
    keys = {key for key in map(_revision_key, containers) if key}
    revisions = _revision_images(keys) if keys else {}
    wanted = {(c.host_id, c.image_id) for c in containers if c.image_id}
    repo_digests: dict[tuple[int, str], list[str]] = {}
    if wanted:
        image_rows = Image.objects.filter(
            host_id__in={host for host, _ in wanted},
            image_id__in={image_id for _, image_id in wanted},
        ).values_list("host_id", "image_id", "digests")
        repo_digests = {(host, image_id): list(found or []) for host, image_id, found in image_rows}
    for container in containers:
        key = _revision_key(container)
        revision = revisions.get(key) if key else None
        shown = revision[0] if revision else container.image
        container.shown_image = shown
        container.image_digest = (
            digest_of(container.image)
            or digest_for(shown, repo_digests.get((container.host_id, container.image_id), []))
            or (digest_of(revision[1]) if revision else "")
        )


def _spellings(repo_digest: str) -> set[str]:
    """A Docker Hub RepoDigest as a revision may have pinned it (``nginx@…`` is also
    ``docker.io/library/nginx@…``)."""
    repository = repository_of(repo_digest)
    first = repository.partition("/")[0]
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        return {repo_digest}  # names its registry: spelled one way
    spellings = {repo_digest, f"docker.io/{repo_digest}"}
    if "/" not in repository:
        spellings |= {f"library/{repo_digest}", f"docker.io/library/{repo_digest}"}
    return spellings


def describe_images(images: Sequence[Image | FleetImage]) -> None:
    """Set ``references`` on each image: (image, digest) pairs to show. Each tag with its
    repository's digest; an untagged image (pulled by digest, as deploys pull) by the tag
    of the revision pinned to its digest, else as repository and digest. One query, and
    only when some image on the page is untagged."""
    untagged = [repo for image in images if not image.tags for repo in image.digests]
    pinned: dict[str, str] = {}
    if untagged:
        spelled = {spelling: repo for repo in untagged for spelling in _spellings(repo)}
        for digest, tag in _pinned_images(set(spelled)):
            pinned.setdefault(spelled[digest], tag)
    for image in images:
        if image.tags:
            references = [(tag, digest_for(tag, image.digests)) for tag in image.tags]
        else:
            references = [(pinned.get(repo, repo), digest_of(repo)) for repo in image.digests]
        image.references = list(dict.fromkeys(references))
