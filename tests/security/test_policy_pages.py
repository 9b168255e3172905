"""The pages are held to the container security policy like the API: a service or
revision with a denied bind is refused on the form, and a revision made before the
policy tightened cannot be deployed from the service page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deployments.models import Revision, Rollout, Service
from policies.models import ContainerPolicy
from tests.unit.frontend_fixtures import make_host, operator_client, operator_user  # noqa: F401

pytestmark = pytest.mark.django_db


def _form(**changes):
    data = {
        "name": "shop-api",
        "image": "198.18.0.1:5000/demo/web:v1",
        "restart_policy": "no",
        "health_mode": "none",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("volumes", ["/:/host", "/srv/data:/data"])
def test_service_form_refuses_a_denied_bind_and_creates_nothing(operator_client, volumes):  # noqa: F811
    host = make_host("web-1")
    response = operator_client.post(
        reverse("frontend:service-create"), _form(hosts=[host.pk], volumes=volumes)
    )
    assert response.status_code == 200
    assert "policy" in response.text or "deny list" in response.text
    assert not Service.objects.exists()


def test_revision_form_and_deploy_are_held_to_the_policy(operator_client):  # noqa: F811
    host = make_host("web-1")
    service = Service.objects.create(name="web")
    service.hosts.add(host)
    url = reverse("frontend:revision-create", args=[service.pk])
    response = operator_client.post(url, _form(volumes="/srv/a:/a"))
    assert response.status_code == 200 and not Revision.objects.exists()
    policy = ContainerPolicy.objects.create(allowed_bind_prefixes=["/srv"])
    assert operator_client.post(url, _form(volumes="/srv/a:/a")).status_code == 302
    policy.allowed_bind_prefixes = []
    policy.save()
    response = operator_client.post(reverse("frontend:service-deploy", args=[service.pk]))
    assert response.status_code == 302
    assert not Rollout.objects.exists()


def test_a_toggle_typed_in_more_settings_is_held_to_the_policy(operator_client):  # noqa: F811
    """privileged typed in the revision form's JSON is refused next to that field,
    like a denied bind next to volumes; once a policy allows it, it is kept."""
    host = make_host("web-1")
    service = Service.objects.create(name="web")
    service.hosts.add(host)
    url = reverse("frontend:revision-create", args=[service.pk])
    response = operator_client.post(url, _form(advanced='{"privileged": true}'))
    assert response.status_code == 200 and not Revision.objects.exists()
    errors = response.context["form"].errors["advanced"]
    assert any("privileged" in message and "allow_privileged" in message for message in errors)
    ContainerPolicy.objects.create(allow_privileged=True)
    assert operator_client.post(url, _form(advanced='{"privileged": true}')).status_code == 302
    assert Revision.objects.get().spec["privileged"] is True
