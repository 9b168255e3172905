"""A stack on the service pages: its history (with per-key differences between its
compose files) renders, it can be rolled back from there, and the container-spec form
for a new revision says to use the API instead of making a wrong one."""

import pytest
from django.urls import reverse

from deployments import services
from deployments.models import Rollout, Service
from hosts.models import Host

pytestmark = pytest.mark.django_db

COMPOSE = """services:
  web:
    image: 198.18.0.1:5000/demo/web:{tag}
    depends_on: [cache]
  cache:
    image: 198.18.0.1:5000/demo/sleeper:v1
"""


@pytest.fixture
def stack():
    host = Host.objects.create(name="h1", transport="local")
    stack = services.create_service(
        name="shop", actor=None, hosts=[host], kind="stack",
        first_revision={"compose_text": COMPOSE.format(tag="v1")},
    )  # fmt: skip
    r2 = services.add_revision(stack, compose_text=COMPOSE.format(tag="v2"), actor=None)
    pinned = {"web": "198.18.0.1:5000/demo/web@sha256:" + "a" * 64}
    stack.revisions.filter(number=1).update(digests=pinned)  # r1 was deployed
    Service.objects.filter(pk=stack.pk).update(current_revision=r2)
    return stack


def test_a_stacks_page_shows_its_history_per_compose_key_and_a_rollback(operator_client, stack):
    page = operator_client.get(reverse("frontend:service", args=[stack.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "spec.services.web.image" in html
    assert 'data-action="rollback"' in html
    answer = operator_client.post(reverse("frontend:service-rollback", args=[stack.pk, 1]))
    assert answer.status_code in (200, 302)
    assert Rollout.objects.get().revision.number == 1


def test_the_revision_form_refuses_a_stack(operator_client, stack):
    answer = operator_client.post(
        reverse("frontend:revision-create", args=[stack.pk]), {"image": "x"}
    )
    assert answer.status_code == 302
    assert stack.revisions.count() == 2
