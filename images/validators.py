"""Image references and registry addresses, checked before anything is queued."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
# Names Docker Hub answers to; a credential for any of them is a docker.io credential.
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

# The grammar of distribution/reference, restricted to what Berth pulls:
# [registry[:port]/]path[:tag] or [registry[:port]/]path@sha256:<64 hex>.
_HOST_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY = rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]{{1,5}})?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"

REGISTRY_RE = re.compile(rf"^{_REGISTRY}$")
REPOSITORY_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")

MAX_REF_LENGTH = 512
EXAMPLE = "registry.example.com:5000/team/app:1.2 or team/app@sha256:<64 hex digits>"


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference; ``registry`` is the host a pull talks to."""

    registry: str
    repository: str  # the path within the registry, e.g. ``demo/web``
    tag: str  # empty when pinned by digest
    digest: str  # ``sha256:...`` or empty

    def __str__(self) -> str:
        name = self.repository if self.registry == DEFAULT_REGISTRY else self.name
        return f"{name}@{self.digest}" if self.digest else f"{name}:{self.tag}"

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def _looks_like_registry(component: str) -> bool:
    # As in dockerd: the first path component names a registry only when it has
    # a dot or a port, or is "localhost"; otherwise it is part of the repository.
    return "." in component or ":" in component or component == "localhost"


def parse_image_ref(value: str) -> ImageRef:
    """Parse ``value`` as an image reference; ValueError says what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Give an image reference, like {EXAMPLE}.")
    ref = value.strip()
    if len(ref) > MAX_REF_LENGTH:
        raise ValueError(f"An image reference is at most {MAX_REF_LENGTH} characters.")
    if any(ch.isspace() for ch in ref):
        raise ValueError("An image reference cannot contain spaces.")
    rest, at, digest = ref.partition("@")
    first, slash, remainder = rest.partition("/")
    registry = DEFAULT_REGISTRY
    if slash and _looks_like_registry(first):
        if not REGISTRY_RE.match(first):
            raise ValueError(f"{first!r} is not a valid registry address (host or host:port).")
        registry = first
        rest = remainder
    repository, tag = rest, ""
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        repository, tag = rest[:colon], rest[colon + 1 :]
        if not TAG_RE.match(tag):
            raise ValueError(
                f"{tag!r} is not a valid tag (letters, digits, '_', '.', '-'; "
                "at most 128 characters)."
            )
    if not repository or not REPOSITORY_RE.match(repository):
        raise ValueError(
            f"{repository!r} is not a valid repository name (lowercase letters, digits and "
            f"separators '.', '_', '-', '/'); expected something like {EXAMPLE}."
        )
    if at:
        if tag:
            raise ValueError("Give either a tag or a digest, not both.")
        if not _DIGEST_RE.match(digest):
            raise ValueError("A digest is 'sha256:' followed by 64 lowercase hex digits.")
    elif not tag:
        tag = "latest"
    if registry.lower() in _DOCKER_HUB_ALIASES:
        registry = DEFAULT_REGISTRY
        if "/" not in repository:
            repository = f"library/{repository}"
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest)


def normalize_registry(value: str) -> str:
    """A registry address as credentials are matched on: ``host[:port]``, lowercase.

    Accepts what operators paste (``https://ghcr.io/``, ``index.docker.io``);
    ValueError when it is not a host.
    """
    address = value.strip()
    for scheme in ("https://", "http://"):
        if address.lower().startswith(scheme):
            address = address[len(scheme) :]
    address = address.split("/", 1)[0].lower()
    if not REGISTRY_RE.match(address):
        raise ValueError(
            "Give the registry's address as host or host:port, like ghcr.io or 198.18.0.1:5000."
        )
    return DEFAULT_REGISTRY if address in _DOCKER_HUB_ALIASES else address
