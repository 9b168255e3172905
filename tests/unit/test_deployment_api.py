"""Services and revisions through the API: invalid specs are refused before anything
runs, revisions are numbered and diffable, a second rollout is a 409."""

import pytest
from django.urls import reverse

from deployments.choices import RolloutStatus
from deployments.models import Revision, Rollout, Service
from hosts.models import Host

pytestmark = pytest.mark.django_db

REF = "198.18.0.1:5000/demo/web:v1"


@pytest.fixture
def service():
    host = Host.objects.create(name="h1", transport="local")
    svc = Service.objects.create(name="web")
    svc.hosts.add(host)
    return svc


def _revise(client, service, spec, **extra):
    return client.post(
        reverse("service-revisions", args=[service.pk]),
        {"spec": spec, **extra},
        content_type="application/json",
    )


def test_revisions_are_numbered_and_keep_author_and_note(admin_client, service):
    first = _revise(admin_client, service, {"image": REF}, note="first")
    second = _revise(
        admin_client, service, {"image": REF, "env": {"MODE": "fast"}}, health={"mode": "none"}
    )
    assert (first.status_code, second.status_code) == (201, 201), second.content
    assert [first.json()["number"], second.json()["number"]] == [1, 2]
    assert first.json()["author_name"] == "root-admin"
    assert first.json()["note"] == "first"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"image": "UPPER/Case::bad"}, "image"),
        ({"image": REF, "ports": [{"private": 80, "public": 70000}]}, "ports"),
        ({"image": REF, "labels": {"berth.service": "x"}}, "labels"),
        ({"image": REF, "name": "fixed"}, "name"),  # Berth names a service's containers
    ],
)
def test_invalid_specs_are_refused_with_the_field_named(admin_client, service, spec, field):
    response = _revise(admin_client, service, spec)
    assert response.status_code == 400
    assert any(key.split(".")[:2] == ["spec", field] for key in response.json()["errors"])
    assert not Revision.objects.exists()


def test_http_health_gate_needs_a_port(admin_client, service):
    response = _revise(admin_client, service, {"image": REF}, health={"mode": "http"})
    assert response.status_code == 400
    assert "health.port" in response.json()["errors"]


def test_unknown_host_in_a_service_is_a_400(admin_client):
    response = admin_client.post(
        reverse("service-list"), {"name": "api", "hosts": [9999]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "hosts" in response.json()["errors"]


def test_diff_shows_what_changed_between_revisions(admin_client, service):
    _revise(admin_client, service, {"image": REF, "env": {"MODE": "slow"}})
    _revise(admin_client, service, {"image": REF.replace("v1", "v2"), "env": {"MODE": "fast"}})
    response = admin_client.get(reverse("service-diff", args=[service.pk]), {"from": 1, "to": 2})
    assert response.status_code == 200
    changes = {row["field"]: (row["before"], row["after"]) for row in response.json()}
    assert changes["spec.env.MODE"] == ("slow", "fast")
    assert changes["spec.image"] == (REF, REF.replace("v1", "v2"))
    assert (
        admin_client.get(reverse("service-diff", args=[service.pk]), {"from": 1}).status_code == 400
    )


def test_a_second_rollout_while_one_is_in_progress_is_a_409(admin_client, service):
    _revise(admin_client, service, {"image": REF})
    deploy = reverse("service-deploy", args=[service.pk])
    first = admin_client.post(deploy, {}, content_type="application/json")
    assert first.status_code == 202, first.content
    assert first.json()["status"] == RolloutStatus.PENDING
    second = admin_client.post(deploy, {}, content_type="application/json")
    assert second.status_code == 409
    assert "still in progress" in second.json()["detail"]
    assert Rollout.objects.count() == 1


def test_rollback_to_a_revision_never_deployed_is_a_400(admin_client, service):
    _revise(admin_client, service, {"image": REF})
    response = admin_client.post(
        reverse("service-rollback", args=[service.pk]), {"revision": 1},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "digest" in str(response.json())


@pytest.mark.parametrize("action", ["service-deploy", "service-rollback"])
def test_an_unknown_revision_in_the_body_is_a_400_naming_it(admin_client, service, action):
    """A number the service has no revision for is bad input in the body, not a missing
    URL: a 400 on ``revision`` saying which revisions exist, and nothing started."""
    _revise(admin_client, service, {"image": REF})
    response = admin_client.post(
        reverse(action, args=[service.pk]), {"revision": 7}, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    message = response.json()["errors"]["revision"][0]
    assert "7" in message and "1" in message
    assert not Rollout.objects.exists()


def test_a_revision_note_is_bounded(admin_client, service):
    response = _revise(admin_client, service, {"image": REF}, note="x" * 1_000_000)
    assert response.status_code == 400
    assert "note" in response.json()["errors"]
    assert not Revision.objects.exists()
    assert _revise(admin_client, service, {"image": REF}, note="x" * 500).status_code == 201


def test_the_schema_says_what_the_revisions_endpoint_answers(admin_client, service):
    """POST …/revisions/ answers 201 with one revision, GET a page of them: the schema
    a script is generated from must say the same, and list the 400 and 409 answers a
    deploy can give."""
    schema = admin_client.get(reverse("schema"), {"format": "json"}).json()
    revisions = schema["paths"]["/api/v1/services/{id}/revisions/"]
    created = revisions["post"]["responses"]
    assert set(created) >= {"201", "400"} and "200" not in created
    ref = created["201"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/Revision")
    listed = revisions["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["$ref"].endswith("/PaginatedRevisionList")
    assert "requestBody" not in revisions["get"]
    deploy = schema["paths"]["/api/v1/services/{id}/deploy/"]["post"]["responses"]
    assert {"202", "400", "409"} <= set(deploy)
    # And the live API agrees.
    response = _revise(admin_client, service, {"image": REF})
    assert response.status_code == 201 and response.json()["number"] == 1


# --- a service with its first revision, in one call -------------------------------------------


def _create(client, **body):
    return client.post(reverse("service-list"), body, content_type="application/json")


def test_a_service_is_created_with_its_first_revision_in_one_call(admin_client):
    host = Host.objects.create(name="h1", transport="local")
    response = _create(
        admin_client,
        name="api",
        hosts=[host.pk],
        revision={"spec": {"image": REF}, "health": {"mode": "none"}, "note": "first"},
    )
    assert response.status_code == 201, response.content
    assert "revision" not in response.json()  # written, not read: see /revisions/
    service = Service.objects.get(name="api")
    revisions = admin_client.get(reverse("service-revisions", args=[service.pk])).json()
    assert [(r["number"], r["image"], r["note"], r["health"]["mode"]) for r in
            revisions["results"]] == [(1, REF, "first", "none")]  # fmt: skip
    deploy = admin_client.post(
        reverse("service-deploy", args=[service.pk]), {}, content_type="application/json"
    )
    assert deploy.status_code == 202, deploy.content
    assert deploy.json()["revision"] == 1


def test_a_service_whose_first_revision_is_invalid_is_not_created(admin_client):
    host = Host.objects.create(name="h1", transport="local")
    response = _create(
        admin_client, name="api", hosts=[host.pk], revision={"spec": {"image": "UPPER::bad"}}
    )
    assert response.status_code == 400
    assert "revision.spec.image" in response.json()["errors"]
    assert not Service.objects.exists()
