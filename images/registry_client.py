"""A client of the Registry HTTP API v2 (the OCI distribution API), for the registry browser.

It reads only: the catalog, a repository's tags, a tag's manifest and an image's
config blob. Every request has a timeout; every failure is a RegistryError whose
message names the registry and says what happened, never the password or a token.

Auth is what ``docker pull`` does: ask without credentials; on a 401 read the
``WWW-Authenticate`` challenge and either repeat with Basic auth (the stored login)
or, for ``Bearer realm=...,service=...,scope=...`` (Docker Hub, GHCR, Harbor, GitLab,
a registry behind a token server), fetch a token from the realm, with the login if
there is one, and repeat with it. Tokens are kept per scope for the life of the
client (one page or API answer).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

# Seconds to connect and to wait for each answer: a person is waiting for the page.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
# A catalog or tag list is read this many names at a time, and at most MAX_NAMES in
# all: past that the answer says it was cut short rather than keep the page waiting.
PAGE_SIZE = 100
MAX_NAMES = 1000
# An image index lists one manifest per platform; past this many, the rest are named
# but not read.
MAX_PLATFORMS = 16
# A manifest or token answer larger than this is not one.
MAX_BODY = 4 * 1024 * 1024

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = {OCI_INDEX, DOCKER_LIST}
MANIFEST_TYPES = {OCI_MANIFEST, DOCKER_MANIFEST}
ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

# Where Docker Hub's API is, for the address credentials are stored under.
_API_HOSTS = {"docker.io": "registry-1.docker.io"}
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class RegistryError(Exception):
    """The registry could not answer: ``message`` says why, for a person to read.

    ``status`` is the registry's HTTP status (0 when it could not be reached);
    ``not_found`` is true when it said the repository or tag does not exist.
    """

    def __init__(self, message: str, *, status: int = 0, not_found: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.not_found = not_found


@dataclass(frozen=True)
class Names:
    """A list of names the registry gave, and whether it was cut at MAX_NAMES."""

    names: list[str]
    truncated: bool


@dataclass
class ImageManifest:
    """One platform's image: its manifest digest, size (config + layers) and creation."""

    digest: str
    media_type: str
    size: int
    created: datetime | None
    platform: str = ""


