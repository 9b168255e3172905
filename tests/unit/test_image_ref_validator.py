"""Image references are checked before a pull is queued, with a message that says
what is wrong."""

import re

import pytest

from images.validators import ImageRef, normalize_registry, parse_image_ref

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("198.18.0.1:5000/demo/web:v2", ImageRef("198.18.0.1:5000", "demo/web", "v2", "")),
        ("198.18.0.1:5000/demo/web", ImageRef("198.18.0.1:5000", "demo/web", "latest", "")),
        ("ghcr.io/org/app:1.2.3", ImageRef("ghcr.io", "org/app", "1.2.3", "")),
        ("localhost/app:dev", ImageRef("localhost", "app", "dev", "")),
        (
            "registry.example.com:443/a/b/c:x_y-z",
            ImageRef("registry.example.com:443", "a/b/c", "x_y-z", ""),
        ),
        ("nginx", ImageRef("docker.io", "library/nginx", "latest", "")),
        ("nginx:1.27-alpine", ImageRef("docker.io", "library/nginx", "1.27-alpine", "")),
        ("team/app:V2", ImageRef("docker.io", "team/app", "V2", "")),
        ("docker.io/team/app", ImageRef("docker.io", "team/app", "latest", "")),
        ("index.docker.io/library/redis:7", ImageRef("docker.io", "library/redis", "7", "")),
        (f"ghcr.io/org/app@{DIGEST}", ImageRef("ghcr.io", "org/app", "", DIGEST)),
        (f"busybox@{DIGEST}", ImageRef("docker.io", "library/busybox", "", DIGEST)),
        ("my_org/my__app-x.y:1", ImageRef("docker.io", "my_org/my__app-x.y", "1", "")),
    ],
)
def test_well_formed_references_are_accepted(ref, expected):
    assert parse_image_ref(ref) == expected


def test_a_parsed_reference_prints_as_what_is_pulled():
    assert str(parse_image_ref("198.18.0.1:5000/demo/web")) == "198.18.0.1:5000/demo/web:latest"
    assert str(parse_image_ref("nginx")) == "library/nginx:latest"
    assert str(parse_image_ref(f"ghcr.io/o/a@{DIGEST}")) == f"ghcr.io/o/a@{DIGEST}"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "Give an image reference"),
        ("   ", "Give an image reference"),
        ("Demo/Web:v1", "not a valid repository name"),
        ("demo web:v1", "cannot contain spaces"),
        ("198.18.0.1:5000/demo/web:", "not a valid tag"),
        ("198.18.0.1:5000/demo/web:-v1", "not a valid tag"),
        ("demo/web:v1:v2", "not a valid repository name"),
        ("demo/web:" + "x" * 129, "not a valid tag"),
        ("demo//web", "not a valid repository name"),
        ("/demo/web", "not a valid repository name"),
        ("demo/web/", "not a valid repository name"),
        ("-bad.example.com/app", "not a valid registry address"),
        ("reg.example.com:port/app", "not a valid registry address"),
        ("demo/web@sha256:abc", "64 lowercase hex"),
        ("demo/web@md5:" + "a" * 64, "64 lowercase hex"),
        ("demo/web@sha256:" + "A" * 64, "64 lowercase hex"),
        (f"demo/web:v1@{DIGEST}", "either a tag or a digest"),
        ("demo/web;rm -rf /", "cannot contain spaces"),
        ("demo/web;id", "not a valid"),
        ("$(id)/x", "not a valid repository name"),
        ("a" * 600, "at most 512"),
    ],
)
def test_malformed_references_are_refused_with_a_reason(ref, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_image_ref(ref)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ghcr.io", "ghcr.io"),
        ("https://GHCR.io/", "ghcr.io"),
        ("198.18.0.1:5000", "198.18.0.1:5000"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
    ],
)
def test_registry_addresses_are_normalized_for_matching(value, expected):
    assert normalize_registry(value) == expected


@pytest.mark.parametrize("value", ["", "not a host", "ghcr.io:abc", "-x.io"])
def test_registry_address_that_is_not_a_host_is_refused(value):
    with pytest.raises(ValueError, match="host:port"):
        normalize_registry(value)
