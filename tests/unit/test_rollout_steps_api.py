"""The rollouts API writes each host's step as its fields say, in the list and alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deployments.api.serializers import RolloutHostSerializer
from deployments.choices import HostStep, RolloutStatus
from deployments.models import Rollout, RolloutHost, Service
from deployments.services import create_revision
from tests.unit.frontend_fixtures import make_host

pytestmark = pytest.mark.django_db


def test_each_step_is_written_as_its_serializer_fields_write_it(admin_client, admin_user):
    service = Service.objects.create(name="web")
    revision = create_revision(service, spec={"image": "demo/web:v1"}, actor=admin_user)
    rollout = Rollout.objects.create(
        service=service, revision=revision, status=RolloutStatus.RUNNING
    )
    now = timezone.now()
    RolloutHost.objects.create(
        rollout=rollout,
        host=make_host("b-host"),
        batch=1,
        step=HostStep.FAILED,
        message="health check failed",
        container_id="c" * 64,
        started_at=now - timedelta(seconds=30),
        finished_at=now,
    )
    RolloutHost.objects.create(rollout=rollout, host=make_host("a-host"), step=HostStep.PENDING)

    response = admin_client.get(reverse("rollout-list"))

    assert response.status_code == 200
    (listed,) = response.json()["results"]
    steps = RolloutHost.objects.filter(rollout=rollout).select_related("host")
    assert listed["hosts"] == [RolloutHostSerializer(step).data for step in steps]
    assert [step["host_name"] for step in listed["hosts"]] == ["a-host", "b-host"]
    assert listed["hosts"][1]["finished_at"] is not None