@dataclass
class TagInfo:
    """What a tag points at.

    ``digest`` is the digest of the manifest the tag names, as the registry sends it
    in ``Docker-Content-Digest``; it is what a host records in its RepoDigests when it
    pulls the tag. For a single-platform image ``size`` and ``created`` are those of
    the image; for an index (multi-platform) they are None and ``platforms`` holds one
    entry per platform, each with its own digest, size and creation time.
    """

    repository: str
    tag: str
    digest: str
    media_type: str
    size: int | None
    created: datetime | None
    platforms: list[ImageManifest] = field(default_factory=list)
    platforms_truncated: bool = False


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Go writes nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` → ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


class RegistryClient:
    """Reads one registry, as ``address`` (host[:port]) with an optional login.

    ``insecure`` speaks plain HTTP; otherwise HTTPS with certificates verified.
    """

    def __init__(
        self,
        address: str,
        *,
        username: str = "",
        password: str = "",
        insecure: bool = False,
        session: requests.Session | None = None,
    ) -> None:
        self.address = address
        self.scheme = "http" if insecure else "https"
        self.base = f"{self.scheme}://{_API_HOSTS.get(address, address)}"
        self._login = (username, password) if username else None
        self._session = session or requests.Session()
        # Never from the environment (a proxy or netrc login meant for something else).
        self._session.trust_env = False
        self._tokens: dict[str, str] = {}
        self._basic = False

    # --- the reads --------------------------------------------------------------------

    def catalog(self) -> Names:
        """The repositories (``GET /v2/_catalog``), following ``Link`` pages."""
        return self._names("/v2/_catalog", "repositories", "registry:catalog:*")

    def tags(self, repository: str) -> Names:
        """A repository's tags (``GET /v2/<name>/tags/list``), sorted."""
        found = self._names(
            f"/v2/{_path(repository)}/tags/list", "tags", f"repository:{repository}:pull"
        )
        return Names(sorted(found.names), found.truncated)

    def tag(self, repository: str, tag: str) -> TagInfo:
        """What ``repository:tag`` points at: digest, size and creation (see TagInfo)."""
        manifest, digest, media_type = self._manifest(repository, tag)
        if media_type in INDEX_TYPES:
            entries = [
                entry
                for entry in manifest.get("manifests") or []
                # Attestations (BuildKit's provenance) ride in an index as "unknown/unknown".
                if (entry.get("platform") or {}).get("os") != "unknown"
            ]
            platforms = [
                self._image(repository, str(entry.get("digest", "")), _platform(entry))
                for entry in entries[:MAX_PLATFORMS]
            ]
            return TagInfo(
                repository=repository,
                tag=tag,
                digest=digest,
                media_type=media_type,
                size=None,
                created=None,
                platforms=platforms,
                platforms_truncated=len(entries) > MAX_PLATFORMS,
            )
        image = self._describe(repository, manifest, digest, media_type)
        return TagInfo(
            repository=repository,
            tag=tag,
            digest=digest,
            media_type=media_type,
            size=image.size,
            created=image.created,
        )

    # --- manifests and blobs ----------------------------------------------------------

    def _manifest(self, repository: str, reference: str) -> tuple[dict[str, Any], str, str]:
        response = self._get(
            f"/v2/{_path(repository)}/manifests/{quote(reference, safe=':')}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": ACCEPT},
            what=f"{repository}:{reference}" if ":" not in reference else repository,
        )
        body = response.content
        manifest = _json(response, self.address)
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest:
            # Some proxies drop the header; the digest is that of the bytes sent.
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
        media_type = str(manifest.get("mediaType") or "")
        if not media_type:
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in INDEX_TYPES | MANIFEST_TYPES:
            raise RegistryError(
                f"registry {self.address} sent a manifest of type {media_type or 'unknown'} "
                f"for {repository}:{reference}; Berth reads OCI and Docker v2 manifests"
            )
        return manifest, digest, media_type

    def _image(self, repository: str, digest: str, platform: str) -> ImageManifest:
        manifest, digest, media_type = self._manifest(repository, digest)
        image = self._describe(repository, manifest, digest, media_type)
        image.platform = platform
        return image

    def _describe(
        self, repository: str, manifest: dict[str, Any], digest: str, media_type: str
    ) -> ImageManifest:
        if media_type not in MANIFEST_TYPES:
            raise RegistryError(
                f"registry {self.address} sent an index where an image manifest was expected "
                f"({repository}@{digest})"
            )
        config = manifest.get("config") or {}
        layers = manifest.get("layers") or []
        # The size a pull transfers: the config and every (compressed) layer.
        size = int(config.get("size") or 0) + sum(int(layer.get("size") or 0) for layer in layers)
        created = None
        config_digest = config.get("digest")
        if config_digest:
            blob = self._get(
                f"/v2/{_path(repository)}/blobs/{config_digest}",
                scope=f"repository:{repository}:pull",
                what=f"{repository}'s config blob",
            )
            created = _parse_time(_json(blob, self.address).get("created"))
        return ImageManifest(digest=digest, media_type=media_type, size=size, created=created)

    # --- paging -----------------------------------------------------------------------

    def _names(self, path: str, key: str, scope: str) -> Names:
        names: list[str] = []
        for page in self._pages(f"{path}?n={PAGE_SIZE}", scope):
            for name in _json(page, self.address).get(key) or []:
                if len(names) >= MAX_NAMES:
                    return Names(names, truncated=True)
                names.append(str(name))
        return Names(names, truncated=False)

    def _pages(self, path: str, scope: str) -> Iterator[requests.Response]:
        url = urljoin(self.base, path)
        for _ in range(MAX_NAMES // PAGE_SIZE + 1):
            response = self._get(url, scope=scope, what=path.split("?")[0])
            yield response
            match = _NEXT_LINK.search(response.headers.get("Link", ""))
            if not match:
                return
            following = urljoin(url, match.group(1))
            if urlsplit(following)[:2] != urlsplit(self.base)[:2]:
                # Only this registry gets its login: a next page elsewhere is not read.
                return
            url = following

    # --- one request, with auth -------------------------------------------------------

    def _get(
        self,
        path: str,
        *,
        scope: str,
        what: str,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        url = urljoin(self.base, path)
        response = self._send(url, headers or {}, scope)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            scheme, params = parse_challenge(challenge)
            if scheme == "bearer" and params.get("realm"):
                self._tokens[scope] = self._token(params, scope)
            elif scheme == "basic" and self._login:
                self._basic = True
            else:
                raise self._refused(response, what)
            response = self._send(url, headers or {}, scope)
        if response.status_code == 200:
            return response
        raise self._refused(response, what)

    def _send(self, url: str, headers: dict[str, str], scope: str) -> requests.Response:
        sent = dict(headers)
        auth = None
        if scope in self._tokens:
            sent["Authorization"] = f"Bearer {self._tokens[scope]}"
        elif self._basic:
            auth = self._login
        return self._request(url, headers=sent, auth=auth)

    def _token(self, params: dict[str, str], scope: str) -> str:
        realm = params["realm"]
        if urlsplit(realm).scheme != "https" and not (
            self.scheme == "http" and urlsplit(realm).scheme == "http"
        ):
            raise RegistryError(
                f"registry {self.address} sends its logins to {realm}, which is not https"
            )
        query = {"scope": params.get("scope") or scope}
        if params.get("service"):
            query["service"] = params["service"]
        response = self._request(realm, params=query, auth=self._login)
        if response.status_code != 200:
            who = f"as {self._login[0]}" if self._login else "anonymously"
            raise RegistryError(
                f"registry {self.address} refused a token {who} "
                f"(its token server answered {response.status_code}){_hint(response.status_code)}",
                status=response.status_code,
            )
        body = _json(response, self.address)
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"registry {self.address}'s token server sent no token")
        return token

    def _request(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        try:
            return self._session.get(
                url,
                headers=headers,
                params=params,
                auth=auth,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
        except requests.exceptions.SSLError:
            raise RegistryError(
                f"cannot reach registry {self.address} over https: the TLS handshake failed "
                "(an untrusted certificate, or a registry without TLS: then mark it insecure)"
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise RegistryError(
                f"cannot reach registry {self.address}: no connection within "
                f"{CONNECT_TIMEOUT:.0f} s"
            ) from None
        except requests.exceptions.Timeout:
            raise RegistryError(
                f"registry {self.address} did not answer within {READ_TIMEOUT:.0f} s"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise RegistryError(
                f"cannot reach registry {self.address} ({type(exc).__name__})"
            ) from None

    def _refused(self, response: requests.Response, what: str) -> RegistryError:
        code, detail = _registry_error(response)
        status = response.status_code
        not_found = status == 404 or code in {"NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"}
        text = f"registry {self.address} answered {status} for {what}"
        if detail:
            text += f": {detail}"
        return RegistryError(text + _hint(status), status=status, not_found=not_found)


def _hint(status: int) -> str:
    if status == 401:
        return " (check the username and password of this registry in Berth)"
    if status == 403:
        return " (the login may not read this)"
    return ""


def _registry_error(response: requests.Response) -> tuple[str, str]:
    """The first ``{"errors": [{"code", "message"}]}`` entry the registry sent, if any."""
    try:
        errors = response.json().get("errors") or []
        first = errors[0]
        return str(first.get("code", "")), str(first.get("message", ""))[:200]
    except (ValueError, AttributeError, IndexError, TypeError):
        return "", ""


def _json(response: requests.Response, address: str) -> dict[str, Any]:
    if len(response.content) > MAX_BODY:
        raise RegistryError(f"registry {address} sent more than {MAX_BODY} bytes of JSON")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RegistryError(f"registry {address} sent something that is not a JSON object")
    return body


def _path(repository: str) -> str:
    # Repository names are checked before they get here; quoting keeps them one path.
    return quote(repository, safe="/")


def _platform(entry: dict[str, Any]) -> str:
    platform = entry.get("platform") or {}
    parts = [platform.get("os", ""), platform.get("architecture", ""), platform.get("variant", "")]
    return "/".join(part for part in parts if part)
