"""The page forms validate like the API (the same serializers) and show what to fix
next to the field; a valid form creates the service, revision or host."""

from __future__ import annotations

import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from deployments.api.serializers import ServiceSpecSerializer
from deployments.models import Service
from deployments.services import create_revision
from hosts.models import Host, HostGroup
from operations.models import Operation
from tests.unit.frontend_fixtures import make_host

pytestmark = pytest.mark.django_db


def _service_form(**changes):
    data = {
        "name": "shop-api",
        "image": "198.18.0.1:5000/demo/web:v1",
        "ports": "29080:80",
        "env": "MODE=prod\nEMPTY=",
        "restart_policy": "unless-stopped",
        "health_mode": "docker",
        "health_path": "/",
    }
    data.update(changes)
    return data


def test_service_form_shows_field_errors_and_creates_nothing(operator_client):
    host = make_host("web-1")
    response = operator_client.post(
        reverse("frontend:service-create"),
        _service_form(
            name="Bad Name!",
            hosts=[host.pk],
            image="not a ref",
            ports="29080:80\nnonsense",
            env="NOEQUALS",
            health_mode="http",
        ),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "name" in errors and "image" in errors and "env" in errors
    assert any("line 2" in message for message in errors["ports"])
    assert "health_port" in errors  # an http probe needs a port
    assert 'class="field-error"' in response.text
    assert not Service.objects.exists()


def test_service_form_needs_a_target(operator_client):
    response = operator_client.post(reverse("frontend:service-create"), _service_form())
    assert "Choose at least one target" in response.text


def test_service_form_creates_the_service_and_revision_1(operator_client, operator_user):
    hosts = [make_host("web-1"), make_host("web-2")]
    response = operator_client.post(
        reverse("frontend:service-create"),
        _service_form(hosts=[host.pk for host in hosts], health_mode="http", health_port="80"),
    )
    service = Service.objects.get(name="shop-api")
    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:service", args=[service.pk])
    assert set(service.hosts.all()) == set(hosts)
    revision = service.revisions.get()
    assert revision.number == 1 and revision.author == operator_user
    assert revision.spec["ports"] == [{"private": 80, "public": 29080, "protocol": "tcp"}]
    assert revision.spec["env"] == {"MODE": "prod", "EMPTY": ""}
    assert revision.health == {"mode": "http", "port": 80, "path": "/"}


def test_revision_form_starts_from_the_latest_and_adds_the_next(operator_client, seeded):
    service = seeded["service"]
    url = reverse("frontend:revision-create", args=[service.pk])
    form = operator_client.get(url).text
    assert "198.18.0.1:5000/demo/web:v2" in form and "8080:80" in form
    response = operator_client.post(
        url, _service_form(image="198.18.0.1:5000/demo/web:v3", ports="8080:80")
    )
    assert response.status_code == 302
    assert service.revisions.order_by("-number").first().image.endswith("web:v3")


@pytest.fixture
def private_key(tmp_path):
    path = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


def test_admin_adds_a_host_with_an_uploaded_key_and_groups(admin_client, private_key):
    group = HostGroup.objects.create(name="edge")
    response = admin_client.post(
        reverse("frontend:host-add"),
        {
            "name": "edge-7",
            "address": "198.18.99.7",
            "port": "2222",
            "username": "deploy",
            "private_key_file": SimpleUploadedFile("id_ed25519", private_key.encode()),
            "groups": [group.pk],
            "labels": "tier=web, env=prod",
        },
    )
    host = Host.objects.get(name="edge-7")
    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:host", args=[host.pk])
    assert (host.port, host.username) == (2222, "deploy")
    assert host.labels == {"tier": "web", "env": "prod"}
    assert list(host.groups.all()) == [group]
    assert host.ssh_key.public_key.startswith("ssh-ed25519 ")


def test_add_host_form_says_what_is_wrong(admin_client):
    response = admin_client.post(
        reverse("frontend:host-add"),
        {"name": "edge-8", "address": "198.18.99.8", "port": "22", "username": "root",
         "private_key": "not a key", "labels": "oops"},
    )  # fmt: skip
    errors = response.context["form"].errors
    assert "labels" in errors
    assert not Host.objects.filter(name="edge-8").exists()
    response = admin_client.post(
        reverse("frontend:host-add"),
        {"name": "edge-8", "address": "198.18.99.8", "port": "22", "username": "root",
         "private_key": "not a key"},
    )  # fmt: skip
    assert "private_key" in response.context["form"].errors
    assert not Host.objects.filter(name="edge-8").exists()


def test_admin_edits_a_host_on_its_page_and_keeps_its_key(admin_client, private_key):
    group = HostGroup.objects.create(name="edge")
    admin_client.post(
        reverse("frontend:host-add"),
        {"name": "edge-7", "address": "198.18.99.7", "port": "22", "username": "root",
         "private_key": private_key, "labels": "tier=web"},
    )  # fmt: skip
    host = Host.objects.get(name="edge-7")
    key = host.ssh_key
    url = reverse("frontend:host-edit", args=[host.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'value="198.18.99.7"' in page.text and "tier=web" in page.text
    assert private_key not in page.text

    response = admin_client.post(
        url,
        {"name": "edge-7b", "address": "198.18.99.8", "port": "2222", "username": "deploy",
         "groups": [group.pk], "labels": "tier=web, env=prod"},
    )  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors
    host.refresh_from_db()
    assert (host.name, host.address, host.port, host.username) == (
        "edge-7b", "198.18.99.8", 2222, "deploy",
    )  # fmt: skip
    assert host.labels == {"tier": "web", "env": "prod"}
    assert list(host.groups.all()) == [group]
    assert host.ssh_key == key  # no key given: the one it had stays
    assert Operation.objects.filter(action="host.update", host=host).count() == 1


def test_edit_host_form_says_what_is_wrong_and_changes_nothing(admin_client):
    host = Host.objects.create(name="edge-9", transport="local")
    Host.objects.create(name="taken", transport="local")
    url = reverse("frontend:host-edit", args=[host.pk])
    for field, value in [("port", "99999"), ("name", "taken"), ("labels", "oops"),
                         ("private_key", "not a key")]:  # fmt: skip
        data = {"name": "edge-9", "address": "198.18.99.9", "port": "22", "username": "root"}
        response = admin_client.post(url, {**data, field: value})
        assert response.status_code == 200
        assert field in response.context["form"].errors, field
    host.refresh_from_db()
    assert (host.name, host.address, host.port) == ("edge-9", "", 22)
    assert not Operation.objects.filter(action="host.update").exists()


def test_pull_of_a_malformed_reference_is_refused_before_anything_is_queued(
    operator_client, seeded
):
    response = operator_client.post(
        reverse("frontend:image-pull"),
        {"ref": "UPPER/Case::bad", "hosts": [seeded["hosts"][0].pk]},
        HTTP_HX_REQUEST="true",
    )
    assert 'class="notice tone-bad"' in response.text
    assert not Operation.objects.filter(action__contains="image.pull").exists()


def _submitted(form) -> dict[str, object]:
    """What a browser sends back for an untouched form: each field's rendered value."""
    data: dict[str, object] = {}
    for field in form:
        value = field.value()
        if value is not None:
            data[field.name] = value
    return data


def test_a_revision_saved_unchanged_on_the_page_keeps_every_setting(
    operator_client, seeded, admin_user
):
    """Starting from a revision with settings the form has no field of its own for
    (labels, limits, a container healthcheck, the user, security options, the health
    gate's timing) and saving it untouched gives the same spec and health gate: the
    page loses nothing."""
    service = seeded["service"]
    spec = ServiceSpecSerializer(
        data={
            "image": "198.18.0.1:5000/demo/web:v2",
            "ports": ["8080:80"],
            "labels": {"team": "shop"},
            "limits": {"memory": "64m", "cpus": 0.5},
            "healthcheck": {"test": ["CMD", "true"], "interval_s": 5, "retries": 3},
            "user": "1000",
            "security_opt": ["no-new-privileges"],
            "restart_policy": {"name": "on-failure", "max_retries": 3},
        }
    )
    assert spec.is_valid(), spec.errors
    health = {"mode": "http", "port": 80, "path": "/ready", "timeout_s": 90,
              "interval_s": 2.5, "retries": 7}  # fmt: skip
    base = create_revision(service, spec=dict(spec.validated_data), health=health, actor=admin_user)
    url = reverse("frontend:revision-create", args=[service.pk])
    form = operator_client.get(url).context["form"]
    response = operator_client.post(url, _submitted(form))
    assert response.status_code == 302, response.context["form"].errors
    made = service.revisions.order_by("-number").first()
    assert made.number == base.number + 1
    assert made.spec == base.spec
    assert made.health == base.health


def test_more_settings_must_be_a_json_object_of_spec_keys(operator_client, seeded):
    url = reverse("frontend:revision-create", args=[seeded["service"].pk])
    count = seeded["service"].revisions.count()
    for text, expected in (
        ("[1, 2]", "JSON object"),
        ("{not json", "JSON"),
        ('{"image": "x:1"}', "own field"),
        ('{"colour": "blue"}', "colour"),
        ('{"cap_add": "NET_ADMIN"}', "cap_add"),
    ):
        response = operator_client.post(
            url, _service_form(image="198.18.0.1:5000/demo/web:v3", advanced=text)
        )
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert "advanced" in errors, (text, errors)
        assert any(expected in message for message in errors["advanced"]), (text, errors)
    assert seeded["service"].revisions.count() == count
